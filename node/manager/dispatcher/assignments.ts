import { pack, unpack } from 'msgpackr';
import type { Logger } from '../../log.js';
import type { ClusterStore } from '../../store/index.js';
import { deepEqual } from '../orchestrator/index.js';
import type { TaskObject, TaskState } from '../../store/index.js';

/** The gossip topic of task assignments. */
export const ASSIGNMENTS_TOPIC = 'swarm/assignments/1';

/**
 * Assignments that changed, per node: each node's full task set. `version` is the store index
 * they were read at; `prev` the version of the leader's previous message, so a receiver that
 * missed one notices the gap and syncs directly. Secrets are never in here: only references.
 */
export interface AssignmentMessage {
  version: number;
  prev: number;
  nodes: Record<string, TaskObject[]>;
}

const UNASSIGNED: ReadonlySet<TaskState> = new Set(['new', 'pending']);
const FINISHED: ReadonlySet<TaskState> = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);

/** Whether its node must act on the task: to run it, or to stop it while it still runs. */
function isAssignment(t: TaskObject): boolean {
  // Not before the scheduler has assigned it (a global task has a node from its creation).
  return !UNASSIGNED.has(t.Status.State) && !(FINISHED.has(t.Status.State) && t.DesiredState !== 'running');
}

/** The tasks a node must act on: to run, or still running but to be stopped. */
export function assignmentsFor(store: ClusterStore, nodeId: string): TaskObject[] {
  return store.find('tasks', (t) => t.NodeID === nodeId && isAssignment(t));
}

export function encodeAssignments(m: AssignmentMessage): Uint8Array {
  return pack(m);
}

export function decodeAssignments(bytes: Uint8Array): AssignmentMessage | undefined {
  try {
    const m = unpack(bytes) as Partial<AssignmentMessage>;
    if (typeof m.version !== 'number' || typeof m.prev !== 'number' || typeof m.nodes !== 'object' || m.nodes === null) return undefined;
    return m as AssignmentMessage;
  } catch {
    return undefined;
  }
}

/** Leader-only: watches tasks and gossips each changed node's assignments, in small batches. */
export class AssignmentPublisher {
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion = 0;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly store: ClusterStore,
    private readonly publish: (bytes: Uint8Array) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.unwatch = this.store.watch((e) => {
      if (e.table !== 'tasks') return;
      const task = e.object as TaskObject;
      const prev = e.previous as TaskObject | undefined;
      // A worker's own status reports change nothing it must act on: no message for those, except
      // the one that ends a stopped task, which takes it out of the assignments: the node then
      // removes its container and network namespace.
      if (
        e.op === 'update' &&
        prev &&
        prev.NodeID === task.NodeID &&
        prev.DesiredState === task.DesiredState &&
        isAssignment(prev) === isAssignment(task) &&
        deepEqual(prev.Traffic, task.Traffic)
      )
        return;
      const now = task.NodeID;
      const before = prev?.NodeID;
      if (now) this.dirty.add(now);
      if (before) this.dirty.add(before);
      // Changes of one commit (and of a few in a row) go out together.
      this.timer ??= setTimeout(() => this.flush(), 10);
    });
  }

  /** The version of the last message sent, for heartbeat replies (workers compare). */
  version(): number {
    return this.lastVersion;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.dirty.size === 0) return;
    const nodes: Record<string, TaskObject[]> = {};
    for (const n of this.dirty) nodes[n] = assignmentsFor(this.store, n);
    this.dirty.clear();
    const msg: AssignmentMessage = { version: this.store.lastIndex(), prev: this.lastVersion, nodes };
    this.lastVersion = msg.version;
    this.publish(encodeAssignments(msg)).catch((err: unknown) => this.logger.debug({ err }, 'assignment gossip not sent'));
  }

  stop(): void {
    this.unwatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
