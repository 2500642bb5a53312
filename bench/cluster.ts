// Shared by the process-cluster benchmarks (failover, idle): test/cluster/harness.ts's
// ClusterHarness (real `swarm daemon` processes on loopback, the real CLI, the HTTP API over unix
// sockets), plus forming a cluster of managers, a health check, cleanup on exit and on signals,
// and small statistics helpers.
import { rmSync } from 'node:fs';
import { ClusterHarness, waitFor } from '../test/cluster/harness.js';
import type { NodeObject } from '../node/store/types.js';

export { waitFor };
export type { NodeObject };

export function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${msg}\n`);
}

/**
 * A ClusterHarness whose processes and temp dir also go when the benchmark exits or gets SIGINT
 * or SIGTERM (the harness's cleanup() is async; exit and signal handlers cannot wait).
 */
export class BenchCluster {
  readonly h: ClusterHarness;
  private cleaned = false;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: killing the daemons and removing ${this.h.dir}`);
    this.killNow();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  private readonly onExit = (): void => this.killNow();

  constructor(label: string) {
    this.h = ClusterHarness.create(`bench-${label}`);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.once('exit', this.onExit);
  }

  /** The pid of a running daemon. */
  pid(name: string): number {
    const pid = this.h.node(name).proc?.pid;
    if (pid === undefined || !this.h.node(name).running()) throw new Error(`${name} is not running`);
    return pid;
  }

  /** GET /nodes on one manager; throws unless it answers 200. */
  async listNodes(on: string): Promise<NodeObject[]> {
    const r = await this.h.api<NodeObject[]>(on, 'GET', '/nodes');
    if (r.status !== 200) throw new Error(`GET /nodes on ${on}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /**
   * The leader's hostname when every named manager answers GET /nodes showing all of them ready
   * and reachable, and the same single leader; undefined otherwise.
   */
  async healthyLeader(managers: string[]): Promise<string | undefined> {
    const leaders = new Set<string>();
    for (const m of managers) {
      if (!this.h.node(m).running()) return undefined;
      const mine = (await this.listNodes(m)).filter((n) => managers.includes(n.Description.Hostname));
      if (mine.length !== managers.length) return undefined;
      if (mine.some((n) => n.Status.State !== 'ready' || n.ManagerStatus?.Reachability !== 'reachable')) return undefined;
      const lead = mine.filter((n) => n.ManagerStatus?.Leader === true);
      if (lead.length !== 1) return undefined;
      leaders.add(lead[0]!.Description.Hostname);
    }
    return leaders.size === 1 ? [...leaders][0] : undefined;
  }

  /** Starts the daemons, `swarm init` on the first, `swarm join` as managers on the others; returns the leader. */
  async formManagers(names: string[]): Promise<string> {
    const [first, ...rest] = names;
    if (first === undefined) throw new Error('no managers to form a cluster of');
    for (const n of names) {
      await this.h.add(n);
      log(`started ${n} (pid ${this.pid(n)})`);
    }
    const addr = this.h.node(first).addr;
    await this.h.ok(first, 'init', '--advertise-addr', addr);
    const token = (await this.h.ok(first, 'join-token', '-q', 'manager')).trim();
    for (const n of rest) {
      await this.h.ok(n, 'join', '--token', token, addr);
      log(`${n} joined as a manager`);
    }
    return waitFor(() => this.healthyLeader(names), `${names.length} reachable managers with one leader`, 30_000, 100);
  }

  /** The tail of every daemon's output, for a failure report. */
  logTails(): void {
    for (const d of this.h.nodes.values()) {
      const out = d.logs();
      if (out) log(`--- ${d.name} output (tail) ---\n${out.slice(-3000)}`);
    }
  }

  private killNow(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const d of this.h.nodes.values()) if (d.running()) d.proc?.kill('SIGKILL');
    rmSync(this.h.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  async cleanup(): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('exit', this.onExit);
    if (this.cleaned) return;
    this.cleaned = true;
    await this.h.cleanup();
  }
}

/** Median (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile: the smallest value with at least p% of the values at or below it. */
export function nearestRank(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs a benchmark on a fresh cluster of processes: its result goes out as the last line of
 * stdout (with "bench": name); on failure the daemons' output tails and exit code 1; the cluster
 * is always cleaned up.
 */
export function runClusterBench(name: string, body: (c: BenchCluster) => Promise<Record<string, unknown>>): void {
  const c = new BenchCluster(name);
  void body(c)
    .then(
      (result) => process.stdout.write(`${JSON.stringify({ bench: name, ...result })}\n`),
      (err: unknown) => {
        c.logTails();
        process.stderr.write(`bench:${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    )
    .finally(() => c.cleanup());
}
