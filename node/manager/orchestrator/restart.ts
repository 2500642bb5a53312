import type { RestartPolicy, ServiceObject, TaskObject } from '../../store/index.js';
import { endedByItself, statusTime, succeeded } from './tasks.js';

/** Docker's default restart delay: 5 s (durations are nanoseconds, as in the API). */
export const DEFAULT_RESTART_DELAY_NS = 5e9;

export interface RestartDecision {
  restart: boolean;
  /** When the replacement may start (ms since the epoch): now + Delay. */
  notBefore?: number;
  reason: string;
}

/** The policy a task runs under: its own spec's (what it was created with), else the service's. */
export function restartPolicyOf(task: TaskObject, service: ServiceObject | undefined): RestartPolicy {
  return task.Spec.RestartPolicy ?? service?.Spec.TaskTemplate.RestartPolicy ?? {};
}

function seconds(ns: number): string {
  return `${Math.round(ns / 1e7) / 100}s`;
}

/**
 * Earlier tasks of the slot that count as restart attempts for `task`: they ended on their
 * own, ran the same spec version (a spec change resets the count, as in SwarmKit), ended no
 * later than `task`, and within the window before it (a zero window counts them all).
 */
export function countRestartAttempts(task: TaskObject, history: readonly TaskObject[], policy: RestartPolicy): number {
  const end = statusTime(task);
  const windowMs = (policy.Window ?? 0) / 1e6;
  let n = 0;
  for (const h of history) {
    if (h.ID === task.ID || !endedByItself(h) || h.SpecVersion.Index !== task.SpecVersion.Index) continue;
    const t = statusTime(h);
    if (t > end) continue;
    if (windowMs > 0 && t <= end - windowMs) continue;
    n++;
  }
  return n;
}

/**
 * Whether a task that ended (complete, failed, rejected...) while desired running gets a
 * replacement in its slot, and when that may start. `history` holds the slot's other tasks
 * (the replicated slot, or the global service's node). Pure: `now` is an input.
 */
export function restartDecision(task: TaskObject, service: ServiceObject | undefined, history: readonly TaskObject[], now: number): RestartDecision {
  const policy = restartPolicyOf(task, service);
  const condition = policy.Condition ?? 'any';
  const outcome = succeeded(task) ? 'task completed' : `task ${task.Status.State === 'complete' ? 'failed' : task.Status.State}`;
  if (condition === 'none') return { restart: false, reason: `${outcome}; restart condition none` };
  if (condition === 'on-failure' && succeeded(task)) return { restart: false, reason: `${outcome}; restart condition on-failure` };
  const max = policy.MaxAttempts ?? 0;
  if (max > 0) {
    const attempts = countRestartAttempts(task, history, policy);
    if (attempts >= max) {
      const within = policy.Window ? ` within ${seconds(policy.Window)}` : '';
      return { restart: false, reason: `${outcome}; ${attempts} of ${max} restart attempts used${within}` };
    }
  }
  const delay = policy.Delay ?? DEFAULT_RESTART_DELAY_NS;
  return { restart: true, notBefore: now + delay / 1e6, reason: `${outcome}; restarting in ${seconds(delay)}` };
}
