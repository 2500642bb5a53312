import '../polyfill.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { silentLogger } from '../node/log.js';
import { HostNetwork, macFromIp, type HostNetworkSpec } from '../overlay-net/index.js';
import { NetnsHarness } from '../test/net/netns-harness.js';

// The overlay's cost: TCP throughput between two task namespaces on different hosts over the
// VXLAN overlay, against the same between the two hosts over the underlay, measured in one run,
// alternating (median of 3 runs of 10 s each, iperf3); then the rate of new connections through
// a VIP (nftables DNAT, numgen) against straight to a task. Hosts are network namespaces on a
// bridge, built by the data path the daemon uses. Last line: one JSON object.

const SECONDS = Number(process.argv.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 10);
const RUNS = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
const CONN_SECONDS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function inNetns(ns: string, cmd: string[]): string[] {
  return ['nsenter', `--net=/var/run/netns/${ns}`, '--', ...cmd];
}

function must(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function background(cmd: string[]): ChildProcess {
  return spawn(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
}

/** Waits until something listens on ip:port inside a namespace. */
function waitListening(ns: string, port: number): void {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = spawnSync('nsenter', [`--net=/var/run/netns/${ns}`, '--', 'ss', '-Hltn', `sport = :${port}`], { encoding: 'utf8' });
    if (r.stdout.trim() !== '') return;
    spawnSync('sleep', ['0.05']);
  }
  throw new Error(`nothing listens on :${port} in ${ns}`);
}

function iperf(clientNs: string, serverIp: string): number {
  const out = must(inNetns(clientNs, ['iperf3', '-c', serverIp, '-t', String(SECONDS), '-J']));
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

/** New TCP connections per second, one after another, from a namespace to ip:port. */
function connRate(ns: string, ip: string, port: number): number {
  const script = `
const net = require('node:net');
const end = Date.now() + ${CONN_SECONDS * 1000};
let n = 0;
function one() {
  if (Date.now() >= end) { process.stdout.write(String(n / ${CONN_SECONDS})); return; }
  const s = net.connect(${port}, '${ip}', () => { n++; s.destroy(); one(); });
  s.on('error', (e) => { process.stderr.write(String(e)); process.exit(1); });
}
one();`;
  return Number(must(inNetns(ns, [process.execPath, '-e', script])));
}

async function main(): Promise<void> {
  const h = NetnsHarness.create('bench-overlay', { hosts: 2 });
  const servers: ChildProcess[] = [];
  const hosts: HostNetwork[] = [];
  try {
    const [h0, h1] = [h.host(0), h.host(1)];
    for (const [i, x] of [h0, h1].entries()) hosts.push(await HostNetwork.open({ underlayIp: x.ip, netnsPrefix: h.hostNetnsPrefix(i), hostNetns: x.netns, logger: silentLogger() }));
    const [n0, n1] = hosts as [HostNetwork, HostNetwork];
    const net: HostNetworkSpec = { id: 'bench', name: 'bench', vni: 4100, subnet: '10.77.0.0/24', gateway: '10.77.0.1', internal: false, ingress: false };
    const ip = { a: '10.77.0.10', b: '10.77.0.11', c: '10.77.0.12', vip: '10.77.0.2' };
    await n0.ensureNetwork(net);
    await n1.ensureNetwork(net);
    const a = (await n0.attachTask('a', [{ net, ip: ip.a }])).netnsPath.split('/').pop()!;
    const b = (await n1.attachTask('b', [{ net, ip: ip.b }])).netnsPath.split('/').pop()!;
    const c = (await n1.attachTask('c', [{ net, ip: ip.c }])).netnsPath.split('/').pop()!;
    await n0.setPeers(net.id, [ip.b, ip.c].map((x) => ({ ip: x, mac: macFromIp(x), vtep: h1.ip })));
    await n1.setPeers(net.id, [{ ip: ip.a, mac: macFromIp(ip.a), vtep: h0.ip }]);
    await n0.setTaskBalancing('a', [{ vip: ip.vip, backends: [ip.b, ip.c] }]);

    servers.push(background(inNetns(h1.netns, ['iperf3', '-s', '-B', h1.ip])));
    servers.push(background(inNetns(b, ['iperf3', '-s', '-B', ip.b])));
    waitListening(h1.netns, 5201);
    waitListening(b, 5201);
    const underlay: number[] = [];
    const overlay: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      underlay.push(iperf(h0.netns, h1.ip));
      overlay.push(iperf(a, ip.b));
      process.stderr.write(`run ${i + 1}: underlay ${underlay[i]!.toFixed(2)} Gb/s, overlay ${overlay[i]!.toFixed(2)} Gb/s\n`);
    }

    const accept = `require('node:net').createServer((s) => s.destroy()).listen(9000)`;
    for (const ns of [b, c]) servers.push(background(inNetns(ns, [process.execPath, '-e', accept])));
    waitListening(b, 9000);
    waitListening(c, 9000);
    const direct = connRate(a, ip.b, 9000);
    const vip = connRate(a, ip.vip, 9000);
    const u = median(underlay);
    const o = median(overlay);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    process.stdout.write(
      `${JSON.stringify({ bench: 'overlay', underlayGbps: r2(u), overlayGbps: r2(o), ratio: r2(o / u), vipConnPerSec: Math.round(vip), directConnPerSec: Math.round(direct), runs: RUNS, seconds: SECONDS })}\n`,
    );
  } finally {
    for (const s of servers) s.kill('SIGKILL');
    for (const n of hosts) await n.teardown().catch(() => {});
    await h.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:overlay failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
