// The data path for real, as root: two "hosts" (network namespaces) and a client on an underlay
// bridge in the root namespace that has no address; no namespace gets a default route, so nothing
// leaves the machine. Names carry a random run id; cleanup removes everything even on failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/eventually.js';
import { macFromIp } from '../ipam/index.js';
import type { HostNetworkSpec } from '../types.js';
import { HostNetwork, isDatapathError, type Peer, type VipBackends } from './index.js';
import { runCommand } from './runner.js';

const isRoot = process.getuid?.() === 0;
const RUN = randomBytes(2).toString('hex');
const TAG = `swt${RUN}`;
const UNDERLAY_BRIDGE = `${TAG}u`;
const H1 = `${TAG}h1`;
const H2 = `${TAG}h2`;
const CLIENT = `${TAG}c`;
const PREFIX1 = `${TAG}a-`;
const PREFIX2 = `${TAG}b-`;
const NSDIR = '/var/run/netns';

function sh(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
}

/** A free 10.221.X.0/24: no address or route in the root namespace or any netns uses it. */
function pickUnderlay(): number {
  const texts = [sh('ip', ['-4', '-o', 'addr']).out, sh('ip', ['-4', 'route', 'show', 'table', 'all']).out];
  for (const ns of existsSync(NSDIR) ? readdirSync(NSDIR) : []) texts.push(sh('ip', ['-n', ns, '-4', '-o', 'addr']).out);
  const used = new Set([...texts.join('\n').matchAll(/\b10\.221\.(\d+)\.\d+/g)].map((m) => Number(m[1])));
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((x) => !used.has(x));
  if (free.length === 0) throw new Error('no free /24 in 10.221.0.0/16');
  return free[randomBytes(2).readUInt16BE(0) % free.length]!;
}

const X = isRoot ? pickUnderlay() : 1;
const IP1 = `10.221.${X}.1`;
const IP2 = `10.221.${X}.2`;
const IPC = `10.221.${X}.3`;

const servers: ChildProcess[] = [];
const workDir = mkdtempSync(join(tmpdir(), 'swarm-datapath-'));

/** Deletes everything this run made, whatever state it is in (also from process exit). */
function cleanupSync(): void {
  for (const s of servers) s.kill('SIGKILL');
  const names = existsSync(NSDIR) ? readdirSync(NSDIR).filter((n) => n.startsWith(TAG)) : [];
  // Veths explicitly before their namespaces: `ip netns del` frees devices asynchronously.
  for (const ns of names) {
    const links = JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show']).out || '[]') as { ifname: string }[];
    for (const l of links) if (l.ifname !== 'lo') sh('ip', ['-n', ns, 'link', 'del', l.ifname]);
  }
  for (const ns of names) sh('ip', ['netns', 'del', ns]);
  for (const i of [1, 2, 3]) sh('ip', ['link', 'del', `${TAG}v${i}`]);
  sh('ip', ['link', 'del', UNDERLAY_BRIDGE]);
  rmSync(workDir, { recursive: true, force: true });
}

function buildUnderlay(): void {
  must('ip', ['link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  must('ip', ['link', 'set', UNDERLAY_BRIDGE, 'up']);
  [H1, H2, CLIENT].forEach((ns, i) => {
    must('ip', ['netns', 'add', ns]);
    must('ip', ['link', 'add', `${TAG}v${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    must('ip', ['link', 'set', `${TAG}v${i + 1}`, 'master', UNDERLAY_BRIDGE, 'up']);
    must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    must('ip', ['-n', ns, 'addr', 'add', `${[IP1, IP2, IPC][i]}/24`, 'dev', 'eth0']);
    must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  });
}

const inNs = (ns: string): string => `--net=${NSDIR}/${ns}`;

/** A TCP server in a netns answering every connection with `reply` (busybox nc, persistent). */
async function serve(ns: string, port: number, ip: string, ...reply: string[]): Promise<void> {
  const proc = spawn('nsenter', [inNs(ns), 'busybox', 'nc', '-ll', '-p', String(port), '-e', ...reply], { stdio: 'ignore' });
  servers.push(proc);
  await eventually(async () => (await connect(ns, ip, port, 1)) !== undefined, `server ${ns}:${port}`, 5000);
}

/** One TCP connection from a netns; the server's reply, or undefined when it fails. */
async function connect(fromNs: string, ip: string, port: number, timeoutSec = 2): Promise<string | undefined> {
  try {
    return await runCommand('nsenter', [inNs(fromNs), 'busybox', 'nc', '-w', String(timeoutSec), ip, String(port)], '', (timeoutSec + 3) * 1000);
  } catch {
    return undefined;
  }
}

/** `count` connections, one after another (each a new connection through `numgen inc`). */
async function connectMany(fromNs: string, ip: string, port: number, count: number): Promise<(string | undefined)[]> {
  const replies: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) replies.push(await connect(fromNs, ip, port));
  return replies;
}

async function ping(fromNs: string, ip: string, waitSec = 2): Promise<boolean> {
  return runCommand('nsenter', [inNs(fromNs), 'busybox', 'ping', '-c1', `-W${waitSec}`, ip]).then(
    () => true,
    () => false,
  );
}

function json<T>(cmd: string, args: string[]): T[] {
  return JSON.parse(must(cmd, args) || '[]') as T[];
}

function spec(id: string, vni: number, third: number, over: Partial<HostNetworkSpec> = {}): HostNetworkSpec {
  return { id: `${TAG}-${id}`, name: id, vni, subnet: `10.0.${third}.0/24`, gateway: `10.0.${third}.1`, internal: false, ingress: false, ...over };
}

const vni = 5000 + (randomBytes(2).readUInt16BE(0) % 50_000);
const NET_A = spec('a', vni, 1);
const NET_B = spec('b', vni + 1, 2);
const NET_C = spec('c', vni + 2, 3, { internal: true });
const INGRESS = spec('ingress', vni + 3, 255, { ingress: true });
const NET_D = spec('d', vni + 4, 4);
const NET_E = spec('e', vni + 5, 5);

const peer = (ip: string, vtep: string): Peer => ({ ip, mac: macFromIp(ip), vtep });
const remoteFdb = (ns: string, dev: string) => json<{ mac: string; dst?: string }>('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', dev]).filter((e) => e.dst);
const neighbours = (ns: string, dev: string) => json<{ dst: string }>('ip', ['-n', ns, '-j', 'neigh', 'show', 'dev', dev]);

/** The commands a HostNetwork ran, from its debug log. */
function commandLog(): { logger: Logger; commands: string[] } {
  const commands: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      const entry = JSON.parse(chunk.toString()) as { cmd?: string };
      if (entry.cmd) commands.push(entry.cmd);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), commands };
}

describe.skipIf(!isRoot)('overlay data path between two namespace hosts', () => {
  let host1: HostNetwork;
  let host2: HostNetwork;

  beforeAll(async () => {
    process.on('exit', cleanupSync);
    try {
      buildUnderlay();
      host1 = await HostNetwork.open({ underlayIp: IP1, netnsPrefix: PREFIX1, hostNetns: H1 });
      host2 = await HostNetwork.open({ underlayIp: IP2, netnsPrefix: PREFIX2, hostNetns: H2 });
    } catch (err) {
      cleanupSync();
      throw err;
    }
  });

  afterAll(async () => {
    await host1?.teardown().catch(() => undefined);
    await host2?.teardown().catch(() => undefined);
    cleanupSync();
    process.off('exit', cleanupSync);
  });

  it('opens only on a host that holds the underlay address', async () => {
    const err: unknown = await HostNetwork.open({ underlayIp: '10.221.0.250', netnsPrefix: PREFIX1, hostNetns: H1 }).catch((e: unknown) => e);
    expect(isDatapathError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toMatch(/^underlayIp: no device in netns .* holds 10\.221\.0\.250/);
    expect(must('ip', ['netns', 'exec', H1, 'sysctl', '-n', 'net.ipv4.ip_forward']).trim()).toBe('1');
  });

  it('carries ping and TCP between tasks on two hosts, full-size segments included', async () => {
    await Promise.all([host1.ensureNetwork(NET_A), host2.ensureNetwork(NET_A)]);
    await host1.ensureNetwork(NET_A); // idempotent
    expect(host1.networks()).toEqual([NET_A.id]);
    const vx = json<{ mtu: number; linkinfo: { info_data: { id: number; local: string; port: number; learning: boolean; proxy: boolean } } }>('ip', [
      '-n',
      H1,
      '-d',
      '-j',
      'link',
      'show',
      `swvx${vni}`,
    ])[0]!;
    expect(vx.linkinfo.info_data).toMatchObject({ id: vni, local: IP1, port: 4789, learning: false, proxy: true });
    expect(json<{ mtu: number }>('ip', ['-n', H1, '-j', 'link', 'show', `swbr${vni}`])[0]!.mtu).toBe(1450);

    const { netnsPath } = await host1.attachTask('t1', [{ net: NET_A, ip: '10.0.1.11' }]);
    expect(netnsPath).toBe(`${NSDIR}/${PREFIX1}t1`);
    await host2.attachTask('t2', [{ net: NET_A, ip: '10.0.1.12' }]);
    const eth0 = json<{ mtu: number; address: string }>('ip', ['-n', `${PREFIX1}t1`, '-j', 'link', 'show', 'eth0'])[0]!;
    expect(eth0).toMatchObject({ mtu: 1450, address: macFromIp('10.0.1.11') });
    expect(json<{ gateway: string; dev: string }>('ip', ['-n', `${PREFIX1}t1`, '-j', 'route', 'show', 'default'])).toMatchObject([{ gateway: '10.0.1.1', dev: 'eth0' }]);

    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2)]);
    await host2.setPeers(NET_A.id, [peer('10.0.1.11', IP1)]);
    expect(await ping(`${PREFIX1}t1`, '10.0.1.12')).toBe(true);
    await serve(`${PREFIX2}t2`, 8080, '10.0.1.12', 'echo', 't2');
    expect(await connect(`${PREFIX1}t1`, '10.0.1.12', 8080)).toBe('t2\n');

    // 200 kB crosses in full-size segments: with a 1500 MTU inside they would be black-holed.
    const big = join(workDir, 'big');
    writeFileSync(big, 'x'.repeat(200_000));
    await serve(`${PREFIX2}t2`, 8081, '10.0.1.12', 'busybox', 'cat', big);
    expect((await connect(`${PREFIX1}t1`, '10.0.1.12', 8081))?.length).toBe(200_000);
  });

  it("keeps the gateway's MAC while tasks come and go, so tasks' neighbour entries stay right", async () => {
    await host1.ensureNetwork(NET_E);
    const bridgeMac = (): string => json<{ address: string }>('ip', ['-n', H1, '-j', 'link', 'show', `swbr${vni + 5}`])[0]!.address;
    const gatewayMac = macFromIp(NET_E.gateway);
    expect(bridgeMac()).toBe(gatewayMac);
    // Each new port has a random host-side MAC; without an address of its own the bridge would take the lowest.
    for (const t of ['e1', 'e2', 'e3']) {
      await host1.attachTask(t, [{ net: NET_E, ip: `10.0.5.1${t.slice(1)}` }]);
      expect(bridgeMac()).toBe(gatewayMac);
    }
    await host1.detachTask('e1');
    // e2 is unknown to the caller (a daemon died starting it): pruning keeps every other task.
    const others = readdirSync(NSDIR).filter((n) => n.startsWith(PREFIX1) && n !== `${PREFIX1}e2`);
    await host1.pruneTasks(new Set(others.map((n) => n.slice(PREFIX1.length))));
    expect(existsSync(`${NSDIR}/${PREFIX1}e2`)).toBe(false);
    expect(existsSync(`${NSDIR}/${PREFIX1}e3`)).toBe(true);
    expect(bridgeMac()).toBe(gatewayMac);
    expect(await ping(`${PREFIX1}e3`, NET_E.gateway)).toBe(true);
    expect(json<{ lladdr: string }>('ip', ['-n', `${PREFIX1}e3`, '-j', 'neigh', 'show', NET_E.gateway])[0]?.lladdr).toBe(gatewayMac);
    await host1.detachTask('e3');
    await host1.removeNetwork(NET_E.id);
  });

  it('isolates networks; a task on both reaches both', async () => {
    await Promise.all([host1.ensureNetwork(NET_B), host2.ensureNetwork(NET_B)]);
    await host2.attachTask('t3', [{ net: NET_B, ip: '10.0.2.13' }]);
    await host1.attachTask('t4', [
      { net: NET_A, ip: '10.0.1.14' },
      { net: NET_B, ip: '10.0.2.14' },
    ]);
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2)]);
    await host1.setPeers(NET_B.id, [peer('10.0.2.13', IP2)]);
    await host2.setPeers(NET_A.id, [peer('10.0.1.11', IP1), peer('10.0.1.14', IP1)]);
    await host2.setPeers(NET_B.id, [peer('10.0.2.14', IP1)]);

    const [toB, fromBothA, fromBothB] = await Promise.all([
      ping(`${PREFIX2}t3`, '10.0.2.14'),
      ping(`${PREFIX1}t4`, '10.0.1.12'),
      ping(`${PREFIX1}t4`, '10.0.2.13'),
    ]);
    expect([toB, fromBothA, fromBothB]).toEqual([true, true, true]);
    // Routed through the hosts' gateways, B to A is dropped at the bridge boundary (local and remote).
    const [crossLocal, crossRemote, crossBack] = await Promise.all([
      ping(`${PREFIX2}t3`, '10.0.1.12', 1),
      ping(`${PREFIX2}t3`, '10.0.1.11', 1),
      ping(`${PREFIX1}t1`, '10.0.2.13', 1),
    ]);
    expect([crossLocal, crossRemote, crossBack]).toEqual([false, false, false]);
    // Control: without host2's forward rules the same ping goes through (the rules did the dropping).
    must('nsenter', [inNs(H2), 'nft', 'flush', 'chain', 'ip', 'swarm', 'forward']);
    expect(await ping(`${PREFIX2}t3`, '10.0.1.12')).toBe(true);
    await host2.ensureNetwork(NET_B); // re-renders them
    expect(json<{ gateway: string; dev: string }>('ip', ['-n', `${PREFIX1}t4`, '-j', 'route', 'show', 'default'])).toMatchObject([{ gateway: '10.0.1.1', dev: 'eth0' }]);
  });

  it('tasks reach the outside through their host (masquerade); an internal network does not', async () => {
    await serve(CLIENT, 9000, IPC, 'echo', 'outside');
    expect(await connect(`${PREFIX1}t1`, IPC, 9000)).toBe('outside\n');
    await host1.ensureNetwork(NET_C);
    await host1.attachTask('t6', [{ net: NET_C, ip: '10.0.3.16' }]);
    expect(json('ip', ['-n', `${PREFIX1}t6`, '-j', 'route', 'show', 'default'])).toEqual([]);
    expect(await ping(`${PREFIX1}t6`, '10.0.3.1', 1)).toBe(true); // its own gateway (the host) still answers
    must('ip', ['-n', `${PREFIX1}t6`, 'route', 'add', 'default', 'via', '10.0.3.1']);
    expect(await connect(`${PREFIX1}t6`, IPC, 9000, 1)).toBeUndefined();
    await host1.detachTask('t6');
    await host1.removeNetwork(NET_C.id);
    expect(existsSync(`${NSDIR}/${PREFIX1}t6`)).toBe(false);
  });

  it('setPeers programs, diffs and removes fdb and neighbour entries; 200 peers in one batch each', async () => {
    const dev = `swvx${vni}`;
    await host1.setPeers(NET_A.id, []);
    expect(remoteFdb(H1, dev)).toEqual([]);
    expect(neighbours(H1, dev)).toEqual([]);
    expect(await ping(`${PREFIX1}t1`, '10.0.1.12', 1)).toBe(false);

    const many = Array.from({ length: 200 }, (_, i) => peer(`10.0.1.${i + 30}`, IP2));
    let started = performance.now();
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2), ...many]);
    const addMs = performance.now() - started;
    expect(remoteFdb(H1, dev)).toHaveLength(201);
    expect(neighbours(H1, dev)).toHaveLength(201);
    started = performance.now();
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2)]);
    const removeMs = performance.now() - started;
    expect(remoteFdb(H1, dev)).toEqual([{ mac: macFromIp('10.0.1.12'), dst: IP2, flags: ['self'], state: 'static' }]);
    console.info(`setPeers: 201 peers added in ${addMs.toFixed(1)} ms, 200 removed in ${removeMs.toFixed(1)} ms`);
    expect(await ping(`${PREFIX1}t1`, '10.0.1.12')).toBe(true);

    // Moving a MAC to another VTEP rewrites the entry in place; an entry deleted behind our back is healed.
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IPC)]);
    expect(remoteFdb(H1, dev)).toMatchObject([{ dst: IPC }]);
    must('bridge', ['-n', H1, 'fdb', 'del', macFromIp('10.0.1.12'), 'dev', dev]);
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2)]);
    expect(remoteFdb(H1, dev)).toMatchObject([{ dst: IP2 }]);

    const bad: unknown = await host1.setPeers(NET_A.id, [peer('10.0.9.1', IP2)]).catch((e: unknown) => e);
    expect(isDatapathError(bad, 'INVALID_ARGUMENT')).toBe(true);
    expect((bad as Error).message).toMatch(/^peers\[0\]\.ip: 10\.0\.9\.1 is outside 10\.0\.1\.0\/24/);
  });

  it('a restarted daemon converges on what the kernel has without rewriting it', async () => {
    const eth0Before = json<{ ifindex: number }>('ip', ['-n', `${PREFIX1}t4`, '-j', 'link', 'show', 'eth1'])[0]!.ifindex;
    await host1.ensureNetwork(NET_D);
    await host1.close();
    expect(isDatapathError(await host1.setPeers(NET_A.id, []).catch((e: unknown) => e), 'INVALID_ARGUMENT')).toBe(true);
    const { logger, commands } = commandLog();
    host1 = await HostNetwork.open({ underlayIp: IP1, netnsPrefix: PREFIX1, hostNetns: H1, logger });
    expect(host1.networks()).toEqual([]);
    // A network built before the restart is found by its bridge's alias.
    await host1.removeNetwork(NET_D.id);
    expect(json<{ ifname: string }>('ip', ['-n', H1, '-j', 'link', 'show']).map((l) => l.ifname)).not.toContain(`swbr${vni + 4}`);
    await host1.ensureNetwork(NET_A);
    // NET_B is not ensured again yet: its bridge, found by alias, stays isolated (without NAT).
    const isolation = spawnSync('nsenter', [`--net=/var/run/netns/${H1}`, 'nft', 'list', 'table', 'ip', 'swarm'], { encoding: 'utf8' }).stdout;
    expect(isolation).toContain(`iifname "swbr${NET_B.vni}" oifname "swbr*" oifname != "swbr${NET_B.vni}" drop`);
    expect(isolation).not.toContain(`ip saddr ${NET_B.subnet} oifname != "swbr*" masquerade`);
    await host1.ensureNetwork(NET_B);
    await host1.attachTask('t4', [
      { net: NET_A, ip: '10.0.1.14' },
      { net: NET_B, ip: '10.0.2.14' },
    ]);
    await host1.attachTask('t1', [{ net: NET_A, ip: '10.0.1.11' }]);
    expect(json<{ ifindex: number }>('ip', ['-n', `${PREFIX1}t4`, '-j', 'link', 'show', 'eth1'])[0]!.ifindex).toBe(eth0Before);
    commands.length = 0;
    await host1.setPeers(NET_A.id, [peer('10.0.1.12', IP2)]);
    await host1.setPeers(NET_B.id, [peer('10.0.2.13', IP2)]);
    // It read the kernel (fdb, neigh) and found nothing to change: no batch ran.
    expect(commands.filter((c) => c.includes('-batch'))).toEqual([]);
    expect(commands.filter((c) => c.includes('fdb show'))).toHaveLength(2);
    expect(await connect(`${PREFIX1}t1`, '10.0.1.12', 8080)).toBe('t2\n');
    expect(await ping(`${PREFIX2}t3`, '10.0.1.12', 1)).toBe(false); // isolation rules survived
  });

  it('balances a VIP over tasks on two hosts, and rejects a VIP without backends at once', async () => {
    await serve(`${PREFIX1}t4`, 8080, '10.0.1.14', 'echo', 't4');
    await host1.setTaskBalancing('t1', [
      { vip: '10.0.1.200', backends: ['10.0.1.12', '10.0.1.14'] },
      { vip: '10.0.1.201', backends: [] },
    ]);
    const replies: (string | undefined)[] = [];
    for (let i = 0; i < 10; i++) replies.push(await connect(`${PREFIX1}t1`, '10.0.1.200', 8080));
    expect(replies.filter((r) => r === 't2\n')).toHaveLength(5);
    expect(replies.filter((r) => r === 't4\n')).toHaveLength(5);
    const started = performance.now();
    expect(await connect(`${PREFIX1}t1`, '10.0.1.201', 8080)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);

    // A canary step, 1:3: `numgen inc mod 4` gives exactly a quarter of new connections to the first.
    await host1.setTaskBalancing('t1', [{ vip: '10.0.1.200', backends: ['10.0.1.12', '10.0.1.14'], weights: [1, 3] }]);
    const weighted = await connectMany(`${PREFIX1}t1`, '10.0.1.200', 8080, 100);
    expect(weighted.filter((r) => r === 't2\n')).toHaveLength(25);
    expect(weighted.filter((r) => r === 't4\n')).toHaveLength(75);
    const invalid = async (vips: VipBackends[]): Promise<string> => ((await host1.setTaskBalancing('t1', vips).catch((e: unknown) => e)) as Error).message;
    const vip = { vip: '10.0.1.200', backends: ['10.0.1.12', '10.0.1.14'] };
    expect(await invalid([{ ...vip, weights: [1] }])).toMatch(/^vips\[0\]\.weights: has 1 entries for 2 backends/);
    expect(await invalid([{ ...vip, weights: [1, -1] }])).toMatch(/^vips\[0\]\.weights\[1\]: -1 is not a weight/);
    expect(await invalid([{ ...vip, weights: [0.5, 1] }])).toMatch(/^vips\[0\]\.weights\[0\]: 0\.5 is not a weight/);
    await host1.setTaskBalancing('t1', []);
    expect(must('nsenter', [inNs(`${PREFIX1}t1`), 'nft', 'list', 'tables'])).not.toContain('swarm_lb');
  });

  it('routes a published port on host1 to a task on host2, from host1 itself and from outside', async () => {
    await Promise.all([host1.ensureNetwork(INGRESS), host2.ensureNetwork(INGRESS)]);
    await host1.setNodeAddress(INGRESS.id, '10.0.255.2');
    await host2.setNodeAddress(INGRESS.id, '10.0.255.3');
    await host2.attachTask('t5', [{ net: INGRESS, ip: '10.0.255.15' }]);
    expect(json<{ gateway: string }>('ip', ['-n', `${PREFIX2}t5`, '-j', 'route', 'show', 'default'])).toMatchObject([{ gateway: '10.0.255.1' }]);
    await host1.setPeers(INGRESS.id, [peer('10.0.255.15', IP2), peer('10.0.255.3', IP2)]);
    await host2.setPeers(INGRESS.id, [peer('10.0.255.2', IP1)]);
    await serve(`${PREFIX2}t5`, 80, '10.0.255.15', 'echo', 't5');

    await host1.setPublishedPorts(
      [
        { protocol: 'tcp', port: 30080, backends: [{ ip: '10.0.255.15', port: 80 }] },
        { protocol: 'tcp', port: 30081, backends: [] },
      ],
      '10.0.255.2',
    );
    expect(await connect(H1, IP1, 30080)).toBe('t5\n');
    expect(await connect(CLIENT, IP1, 30080)).toBe('t5\n');
    const started = performance.now();
    expect(await connect(CLIENT, IP1, 30081)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);

    // Weighted 3:1 over two address . port pairs (the ranged concatenation map, in the kernel).
    await serve(`${PREFIX2}t5`, 81, '10.0.255.15', 'echo', 't5b');
    await host1.setPublishedPorts(
      [
        { protocol: 'tcp', port: 30080, backends: [{ ip: '10.0.255.15', port: 80, weight: 3 }, { ip: '10.0.255.15', port: 81 }] },
        { protocol: 'tcp', port: 30081, backends: [{ ip: '10.0.255.15', port: 80, weight: 0 }] },
      ],
      '10.0.255.2',
    );
    const weighted = await connectMany(CLIENT, IP1, 30080, 8);
    expect([weighted.filter((r) => r === 't5\n').length, weighted.filter((r) => r === 't5b\n').length]).toEqual([6, 2]);
    expect(await connect(CLIENT, IP1, 30081)).toBeUndefined();
    const bad: unknown = await host1
      .setPublishedPorts([{ protocol: 'tcp', port: 30080, backends: [{ ip: '10.0.255.15', port: 80, weight: Number.NaN }] }], '10.0.255.2')
      .catch((e: unknown) => e);
    expect(isDatapathError(bad, 'INVALID_ARGUMENT')).toBe(true);
    expect((bad as Error).message).toMatch(/^ports\[0\]\.backends\[0\]\.weight: null is not a weight/);

    // The outside cannot reach a task directly, even with a route to its subnet; without the
    // forward rules it could (control).
    must('ip', ['-n', CLIENT, 'route', 'add', '10.0.1.0/24', 'via', IP1]);
    expect(await connect(CLIENT, '10.0.1.14', 8080, 1)).toBeUndefined();
    must('nsenter', [inNs(H1), 'nft', 'flush', 'chain', 'ip', 'swarm', 'forward']);
    expect(await connect(CLIENT, '10.0.1.14', 8080)).toBe('t4\n');
    await host1.ensureNetwork(NET_A);
    must('ip', ['-n', CLIENT, 'route', 'del', '10.0.1.0/24', 'via', IP1]);

    // Moving the node address moves the bridge's MAC with it and drops the old address.
    await host1.setNodeAddress(INGRESS.id, '10.0.255.4');
    const br = json<{ address: string; addr_info: { local: string }[] }>('ip', ['-n', H1, '-j', 'addr', 'show', `swbr${vni + 3}`])[0]!;
    expect(br.address).toBe(macFromIp('10.0.255.4'));
    expect(br.addr_info.map((a) => a.local).filter((a) => a.startsWith('10.'))).toEqual(['10.0.255.1', '10.0.255.4']);
    await host1.setNodeAddress(INGRESS.id, '10.0.255.2');
  });

  it('publishes a host-mode port straight to a local task', async () => {
    await host2.setHostPorts([{ protocol: 'tcp', port: 30090, ip: '10.0.1.12', targetPort: 8080 }]);
    expect(await connect(CLIENT, IP2, 30090)).toBe('t2\n');
    expect(await connect(H2, IP2, 30090)).toBe('t2\n');
    const clash: unknown = await host1.setHostPorts([{ protocol: 'tcp', port: 30080, ip: '10.0.1.11', targetPort: 80 }]).catch((e: unknown) => e);
    expect((clash as Error).message).toMatch(/^ports\[0\]\.port: tcp\/30080 is already published/);
  });

  it('detach, remove and teardown leave nothing behind', async () => {
    for (const s of servers) s.kill('SIGKILL');
    await host1.detachTask('t1');
    await host2.detachTask('t2');
    await host1.removeNetwork(NET_A.id);
    expect(host1.networks()).toEqual([NET_B.id, INGRESS.id]);
    expect(json<{ ifname: string }>('ip', ['-n', H1, '-j', 'link', 'show']).map((l) => l.ifname)).not.toContain(`swvx${vni}`);
    await Promise.all([host1.teardown(), host2.teardown()]);
    for (const ns of [H1, H2]) {
      const devices = json<{ ifname: string }>('ip', ['-n', ns, '-j', 'link', 'show']).map((l) => l.ifname);
      expect(devices.filter((d) => /^sw(br|vx|v)/.test(d))).toEqual([]);
      expect(must('nsenter', [inNs(ns), 'nft', 'list', 'tables'])).not.toMatch(/swarm/);
    }
    expect(readdirSync(NSDIR).filter((n) => n.startsWith(PREFIX1) || n.startsWith(PREFIX2))).toEqual([]);
    expect(host1.networks()).toEqual([]);
  });
});
