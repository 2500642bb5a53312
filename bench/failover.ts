import '../polyfill.js';
import { parseArgs } from 'node:util';
import { BenchCluster, log, median, nearestRank, round1, sleep, waitFor, type NodeObject } from './cluster.js';

// Failover of a 3-manager cluster of real daemon processes on loopback. Per trial: a writer commits
// continuously through the HTTP API of a manager that does not lead; the leader gets kill -9; we
// measure the time from the kill until the first write that was sent after the kill succeeded
// (`recoveryMs`), and until the killed manager shows as down/unreachable in GET /nodes
// (`downMs`). Then the killed daemon restarts and the cluster must be whole again (3 reachable
// managers, one leader, on every manager) before the next trial.
//
// The writer is a client that retries: each attempt reads the node (GET /nodes/{id}) for its
// version, then updates it (POST /nodes/{id}/update?version=N) toggling a label. Attempts run one
// after another; while one has been pending for HEDGE_MS, another starts beside it (at most
// MAX_IN_FLIGHT), so a request stuck behind the dead leader (a read barrier waits up to Raft's 5 s
// request timeout) does not hide that the cluster accepts writes again. A write counts for a
// trial only if its POST started after the kill and answered 200.
//
// Last line: {"bench":"failover","trials":N,"medianMs":...,"p90Ms":...,"maxMs":...,"nodeDownMedianMs":...}
// (median: mean of the middle two for an even count; p90: nearest rank).

const MANAGERS = ['m1', 'm2', 'm3'];
const LABEL = 'bench.failover';
const HEDGE_MS = 100;
const MAX_IN_FLIGHT = 16;
const RETRY_PAUSE_MS = 10;
/** How long stop() waits for attempts in flight (the daemon bounds each request at 15 s). */
const DRAIN_MS = 30_000;
const DOWN_POLL_MS = 50;

interface Success {
  postStart: number;
  end: number;
}

/** The retrying writer described at the top of the file. */
class Writer {
  readonly successes: Success[] = [];
  /** "status: message" (or the client error) → count */
  readonly failures = new Map<string, number>();
  private inFlight = 0;
  private lastStart = 0;
  private notBefore = 0;
  private stopped = false;
  private wake: () => void = () => undefined;
  private loop: Promise<void> | undefined;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly cluster: BenchCluster,
    private readonly via: string,
    private readonly nodeId: string,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = performance.now();
      const first = this.inFlight === 0 && now >= this.notBefore;
      const hedge = this.inFlight > 0 && this.inFlight < MAX_IN_FLIGHT && now - this.lastStart >= HEDGE_MS;
      if (first || hedge) {
        this.lastStart = now;
        this.inFlight++;
        void this.attempt().finally(() => {
          this.inFlight--;
          this.wake();
          if (this.inFlight === 0) {
            for (const f of this.idle) f();
            this.idle.clear();
          }
        });
        continue;
      }
      const wait = this.inFlight === 0 ? Math.max(1, this.notBefore - now) : Math.max(1, HEDGE_MS - (now - this.lastStart));
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  private async attempt(): Promise<void> {
    try {
      const got = await this.cluster.h.api<NodeObject>(this.via, 'GET', `/nodes/${this.nodeId}`);
      if (got.status !== 200) return this.failed(`GET ${got.status}: ${errorText(got.body)}`);
      const node = got.body;
      const labels = { ...node.Spec.Labels, [LABEL]: node.Spec.Labels[LABEL] === '1' ? '0' : '1' };
      const postStart = performance.now();
      const put = await this.cluster.h.api(this.via, 'POST', `/nodes/${this.nodeId}/update?version=${node.Version.Index}`, { ...node.Spec, Labels: labels });
      if (put.status !== 200) return this.failed(`POST ${put.status}: ${errorText(put.body)}`);
      this.successes.push({ postStart, end: performance.now() });
    } catch (err) {
      this.failed(err instanceof Error ? err.message : String(err));
    }
  }

  private failed(why: string): void {
    const key = why.slice(0, 90);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.notBefore = performance.now() + RETRY_PAUSE_MS;
  }

  /** The earliest-answered success whose POST started after `t`. */
  firstSuccessAfter(t: number): Success | undefined {
    let best: Success | undefined;
    for (const s of this.successes) if (s.postStart > t && (!best || s.end < best.end)) best = s;
    return best;
  }

  /** Stops starting attempts and waits (at most DRAIN_MS) for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
    if (this.inFlight === 0) return;
    await new Promise<void>((r) => {
      const t = setTimeout(r, DRAIN_MS);
      this.idle.add(() => {
        clearTimeout(t);
        r();
      });
    });
  }
}

function errorText(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message;
  return JSON.stringify(body) ?? '';
}

/**
 * Polls GET /nodes on `via` every DOWN_POLL_MS (polls overlap: one stuck behind the dead leader
 * does not delay the next) until the node shows as down or unreachable; returns when that answer arrived.
 */
async function watchDown(cluster: BenchCluster, via: string, nodeId: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let seenAt: number | undefined;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  while (seenAt === undefined) {
    if (performance.now() > deadline) throw new Error(`${nodeId} not shown as down within ${timeoutMs} ms`);
    if (inFlight < MAX_IN_FLIGHT) {
      inFlight++;
      const p = cluster
        .listNodes(via)
        .then((list) => {
          const n = list.find((x) => x.ID === nodeId);
          if (n && (n.Status.State === 'down' || n.ManagerStatus?.Reachability === 'unreachable')) seenAt ??= performance.now();
        })
        .catch(() => undefined)
        .finally(() => {
          inFlight--;
          pending.delete(p);
        });
      pending.add(p);
    }
    await sleep(DOWN_POLL_MS);
  }
  await Promise.all(pending);
  return seenAt;
}

async function nodeIdOf(cluster: BenchCluster, via: string, hostname: string): Promise<string> {
  const n = (await cluster.listNodes(via)).find((x) => x.Description.Hostname === hostname);
  if (!n) throw new Error(`no node ${hostname} in GET /nodes on ${via}`);
  return n.ID;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, 'settle-ms': { type: 'string', default: '1000' } } });
  const trials = Number(values.trials);
  const settleMs = Number(values['settle-ms']);
  if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, got ${values.trials}`);
  if (!Number.isFinite(settleMs) || settleMs < 0) throw new Error(`--settle-ms must be a number >= 0, got ${values['settle-ms']}`);

  const cluster = new BenchCluster('failover');
  const recoveries: number[] = [];
  const downs: number[] = [];
  try {
    let leader = await cluster.formManagers(MANAGERS);
    log(`cluster formed: leader ${leader}`);
    for (let t = 1; t <= trials; t++) {
      await sleep(settleMs);
      leader = await waitFor(() => cluster.healthyLeader(MANAGERS), '3 reachable managers with one leader', 60_000, 100);
      const via = MANAGERS.find((m) => m !== leader)!;
      const writesTo = await nodeIdOf(cluster, via, via);
      const victimId = await nodeIdOf(cluster, via, leader);
      const writer = new Writer(cluster, via, writesTo);
      writer.start();
      try {
        await waitFor(() => (writer.successes.length >= 20 ? true : undefined), 'the writer to commit 20 writes', 30_000, 10);
        await sleep(200);
        const before = writer.successes.length;

        const killedAt = performance.now();
        const killed = cluster.h.node(leader).kill('SIGKILL');
        const down = watchDown(cluster, via, victimId, 30_000);
        await killed;
        const first = await waitFor(() => writer.firstSuccessAfter(killedAt), 'a write committed after the kill', 30_000, 2);
        const downAt = await down;
        const recoveryMs = first.end - killedAt;
        const downMs = downAt - killedAt;
        recoveries.push(recoveryMs);
        downs.push(downMs);
        await writer.stop();
        const fails = [...writer.failures].map(([k, n]) => `${n}× ${k}`).join('; ');
        log(
          `trial ${t}/${trials}: killed leader ${leader}, writing via ${via}: first write after the kill answered in ${round1(recoveryMs)} ms, ` +
            `${leader} shown down after ${round1(downMs)} ms (${before} writes before the kill; failed attempts: ${fails || 'none'})`,
        );
      } finally {
        await writer.stop();
      }
      await cluster.h.node(leader).start();
      const next = await waitFor(() => cluster.healthyLeader(MANAGERS), `${leader} back: 3 reachable managers with one leader`, 60_000, 100);
      log(`trial ${t}/${trials}: ${leader} restarted; all 3 managers reachable, leader ${next}`);
    }
    const result = {
      bench: 'failover',
      trials,
      medianMs: round1(median(recoveries)),
      p90Ms: round1(nearestRank(recoveries, 90)),
      maxMs: round1(Math.max(...recoveries)),
      nodeDownMedianMs: round1(median(downs)),
      minMs: round1(Math.min(...recoveries)),
      nodeDownMaxMs: round1(Math.max(...downs)),
      trialMs: recoveries.map(round1),
      nodeDownMs: downs.map(round1),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } catch (err) {
    cluster.logTails();
    throw err;
  } finally {
    await cluster.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:failover failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
