import type { PortConfig, ServiceObject, ServiceSpec, UpdateConfig } from '../../store/index.js';
import { deepEqual } from './tasks.js';

// Rolling updates, as Docker's: UpdateConfig (RollbackConfig while rolling back) with its
// defaults; the service's UpdateStatus says where an update is, and is all the state there is,
// so a new leader resumes an update where the old one left it.

export type UpdateState = NonNullable<ServiceObject['UpdateStatus']>['State'];

/** Docker's defaults: one task at a time, no delay, pause on failure, 5 s of monitoring, stop-first. */
export const DEFAULT_UPDATE_CONFIG: Readonly<Required<UpdateConfig>> = Object.freeze({
  Parallelism: 1,
  Delay: 0,
  FailureAction: 'pause',
  Monitor: 5e9,
  MaxFailureRatio: 0,
  Order: 'stop-first',
});

export function isRollingBack(s: ServiceObject): boolean {
  const st = s.UpdateStatus?.State;
  return st === 'rollback_started' || st === 'rollback_paused' || st === 'rollback_completed';
}

/** The config in effect: RollbackConfig while rolling back, else UpdateConfig; Docker's defaults fill the gaps. */
export function updateConfigOf(s: ServiceObject): Required<UpdateConfig> {
  const cfg = (isRollingBack(s) ? s.Spec.RollbackConfig : s.Spec.UpdateConfig) ?? {};
  // Canary and blue/green roll back on a failure unless told otherwise.
  const out = { ...DEFAULT_UPDATE_CONFIG, ...((s.Spec.Strategy?.Type ?? 'rolling') !== 'rolling' ? { FailureAction: 'rollback' as const } : {}) };
  for (const [k, v] of Object.entries(cfg)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** An update is moving (tasks are being replaced and watched). */
export function isUpdating(s: ServiceObject): boolean {
  const st = s.UpdateStatus?.State;
  return st === 'updating' || st === 'rollback_started';
}

/** An update stopped on a failure, until the next `service update` or a rollback. */
export function isPaused(s: ServiceObject): boolean {
  const st = s.UpdateStatus?.State;
  return st === 'paused' || st === 'rollback_paused';
}

/**
 * The UpdateStatus a write of the service must carry: an update starts when the tasks' spec or
 * the published ports change (a scale alone is no update), and a requested rollback starts one.
 */
export function updateStatusForWrite(
  current: ServiceObject,
  next: { spec: ServiceSpec; ports: readonly PortConfig[] | undefined },
  opts: { rollback: boolean; now: string },
): ServiceObject['UpdateStatus'] {
  if (opts.rollback) return { State: 'rollback_started', StartedAt: opts.now, Message: 'manually requested rollback' };
  const changed = !deepEqual(current.Spec.TaskTemplate, next.spec.TaskTemplate) || !deepEqual(current.Endpoint?.Ports ?? [], next.ports ?? []);
  if (changed) return { State: 'updating', StartedAt: opts.now, Message: 'update in progress' };
  return current.UpdateStatus;
}
