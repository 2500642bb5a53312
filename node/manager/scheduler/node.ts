import type { NodeAvailability, NodeObject, NodeRole, NodeState } from '../../store/index.js';

/** What placement needs to know about a node: a flat view of a NodeObject. */
export interface SchedulerNode {
  id: string;
  hostname: string;
  role: NodeRole;
  availability: NodeAvailability;
  state: NodeState;
  os: string;
  arch: string;
  /** node.labels.* (the node's Spec.Labels, set by operators). */
  labels: Record<string, string>;
  /** engine.labels.* (reported by the node itself). */
  engineLabels: Record<string, string>;
  capacity: { nanoCpus: number; memoryBytes: number };
}

export function toSchedulerNode(n: NodeObject): SchedulerNode {
  return {
    id: n.ID,
    hostname: n.Description.Hostname,
    role: n.Spec.Role,
    availability: n.Spec.Availability,
    state: n.Status.State,
    os: n.Description.Platform.OS,
    arch: n.Description.Platform.Architecture,
    labels: n.Spec.Labels ?? {},
    engineLabels: n.Description.Engine.Labels ?? {},
    capacity: { nanoCpus: n.Description.Resources.NanoCPUs, memoryBytes: n.Description.Resources.MemoryBytes },
  };
}

/** Docker's ReadyFilter: only READY and ACTIVE nodes take new tasks. */
export function acceptsNewTasks(n: SchedulerNode): boolean {
  return n.state === 'ready' && n.availability === 'active';
}
