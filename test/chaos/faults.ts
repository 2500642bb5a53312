// Faults: the chaos suite's fault injector, for namespace hosts or compose nodes (FaultHosts).
//
//   const faults = new Faults(netnsFaultHosts(h));
//   faults.mountSmallDisk(2, 32 << 20);            // before h.startDaemon(2)
//   await faults.isolate(0); ... await faults.heal();
//   report.push(...faults.describe());              // while the faults are on
//
// What each fault does to the kernel:
//
// - partition(groups), isolate(i), dropOneWay(from, to), loss(hosts, percent): nftables rules in
//   ONE table, `ip chaos`, in each affected host's network namespace, in a chain on the prerouting
//   hook at priority raw (-300), so they act before conntrack and before the daemon's own tables
//   (swarm, swarm_mesh, swarm_hostports, swarm_lb), which are never read or touched. Packets are
//   dropped where they arrive, never where they leave: a sender sees silence as on a real network,
//   not the EPERM an output-hook drop would return to its sendmsg(). Partitions and one-way drops
//   match the peers' underlay source addresses (all IPv4 traffic: control TCP, VXLAN UDP 4789,
//   ICMP); loss is `iifname "eth0" numgen random mod 10000 < P*100 drop`. ARP and IPv6 link-local
//   traffic still flow: the cluster speaks IPv4 only, so this is a firewall-style cut. Each
//   host's table is re-rendered whole from the model and replaced in one `nft -f` transaction.
// - flap(i, ...): `ip link set eth0 down|up` inside host i's namespace. The IPv4 address stays on a
//   downed link but the kernel removes its connected route; after the last up the route is back
//   (checked, and the address re-added if it ever went missing).
// - mountSmallDisk(i, bytes): a tmpfs of that size at hostDir(i)/data (in the root mount namespace,
//   which the daemons share); fillDisk writes a filler file until ENOSPC, freeDisk deletes it.
//   NetnsHarness.cleanup() unmounts it (unmountUnder(h.dir) takes every mount below the harness dir).
//
// Faults accumulate until heal(): partitions and one-way drops add up (a union of cuts; repeating a
// call changes nothing), loss() sets the share per host (the latest call wins). heal() removes the
// `chaos` table from every host, stops running flaps, brings every eth0 up and deletes the fillers.
// To move a partition, heal() and partition again. partition() wants every host listed exactly once,
// so where a host with no role in the cut (e.g. a client) lands is always the caller's explicit choice.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultHosts } from './hosts.js';

/** The one nftables table (family ip) the faults live in, in each host namespace. */
export const CHAOS_TABLE = 'chaos';
/** The filler file fillDisk() writes in the small disk's root. */
export const FILLER_NAME = '.chaos-filler';
/** The underlay device inside every host namespace. */
const UNDERLAY_DEV = 'eth0';

export interface FlapOptions {
  /** How long the link stays down each time. */
  downMs: number;
  /** How long it stays up between two downs (not after the last). */
  upMs: number;
  /** How many down/up cycles. */
  times: number;
}

/** One rule's counter in a host's chaos table, by the rule's comment. */
export interface RuleCounter {
  comment: string;
  packets: number;
  bytes: number;
}

interface Flap {
  opts: FlapOptions;
  cyclesDone: number;
  abort: AbortController;
  done: Promise<void>;
}

interface Disk {
  dir: string;
  bytes: number;
  filled: boolean;
}

function mib(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

/** Mount points in this process's mount namespace (the daemons share it: they enter only the net namespace). */
function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m !== '');
}

export class Faults {
  /** Partitions by canonical key, each with its groups. */
  private readonly partitions = new Map<string, number[][]>();
  /** One-way drops as [from, to], keyed `from>to`. */
  private readonly oneWay = new Map<string, [number, number]>();
  /** Loss percent per host. */
  private readonly lossPct = new Map<number, number>();
  private readonly flaps = new Map<number, Flap>();
  private readonly disks = new Map<number, Disk>();
  /** Last ruleset applied per host, to skip hosts whose rules did not change. */
  private readonly applied = new Map<number, string>();
  /** nft updates run one at a time, so a slow render can never overwrite a newer one. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly h: FaultHosts) {}

  // ---- network ----

  /**
   * Hosts in different groups exchange no IPv4 packets on the underlay, in either direction.
   * Every host must be listed exactly once, in at least two groups.
   */
  async partition(groups: number[][]): Promise<void> {
    const seen = new Set<number>();
    if (!Array.isArray(groups) || groups.length < 2) throw new Error(`partition: groups must list at least 2 groups, got ${JSON.stringify(groups)}`);
    for (const g of groups) {
      if (!Array.isArray(g) || g.length === 0) throw new Error(`partition: every group must be a non-empty list of hosts, got ${JSON.stringify(groups)}`);
      for (const i of g) {
        this.checkHost(i, 'partition: groups');
        if (seen.has(i)) throw new Error(`partition: host ${i} is listed twice in ${JSON.stringify(groups)}`);
        seen.add(i);
      }
    }
    const missing = Array.from({ length: this.h.size }, (_, i) => i).filter((i) => !seen.has(i));
    if (missing.length > 0) throw new Error(`partition: groups must list every host; missing ${missing.join(', ')} in ${JSON.stringify(groups)}`);
    const canon = groups.map((g) => [...g].sort((a, b) => a - b)).sort((a, b) => a[0]! - b[0]!);
    this.partitions.set(JSON.stringify(canon), canon);
    await this.apply();
  }

  /** Host i exchanges nothing with any other host: partition([[i], others]). */
  async isolate(i: number): Promise<void> {
    this.checkHost(i, 'isolate: i');
    const others = Array.from({ length: this.h.size }, (_, j) => j).filter((j) => j !== i);
    if (others.length === 0) throw new Error('isolate: the harness has a single host, there is nothing to isolate it from');
    await this.partition([[i], others]);
  }

  /** Packets host `from` sends to host `to` are dropped on arrival; `to` → `from` still flows. */
  async dropOneWay(from: number, to: number): Promise<void> {
    this.checkHost(from, 'dropOneWay: from');
    this.checkHost(to, 'dropOneWay: to');
    if (from === to) throw new Error(`dropOneWay: from and to must differ, got ${from} twice`);
    this.oneWay.set(`${from}>${to}`, [from, to]);
    await this.apply();
  }

  /** Drops `percent` % (0 < percent < 100, resolution 0.01) of the packets arriving on each listed host's eth0. */
  async loss(hosts: number[] | 'all', percent: number): Promise<void> {
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent >= 100) {
      throw new Error(`loss: percent must be a number with 0 < percent < 100, got ${String(percent)}`);
    }
    if (Math.round(percent * 100) < 1 || Math.round(percent * 100) > 9999) throw new Error(`loss: percent must be between 0.01 and 99.99, got ${percent}`);
    const list = hosts === 'all' ? Array.from({ length: this.h.size }, (_, i) => i) : hosts;
    if (!Array.isArray(list) || list.length === 0) throw new Error(`loss: hosts must be 'all' or a non-empty list of hosts, got ${JSON.stringify(hosts)}`);
    for (const i of list) this.checkHost(i, 'loss: hosts');
    for (const i of list) this.lossPct.set(i, percent);
    await this.apply();
  }

  /**
   * Takes host i's eth0 down for downMs and up for upMs, `times` times. Resolves with the link up,
   * its address on it and its connected route back; heal() cuts a running flap short.
   */
  async flap(i: number, opts: FlapOptions): Promise<void> {
    this.checkHost(i, 'flap: i');
    for (const k of ['downMs', 'upMs'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 0) throw new Error(`flap: ${k} must be an integer >= 0, got ${String(opts[k])}`);
    }
    if (!Number.isInteger(opts.times) || opts.times < 1) throw new Error(`flap: times must be an integer >= 1, got ${String(opts.times)}`);
    if (this.flaps.has(i)) throw new Error(`flap: host ${i} is already flapping`);
    const abort = new AbortController();
    const wait = (ms: number): Promise<void> => sleep(ms, undefined, { signal: abort.signal }).catch(() => undefined);
    const f: Flap = { opts: { ...opts }, cyclesDone: 0, abort, done: Promise.resolve() };
    // Taking a link down drops its routes; those beyond the connected one (a container's default
    // route, say) are put back after the last up.
    const routes = await this.routes(i);
    f.done = (async () => {
      try {
        for (let n = 0; n < opts.times && !abort.signal.aborted; n++) {
          await this.ip(i, ['link', 'set', UNDERLAY_DEV, 'down']);
          await wait(opts.downMs);
          await this.ip(i, ['link', 'set', UNDERLAY_DEV, 'up']);
          f.cyclesDone++;
          if (n < opts.times - 1) await wait(opts.upMs);
        }
      } finally {
        await this.restoreLink(i, routes);
      }
    })();
    this.flaps.set(i, f);
    try {
      await f.done;
    } finally {
      this.flaps.delete(i);
    }
  }

  // ---- disk ----

  /** Mounts a tmpfs of `bytes` at hostDir(i)/data. Call it before host i's daemon starts. */
  mountSmallDisk(i: number, bytes: number): void {
    this.checkHost(i, 'mountSmallDisk: i');
    if (!Number.isInteger(bytes) || bytes < 4096) throw new Error(`mountSmallDisk: bytes must be an integer >= 4096, got ${String(bytes)}`);
    if (!this.h.smallDisk) throw new Error('mountSmallDisk: these hosts cannot have a small disk (only namespace hosts can)');
    const { dir, source } = this.h.smallDisk(i);
    const prev = this.disks.get(i);
    if (prev && mountPoints().includes(dir)) {
      if (prev.bytes === bytes) return;
      // Resizing in place keeps whatever the daemon already wrote.
      this.sh('mount', ['-o', `remount,size=${bytes}`, dir]);
      prev.bytes = bytes;
      return;
    }
    mkdirSync(dir, { recursive: true });
    if (mountPoints().includes(dir)) throw new Error(`mountSmallDisk: ${dir} is already a mount point not made by Faults`);
    // Mounting over data would hide it from the daemon: refuse rather than lose state silently.
    if (readdirSync(dir).length > 0) throw new Error(`mountSmallDisk: ${dir} is not empty; call it before host ${i}'s daemon starts`);
    this.sh('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, source, dir]);
    this.disks.set(i, { dir, bytes, filled: false });
  }

  /** Fills host i's small disk to ENOSPC with a filler file, so the daemon's next allocations fail. */
  async fillDisk(i: number): Promise<void> {
    const disk = this.disk(i, 'fillDisk');
    const fh = await open(join(disk.dir, FILLER_NAME), 'a');
    const chunk = Buffer.alloc(1 << 20);
    try {
      for (;;) {
        // tmpfs writes what fits (a short write), then fails the next write with ENOSPC.
        const { bytesWritten } = await fh.write(chunk);
        if (bytesWritten === 0) break;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      await fh.close();
    }
    disk.filled = true;
  }

  /** Deletes host i's filler file. */
  async freeDisk(i: number): Promise<void> {
    const disk = this.disk(i, 'freeDisk');
    await unlink(join(disk.dir, FILLER_NAME)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    disk.filled = false;
  }

  /** Free bytes left on host i's small disk (statfs). */
  diskFree(i: number): number {
    const s = statfsSync(this.disk(i, 'diskFree').dir);
    return s.bavail * s.bsize;
  }

  // ---- all ----

  /** Removes every fault: the chaos table on every host, running flaps, downed links, fillers. Keeps the mounts. */
  async heal(): Promise<void> {
    for (const f of this.flaps.values()) f.abort.abort();
    // A flap's own failure is reported to its caller; here only its end matters.
    await Promise.allSettled([...this.flaps.values()].map((f) => f.done));
    this.partitions.clear();
    this.oneWay.clear();
    this.lossPct.clear();
    await this.apply(true);
    const errors: unknown[] = [];
    await Promise.all(
      Array.from({ length: this.h.size }, (_, i) => i)
        .filter((i) => this.h.alive(i))
        .map((i) => this.restoreLink(i).catch((err: unknown) => errors.push(err))),
    );
    for (const [i, d] of this.disks) {
      // A disk whose harness was cleaned up is gone with its mount.
      if (d.filled || existsSync(join(d.dir, FILLER_NAME))) await this.freeDisk(i).catch((err: unknown) => errors.push(err));
    }
    if (errors.length > 0) throw new AggregateError(errors, `heal: ${errors.length} step(s) failed: ${errors.map(String).join('; ')}`);
  }

  /** The faults currently active, human-readable. */
  describe(): string[] {
    const name = (i: number): string => this.h.name(i);
    const out: string[] = [];
    for (const groups of this.partitions.values()) out.push(`partition ${groups.map((g) => g.map(name).join(',')).join(' | ')}`);
    for (const [from, to] of this.oneWay.values()) out.push(`drop ${name(from)} → ${name(to)} (${name(to)} → ${name(from)} still flows)`);
    for (const [i, p] of [...this.lossPct].sort((a, b) => a[0] - b[0])) out.push(`loss ${p}% of packets arriving on ${name(i)}`);
    for (const [i, f] of this.flaps) {
      out.push(`flap ${name(i)} ${UNDERLAY_DEV}: ${f.opts.times}× (${f.opts.downMs} ms down, ${f.opts.upMs} ms up), ${f.cyclesDone} done`);
    }
    for (const [i, d] of this.disks) if (d.filled) out.push(`disk full on ${name(i)} (${mib(d.bytes)} tmpfs at ${d.dir})`);
    return out;
  }

  /** The counters of host i's chaos rules, by comment; [] when the host has no chaos table. */
  async counters(i: number): Promise<RuleCounter[]> {
    this.checkHost(i, 'counters: i');
    const r = await this.h.exec(i, ['nft', '-j', 'list', 'table', 'ip', CHAOS_TABLE]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return [];
      throw new Error(`nft list table on ${this.h.name(i)} exited ${r.code}: ${r.stderr}`);
    }
    const doc = JSON.parse(r.stdout) as { nftables?: Array<{ rule?: { comment?: string; expr?: Array<{ counter?: { packets: number; bytes: number } }> } }> };
    const out: RuleCounter[] = [];
    for (const item of doc.nftables ?? []) {
      const counter = item.rule?.expr?.find((e) => e.counter)?.counter;
      if (item.rule && counter) out.push({ comment: item.rule.comment ?? '', packets: counter.packets, bytes: counter.bytes });
    }
    return out;
  }

  /** Host i's chaos ruleset as nft would load it ('' when it has none), for reports and tests. */
  ruleset(i: number): string {
    this.checkHost(i, 'ruleset: i');
    return this.render(i);
  }

  // ---- internals ----

  private checkHost(i: number, field: string): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.h.size) throw new Error(`${field} must be a host index 0..${this.h.size - 1}, got ${String(i)}`);
  }

  private disk(i: number, op: string): Disk {
    this.checkHost(i, `${op}: i`);
    const d = this.disks.get(i);
    if (!d) throw new Error(`${op}: host ${i} has no small disk; call mountSmallDisk(${i}, bytes) first`);
    return d;
  }

  /** The senders whose packets host i drops, each with the reason. */
  private blockedSenders(i: number): { partition: number[]; oneWay: number[] } {
    const partition = new Set<number>();
    for (const groups of this.partitions.values()) {
      const mine = groups.find((g) => g.includes(i));
      for (const g of groups) if (g !== mine) for (const j of g) partition.add(j);
    }
    const oneWay = [...this.oneWay.values()].filter(([from, to]) => to === i && !partition.has(from)).map(([from]) => from);
    return { partition: [...partition].sort((a, b) => a - b), oneWay: oneWay.sort((a, b) => a - b) };
  }

  /** Host i's whole chaos table; '' when it needs none. */
  private render(i: number): string {
    const name = (j: number): string => this.h.name(j);
    const ip = (j: number): string => this.h.ip(j);
    const { partition, oneWay } = this.blockedSenders(i);
    const rules: string[] = [];
    if (partition.length > 0) rules.push(`ip saddr { ${partition.map(ip).join(', ')} } counter drop comment "partition: from ${partition.map(name).join(',')}"`);
    for (const j of oneWay) rules.push(`ip saddr ${ip(j)} counter drop comment "one-way: ${name(j)} -> ${name(i)}"`);
    const p = this.lossPct.get(i);
    if (p !== undefined) rules.push(`iifname "${UNDERLAY_DEV}" numgen random mod 10000 < ${Math.round(p * 100)} counter drop comment "loss ${p}%"`);
    if (rules.length === 0) return '';
    return [
      `table ip ${CHAOS_TABLE} {`,
      '  chain prerouting {',
      // raw priority: before conntrack and before any DNAT the daemon's tables do.
      '    type filter hook prerouting priority raw; policy accept;',
      ...rules.map((r) => `    ${r}`),
      '  }',
      '}',
    ].join('\n');
  }

  /** Replaces each host's chaos table with its rendering (deletes it when empty), atomically per host. */
  private apply(force = false): Promise<void> {
    const next = this.queue.then(async () => {
      const errors: unknown[] = [];
      await Promise.all(
        Array.from({ length: this.h.size }, (_, i) => i).map(async (i) => {
          const body = this.render(i);
          if (!force && (this.applied.get(i) ?? '') === body) return;
          if (!this.h.alive(i)) return;
          // `table {}` then `delete table` makes the delete succeed whether or not the table exists.
          const text = `table ip ${CHAOS_TABLE} {}\ndelete table ip ${CHAOS_TABLE}\n${body}\n`;
          // The ruleset goes in as an argument: exec may run inside a container with no view of our files.
          const r = await this.h.exec(i, ['sh', '-c', 'printf "%s" "$1" | nft -f -', 'sh', text]);
          if (r.code !== 0) {
            errors.push(new Error(`nft -f - on ${this.h.name(i)} exited ${r.code}: ${r.stderr}${r.stdout}\n${text}`));
            this.applied.delete(i);
            return;
          }
          this.applied.set(i, body);
        }),
      );
      if (errors.length > 0) throw new AggregateError(errors, errors.map(String).join('; '));
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async ip(i: number, args: string[]): Promise<void> {
    const r = await this.h.exec(i, ['ip', ...args]);
    if (r.code !== 0) throw new Error(`ip ${args.join(' ')} on ${this.h.name(i)} exited ${r.code}: ${r.stderr}${r.stdout}`);
  }

  /** Host i's IPv4 routes through eth0, as `ip route` prints them. */
  private async routes(i: number): Promise<string[]> {
    const r = await this.h.exec(i, ['ip', '-4', 'route', 'show', 'dev', UNDERLAY_DEV]);
    return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  }

  /** eth0 up, its address on it, its connected route back, then any of `routes` missing. */
  private async restoreLink(i: number, routes: readonly string[] = []): Promise<void> {
    const ip = this.h.ip(i);
    const cidr = `${ip}/${this.h.subnet.split('/')[1]}`;
    await this.ip(i, ['link', 'set', UNDERLAY_DEV, 'up']);
    const addrs = await this.h.exec(i, ['ip', '-4', '-o', 'addr', 'show', 'dev', UNDERLAY_DEV]);
    if (!addrs.stdout.includes(` ${cidr} `)) await this.ip(i, ['addr', 'replace', cidr, 'dev', UNDERLAY_DEV]);
    const deadline = Date.now() + 3_000;
    for (;;) {
      const route = await this.h.exec(i, ['ip', '-4', 'route', 'show', 'dev', UNDERLAY_DEV]);
      if (route.stdout.split('\n').some((l) => l.startsWith(`${this.h.subnet} `))) break;
      if (Date.now() > deadline) throw new Error(`${this.h.name(i)}: no route to ${this.h.subnet} on ${UNDERLAY_DEV} 3 s after link up`);
      await sleep(20);
    }
    const now = await this.routes(i);
    for (const r of routes) {
      if (now.includes(r) || r.includes('proto kernel')) continue;
      await this.ip(i, ['route', 'replace', ...r.trim().split(/\s+/), 'dev', UNDERLAY_DEV]);
    }
  }

  private sh(cmd: string, args: string[]): void {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${String(r.status)}: ${r.stderr ?? ''}${r.error ? String(r.error) : ''}`);
  }
}
