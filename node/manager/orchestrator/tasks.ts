import type { ServiceObject, ServiceSpec, TaskObject, TaskState, TaskTraffic } from '../../store/index.js';
import { taskStateIndex } from '../scheduler/index.js';

/** A task to create: the store gives it ID, Version and timestamps; the caller an ID. */
export type TaskDraft = Omit<TaskObject, 'ID' | 'Version' | 'CreatedAt' | 'UpdatedAt'>;

/** A desired-state change; always forward (the plan never moves a task back). */
export interface TaskUpdate {
  taskId: string;
  desiredState: TaskState;
  /** Why, for logs and `service ps` (e.g. "node is down"). */
  message?: string;
}

/**
 * What the orchestrator wants done, as a diff against the store: commit it (in one or a few
 * transactions, conditional on the versions read) and reconcile again on the next change.
 */
export interface ReconcilePlan {
  create: TaskDraft[];
  update: TaskUpdate[];
  /** Task ids to delete from the store. */
  remove: string[];
  /** Services whose update progressed: a new UpdateStatus, and for a rollback the spec swapped back. */
  services: ServiceChange[];
  /** Tasks whose share of the service's traffic changes (canary weights, blue/green previews); undefined: equal shares. */
  traffic: { taskId: string; traffic: TaskTraffic | undefined }[];
  /** Reconcile again at this time (ms) even if nothing changes: an update's delay or monitor ends. */
  wakeAt?: number;
}

/** A change the updater makes to a service object (conditional on the version it read). */
export interface ServiceChange {
  serviceId: string;
  expectVersion: number;
  UpdateStatus?: NonNullable<ServiceObject['UpdateStatus']>;
  /** Canary: the next step. */
  Deployment?: NonNullable<ServiceObject['Deployment']>;
  /** Rollback: the previous spec becomes the spec, and the failed one the previous. */
  rollback?: { Spec: ServiceSpec; PreviousSpec: ServiceSpec };
}

export function emptyPlan(): ReconcilePlan {
  return { create: [], update: [], remove: [], services: [], traffic: [] };
}

export const RUNNING_INDEX = taskStateIndex('running');

/** Desired to be ready or running: the task occupies its slot. */
export function isLive(t: TaskObject): boolean {
  return taskStateIndex(t.DesiredState) <= RUNNING_INDEX;
}

/** Its container is done: complete, shutdown, failed, rejected, remove or orphaned. */
export function hasEnded(t: TaskObject): boolean {
  return taskStateIndex(t.Status.State) > RUNNING_INDEX;
}

/**
 * Ended on its own rather than because it was told to stop: the agent reports a stop it was
 * asked for as 'shutdown', so complete, failed and rejected are the task's own doing.
 */
export function endedByItself(t: TaskObject): boolean {
  const s = t.Status.State;
  return s === 'complete' || s === 'failed' || s === 'rejected';
}

/** Exited 0: the one outcome restart condition on-failure leaves alone. */
export function succeeded(t: TaskObject): boolean {
  return t.Status.State === 'complete' && (t.Status.ContainerStatus?.ExitCode ?? 0) === 0;
}

/** When the task reached its current state (ms since the epoch). */
export function statusTime(t: TaskObject): number {
  const ts = Date.parse(t.Status.Timestamp);
  if (!Number.isNaN(ts)) return ts;
  const up = Date.parse(t.UpdatedAt);
  return Number.isNaN(up) ? 0 : up;
}

/** Oldest first: by creation time, then id (deterministic for equal times). */
export function byAge(a: TaskObject, b: TaskObject): number {
  if (a.CreatedAt !== b.CreatedAt) {
    const d = Date.parse(a.CreatedAt) - Date.parse(b.CreatedAt);
    if (d !== 0 && !Number.isNaN(d)) return d;
  }
  return a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0;
}

/** Structural equality of JSON-like values; a property set to undefined counts as absent. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const k of Object.keys(ao)) if (ao[k] !== undefined && !deepEqual(ao[k], bo[k])) return false;
  for (const k of Object.keys(bo)) if (bo[k] !== undefined && ao[k] === undefined) return false;
  return true;
}

/** Accumulates a plan: desired states only forward, one update and one delete per task. */
export class PlanBuilder {
  readonly plan: ReconcilePlan = emptyPlan();
  private readonly updates = new Map<string, TaskUpdate>();
  private readonly removed = new Set<string>();

  update(t: TaskObject, desiredState: TaskState, message?: string): void {
    const target = taskStateIndex(desiredState);
    if (target <= taskStateIndex(t.DesiredState)) return;
    const prev = this.updates.get(t.ID);
    if (prev && taskStateIndex(prev.desiredState) >= target) return;
    const u: TaskUpdate = message === undefined ? { taskId: t.ID, desiredState } : { taskId: t.ID, desiredState, message };
    if (prev) this.plan.update[this.plan.update.indexOf(prev)] = u;
    else this.plan.update.push(u);
    this.updates.set(t.ID, u);
  }

  remove(id: string): void {
    if (this.removed.has(id)) return;
    this.removed.add(id);
    this.plan.remove.push(id);
  }

  isRemoved(id: string): boolean {
    return this.removed.has(id);
  }

  create(d: TaskDraft): void {
    this.plan.create.push(d);
  }

  traffic(taskId: string, traffic: TaskTraffic | undefined): void {
    this.plan.traffic.push({ taskId, traffic });
  }
}

/** Concatenates plans (e.g. one per service) into one. */
export function mergePlans(plans: readonly ReconcilePlan[]): ReconcilePlan {
  const out = emptyPlan();
  for (const p of plans) {
    for (const c of p.create) out.create.push(c);
    for (const u of p.update) out.update.push(u);
    for (const r of p.remove) out.remove.push(r);
    for (const c of p.services) out.services.push(c);
    for (const t of p.traffic) out.traffic.push(t);
    if (p.wakeAt !== undefined) out.wakeAt = Math.min(out.wakeAt ?? Number.POSITIVE_INFINITY, p.wakeAt);
  }
  return out;
}
