import type { ServiceObject, TaskObject, TaskSpec } from '../../store/index.js';
import { acceptsNewTasks, matchConstraints, parseConstraints, type Constraint, type SchedulerNode } from '../scheduler/index.js';
import { dependenciesSatisfied, NO_DEPENDENCIES, type DependencyStatus } from './dependencies.js';
import { restartDecision, restartPolicyOf } from './restart.js';
import { byAge, deepEqual, endedByItself, hasEnded, isLive, mergePlans, PlanBuilder, statusTime, type ReconcilePlan, type TaskDraft } from './tasks.js';
import { isPaused, isRollingBack, isUpdating, updateConfigOf } from './update.js';
import { canaryShare, canarySteps, isPreviewing, strategyOf, trafficFor } from './strategy.js';
import type { UpdateConfig } from '../../store/index.js';

export type NodeView = ReadonlyMap<string, SchedulerNode> | readonly SchedulerNode[];

export interface ReconcileOptions {
  /**
   * Cluster.Spec.Orchestration.TaskHistoryRetentionLimit: ended tasks kept per slot (the live
   * one not counted); negative keeps all.
   */
  historyLimit: number;
  /** From dependenciesSatisfied; while not ok, tasks are created (and kept) desired READY. */
  dependencies?: DependencyStatus;
}

function nodeMap(nodes: NodeView): ReadonlyMap<string, SchedulerNode> {
  if (nodes instanceof Map) return nodes as ReadonlyMap<string, SchedulerNode>;
  return new Map((nodes as readonly SchedulerNode[]).map((n) => [n.id, n]));
}

/** Constraints of a spec, or undefined when one does not parse (the API should have refused it). */
function constraintsOf(spec: TaskSpec): Constraint[] | undefined {
  try {
    return parseConstraints(spec.Placement?.Constraints);
  } catch {
    return undefined;
  }
}

interface Slot {
  /** Replicated: the slot number; global: the node id. */
  key: number | string;
  /** Oldest first. */
  tasks: TaskObject[];
}

/** One service's reconciliation: the rules both modes share. */
class ServiceReconciler {
  readonly out = new PlanBuilder();
  private readonly template: TaskSpec;
  private readonly templateConstraints: Constraint[] | undefined;
  private readonly constraintMemo = new Map<TaskSpec, Constraint[] | undefined>();
  private readonly deps: DependencyStatus;
  private readonly nowIso: string;
  private readonly startFirst: boolean;
  private readonly cfg: Required<UpdateConfig>;
  private budget = 0;
  /** The update failed in this round: no slot starts updating (a pause or rollback is on its way). */
  private halted = false;

  constructor(
    readonly service: ServiceObject,
    readonly nodes: ReadonlyMap<string, SchedulerNode>,
    readonly now: number,
    readonly opts: ReconcileOptions,
    readonly global: boolean,
  ) {
    this.template = service.Spec.TaskTemplate;
    this.templateConstraints = constraintsOf(this.template);
    this.deps = opts.dependencies ?? NO_DEPENDENCIES;
    this.nowIso = new Date(now).toISOString();
    this.cfg = updateConfigOf(service);
    // Canary and blue/green keep the old version serving until the new one runs.
    this.startFirst = this.cfg.Order === 'start-first' || strategyOf(service) !== 'rolling';
    this.previewing = isPreviewing(service);
    this.share = canaryShare(service);
  }

  private readonly previewing: boolean;
  private readonly share: number | undefined;
  /** Live tasks on the old and on the current spec, as the traffic weights need them. */
  private counts = { old: 0, fresh: 0 };

  /**
   * Canary: while the current step holds, once its slots run the new spec, move to the next
   * step when StepInterval has passed or the deployment was promoted (the loop wakes for it).
   */
  advanceCanary(slots: readonly Slot[]): void {
    if (this.share === undefined || this.share >= 100 || this.halted) return;
    const settled = slots.every((s) => {
      const live = s.tasks.filter(isLive);
      const cur = live[live.length - 1];
      return !cur || this.isDirty(cur) ? live.length <= 1 : cur.Status.State === 'running' && live.length === 1;
    });
    if (!settled || this.counts.fresh < this.allowedFresh(slots.length)) return;
    const d = this.service.Deployment ?? { Step: 0, StepStartedAt: this.service.UpdateStatus?.StartedAt ?? this.nowIso };
    const intervalMs = (this.service.Spec.Strategy?.StepInterval ?? 0) / 1e6;
    const due = Date.parse(d.StepStartedAt) + intervalMs;
    if (d.Promoted !== true) {
      if (intervalMs <= 0) return;
      if (due > this.now) {
        this.wake(due);
        return;
      }
    }
    const steps = canarySteps(this.service.Spec.Strategy);
    this.out.plan.services.push({
      serviceId: this.service.ID,
      expectVersion: this.service.Version.Index,
      Deployment: { Step: Math.min(d.Step + 1, steps.length - 1), StepStartedAt: this.nowIso },
    });
  }

  /** Canary: how many slots may run the new spec at the current step. */
  private allowedFresh(replicas: number): number {
    if (this.share === undefined || this.share >= 100) return Number.POSITIVE_INFINITY;
    return Math.max(1, Math.ceil((replicas * this.share) / 100));
  }

  /** Live tasks by spec, for the weights; call before the slots are processed. */
  countTraffic(tasks: readonly TaskObject[]): void {
    this.counts = { old: 0, fresh: 0 };
    for (const t of tasks) if (isLive(t) && !hasEnded(t)) this.counts[this.isDirty(t) ? 'old' : 'fresh']++;
  }

  /** Traffic weights of live tasks that differ from what the strategy wants now. */
  setTraffic(tasks: readonly TaskObject[]): void {
    for (const t of tasks) {
      if (!isLive(t) || hasEnded(t)) continue;
      const want = trafficFor(this.service, !this.isDirty(t), this.counts);
      if (!deepEqual(t.Traffic, want)) this.out.traffic(t.ID, want);
    }
  }

  private wake(at: number): void {
    if (at > this.now) this.out.plan.wakeAt = Math.min(this.out.plan.wakeAt ?? Number.POSITIVE_INFINITY, at);
  }

  /**
   * While an update runs: tasks of the new spec that failed since it started, against
   * MaxFailureRatio of the slots; past it, FailureAction: pause, or roll back to PreviousSpec
   * (a failing rollback pauses). Checked before any slot is touched, so a failing update stops at once.
   */
  checkFailures(tasks: readonly TaskObject[], slotCount: number): void {
    const st = this.service.UpdateStatus;
    if (!st || !isUpdating(this.service) || this.cfg.FailureAction === 'continue') return;
    const since = Date.parse(st.StartedAt ?? '') || 0;
    const failed = tasks.filter((t) => (t.Status.State === 'failed' || t.Status.State === 'rejected') && Date.parse(t.CreatedAt) >= since && !this.isDirty(t));
    if (failed.length === 0 || failed.length / Math.max(1, slotCount) <= this.cfg.MaxFailureRatio) return;
    this.halted = true;
    const culprit = failed[0]!.ID;
    const rolling = isRollingBack(this.service);
    const base = { serviceId: this.service.ID, expectVersion: this.service.Version.Index };
    if (this.cfg.FailureAction === 'rollback' && !rolling && this.service.PreviousSpec) {
      this.out.plan.services.push({
        ...base,
        UpdateStatus: { State: 'rollback_started', StartedAt: this.nowIso, Message: `update rolled back due to failure or early termination of task ${culprit}` },
        rollback: { Spec: this.service.PreviousSpec, PreviousSpec: this.service.Spec },
      });
    } else {
      this.out.plan.services.push({
        ...base,
        UpdateStatus: { State: rolling ? 'rollback_paused' : 'paused', StartedAt: st.StartedAt ?? this.nowIso, Message: `${rolling ? 'rollback' : 'update'} paused due to failure or early termination of task ${culprit}` },
      });
    }
  }

  /**
   * An update is complete when no live task runs an old spec and every task it started has run
   * for the Monitor period; until then the loop is woken when the next one will have.
   */
  checkCompletion(slots: readonly Slot[]): void {
    const st = this.service.UpdateStatus;
    if (!st || !isUpdating(this.service) || this.halted || this.out.plan.create.length > 0) return;
    const since = Date.parse(st.StartedAt ?? '') || 0;
    const monitorMs = this.cfg.Monitor / 1e6;
    let settledAt = since;
    for (const s of slots) {
      const live = s.tasks.filter(isLive);
      if (live.length !== 1) return; // an old task still beside the new one, or nothing yet
      const cur = live[0]!;
      if (this.isDirty(cur)) return;
      if (Date.parse(cur.CreatedAt) < since) continue; // untouched by this update
      if (cur.Status.State !== 'running') return;
      settledAt = Math.max(settledAt, statusTime(cur) + monitorMs);
    }
    if (settledAt > this.now) {
      this.wake(settledAt);
      return;
    }
    const rolling = isRollingBack(this.service);
    this.out.plan.services.push({
      serviceId: this.service.ID,
      expectVersion: this.service.Version.Index,
      UpdateStatus: { State: rolling ? 'rollback_completed' : 'completed', StartedAt: st.StartedAt ?? this.nowIso, CompletedAt: this.nowIso, Message: rolling ? 'rollback completed' : 'update completed' },
    });
  }

  /**
   * How many slots may start an update now. UpdateConfig.Parallelism (default 1, 0 = all):
   * a slot counts as updating while its newest task runs a newer spec than an older task of
   * the slot and is not running yet. (Update Delay, Monitor and FailureAction: the updater.)
   */
  setUpdateBudget(slots: readonly Slot[]): void {
    if (this.halted || isPaused(this.service)) {
      this.budget = 0;
      return;
    }
    if (this.previewing) {
      // Blue/green: the whole new version at once, beside the old.
      this.budget = Number.POSITIVE_INFINITY;
      return;
    }
    const fresh = slots.filter((s) => {
      const live = s.tasks.filter(isLive);
      const cur = live[live.length - 1];
      return cur !== undefined && !this.isDirty(cur);
    }).length;
    const cap = Math.max(0, this.allowedFresh(slots.length) - fresh);
    const parallelism = this.cfg.Parallelism;
    if (parallelism <= 0) {
      this.budget = cap;
      return;
    }
    const delayMs = this.cfg.Delay / 1e6;
    let inFlight = 0;
    for (const s of slots) {
      const live = s.tasks.filter(isLive);
      const cur = live[live.length - 1];
      if (!cur || hasEnded(cur) || this.isDirty(cur)) continue;
      if (!s.tasks.some((t) => t.SpecVersion.Index < cur.SpecVersion.Index)) continue;
      if (cur.Status.State === 'running') {
        // Update Delay: a slot just updated holds its place in the batch for that long.
        const until = statusTime(cur) + delayMs;
        if (delayMs <= 0 || until <= this.now || !isUpdating(this.service)) continue;
        this.wake(until);
      }
      inFlight++;
    }
    this.budget = Math.min(cap, Math.max(0, parallelism - inFlight));
  }

  /**
   * Runs a spec other than the service's (a placement-only change is fine if the node still fits),
   * or publishes other ports than the service now does (a task carries its endpoint as created).
   */
  isDirty(t: TaskObject): boolean {
    if (t.SpecVersion.Index === this.service.Version.Index) return false;
    if (t.Endpoint && this.service.Endpoint && !deepEqual(t.Endpoint.Ports ?? [], this.service.Endpoint.Ports ?? [])) return true;
    if (t.Spec === this.template || deepEqual(t.Spec, this.template)) return false;
    if (t.NodeID && this.templateConstraints && deepEqual({ ...t.Spec, Placement: undefined }, { ...this.template, Placement: undefined })) {
      const n = this.nodes.get(t.NodeID);
      if (n && matchConstraints(this.templateConstraints, n)) return false;
    }
    return true;
  }

  private taskConstraints(t: TaskObject): Constraint[] | undefined {
    if (this.global) return this.templateConstraints;
    if (!this.constraintMemo.has(t.Spec)) this.constraintMemo.set(t.Spec, constraintsOf(t.Spec));
    return this.constraintMemo.get(t.Spec);
  }

  /** Why a live task must leave its node now, if it must. */
  nodeProblem(t: TaskObject): string | undefined {
    if (!t.NodeID) return undefined; // not placed yet
    const n = this.nodes.get(t.NodeID);
    if (!n) return 'node was removed';
    if (n.state === 'down') return 'node is down';
    if (n.availability === 'drain') return 'node is drained';
    const cs = this.taskConstraints(t);
    if (!cs || !matchConstraints(cs, n)) return 'node no longer satisfies the placement constraints';
    return undefined;
  }

  /** Global: the node takes a new task of this service. */
  eligible(n: SchedulerNode | undefined): boolean {
    return !!n && acceptsNewTasks(n) && !!this.templateConstraints && matchConstraints(this.templateConstraints, n);
  }

  /** Nothing live, and the newest task ended in a way its restart policy leaves alone. */
  isFinished(s: Slot): boolean {
    const newest = s.tasks[s.tasks.length - 1];
    if (!newest || s.tasks.some(isLive) || !hasEnded(newest) || !endedByItself(newest)) return false;
    return !this.isDirty(newest) && !restartDecision(newest, this.service, s.tasks, this.now).restart;
  }

  /**
   * A task of the current spec already ended here and its restart policy gave up (e.g.
   * MaxAttempts): updating the slot again would restart it behind the policy's back (a
   * start-first update keeps the old task alive, so the slot still looks stale).
   */
  private gaveUpOnCurrentSpec(s: Slot): boolean {
    return s.tasks.some((t) => !this.isDirty(t) && hasEnded(t) && endedByItself(t) && !restartDecision(t, this.service, s.tasks, this.now).restart);
  }

  /** A new task for the slot (global: only on an eligible node). */
  fill(s: Slot, notBefore?: number): void {
    if (this.global && !this.eligible(this.nodes.get(s.key as string))) return;
    const draft: TaskDraft = {
      Labels: {},
      Spec: this.template,
      ServiceID: this.service.ID,
      Status: { Timestamp: this.nowIso, State: 'pending', Message: this.deps.ok ? 'pending task scheduling' : `waiting for ${this.deps.waitingFor.join(', ')}` },
      DesiredState: this.deps.ok ? 'running' : 'ready',
      SpecVersion: { Index: this.service.Version.Index },
    };
    if (this.global) draft.NodeID = s.key as string;
    else draft.Slot = s.key as number;
    if (notBefore !== undefined && notBefore > this.now) draft.NotBefore = new Date(notBefore).toISOString();
    const traffic = trafficFor(this.service, true, { old: this.counts.old, fresh: this.counts.fresh + 1 });
    if (traffic) draft.Traffic = traffic;
    this.out.create(draft);
  }

  /**
   * One slot: replace tasks whose node failed (at once: not a task failure), restart tasks
   * that ended (per the restart policy), retire leftovers, update a stale spec, and let a
   * READY task run once its dependencies are.
   */
  processSlot(s: Slot): void {
    const live = s.tasks.filter(isLive);
    if (live.length === 0) {
      if (this.isFinished(s)) return;
      const newest = s.tasks[s.tasks.length - 1];
      const again = newest && hasEnded(newest) && endedByItself(newest) && !this.isDirty(newest) ? restartDecision(newest, this.service, s.tasks, this.now) : undefined;
      this.fill(s, again?.notBefore);
      return;
    }
    const newestLive = live[live.length - 1]!;
    let replace: { notBefore?: number } | undefined;
    const alive: TaskObject[] = [];
    for (const t of live) {
      const problem = this.nodeProblem(t);
      if (problem) {
        this.out.update(t, 'shutdown', problem);
        if (t === newestLive) replace = {};
      } else if (hasEnded(t)) {
        const d = restartDecision(t, this.service, s.tasks, this.now);
        this.out.update(t, 'shutdown', d.reason);
        if (t === newestLive && d.restart) replace = d.notBefore === undefined ? {} : { notBefore: d.notBefore };
      } else {
        alive.push(t);
      }
    }
    if (replace) {
      this.fill(s, replace.notBefore);
      return;
    }
    const cur = alive[alive.length - 1];
    if (!cur) return;
    const dirty = this.isDirty(cur);
    // Rolled back while both ran (start-first, blue/green): the older task on the current spec stays.
    const keeper = dirty ? alive.slice(0, -1).findLast((t) => !this.isDirty(t)) : undefined;
    if (keeper) {
      for (const t of alive) if (t !== keeper) this.out.update(t, 'shutdown', 'rolled back');
      return;
    }
    // Older live tasks: what a start-first update leaves until the new task runs (blue/green: until promoted).
    if (alive.length > 1 && !(this.previewing && !dirty) && (dirty || cur.Status.State === 'running' || !this.startFirst)) {
      for (const t of alive.slice(0, -1)) this.out.update(t, 'shutdown', 'replaced by a newer task');
    }
    if (dirty && this.budget > 0 && !this.gaveUpOnCurrentSpec(s)) {
      this.budget--;
      if (!this.startFirst) this.out.update(cur, 'shutdown', 'replaced: service spec updated');
      this.fill(s);
      return;
    }
    if (cur.DesiredState === 'ready' && this.deps.ok) this.out.update(cur, 'running', 'dependencies are running');
  }

  /** A task no agent will report on again: ended, never placed, or its node is gone. */
  isGone(t: TaskObject): boolean {
    return hasEnded(t) || !t.NodeID || !this.nodes.has(t.NodeID);
  }

  /**
   * Deletes ended tasks beyond the history limit, oldest first, except those still counted as
   * restart attempts (within Window, for MaxAttempts): deleting them would reset the count.
   * Tasks desired REMOVE are deleted once gone.
   */
  pruneHistory(s: Slot): void {
    for (const t of s.tasks) if (t.DesiredState === 'remove' && this.isGone(t)) this.out.remove(t.ID);
    const limit = this.opts.historyLimit;
    if (limit < 0) return;
    const old = s.tasks.filter((t) => !isLive(t) && t.DesiredState !== 'remove' && this.isGone(t));
    let excess = old.length - limit;
    if (excess <= 0) return;
    const newest = s.tasks[s.tasks.length - 1]!;
    const policy = restartPolicyOf(newest, this.service);
    const windowMs = (policy.Window ?? 0) / 1e6;
    const counted = (t: TaskObject): boolean =>
      (policy.MaxAttempts ?? 0) > 0 && endedByItself(t) && t.SpecVersion.Index === newest.SpecVersion.Index && (windowMs === 0 || statusTime(t) > this.now - windowMs);
    for (const t of old) {
      if (excess <= 0) break;
      if (counted(t)) continue;
      this.out.remove(t.ID);
      excess--;
    }
  }

  /** Scale down: the slot goes; what runs is told to stop (REMOVE: deleted once down). */
  retire(s: Slot): void {
    for (const t of s.tasks) {
      if (this.isGone(t)) this.out.remove(t.ID);
      else this.out.update(t, 'remove', 'scaled down');
    }
  }
}

function groupSlots(tasks: readonly TaskObject[], keyOf: (t: TaskObject) => number | string | undefined): { slots: Map<number | string, Slot>; stray: TaskObject[] } {
  const slots = new Map<number | string, Slot>();
  const stray: TaskObject[] = [];
  for (const t of tasks) {
    const k = keyOf(t);
    if (k === undefined) {
      stray.push(t);
      continue;
    }
    const s = slots.get(k);
    if (s) s.tasks.push(t);
    else slots.set(k, { key: k, tasks: [t] });
  }
  for (const s of slots.values()) s.tasks.sort(byAge);
  return { slots, stray };
}

function reconcileReplicated(r: ServiceReconciler, tasks: readonly TaskObject[], replicas: number): void {
  const { slots, stray } = groupSlots(tasks, (t) => (t.Slot && t.Slot > 0 ? t.Slot : undefined));
  // Tasks without a slot are not ours to keep: stop or delete them.
  for (const t of stray) {
    if (r.isGone(t)) r.out.remove(t.ID);
    else r.out.update(t, 'remove', 'task has no slot');
  }
  const occupied = [...slots.values()].filter((s) => s.tasks.some(isLive) || r.isFinished(s)).sort((a, b) => (a.key as number) - (b.key as number));
  // Scale down: the highest slots go first.
  const kept = occupied.slice(0, Math.max(0, replicas));
  for (const s of occupied.slice(kept.length)) r.retire(s);
  r.checkFailures(tasks, Math.max(kept.length, replicas));
  r.countTraffic(tasks);
  r.setUpdateBudget(kept);
  for (const s of kept) r.processSlot(s);
  // Scale up: the lowest free slot numbers (a free slot may keep the history of an old one).
  const taken = new Set(kept.map((s) => s.key as number));
  let missing = replicas - kept.length;
  for (let n = 1; missing > 0; n++) {
    if (taken.has(n)) continue;
    r.fill(slots.get(n) ?? { key: n, tasks: [] });
    missing--;
  }
  for (const s of slots.values()) r.pruneHistory(s);
  r.setTraffic(tasks);
  r.advanceCanary(kept);
  r.checkCompletion(kept);
}

function reconcileGlobal(r: ServiceReconciler, tasks: readonly TaskObject[]): void {
  const { slots, stray } = groupSlots(tasks, (t) => t.NodeID || undefined);
  // Without a node a global task never ran: nothing to stop.
  for (const t of stray) r.out.remove(t.ID);
  r.checkFailures(tasks, slots.size);
  r.countTraffic(tasks);
  r.setUpdateBudget([...slots.values()]);
  const ids = new Set<string>([...r.nodes.keys(), ...(slots.keys() as Iterable<string>)]);
  for (const id of [...ids].sort()) {
    const s = slots.get(id);
    if (!s) {
      r.fill({ key: id, tasks: [] });
      continue;
    }
    r.processSlot(s);
    if (!r.nodes.has(id) && !s.tasks.some(isLive)) {
      // The node left the cluster: its tasks' history goes with it.
      for (const t of s.tasks) r.out.remove(t.ID);
    } else {
      r.pruneHistory(s);
    }
  }
  const liveSlots = [...slots.values()].filter((s) => s.tasks.some(isLive));
  r.setTraffic(tasks);
  r.advanceCanary(liveSlots);
  r.checkCompletion(liveSlots);
}

/**
 * The orchestrator for one service, replicated or global: a pure diff of the service's desired
 * state against its tasks and the nodes. Call again whenever the service, its tasks or the
 * nodes change; the same inputs always give the same plan, and a plan committed and observed
 * gives an empty one.
 */
export function reconcileService(service: ServiceObject, tasks: readonly TaskObject[], nodes: NodeView, now: number, opts: ReconcileOptions): ReconcilePlan {
  const global = !!service.Spec.Mode.Global;
  const r = new ServiceReconciler(service, nodeMap(nodes), now, opts, global);
  if (global) reconcileGlobal(r, tasks);
  else reconcileReplicated(r, tasks, service.Spec.Mode.Replicated?.Replicas ?? 0);
  return r.out.plan;
}

/**
 * A deleted service: every task is told to stop (desired REMOVE) and deleted once it is down,
 * was never placed, or its node left the cluster (when `nodes` is given).
 */
export function reconcileRemovedService(tasks: readonly TaskObject[], nodes?: NodeView): ReconcilePlan {
  const out = new PlanBuilder();
  const map = nodes ? nodeMap(nodes) : undefined;
  for (const t of tasks) {
    const gone = hasEnded(t) || !t.NodeID || (map !== undefined && !map.has(t.NodeID));
    if (gone) out.remove(t.ID);
    else out.update(t, 'remove', 'service removed');
  }
  return out.plan;
}

export interface ClusterView {
  services: readonly ServiceObject[];
  tasks: readonly TaskObject[];
  nodes: NodeView;
}

/**
 * Every service at once, dependencies included, plus the tasks of services that no longer
 * exist. The same as calling reconcileService per service with dependenciesSatisfied.
 */
export function reconcileCluster(view: ClusterView, now: number, opts: { historyLimit: number }): ReconcilePlan {
  const nodes = nodeMap(view.nodes);
  const byService = new Map<string, TaskObject[]>();
  for (const t of view.tasks) {
    const list = byService.get(t.ServiceID);
    if (list) list.push(t);
    else byService.set(t.ServiceID, [t]);
  }
  const plans: ReconcilePlan[] = [];
  const known = new Set<string>();
  for (const s of view.services) {
    known.add(s.ID);
    const dependencies = dependenciesSatisfied(s, view.services, byService);
    plans.push(reconcileService(s, byService.get(s.ID) ?? [], nodes, now, { historyLimit: opts.historyLimit, dependencies }));
  }
  for (const [id, tasks] of byService) if (!known.has(id)) plans.push(reconcileRemovedService(tasks, nodes));
  return mergePlans(plans);
}
