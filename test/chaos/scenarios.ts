// The faults, one scenario each. A scenario breaks the running cluster, measures what it is about
// (failover, rescheduling) and heals it again (restarts what it killed, lifts what it blocked);
// the runner then checks the invariants and the histories. Choices left to chance (which
// follower, which worker) come from the scenario's seeded generator.
import type { ServiceObject } from '../../node/store/types.js';
import { waitFor } from '../cluster/harness.js';
import { WEB, WEB_REPLICAS, type ChaosCluster } from './cluster.js';
import type { Faults } from './faults.js';

export interface ScenarioContext {
  c: ChaosCluster;
  faults: Faults;
  random: () => number;
  /** A fault's window: request failures inside it are forced by the fault. */
  window(what: string): { end(): void };
  /** From a leader's death (kill or isolation) to a new leader agreed by a majority; daemon starts excluded. */
  failoverMs: number[];
  /** From a worker's death (kill -9) to its web tasks running elsewhere. */
  rescheduleMs: number[];
  /** From a worker's isolation (alive, silent) to its web tasks running elsewhere. */
  cutOffRescheduleMs: number[];
  note(line: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  /** In the short subset `npm test` runs. */
  quick?: boolean;
  /** The manager host whose data directory is a small tmpfs (mounted before its daemon starts). */
  smallDisk?: number;
  run(ctx: ScenarioContext): Promise<void>;
}

function pick<T>(random: () => number, xs: readonly T[]): T {
  if (xs.length === 0) throw new Error('nothing to pick from');
  return xs[Math.floor(random() * xs.length)]!;
}

/** Kills the leader, times until the others agree on a new one, restarts it and waits until it follows. */
async function killLeaderOnce(ctx: ScenarioContext): Promise<void> {
  const { c } = ctx;
  const old = await c.waitLeader('a leader before the kill');
  const w = ctx.window(`leader ${c.host(old)} killed`);
  const t0 = Date.now();
  await c.kill(old);
  const next = await c.waitLeader('a new leader', 30_000, old);
  ctx.failoverMs.push(Date.now() - t0);
  ctx.note(`${c.host(old)} killed; ${c.host(next)} leads after ${Date.now() - t0} ms`);
  await c.restart(old);
  await followsAgain(c, old);
  w.end();
}

/** The leader, and a follower picked at random. */
async function leaderAndFollower(ctx: ScenarioContext): Promise<{ leader: number; follower: number }> {
  const leader = await ctx.c.waitLeader('a leader');
  return { leader, follower: pick(ctx.random, ctx.c.managers.filter((m) => m !== leader)) };
}

async function followsAgain(c: ChaosCluster, i: number): Promise<void> {
  await waitFor(
    async () => {
      const [v, l] = [await c.raft(i), await c.leader()];
      return v && l !== undefined && v.Leader === c.nodeId(l) && v.Role !== 'leader' ? true : undefined;
    },
    `${c.host(i)} to follow the leader again`,
    30_000,
    50,
  );
}

/** Workers running web tasks, busiest first. */
async function webWorkers(c: ChaosCluster): Promise<number[]> {
  const tasks = await c.runningTasks(WEB);
  const count = new Map<number, number>();
  for (const t of tasks) {
    const h = c.hostOf(t.NodeID ?? '');
    if (h !== undefined) count.set(h, (count.get(h) ?? 0) + 1);
  }
  return [...count].sort((a, b) => b[1] - a[1]).map(([h]) => h);
}

/** Workers the client does not enter through (faulting the entry would only measure the entry). */
function faultableWorkers(c: ChaosCluster): number[] {
  return c.workers.slice(0, -1);
}

/** Waits until every web slot runs on a node other than `gone`; resolves with the time since t0. */
async function webMovedOff(c: ChaosCluster, gone: number, t0: number): Promise<number> {
  const nodeId = c.nodeId(gone);
  await waitFor(
    async () => {
      const live = (await c.runningTasks(WEB)).filter((t) => t.NodeID !== nodeId);
      return new Set(live.map((t) => t.Slot)).size === WEB_REPLICAS ? true : undefined;
    },
    `web tasks of ${c.host(gone)} to run elsewhere`,
    60_000,
    50,
  );
  return Date.now() - t0;
}

/** Waits until the cluster says host i's node is down; resolves with the time since t0. */
async function markedDown(c: ChaosCluster, i: number, t0: number): Promise<number> {
  const id = c.nodeId(i);
  await waitFor(async () => ((await c.nodes()).find((n) => n.ID === id)?.Status.State === 'down' ? true : undefined), `${c.host(i)} marked down`, 60_000, 50);
  return Date.now() - t0;
}

/**
 * A faultable worker to break, one running web tasks when there is one, and whether it has any.
 * Tasks are not moved back to a worker that returns: with two workers the faultable one is empty
 * after its first death, and its next death replaces nothing. (Rebalancing first with a forced
 * update was tried: right after the worker's restart it made the entry node refuse requests for
 * ~0.1 s on the compose cluster, a finding of its own, not this scenario's.)
 */
async function faultableWorker(ctx: ScenarioContext): Promise<{ worker: number; hasWebTasks: boolean }> {
  const { c } = ctx;
  const busy = (await webWorkers(c)).filter((w) => faultableWorkers(c).includes(w));
  return busy.length > 0 ? { worker: pick(ctx.random, busy), hasWebTasks: true } : { worker: pick(ctx.random, faultableWorkers(c)), hasWebTasks: false };
}

async function killWorkerWithTasks(ctx: ScenarioContext): Promise<void> {
  const { c } = ctx;
  const { worker: w, hasWebTasks } = await faultableWorker(ctx);
  const win = ctx.window(`worker ${c.host(w)} killed`);
  const t0 = Date.now();
  await c.kill(w);
  const [ms, downMs] = await Promise.all([webMovedOff(c, w, t0), markedDown(c, w, t0)]);
  if (hasWebTasks) {
    ctx.rescheduleMs.push(ms);
    ctx.note(`${c.host(w)} killed; marked down after ${downMs} ms; its web tasks run elsewhere after ${ms} ms`);
  } else {
    ctx.note(`${c.host(w)} killed; marked down after ${downMs} ms; it ran no web task (no faultable worker did), so no reschedule time`);
  }
  await c.restart(w);
  await c.converged(60_000);
  win.end();
}

const HOLD_MS = 4_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const SCENARIOS: Scenario[] = [
  {
    name: 'kill-leader',
    description: 'kill -9 of the leader, three times; each time it is restarted and follows',
    quick: true,
    async run(ctx) {
      for (let k = 0; k < 3; k++) await killLeaderOnce(ctx);
    },
  },
  {
    name: 'kill-follower',
    description: 'kill -9 of a follower manager; writes go on; it is restarted and catches up',
    async run(ctx) {
      const { c } = ctx;
      const { follower: f } = await leaderAndFollower(ctx);
      const w = ctx.window(`follower ${c.host(f)} killed`);
      await c.kill(f);
      await sleep(HOLD_MS);
      await c.restart(f);
      await followsAgain(c, f);
      w.end();
    },
  },
  {
    name: 'kill-worker',
    description: 'kill -9 of a worker running web tasks, twice; they must run elsewhere',
    quick: true,
    async run(ctx) {
      for (let k = 0; k < 2; k++) await killWorkerWithTasks(ctx);
    },
  },
  {
    name: 'kill-two-managers',
    description: 'kill -9 of a majority of managers at once (two of three): quorum lost, writes refused; one restarted: quorum back',
    async run(ctx) {
      const { c } = ctx;
      // Two of three, three of five: the fewest whose loss takes the quorum.
      const lost = [...c.managers].sort(() => ctx.random() - 0.5).slice(0, Math.ceil(c.managers.length / 2));
      const w = ctx.window(`${lost.map((i) => c.host(i)).join(', ')} killed`);
      await Promise.all(lost.map((i) => c.kill(i)));
      await sleep(HOLD_MS);
      if ((await c.leader()) !== undefined) throw new Error('a leader was reported without quorum');
      const t0 = Date.now();
      await c.restart(lost[0]!);
      const l = await c.waitLeader('a leader once quorum is back');
      ctx.note(`quorum back with ${c.host(lost[0]!)}: ${c.host(l)} leads ${Date.now() - t0} ms after its restart`);
      for (const i of lost.slice(1)) {
        await c.restart(i);
        await followsAgain(c, i);
      }
      w.end();
    },
  },
  {
    name: 'restart-all',
    description: 'every daemon killed with -9, then all restarted: containers are re-adopted',
    async run(ctx) {
      const { c } = ctx;
      const all = [...c.managers, ...c.workers];
      const w = ctx.window('every daemon killed');
      await Promise.all(all.map((i) => c.kill(i)));
      await sleep(1_000);
      const t0 = Date.now();
      await Promise.all(all.map((i) => c.restart(i)));
      await c.waitLeader('a leader after the restart', 60_000);
      ctx.note(`all restarted; a leader after ${Date.now() - t0} ms`);
      await c.converged(90_000);
      w.end();
    },
  },
  {
    name: 'partition-leader',
    description: 'the leader cut off from every other host; the majority elects another; healed, it follows',
    quick: true,
    async run(ctx) {
      const { c, faults } = ctx;
      const old = await c.waitLeader('a leader');
      const w = ctx.window(`leader ${c.host(old)} isolated`);
      const t0 = Date.now();
      await faults.isolate(old);
      const next = await waitFor(
        async () => {
          const views = await Promise.all(c.managers.filter((m) => m !== old).map((m) => c.raft(m)));
          const lead = views.find((v) => v?.Role === 'leader');
          return lead ? c.hostOf(lead.NodeID) : undefined;
        },
        'a leader on the majority side',
        30_000,
        25,
      );
      ctx.failoverMs.push(Date.now() - t0);
      ctx.note(`${c.host(old)} isolated; ${c.host(next!)} leads the majority after ${Date.now() - t0} ms`);
      await sleep(HOLD_MS);
      await faults.heal();
      await followsAgain(c, old);
      w.end();
    },
  },
  {
    name: 'one-way-loss',
    description: "the leader's packets to one follower dropped (that follower still reaches the leader)",
    async run(ctx) {
      const { c, faults } = ctx;
      const { leader, follower: f } = await leaderAndFollower(ctx);
      const w = ctx.window(`${c.host(leader)} -> ${c.host(f)} dropped`);
      await faults.dropOneWay(leader, f);
      await sleep(HOLD_MS * 1.5);
      await faults.heal();
      await followsAgain(c, f);
      w.end();
    },
  },
  {
    name: 'split-2-1',
    description: 'managers split 2|1 (workers with the two); the one alone cannot lead; healed',
    async run(ctx) {
      const { c, faults } = ctx;
      const alone = pick(ctx.random, c.managers);
      const rest = [...c.managers, ...c.workers, ...(c.client === undefined ? [] : [c.client])].filter((i) => i !== alone);
      const w = ctx.window(`${c.host(alone)} split from the rest`);
      await faults.partition([[alone], rest]);
      await c.waitLeader('a leader on the two-manager side', 30_000, alone);
      await sleep(HOLD_MS);
      const lone = await c.raft(alone);
      if (lone?.Role === 'leader') ctx.note(`${c.host(alone)} still calls itself leader (term ${lone.Term}) while cut off; it cannot commit`);
      await faults.heal();
      await followsAgain(c, alone);
      w.end();
    },
  },
  {
    name: 'worker-cut-off',
    description: 'a worker with web tasks cut off: its tasks are replaced; healed, it rejoins and stops the extras',
    async run(ctx) {
      const { c, faults } = ctx;
      const { worker: wk, hasWebTasks } = await faultableWorker(ctx);
      const w = ctx.window(`worker ${c.host(wk)} cut off`);
      const t0 = Date.now();
      await faults.isolate(wk);
      const ms = await webMovedOff(c, wk, t0);
      if (hasWebTasks) {
        ctx.cutOffRescheduleMs.push(ms);
        ctx.note(`${c.host(wk)} cut off; its web tasks run elsewhere after ${ms} ms`);
      } else {
        ctx.note(`${c.host(wk)} cut off; it ran no web task (no faultable worker did), so no reschedule time`);
      }
      await faults.heal();
      await c.converged(60_000);
      w.end();
    },
  },
  {
    name: 'packet-loss',
    description: '10 %, then 30 % packet loss on every host for a few seconds each',
    async run(ctx) {
      const { c, faults } = ctx;
      const hosts = [...c.managers, ...c.workers];
      for (const pct of [10, 30]) {
        const w = ctx.window(`${pct} % loss everywhere`);
        await faults.loss(hosts, pct);
        await sleep(HOLD_MS);
        await faults.heal();
        w.end();
      }
      await c.waitLeader('a leader after the loss');
    },
  },
  {
    name: 'link-flap',
    description: "a follower manager's and a worker's underlay links flapping",
    async run(ctx) {
      const { c, faults } = ctx;
      const { follower: f } = await leaderAndFollower(ctx);
      const wk = pick(ctx.random, faultableWorkers(c));
      const w = ctx.window(`links of ${c.host(f)} and ${c.host(wk)} flapping`);
      await Promise.all([faults.flap(f, { downMs: 400, upMs: 600, times: 5 }), faults.flap(wk, { downMs: 400, upMs: 600, times: 5 })]);
      await c.converged(60_000);
      w.end();
    },
  },
  {
    name: 'disk-full',
    description: "a follower manager's data directory full (a small tmpfs), then freed",
    smallDisk: 2,
    async run(ctx) {
      const { c, faults } = ctx;
      const m = 2;
      const w = ctx.window(`${c.host(m)}'s disk full`);
      await faults.fillDisk(m);
      // Writes go on without it: two managers are a quorum.
      const svc = (await c.services()).find((s) => s.Spec.Name === WEB)!;
      await scaleBy(c, svc, 0);
      await sleep(HOLD_MS);
      await faults.freeDisk(m);
      // A manager that stopped on ENOSPC is restarted, as a supervisor would.
      if (!(await c.raft(m))) {
        // The daemon fail-stops on a failed WAL write: its fatal log line says why (kept here,
        // since the restart starts a new log).
        const fatal = (await c.hosts.daemonLogs(m))
          .split('\n')
          .map((l) => /"level":60,.*"msg":"([^"]*)"/.exec(l)?.[1])
          .find((msg) => msg !== undefined);
        ctx.note(`${c.host(m)} stopped answering while its disk was full${fatal ? ` (fatal: ${fatal})` : ''}; restarted`);
        await c.kill(m);
        await c.restart(m);
      }
      await followsAgain(c, m);
      w.end();
    },
  },
  {
    name: 'restart-mid-update',
    description: 'the leader and a worker with web tasks killed -9 and restarted during a rolling update',
    async run(ctx) {
      const { c } = ctx;
      const leader = await c.waitLeader('a leader');
      const w = ctx.window('rolling update with restarts');
      const r = await c.cli(leader, 'service', 'update', '-d', '--force', WEB);
      if (r.code !== 0) throw new Error(`service update: ${r.stderr}`);
      // Once the update has replaced a task, kill both in the middle of it.
      await waitFor(
        async () => {
          const s = (await c.services()).find((x) => x.Spec.Name === WEB);
          const since = Date.parse(s?.UpdateStatus?.StartedAt ?? '');
          const fresh = (await c.tasks()).filter((t) => t.ServiceID === s?.ID && Date.parse(t.CreatedAt) >= since && t.Status.State === 'running');
          return fresh.length >= 1 ? true : undefined;
        },
        'the update to replace a first task',
        60_000,
        50,
      );
      const wk = pick(
        ctx.random,
        (await webWorkers(c)).filter((x) => faultableWorkers(c).includes(x)),
      );
      const t0 = Date.now();
      await Promise.all([c.kill(leader), c.kill(wk)]);
      const next = await c.waitLeader('a new leader mid-update', 30_000, leader);
      ctx.failoverMs.push(Date.now() - t0);
      ctx.note(`mid-update: ${c.host(leader)} and ${c.host(wk)} killed; ${c.host(next)} leads after ${Date.now() - t0} ms`);
      await Promise.all([c.restart(leader), c.restart(wk)]);
      const done = await waitFor(
        async () => {
          const st = (await c.services()).find((x) => x.Spec.Name === WEB)?.UpdateStatus?.State;
          return st === 'completed' || st === 'paused' || st === 'rollback_completed' ? st : undefined;
        },
        'the update to finish',
        120_000,
        200,
      );
      if (done !== 'completed') throw new Error(`the update ended ${done}`);
      w.end();
    },
  },
];

/** An update of the web service's replica count by `delta` (0: the same count, a no-op write). */
async function scaleBy(c: ChaosCluster, svc: ServiceObject, delta: number): Promise<void> {
  const leader = await c.anyManager();
  const spec = structuredClone(svc.Spec);
  spec.Mode = { Replicated: { Replicas: (spec.Mode.Replicated?.Replicas ?? 0) + delta } };
  const r = await c.api(leader, 'POST', `/services/${svc.ID}/update?version=${svc.Version.Index}`, spec, 10_000);
  if (r.status !== 200) throw new Error(`service update while a disk is full: ${r.status} ${JSON.stringify(r.body)}`);
}

export function scenarioNamed(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`--scenario: no scenario ${JSON.stringify(name)} (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
  return s;
}
