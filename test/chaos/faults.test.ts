// Proves each fault of Faults really happens and really heals, on 3 namespace hosts without
// daemons: reachability by busybox ping, one-way observations by UDP datagrams (node's dgram in
// the host namespace), loss by ping statistics checked against the drop rule's nft counter.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetnsHarness } from '../net/netns-harness.js';
import { CHAOS_TABLE, Faults } from './faults.js';
import { netnsFaultHosts } from './hosts.js';

const HOSTS = 3;
let h: NetnsHarness;
let faults: Faults;

const PAIRS: Array<[number, number]> = [];
for (let a = 0; a < HOSTS; a++) for (let b = 0; b < HOSTS; b++) if (a !== b) PAIRS.push([a, b]);
const ALL = PAIRS.map(([a, b]) => `${a}>${b}`);

async function pings(from: number, to: number): Promise<boolean> {
  const r = await h.exec(from, ['busybox', 'ping', '-c1', '-W1', h.host(to).ip]);
  return r.code === 0;
}

/** The ordered pairs `a>b` whose ping round trip works. */
async function reachable(): Promise<string[]> {
  const ok = await Promise.all(PAIRS.map(([a, b]) => pings(a, b)));
  return PAIRS.filter((_, k) => ok[k]).map(([a, b]) => `${a}>${b}`);
}

// Receives on IP:PORT until WANT datagrams or WINDOW ms, prints the count; touches READY once bound.
const RECEIVER = `
const [port, ip, ready, windowMs, want] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
let n = 0, over = false;
const done = () => { if (over) return; over = true; process.stdout.write(n + '\\n', () => process.exit(0)); };
s.on('message', () => { if (++n === Number(want)) done(); });
s.bind(Number(port), ip, () => { require('node:fs').writeFileSync(ready, ''); setTimeout(done, Number(windowMs)); });
`;
const SENDER = `
const [port, ip, count] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
let k = 0;
const send = () => s.send('chaos', Number(port), ip, () => { if (++k < Number(count)) setTimeout(send, 10); else s.close(); });
send();
`;
const DATAGRAMS = 5;
let probeSeq = 0;

/** How many of DATAGRAMS UDP datagrams host `from` sends to host `to`:port arrive (a one-way observation). */
async function udpProbe(from: number, to: number, port: number): Promise<number> {
  const ready = join(h.dir, `udp-ready-${probeSeq++}`);
  const recv = h.exec(to, [process.execPath, '-e', RECEIVER, String(port), h.host(to).ip, ready, '2000', String(DATAGRAMS)], 15_000);
  let exited = false;
  void recv.then(() => (exited = true));
  const deadline = Date.now() + 10_000;
  while (!existsSync(ready)) {
    if (exited) throw new Error(`UDP receiver on host${to} exited early: ${(await recv).stderr}`);
    if (Date.now() > deadline) throw new Error(`UDP receiver on host${to} did not bind`);
    await sleep(10);
  }
  const sent = await h.exec(from, [process.execPath, '-e', SENDER, String(port), h.host(to).ip, String(DATAGRAMS)]);
  expect(sent.code, sent.stderr).toBe(0);
  const r = await recv;
  expect(r.code, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

async function chaosTableExists(i: number): Promise<boolean> {
  const r = await h.exec(i, ['nft', 'list', 'table', 'ip', CHAOS_TABLE]);
  return r.code === 0;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => (l.split(' ')[4] ?? '').startsWith(`${dir}/`));
}

describe('Faults on 3 namespace hosts', () => {
  beforeAll(() => {
    h = NetnsHarness.create('chaos', { hosts: HOSTS });
    faults = new Faults(netnsFaultHosts(h));
  });

  afterEach(async () => {
    await faults.heal();
  });

  afterAll(async () => {
    try {
      await faults?.heal();
    } finally {
      await h?.cleanup();
    }
  });

  it('partition splits the underlay both ways, VXLAN UDP included, leaves other tables alone, and heals', async () => {
    expect(await reachable()).toEqual(ALL);
    // A stand-in for the daemon's own table: chaos must never touch it.
    const swarmFile = join(h.dir, 'swarm.nft');
    writeFileSync(swarmFile, 'table ip swarm {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    counter\n  }\n}\n');
    expect((await h.exec(0, ['nft', '-f', swarmFile])).code).toBe(0);

    await expect(faults.partition([[0], [1]])).rejects.toThrow(/missing 2/);
    await expect(faults.partition([[0, 1, 2]])).rejects.toThrow(/at least 2 groups/);
    await expect(faults.partition([[0, 1], [1, 2]])).rejects.toThrow(/listed twice/);
    await expect(faults.partition([[0], [1, 2, 3]])).rejects.toThrow(/host index 0\.\.2, got 3/);

    await faults.partition([[0], [1, 2]]);
    const rules = await h.exec(1, ['nft', 'list', 'table', 'ip', CHAOS_TABLE]);
    await faults.partition([[2, 1], [0]]); // the same cut: idempotent
    expect((await h.exec(1, ['nft', 'list', 'table', 'ip', CHAOS_TABLE])).stdout).toBe(rules.stdout);
    expect(faults.describe()).toEqual(['partition host0 | host1,host2']);
    expect(faults.ruleset(0)).toContain(`ip saddr { ${h.host(1).ip}, ${h.host(2).ip} } counter drop`);

    expect(await reachable()).toEqual(['1>2', '2>1']);
    expect(await Promise.all([udpProbe(1, 0, 4789), udpProbe(0, 2, 4789), udpProbe(2, 1, 4789)])).toEqual([0, 0, DATAGRAMS]);
    const dropped = (await faults.counters(0)).find((c) => c.comment.startsWith('partition'));
    expect(dropped?.packets).toBeGreaterThanOrEqual(DATAGRAMS);

    const tables = (await h.exec(0, ['nft', 'list', 'tables'])).stdout;
    expect(tables).toContain('table ip swarm');
    expect(tables).toContain(`table ip ${CHAOS_TABLE}`);

    await faults.heal();
    expect(faults.describe()).toEqual([]);
    for (let i = 0; i < HOSTS; i++) expect(await chaosTableExists(i)).toBe(false);
    expect(await reachable()).toEqual(ALL);
    expect(await udpProbe(1, 0, 4789)).toBe(DATAGRAMS);
    const swarm = await h.exec(0, ['nft', 'list', 'table', 'ip', 'swarm']);
    expect(swarm.code).toBe(0);
    expect(swarm.stdout).toContain('hook input');
  });

  it('isolate cuts one host off, and cuts accumulate until heal', async () => {
    await faults.isolate(2);
    await faults.isolate(2);
    expect(faults.describe()).toEqual(['partition host0,host1 | host2']);
    expect(await reachable()).toEqual(['0>1', '1>0']);
    await faults.isolate(0);
    expect(faults.describe()).toHaveLength(2);
    expect(await reachable()).toEqual([]);
    await faults.heal();
    expect(await reachable()).toEqual(ALL);
  });

  it('dropOneWay drops what from sends to to, and nothing the other way', async () => {
    await expect(faults.dropOneWay(1, 1)).rejects.toThrow(/from and to must differ/);
    await faults.dropOneWay(0, 1);
    await faults.dropOneWay(0, 1);
    expect(faults.describe()).toEqual(['drop host0 → host1 (host1 → host0 still flows)']);
    expect(await udpProbe(0, 1, 4789)).toBe(0);
    expect(await udpProbe(1, 0, 4789)).toBe(DATAGRAMS);
    // ICMP round trips fail both ways (the reply 0 → 1 is dropped), hence the UDP proof above.
    expect(await pings(1, 0)).toBe(false);
    expect(await pings(0, 2)).toBe(true);
    expect(await pings(2, 1)).toBe(true);
    const c = (await faults.counters(1)).find((x) => x.comment === 'one-way: host0 -> host1');
    expect(c?.packets).toBeGreaterThanOrEqual(DATAGRAMS);
    expect(await chaosTableExists(0)).toBe(false);
    await faults.heal();
    expect(await udpProbe(0, 1, 4789)).toBe(DATAGRAMS);
    expect(await pings(1, 0)).toBe(true);
  });

  it('loss drops about the given share of incoming packets, and only on the listed hosts', async () => {
    await expect(faults.loss([1], 0)).rejects.toThrow(/percent must be a number with 0 < percent < 100, got 0/);
    await expect(faults.loss([1], 100)).rejects.toThrow(/percent/);
    await expect(faults.loss([1], Number.NaN)).rejects.toThrow(/percent/);
    await expect(faults.loss([], 10)).rejects.toThrow(/hosts/);
    await expect(faults.loss([5], 10)).rejects.toThrow(/loss: hosts must be a host index/);

    await faults.loss([1], 30);
    await faults.loss([1], 30);
    expect(faults.describe()).toEqual(['loss 30% of packets arriving on host1']);
    expect(faults.ruleset(1)).toContain('iifname "eth0" numgen random mod 10000 < 3000 counter drop');
    const count = 400;
    // Only host1 is lossy, so each ping can be lost only as its request arrives there.
    const r = await h.exec(0, ['busybox', 'ping', '-q', '-c', String(count), '-i', '0.005', '-W', '1', h.host(1).ip], 30_000);
    const m = /(\d+) packets transmitted, (\d+) packets received/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const lost = Number(m![1]) - Number(m![2]);
    const rule = (await faults.counters(1)).find((c) => c.comment === 'loss 30%');
    // Deterministic: every lost ping is a packet the rule counted, and nothing else arrived.
    expect(rule?.packets).toBe(lost);
    // Statistical: Binomial(400, 0.3) has mean 120 and sd 9.2; 80..160 is ±4.3 sd (false failure ~1e-5).
    expect(lost).toBeGreaterThanOrEqual(80);
    expect(lost).toBeLessThanOrEqual(160);
    expect(await chaosTableExists(0)).toBe(false);
    expect(await chaosTableExists(2)).toBe(false);

    await faults.loss('all', 50);
    expect(faults.describe()).toHaveLength(3);
    for (let i = 0; i < HOSTS; i++) expect(faults.ruleset(i)).toContain('< 5000 counter drop comment "loss 50%"');
    await faults.heal();
    for (let i = 0; i < HOSTS; i++) expect(await faults.counters(i)).toEqual([]);
    const after = await h.exec(0, ['busybox', 'ping', '-q', '-c', '100', '-i', '0.005', '-W', '1', h.host(1).ip], 30_000);
    expect(after.stdout).toContain('100 packets received');
  });

  it('flap takes eth0 down `times` times and resolves with address and route back', async () => {
    await expect(faults.flap(1, { downMs: 10, upMs: 10, times: 0 })).rejects.toThrow(/times must be/);
    // `ip monitor` in host1 records every link change; a veth pair made and deleted there (no dummy
    // module on this kernel) proves it listens before the flap starts.
    const mon = spawn('nsenter', [`--net=/var/run/netns/${h.host(1).netns}`, '--', 'ip', '-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    mon.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      const deadline = Date.now() + 5_000;
      while (!out.includes('chaosp0')) {
        await h.exec(1, ['ip', 'link', 'del', 'chaosp0']);
        expect((await h.exec(1, ['ip', 'link', 'add', 'chaosp0', 'type', 'veth', 'peer', 'name', 'chaosp1'])).code).toBe(0);
        await sleep(50);
        if (Date.now() > deadline) throw new Error(`ip monitor printed nothing: ${out}`);
      }
      await h.exec(1, ['ip', 'link', 'del', 'chaosp0']);
      // A route through eth0 beyond the connected one (a container's default route, in compose
      // nodes) goes with the link: the flap puts it back. TEST-NET-1, via a host of the underlay.
      expect((await h.exec(1, ['ip', 'route', 'add', '192.0.2.0/24', 'via', h.host(2).ip, 'dev', 'eth0'])).code).toBe(0);

      const opts = { downMs: 150, upMs: 150, times: 3 };
      const t0 = Date.now();
      const flapping = faults.flap(1, opts);
      await sleep(50);
      expect(faults.describe()[0]).toMatch(/^flap host1 eth0: 3× \(150 ms down, 150 ms up\)/);
      await expect(faults.flap(1, opts)).rejects.toThrow(/already flapping/);
      await flapping;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(opts.times * opts.downMs + (opts.times - 1) * opts.upMs);
      await sleep(100); // let the monitor print the last events
    } finally {
      mon.kill('SIGTERM');
    }
    // Collapse each eth0 event to up/down (the UP flag is the admin state) and count the downs.
    const states: string[] = [];
    for (const line of out.split('\n').filter((l) => /^\d+: eth0@/.test(l))) {
      const flags = (/<([^>]*)>/.exec(line)?.[1] ?? '').split(',');
      const s = flags.includes('UP') ? 'up' : 'down';
      if (states.at(-1) !== s) states.push(s);
    }
    expect(states.filter((s) => s === 'down')).toHaveLength(3);
    expect(states.at(-1)).toBe('up');

    const addr = await h.exec(1, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain(`${h.host(1).ip}/24`);
    const route = await h.exec(1, ['ip', '-4', 'route', 'show', 'dev', 'eth0']);
    expect(route.stdout).toContain(h.subnet);
    expect(route.stdout).toContain(`192.0.2.0/24 via ${h.host(2).ip}`);
    await h.exec(1, ['ip', 'route', 'del', '192.0.2.0/24']);
    expect(faults.describe()).toEqual([]);
    expect(await pings(0, 1)).toBe(true);
    expect(await pings(1, 2)).toBe(true);
  });

  it('heal cuts a running flap short and brings up a link left down', async () => {
    const t0 = Date.now();
    const flapping = faults.flap(2, { downMs: 200, upMs: 200, times: 100 });
    await sleep(100);
    expect(await pings(0, 2)).toBe(false);
    await faults.heal();
    await flapping;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(await pings(0, 2)).toBe(true);

    expect((await h.exec(1, ['ip', 'link', 'set', 'eth0', 'down'])).code).toBe(0);
    expect(await pings(0, 1)).toBe(false);
    await faults.heal();
    expect(await reachable()).toEqual(ALL);
  });

  it('mountSmallDisk + fillDisk make writes fail with ENOSPC; freeDisk and heal free it', async () => {
    const size = 4 << 20;
    faults.mountSmallDisk(0, size);
    faults.mountSmallDisk(0, size); // idempotent
    const dir = join(h.hostDir(0), 'data');
    const mine = mountsUnder(h.dir).filter((l) => l.split(' ')[4] === dir);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatch(/ - tmpfs /);
    const st = statfsSync(dir);
    expect(st.blocks * st.bsize).toBe(size);

    // A data dir already in use must not be hidden under a mount.
    mkdirSync(join(h.hostDir(1), 'data'), { recursive: true });
    writeFileSync(join(h.hostDir(1), 'data', 'state'), 'x');
    expect(() => faults.mountSmallDisk(1, size)).toThrow(/not empty/);
    expect(() => faults.mountSmallDisk(2, 100)).toThrow(/bytes must be/);
    await expect(faults.fillDisk(2)).rejects.toThrow(/no small disk/);

    const probe = join(dir, 'probe');
    writeFileSync(probe, Buffer.alloc(4096));
    await faults.fillDisk(0);
    await faults.fillDisk(0);
    expect(faults.diskFree(0)).toBe(0);
    expect(faults.describe()).toEqual([`disk full on host0 (4 MiB tmpfs at ${dir})`]);
    expect(() => writeFileSync(join(dir, 'more'), Buffer.alloc(4096))).toThrow(/ENOSPC/);

    await faults.freeDisk(0);
    await faults.freeDisk(0);
    expect(faults.diskFree(0)).toBeGreaterThan(size - 64 * 1024);
    writeFileSync(join(dir, 'more'), Buffer.alloc(4096));

    await faults.fillDisk(0);
    expect(() => writeFileSync(join(dir, 'more2'), Buffer.alloc(4096))).toThrow(/ENOSPC/);
    await faults.heal();
    writeFileSync(join(dir, 'more2'), Buffer.alloc(4096));
    expect(faults.describe()).toEqual([]);
  });

  it('NetnsHarness.cleanup unmounts the small disk and removes every host', async () => {
    const dir = h.dir;
    const netns = h.host(0).netns;
    faults.mountSmallDisk(0, 4 << 20); // a no-op when the disk test already mounted it
    expect(mountsUnder(dir).length).toBeGreaterThan(0);
    await faults.heal();
    await h.cleanup();
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(`/var/run/netns/${netns}`)).toBe(false);
    await faults.heal(); // after cleanup: nothing left to heal, no error
  });
});
