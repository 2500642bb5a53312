// Runs one scenario on a fresh cluster: the API workload and the published-service client run
// throughout; the scenario breaks and heals; then the invariants, the workload's history and the
// client's failures (inside or outside the fault windows) make the verdict. The history is
// written as JSON lines beside the report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../../raft/core/test-network.js';
import { RequestLoad } from '../net/http.js';
import { ChaosCluster, SCALED, WEB_PORT } from './cluster.js';
import { Faults } from './faults.js';
import { checkHistory, type HistoryVerdict } from './history-check.js';
import { NetnsHosts, type ChaosHosts, type ComposeHosts } from './hosts.js';
import { checkInvariants, newSlotWatch, overfullSlots, type InvariantResult } from './invariants.js';
import type { Scenario } from './scenarios.js';
import { ApiWorkload } from './workload.js';

/** A window of time (ms since the epoch) a fault was active in, and how its requests fared. */
export interface FaultWindow {
  what: string;
  start: number;
  end: number;
  failedRequests: number;
}

export interface ScenarioResult {
  scenario: string;
  seed: number;
  passed: boolean;
  /** Why it did not run on this target (then passed is false and nothing else is set). */
  skipped?: string;
  /** Why it failed: the first broken promise. */
  failure?: string;
  durationMs: number;
  failoverMs: number[];
  rescheduleMs: number[];
  cutOffRescheduleMs: number[];
  notes: string[];
  invariants: InvariantResult[];
  history?: HistoryVerdict;
  workload?: Record<string, { ok: number; fail: number; info: number }>;
  historyFile?: string;
  requests: { ok: number; failed: number; failedOutsideWindows: number; windows: FaultWindow[]; samples: string[] };
}

export interface RunOptions {
  seed: number;
  /** The running docker-compose.test.yml cluster to use; without it, a fresh namespace-host swarm per scenario. */
  compose?: ComposeHosts;
  managers: number;
  workers: number;
  outDir: string;
  /** The daemons' log level (their logs are kept beside the report when a scenario fails). */
  daemonLogLevel?: string;
  log?: (line: string) => void;
}

/** A window extends this long past its end: a connection started inside may fail just after. */
const WINDOW_GRACE_MS = 3_500;
const SMALL_DISK_BYTES = 64 * 1024 * 1024;

/** The first promise a finished scenario broke, in the order the report gives them; undefined if none. */
function brokenPromise(r: ScenarioResult): string | undefined {
  const broken = r.invariants.find((i) => !i.ok);
  if (broken) return `${broken.name}: ${broken.detail}`;
  if (r.history && r.history.linearizable !== true) return `history ${r.history.linearizable === false ? 'not linearizable' : 'undecided'}: ${r.history.reason ?? ''}`;
  if (r.history && r.history.lostAckedWrites > 0) return `${r.history.lostAckedWrites} acknowledged writes lost`;
  if (r.requests.failedOutsideWindows > 0) return `${r.requests.failedOutsideWindows} requests failed outside the fault windows`;
  return undefined;
}

export async function runScenario(s: Scenario, opts: RunOptions): Promise<ScenarioResult> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const result: ScenarioResult = {
    scenario: s.name,
    seed: opts.seed,
    passed: false,
    durationMs: 0,
    failoverMs: [],
    rescheduleMs: [],
    cutOffRescheduleMs: [],
    notes: [],
    invariants: [],
    requests: { ok: 0, failed: 0, failedOutsideWindows: 0, windows: [], samples: [] },
  };
  if (opts.compose && s.smallDisk !== undefined) {
    return { ...result, skipped: "needs a manager whose data directory is a small tmpfs from its start; the compose nodes' data are volumes" };
  }
  let faults: Faults | undefined;
  let c: ChaosCluster | undefined;
  let load: RequestLoad | undefined;
  let workload: ApiWorkload | undefined;
  const seen = new Set<string>();
  /** Slots seen with more running tasks than their update order allows. */
  const slotExcess: string[] = [];
  const slotWatch = newSlotWatch();
  const windows: FaultWindow[] = [];
  /** Whether the faults were lifted after the scenario ran (else cleanup lifts them). */
  let healed = false;
  try {
    let hosts: ChaosHosts;
    if (opts.compose) {
      log(`${s.name}: on compose project ${opts.compose.project}`);
      faults = new Faults(opts.compose);
      hosts = opts.compose;
    } else {
      log(`${s.name}: forming ${opts.managers} managers + ${opts.workers} workers`);
      hosts = await NetnsHosts.create({
        label: `chaos-${s.name}`,
        managers: opts.managers,
        workers: opts.workers,
        ...(opts.daemonLogLevel ? { daemonLogLevel: opts.daemonLogLevel } : {}),
        prepare: (h) => {
          faults = new Faults(h);
          if (s.smallDisk !== undefined) faults.mountSmallDisk(s.smallDisk, SMALL_DISK_BYTES);
        },
      });
    }
    c = await ChaosCluster.create(hosts);
    const cluster = c;
    const entry = c.workers[c.workers.length - 1]!;
    load = new RequestLoad('web', hosts.clientNsenterArgs(), hosts.ip(entry), WEB_PORT);
    workload = new ApiWorkload({ endpoints: c.managers.map((m) => cluster.hosts.socket(m)), seed: opts.seed, service: SCALED, maxReplicas: 3 });
    await workload.setup();
    workload.start();
    const recordContainers = async (): Promise<void> => {
      const { tasks, services, nodes } = await cluster.state();
      for (const t of tasks) if (t.Status.ContainerStatus?.ContainerID) seen.add(t.Status.ContainerStatus.ContainerID);
      slotExcess.push(...overfullSlots(tasks, services, nodes, slotWatch));
    };
    const sampler = setInterval(() => void recordContainers().catch(() => undefined), 500);
    try {
      log(`${s.name}: ${s.description}`);
      await s.run({
        c,
        faults: faults!,
        random: mulberry32(opts.seed),
        window: (what) => {
          const w: FaultWindow = { what, start: Date.now(), end: Number.POSITIVE_INFINITY, failedRequests: 0 };
          windows.push(w);
          return { end: () => (w.end = Date.now()) };
        },
        failoverMs: result.failoverMs,
        rescheduleMs: result.rescheduleMs,
        cutOffRescheduleMs: result.cutOffRescheduleMs,
        note: (line) => {
          result.notes.push(line);
          log(`  ${line}`);
        },
      });
    } finally {
      clearInterval(sampler);
      await faults?.heal();
      healed = true;
    }
    // The workload stops first: while it scales, tasks are always coming and going.
    await workload.stop();
    await recordContainers();
    log(`${s.name}: checking the invariants`);
    result.invariants = await checkInvariants(c, seen);
    result.invariants.push({
      name: 'no slot over its update order (sampled every 0.5 s)',
      ok: slotExcess.length === 0,
      detail: slotExcess.length === 0 ? 'holds' : [...new Set(slotExcess)].slice(0, 3).join('; '),
    });
    const finals = await workload.finalReads();
    result.history = checkHistory(workload.events(), finals);
    result.workload = workload.summary();
    mkdirSync(opts.outDir, { recursive: true });
    result.historyFile = join(opts.outDir, `${s.name}.history.jsonl`);
    await workload.writeJsonLines(result.historyFile);
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
  } finally {
    load?.stop();
    await workload?.stop().catch(() => undefined);
    if (load) {
      const counts = load.counts();
      const failures = load.failures();
      // A failure is reported when the request ends; it was in flight up to a timeout before.
      const timeoutMs = load.requestTimeoutMs;
      const inWindow = (at: number, w: FaultWindow): boolean => at >= w.start && at - timeoutMs <= w.end + WINDOW_GRACE_MS;
      for (const w of windows) w.failedRequests = failures.filter((f) => inWindow(f.at, w)).length;
      const outside = failures.filter((f) => !windows.some((w) => inWindow(f.at, w)));
      // When they failed, as seconds since the scenario began: a burst reads differently from a trickle.
      const when = outside.length > 0 ? ` (from ${((outside[0]!.at - t0) / 1000).toFixed(1)} s to ${((outside.at(-1)!.at - t0) / 1000).toFixed(1)} s)` : '';
      result.requests = { ok: counts.ok, failed: counts.failed, failedOutsideWindows: outside.length, windows, samples: outside.slice(0, 3).map((f, i) => `${f.reason}${i === 0 ? when : ''}`) };
    }
    result.failure ??= brokenPromise(result);
    // Asked-for log levels are for reading: kept whatever the verdict.
    if (c && (result.failure !== undefined || opts.daemonLogLevel)) {
      mkdirSync(opts.outDir, { recursive: true });
      for (const i of [...c.managers, ...c.workers]) writeFileSync(join(opts.outDir, `${s.name}.${c.host(i)}.log`), await c.hosts.daemonLogs(i).catch((err: unknown) => String(err)));
    }
    if (!healed) await faults?.heal().catch(() => undefined);
    await c?.cleanup().catch((err: unknown) => {
      result.failure ??= `cleanup: ${err instanceof Error ? err.message : String(err)}`;
    });
  }
  result.passed = result.failure === undefined;
  result.durationMs = Date.now() - t0;
  return result;
}
