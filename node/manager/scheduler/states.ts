import { TASK_STATES, type TaskState } from '../../store/index.js';

const INDEX: ReadonlyMap<TaskState, number> = new Map(TASK_STATES.map((s, i) => [s, i]));

/** A state's position in SwarmKit's order: states (actual and desired) only move forward. */
export function taskStateIndex(s: TaskState): number {
  return INDEX.get(s) ?? 0;
}

export const PENDING = taskStateIndex('pending');
export const ASSIGNED = taskStateIndex('assigned');
export const RUNNING = taskStateIndex('running');
