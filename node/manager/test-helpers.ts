// Builders for the scheduler's and orchestrator's tests (no production code uses them).
import type { ServiceObject, ServiceSpec, TaskObject, TaskSpec, TaskState } from '../store/index.js';
import type { SchedulerNode } from './scheduler/index.js';

export function mkNode(id: string, o: Partial<SchedulerNode> = {}): SchedulerNode {
  return {
    id,
    hostname: `host-${id}`,
    role: 'worker',
    availability: 'active',
    state: 'ready',
    os: 'linux',
    arch: 'amd64',
    labels: {},
    engineLabels: {},
    capacity: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 },
    ...o,
  };
}

export function mkSpec(o: Partial<TaskSpec> = {}): TaskSpec {
  return { ContainerSpec: { Image: 'busybox' }, ...o };
}

export function mkService(id: string, o: Partial<ServiceSpec> = {}, version = 1): ServiceObject {
  return {
    ID: id,
    Version: { Index: version },
    CreatedAt: '2024-01-01T00:00:00.000Z',
    UpdatedAt: '2024-01-01T00:00:00.000Z',
    Spec: { Name: id, Labels: {}, TaskTemplate: mkSpec(), Mode: { Replicated: { Replicas: 1 } }, ...o },
  };
}

export interface TaskOpts {
  spec?: TaskSpec;
  slot?: number;
  node?: string;
  state?: TaskState;
  desired?: TaskState;
  version?: number;
  /** Creation time, ms since the epoch. */
  created?: number;
  /** Status time, ms since the epoch. */
  at?: number;
  exitCode?: number;
  health?: 'starting' | 'healthy' | 'unhealthy';
  notBefore?: string;
}

export function mkTask(id: string, serviceId: string, o: TaskOpts = {}): TaskObject {
  const created = new Date(o.created ?? 0).toISOString();
  const t: TaskObject = {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: created,
    UpdatedAt: created,
    Labels: {},
    Spec: o.spec ?? mkSpec(),
    ServiceID: serviceId,
    Status: { Timestamp: new Date(o.at ?? o.created ?? 0).toISOString(), State: o.state ?? 'pending', Message: '' },
    DesiredState: o.desired ?? 'running',
    SpecVersion: { Index: o.version ?? 1 },
  };
  if (o.slot !== undefined) t.Slot = o.slot;
  if (o.node !== undefined) t.NodeID = o.node;
  if (o.exitCode !== undefined) t.Status.ContainerStatus = { ContainerID: `c-${id}`, PID: 0, ExitCode: o.exitCode };
  if (o.health !== undefined) t.Status.Health = o.health;
  if (o.notBefore !== undefined) t.NotBefore = o.notBefore;
  return t;
}

/** n pending tasks t-<prefix>-1..n of a service, with the given spec. */
export function pending(serviceId: string, n: number, spec?: TaskSpec, prefix = serviceId): TaskObject[] {
  return Array.from({ length: n }, (_, i) => mkTask(`t-${prefix}-${i + 1}`, serviceId, { slot: i + 1, ...(spec ? { spec } : {}) }));
}

/** How many assignments each node got. */
export function countByNode(assigned: readonly { nodeId: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of assigned) out[a.nodeId] = (out[a.nodeId] ?? 0) + 1;
  return out;
}
