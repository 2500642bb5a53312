import type { Logger } from '../log.js';
import { newObjectId, type ClusterStore, type ReplicatedStore } from '../store/index.js';
import type { ServiceObject, StoreAction, TaskObject } from '../store/index.js';
import { AddressPlanner, allocateEndpoint, allocateTaskNetworking, planNodeAttachments, type AllocatorView } from './allocator/index.js';
import { reconcileCluster, type ReconcilePlan } from './orchestrator/index.js';
import { ASSIGNED_MESSAGE, Scheduler, toSchedulerNode } from './scheduler/index.js';

/** The status message of a task created before its network addresses could be (it stays NEW). */
const ALLOCATION_PENDING = 'pending network allocation';

/**
 * Leader-only: the allocator's, the orchestrator's and the scheduler's loop. On every committed
 * change it gives nodes their routing-mesh address, asks the orchestrator for a plan (tasks to
 * create, stop, delete; new tasks get their network addresses in the same commit) and the
 * scheduler for placements of pending tasks, and commits each. A committed plan reconciles to
 * nothing, so the loop rests. A task whose network is full is created NEW and gets its addresses
 * (and becomes PENDING) once some are freed.
 */
export class TaskController {
  private scheduler: Scheduler | undefined;
  private unwatch: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;
  private again = false;
  /** Nodes that got no routing-mesh address, with why: logged once per reason. */
  private unattached = new Map<string, string>();
  /** Pending tasks that fit nowhere at this scheduler generation: retried when it moves. */
  private unplacedAt: { generation: number; ids: Set<string> } | undefined;

  constructor(
    private readonly store: ClusterStore,
    private readonly replicated: ReplicatedStore,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.rebuild();
    this.unwatch.push(
      this.store.watch((e) => {
        const s = this.scheduler;
        if (s) {
          if (e.table === 'nodes') {
            if (e.op === 'delete') s.removeNode(e.object.ID);
            else s.upsertNode(toSchedulerNode(e.object as never));
          } else if (e.table === 'services') {
            if (e.op === 'delete') s.removeService(e.object.ID);
            else s.upsertService(e.object as never);
          } else if (e.table === 'tasks') {
            if (e.op === 'delete') s.forgetTask(e.object.ID);
            else s.observeTask(e.object as TaskObject);
          }
        }
        if (e.table === 'nodes' || e.table === 'services' || e.table === 'tasks' || e.table === 'cluster' || e.table === 'networks') this.kick();
      }),
      this.store.onReset(() => {
        this.rebuild();
        this.kick();
      }),
    );
    this.kick();
  }

  stop(): void {
    for (const u of this.unwatch) u();
    this.unwatch = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.wake) clearTimeout(this.wake.timer);
    this.wake = undefined;
    this.scheduler = undefined;
  }

  private rebuild(): void {
    this.scheduler = new Scheduler({
      nodes: this.store.list('nodes').map(toSchedulerNode),
      services: this.store.list('services'),
      tasks: this.store.list('tasks'),
    });
    this.unplacedAt = undefined;
  }

  /** Runs soon, once for a burst of changes. */
  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 2);
  }

  private async run(): Promise<void> {
    if (!this.scheduler) return;
    this.running = true;
    try {
      // Apart: nodes' addresses must not hold up the tasks (a node update racing with it is common).
      await this.attachNodes().catch((err: unknown) => {
        this.logger.debug({ err }, 'node network attachments did not commit');
        this.again = true;
      });
      await this.orchestrate();
      await this.allocateWaiting();
      await this.place();
    } catch (err) {
      // Lost leadership or a write raced with another: the next change retries.
      this.logger.debug({ err }, 'task reconciliation did not commit');
      this.again = true;
    } finally {
      this.running = false;
      if (this.again && this.scheduler) {
        this.again = false;
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          void this.run();
        }, 20);
      }
    }
  }

  private async orchestrate(): Promise<void> {
    const cluster = this.store.list('cluster')[0];
    const plan: ReconcilePlan = reconcileCluster(
      { services: this.store.list('services'), tasks: this.store.list('tasks'), nodes: this.store.list('nodes').map(toSchedulerNode) },
      this.now(),
      { historyLimit: cluster?.Spec.Orchestration.TaskHistoryRetentionLimit ?? 5 },
    );
    const actions: StoreAction[] = [];
    const stamp = new Date(this.now()).toISOString();
    let planner = plan.create.length > 0 ? new AddressPlanner(this.allocatorView()) : undefined;
    for (const d of plan.create) {
      const task: TaskObject = { ...d, ID: newObjectId(), Version: { Index: 0 }, CreatedAt: stamp, UpdatedAt: stamp };
      try {
        Object.assign(task, allocateTaskNetworking(planner!, task, this.store.get('services', d.ServiceID)));
      } catch (err) {
        task.Status = { ...task.Status, State: 'new', Message: `${ALLOCATION_PENDING}: ${err instanceof Error ? err.message : String(err)}`, Timestamp: stamp };
      }
      const { Version: _v, ...object } = task;
      actions.push({ op: 'create', table: 'tasks', object });
    }
    // One write per task: its desired state and its traffic share may change together.
    const changed = new Map<string, TaskObject>();
    const changing = (id: string): TaskObject | undefined => {
      const t = changed.get(id) ?? this.store.get('tasks', id);
      if (t) changed.set(id, t);
      return t;
    };
    for (const u of plan.update) {
      const t = changing(u.taskId);
      if (!t) continue;
      const status = u.message && t.Status.Message !== u.message && !t.NodeID ? { ...t.Status, Message: u.message, Timestamp: stamp } : t.Status;
      changed.set(t.ID, { ...t, DesiredState: u.desiredState, Status: status });
    }
    for (const c of plan.traffic) {
      const t = changing(c.taskId);
      if (!t) continue;
      const { Traffic: _old, ...rest } = t;
      changed.set(t.ID, c.traffic ? { ...rest, Traffic: c.traffic } : rest);
    }
    for (const t of changed.values()) actions.push({ op: 'update', table: 'tasks', object: t, expectVersion: this.store.get('tasks', t.ID)!.Version.Index });
    for (const id of plan.remove) {
      const t = this.store.get('tasks', id);
      if (t) actions.push({ op: 'delete', table: 'tasks', id, expectVersion: t.Version.Index });
    }
    // An update's progress: a new UpdateStatus (paused, completed, ...), or a rollback's spec swap.
    // One write per service: the changes of one round merge (a later one wins a field).
    const byService = new Map<string, (typeof plan.services)[number]>();
    for (const c of plan.services) byService.set(c.serviceId, { ...byService.get(c.serviceId), ...c });
    for (const c of byService.values()) {
      const svc = this.store.get('services', c.serviceId);
      if (!svc || svc.Version.Index !== c.expectVersion) continue;
      this.logger.info({ service: svc.Spec.Name, state: c.UpdateStatus?.State, message: c.UpdateStatus?.Message, deployment: c.Deployment }, 'service update');
      let next: ServiceObject = { ...svc, ...(c.UpdateStatus ? { UpdateStatus: c.UpdateStatus } : {}), ...(c.Deployment ? { Deployment: c.Deployment } : {}) };
      if (c.rollback) {
        // The old spec's ports and networks come back with it, as with `service rollback`.
        try {
          planner ??= new AddressPlanner(this.allocatorView());
          const allocated = allocateEndpoint({ serviceId: svc.ID, spec: c.rollback.Spec, current: svc, services: this.store.list('services'), planner });
          next = { ...next, Spec: allocated.spec, PreviousSpec: c.rollback.PreviousSpec, Endpoint: allocated.endpoint };
        } catch (err) {
          // Its old ports taken meanwhile, say: the update stops where it is, saying why.
          const why = err instanceof Error ? err.message : String(err);
          next = { ...next, UpdateStatus: { State: 'paused', StartedAt: svc.UpdateStatus?.StartedAt ?? stamp, Message: `update paused: cannot roll back: ${why}` } };
        }
      }
      actions.push({ op: 'update', table: 'services', object: next, expectVersion: c.expectVersion });
    }
    this.wakeAt(plan.wakeAt);
    if (actions.length === 0) return;
    if (planner) actions.push(...planner.networkUpdates());
    this.logger.debug({ create: plan.create.length, update: plan.update.length, remove: plan.remove.length }, 'orchestrator plan');
    await this.replicated.commit(actions);
  }

  /** An update's delay or monitor period ends then: reconcile again even if nothing changes. */
  private wakeAt(at: number | undefined): void {
    if (at === undefined) return;
    if (this.wake && this.wake.at <= at) return;
    if (this.wake) clearTimeout(this.wake.timer);
    const timer = setTimeout(() => {
      this.wake = undefined;
      this.kick();
    }, Math.max(0, at - this.now()) + 5);
    this.wake = { at, timer };
  }

  private allocatorView(): AllocatorView {
    return { networks: this.store.list('networks'), services: this.store.list('services'), tasks: this.store.list('tasks'), nodes: this.store.list('nodes') };
  }

  /** Every node's address on the ingress network (and none on networks that are gone). */
  private async attachNodes(): Promise<void> {
    const plan = planNodeAttachments(this.allocatorView());
    const failed = new Map(plan.failures.map((f) => [f.nodeId, f.message]));
    for (const [node, err] of failed) if (this.unattached.get(node) !== err) this.logger.warn({ node, err }, 'no routing-mesh address for the node');
    this.unattached = failed;
    if (plan.nodes.length === 0) return;
    const actions: StoreAction[] = plan.nodes.map((n) => ({ op: 'update', table: 'nodes', object: n.object, expectVersion: n.expectVersion }));
    if (plan.planner) actions.push(...plan.planner.networkUpdates());
    await this.replicated.commit(actions);
  }

  /** Tasks created while their networks had no room: addresses now, then on to the scheduler. */
  private async allocateWaiting(): Promise<void> {
    const waiting = this.store.find('tasks', (t) => t.Status.State === 'new' && (t.DesiredState === 'running' || t.DesiredState === 'ready'));
    if (waiting.length === 0) return;
    const planner = new AddressPlanner(this.allocatorView());
    const stamp = new Date(this.now()).toISOString();
    const actions: StoreAction[] = [];
    for (const t of waiting) {
      try {
        const networking = allocateTaskNetworking(planner, t, this.store.get('services', t.ServiceID));
        actions.push({ op: 'update', table: 'tasks', object: { ...t, ...networking, Status: { ...t.Status, State: 'pending', Message: 'pending task scheduling', Timestamp: stamp } }, expectVersion: t.Version.Index });
      } catch (err) {
        const message = `${ALLOCATION_PENDING}: ${err instanceof Error ? err.message : String(err)}`;
        if (t.Status.Message !== message) actions.push({ op: 'update', table: 'tasks', object: { ...t, Status: { ...t.Status, Message: message, Timestamp: stamp } }, expectVersion: t.Version.Index });
      }
    }
    if (actions.length === 0) return;
    actions.push(...planner.networkUpdates());
    await this.replicated.commit(actions);
  }

  private async place(): Promise<void> {
    const s = this.scheduler;
    if (!s) return;
    // Global tasks carry their node from creation; the scheduler still checks that they fit.
    // NEW tasks wait for their network addresses first.
    const pending = this.store.find('tasks', (t) => t.Status.State === 'pending' && (t.DesiredState === 'running' || t.DesiredState === 'ready'));
    if (pending.length === 0) return;
    const u = this.unplacedAt;
    if (u && u.generation === s.generation && pending.every((t) => u.ids.has(t.ID))) return;
    const result = s.place(pending);
    const stamp = new Date(this.now()).toISOString();
    const actions: StoreAction[] = [];
    for (const a of result.assigned) {
      const t = this.store.get('tasks', a.taskId)!;
      actions.push({ op: 'update', table: 'tasks', object: { ...t, NodeID: a.nodeId, Status: { ...t.Status, State: 'assigned', Message: ASSIGNED_MESSAGE, Timestamp: stamp } }, expectVersion: t.Version.Index });
    }
    for (const p of result.unplaced) {
      const t = this.store.get('tasks', p.taskId)!;
      if (t.Status.Message === p.message && t.Status.State === 'pending') continue;
      actions.push({ op: 'update', table: 'tasks', object: { ...t, Status: { ...t.Status, State: 'pending', Message: p.message, Timestamp: stamp } }, expectVersion: t.Version.Index });
    }
    this.unplacedAt = { generation: s.generation, ids: new Set(result.unplaced.map((p) => p.taskId)) };
    if (actions.length === 0) return;
    try {
      await this.replicated.commit(actions);
    } catch (err) {
      // Undo the scheduler's bookkeeping of placements that did not commit.
      for (const a of result.assigned) {
        const t = this.store.get('tasks', a.taskId);
        if (t) s.observeTask(t);
      }
      throw err;
    }
  }
}
