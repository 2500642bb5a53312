import type { ServiceObject, TaskObject } from '../../store/index.js';
import { matchConstraints, parseConstraints, parseNodeAttribute, nodeAttributeValue, type Constraint, type NodeAttribute } from './constraint.js';
import { Heap } from './heap.js';
import type { SchedulerNode } from './node.js';
import { ASSIGNED, PENDING, RUNNING, taskStateIndex } from './states.js';

/** The status message of a task the scheduler assigned, as SwarmKit words it. */
export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';

export interface PlacementResult {
  /** In placement order. Commit as Status.State 'assigned' with NodeID set. */
  assigned: { taskId: string; nodeId: string }[];
  /** Tasks that fit nowhere: they stay PENDING with this Status.Message. */
  unplaced: { taskId: string; message: string }[];
}

export interface NodeUsage {
  usedNanoCpus: number;
  usedMemoryBytes: number;
  /** Tasks whose desired state is at most running (what spread counts). */
  activeTasks: number;
  activeByService: ReadonlyMap<string, number>;
  hostPorts: readonly string[];
}

// Filters in Docker's order; a node is counted against the first one it fails.
const READY = 0;
const CPU = 1;
const MEMORY = 2;
const CONSTRAINTS = 3;
const HOST_PORT = 4;
const MAX_REPLICAS = 5;
const PASS = -1;

const nodes = (n: number): string => (n === 1 ? '1 node' : `${n} nodes`);
const EXPLAIN: readonly ((n: number, ports: readonly string[]) => string)[] = [
  (n) => `${nodes(n)} not available for new tasks`,
  (n) => `${nodes(n)} had insufficient cpu`,
  (n) => `${nodes(n)} had insufficient memory`,
  (n) => `scheduling constraints not satisfied on ${nodes(n)}`,
  (n, ports) => `host-mode port ${ports.length > 0 ? `${ports.join(', ')} ` : ''}already in use on ${nodes(n)}`,
  () => 'max replicas per node limit exceed',
];

/**
 * "no suitable node (A; B)": reasons with the most nodes first, as Docker's pipeline explains.
 * `ports`: the host-mode ports the task publishes ("8080/tcp"), named when they are the reason.
 */
export function explainFailures(failures: ArrayLike<number>, ports: readonly string[] = []): string {
  const reasons: number[] = [];
  for (let r = 0; r < failures.length; r++) if ((failures[r] ?? 0) > 0) reasons.push(r);
  reasons.sort((a, b) => (failures[b] ?? 0) - (failures[a] ?? 0) || a - b);
  const parts = reasons.map((r) => EXPLAIN[r]!(failures[r] ?? 0, ports));
  return parts.length > 0 ? `no suitable node (${parts.join('; ')})` : 'no suitable node';
}

/**
 * "8080/tcp" for each host-mode port published on a fixed number: the task's own (its endpoint
 * as of its creation, so an update does not move what a running task holds), else the service's.
 */
export function hostPortsOf(service: ServiceObject | undefined, task?: TaskObject): string[] {
  const out: string[] = [];
  for (const p of task?.Endpoint?.Ports ?? service?.Spec.EndpointSpec?.Ports ?? []) {
    if (p.PublishMode === 'host' && p.PublishedPort) out.push(`${p.PublishedPort}/${p.Protocol ?? 'tcp'}`);
  }
  return out;
}

interface NodeInfo {
  node: SchedulerNode;
  /** Position in id order: the last tie-break, so placement is deterministic. */
  index: number;
  usedCpu: number;
  usedMem: number;
  active: number;
  byService: Map<string, number>;
  ports: Map<string, number>;
}

/** What a task holds on its node while it is assigned..running. */
interface Hold {
  nodeId: string;
  serviceId: string;
  cpu: number;
  mem: number;
  ports: readonly string[];
  /** Desired state at most running: counted for spread and max replicas. */
  active: boolean;
}

/** What all tasks of one group (same service and spec version) ask of a node. */
interface Demand {
  serviceId: string;
  cpu: number;
  mem: number;
  ports: readonly string[];
  maxReplicas: number;
  constraints: readonly Constraint[];
  constraintKey: string;
  spreads: readonly NodeAttribute[];
}

/** One level of the spread tree: a label value, or a leaf holding its feasible nodes. */
interface Branch {
  key: string | undefined;
  /** Active tasks of the service below this branch, placed ones included. */
  count: number;
  children?: Heap<Branch>;
  leaf?: Heap<number>;
}

interface BranchDraft {
  key: string | undefined;
  count: number;
  kids?: Map<string | undefined, BranchDraft>;
  nodes?: number[];
}

function sameHold(a: Hold | undefined, b: Hold | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.nodeId === b.nodeId &&
    a.serviceId === b.serviceId &&
    a.cpu === b.cpu &&
    a.mem === b.mem &&
    a.active === b.active &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}

/** Missing label values sort last, after every real value. */
function branchLess(a: Branch, b: Branch): boolean {
  if (a.count !== b.count) return a.count < b.count;
  if (a.key === b.key) return false;
  if (a.key === undefined) return false;
  if (b.key === undefined) return true;
  return a.key < b.key;
}

export interface SchedulerInit {
  nodes?: Iterable<SchedulerNode>;
  services?: Iterable<ServiceObject>;
  /** Every task the store holds; those assigned..running on a node are counted. */
  tasks?: Iterable<TaskObject>;
}

/**
 * SwarmKit-like placement, pure and incremental: the caller feeds it every committed change
 * (nodes, services, tasks) and asks it to place pending tasks. It keeps per-node reservations,
 * active tasks per service and host ports up to date, so placing a group of N identical tasks
 * costs one filter pass over the nodes plus O(N log nodes).
 */
export class Scheduler {
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly services = new Map<string, ServiceObject>();
  /** Kept while a task's node is absent too, so its usage is right when the node returns. */
  private readonly holds = new Map<string, Hold>();
  private ordered: NodeInfo[] = [];
  private orderDirty = true;
  /** Constraint results per constraint set, one byte per node in id order. */
  private readonly masks = new Map<string, Uint8Array>();
  private readonly parsed = new Map<string, Constraint[]>();
  private gen = 0;

  constructor(init: SchedulerInit = {}) {
    for (const s of init.services ?? []) this.services.set(s.ID, s);
    for (const n of init.nodes ?? []) this.upsertNode(n);
    for (const t of init.tasks ?? []) this.observeTask(t);
  }

  /**
   * Bumped on every change that can alter a placement. A caller whose pending tasks found no
   * node need not try them again until this moves.
   */
  get generation(): number {
    return this.gen;
  }

  upsertNode(n: SchedulerNode): void {
    const cur = this.nodes.get(n.id);
    if (cur) {
      cur.node = n;
    } else {
      const info: NodeInfo = { node: n, index: -1, usedCpu: 0, usedMem: 0, active: 0, byService: new Map(), ports: new Map() };
      this.nodes.set(n.id, info);
      // A scan, not an index: nodes join rarely, and the initial ones before any task.
      for (const h of this.holds.values()) if (h.nodeId === n.id) this.addUsage(info, h, 1);
    }
    this.nodesChanged();
  }

  removeNode(id: string): void {
    if (this.nodes.delete(id)) this.nodesChanged();
  }

  upsertService(s: ServiceObject): void {
    this.services.set(s.ID, s);
    this.gen++;
  }

  removeService(id: string): void {
    this.services.delete(id);
    this.gen++;
  }

  /**
   * Feed every committed version of every task, in commit order; idempotent. A task holds its
   * reservations and host ports on its node while its state is assigned..running, and counts
   * for spread while its desired state is at most running (SwarmKit's rules). Observing a
   * pending version of a task this scheduler placed undoes that placement (a failed commit).
   */
  observeTask(t: TaskObject): void {
    const want = this.holdOf(t);
    const cur = this.holds.get(t.ID);
    if (sameHold(cur, want)) return;
    if (cur) this.release(t.ID, cur);
    if (want) this.hold(t.ID, want);
    this.gen++;
  }

  /** A task deleted from the store. */
  forgetTask(id: string): void {
    const cur = this.holds.get(id);
    if (!cur) return;
    this.release(id, cur);
    this.gen++;
  }

  usage(nodeId: string): NodeUsage | undefined {
    const i = this.nodes.get(nodeId);
    if (!i) return undefined;
    return { usedNanoCpus: i.usedCpu, usedMemoryBytes: i.usedMem, activeTasks: i.active, activeByService: new Map(i.byService), hostPorts: [...i.ports.keys()] };
  }

  /**
   * Places pending tasks (Status.State 'pending', desired at most running); others are
   * ignored. Tasks with NodeID already set (global services) are checked against that node
   * only. Tasks are grouped by service and spec version: a group shares one filter pass, so
   * pass all pending tasks at once rather than one by one. Placements are counted at once:
   * the caller commits them, and the committed versions observed later change nothing.
   */
  place(tasks: readonly TaskObject[]): PlacementResult {
    const out: PlacementResult = { assigned: [], unplaced: [] };
    // By service, then spec version: tasks of a group ask the same of a node.
    const groups = new Map<string, Map<number, TaskObject[]>>();
    for (const t of tasks) {
      if (taskStateIndex(t.Status.State) !== PENDING || taskStateIndex(t.DesiredState) > RUNNING) continue;
      const held = this.holds.get(t.ID);
      if (held) {
        // Placed by an earlier call whose commit has not been observed yet: same answer.
        out.assigned.push({ taskId: t.ID, nodeId: held.nodeId });
        continue;
      }
      if (t.NodeID) {
        this.placePreassigned(t, out);
        continue;
      }
      let byVersion = groups.get(t.ServiceID);
      if (!byVersion) groups.set(t.ServiceID, (byVersion = new Map()));
      const g = byVersion.get(t.SpecVersion.Index);
      if (g) g.push(t);
      else byVersion.set(t.SpecVersion.Index, [t]);
    }
    for (const byVersion of groups.values()) for (const g of byVersion.values()) this.placeGroup(g, out);
    return out;
  }

  // ------------------------------------------------------------------ placement

  private placeGroup(tasks: TaskObject[], out: PlacementResult): void {
    const demand = this.demandOrFail(tasks[0]!, tasks, out);
    if (!demand) return;
    const infos = this.orderedNodes();
    const mask = this.constraintMask(demand);
    const n = infos.length;
    const feasible = new Uint8Array(n);
    const svc = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const info = infos[i]!;
      svc[i] = info.byService.get(demand.serviceId) ?? 0;
      if (this.check(info, demand, mask[i] === 1) === PASS) feasible[i] = 1;
    }
    // Spread: fewest tasks of this service, then fewest tasks, then node id.
    const less = (a: number, b: number): boolean => {
      if (svc[a] !== svc[b]) return svc[a]! < svc[b]!;
      const aa = infos[a]!.active;
      const ba = infos[b]!.active;
      return aa !== ba ? aa < ba : a < b;
    };
    const root = this.spreadTree(demand, infos, feasible, svc, less);

    let placed = 0;
    const take = (b: Branch): number => {
      if (b.leaf) {
        const i = b.leaf.peek();
        if (i === undefined) return -1;
        const task = tasks[placed]!;
        this.hold(task.ID, { nodeId: infos[i]!.node.id, serviceId: demand.serviceId, cpu: demand.cpu, mem: demand.mem, ports: demand.ports, active: true }, infos[i]);
        svc[i]!++;
        // Placing only ever takes from a node: it stays at most as attractive, or drops out.
        if (this.check(infos[i]!, demand, true) !== PASS) b.leaf.pop();
        else b.leaf.fixTop();
        b.count++;
        return i;
      }
      const kids = b.children!;
      for (;;) {
        const c = kids.peek();
        if (!c) return -1;
        const i = take(c);
        if (i < 0) {
          kids.pop(); // no room left below: the other branches share the rest
          continue;
        }
        kids.fixTop();
        b.count++;
        return i;
      }
    };
    for (; placed < tasks.length; placed++) {
      const i = take(root);
      if (i < 0) break;
      out.assigned.push({ taskId: tasks[placed]!.ID, nodeId: infos[i]!.node.id });
    }
    if (placed > 0) this.gen++;
    if (placed < tasks.length) {
      const message = this.explain(demand, infos, mask);
      for (let k = placed; k < tasks.length; k++) out.unplaced.push({ taskId: tasks[k]!.ID, message });
    }
  }

  private placePreassigned(t: TaskObject, out: PlacementResult): void {
    const demand = this.demandOrFail(t, [t], out);
    if (!demand) return;
    const info = this.nodes.get(t.NodeID!);
    if (!info) {
      out.unplaced.push({ taskId: t.ID, message: `no suitable node (node ${t.NodeID} is not in the cluster)` });
      return;
    }
    const r = this.check(info, demand, matchConstraints(demand.constraints, info.node));
    if (r === PASS) {
      this.hold(t.ID, { nodeId: info.node.id, serviceId: demand.serviceId, cpu: demand.cpu, mem: demand.mem, ports: demand.ports, active: true });
      this.gen++;
      out.assigned.push({ taskId: t.ID, nodeId: info.node.id });
    } else {
      const failures = new Int32Array(EXPLAIN.length);
      failures[r] = 1;
      out.unplaced.push({ taskId: t.ID, message: explainFailures(failures, demand.ports) });
    }
  }

  /**
   * Docker's spread tree: one level per preference, one branch per label value (nodes without
   * the label share a branch). Every node adds its service's tasks to its branches, feasible or
   * not, so existing tasks count towards the balance; only feasible nodes can take new tasks.
   */
  private spreadTree(d: Demand, infos: NodeInfo[], feasible: Uint8Array, svc: Int32Array, less: (a: number, b: number) => boolean): Branch {
    if (d.spreads.length === 0) {
      const leaf: number[] = [];
      for (let i = 0; i < infos.length; i++) if (feasible[i]) leaf.push(i);
      return { key: undefined, count: 0, leaf: new Heap(less, leaf) };
    }
    const root: BranchDraft = { key: undefined, count: 0 };
    for (let i = 0; i < infos.length; i++) {
      const c = svc[i]!;
      let b = root;
      for (const attr of d.spreads) {
        b.count += c;
        const key = nodeAttributeValue(infos[i]!.node, attr);
        b.kids ??= new Map();
        let next = b.kids.get(key);
        if (!next) {
          next = { key, count: 0 };
          b.kids.set(key, next);
        }
        b = next;
      }
      b.count += c;
      if (feasible[i]) (b.nodes ??= []).push(i);
    }
    const finish = (b: BranchDraft): Branch => {
      if (!b.kids) return { key: b.key, count: b.count, leaf: new Heap(less, b.nodes ?? []) };
      return { key: b.key, count: b.count, children: new Heap(branchLess, [...b.kids.values()].map(finish)) };
    };
    return finish(root);
  }

  private check(info: NodeInfo, d: Demand, constraintsOk: boolean): number {
    const n = info.node;
    if (n.state !== 'ready' || n.availability !== 'active') return READY;
    if (d.cpu > 0 && d.cpu > n.capacity.nanoCpus - info.usedCpu) return CPU;
    if (d.mem > 0 && d.mem > n.capacity.memoryBytes - info.usedMem) return MEMORY;
    if (!constraintsOk) return CONSTRAINTS;
    for (const p of d.ports) if (info.ports.has(p)) return HOST_PORT;
    if (d.maxReplicas > 0 && (info.byService.get(d.serviceId) ?? 0) >= d.maxReplicas) return MAX_REPLICAS;
    return PASS;
  }

  private explain(d: Demand, infos: NodeInfo[], mask: Uint8Array): string {
    const failures = new Int32Array(EXPLAIN.length);
    for (let i = 0; i < infos.length; i++) {
      const r = this.check(infos[i]!, d, mask[i] === 1);
      if (r !== PASS) failures[r]!++;
    }
    return explainFailures(failures, d.ports);
  }

  /** The group's demand, or undefined after marking all its tasks unplaced (a bad constraint). */
  private demandOrFail(t: TaskObject, group: TaskObject[], out: PlacementResult): Demand | undefined {
    try {
      return this.demandOf(t);
    } catch (err) {
      const message = `no suitable node (${err instanceof Error ? err.message : String(err)})`;
      for (const g of group) out.unplaced.push({ taskId: g.ID, message });
      return undefined;
    }
  }

  private demandOf(t: TaskObject): Demand {
    const placement = t.Spec.Placement;
    const exprs = placement?.Constraints ?? [];
    const constraintKey = exprs.join('\n');
    let constraints = this.parsed.get(constraintKey);
    if (!constraints) {
      constraints = parseConstraints(exprs);
      if (this.parsed.size > 10_000) this.parsed.clear(); // bound the memo; parsing again is cheap
      this.parsed.set(constraintKey, constraints);
    }
    const spreads: NodeAttribute[] = [];
    for (const p of placement?.Preferences ?? []) {
      // Docker ignores descriptors it does not know; so do we.
      const a = parseNodeAttribute(p.Spread?.SpreadDescriptor ?? '');
      if (a) spreads.push(a);
    }
    const r = t.Spec.Resources?.Reservations;
    return {
      serviceId: t.ServiceID,
      cpu: r?.NanoCPUs ?? 0,
      mem: r?.MemoryBytes ?? 0,
      ports: hostPortsOf(this.services.get(t.ServiceID), t),
      maxReplicas: placement?.MaxReplicas ?? 0,
      constraints,
      constraintKey,
      spreads,
    };
  }

  private constraintMask(d: Demand): Uint8Array {
    const infos = this.orderedNodes();
    let m = this.masks.get(d.constraintKey);
    if (!m) {
      m = new Uint8Array(infos.length);
      for (let i = 0; i < infos.length; i++) m[i] = matchConstraints(d.constraints, infos[i]!.node) ? 1 : 0;
      if (this.masks.size > 1000) this.masks.clear();
      this.masks.set(d.constraintKey, m);
    }
    return m;
  }

  private orderedNodes(): NodeInfo[] {
    if (this.orderDirty) {
      this.ordered = [...this.nodes.values()].sort((a, b) => (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0));
      this.ordered.forEach((info, i) => (info.index = i));
      this.orderDirty = false;
    }
    return this.ordered;
  }

  private nodesChanged(): void {
    this.orderDirty = true;
    this.masks.clear(); // labels, roles or the node set changed: constraint results are stale
    this.gen++;
  }

  // ------------------------------------------------------------------ accounting

  private holdOf(t: TaskObject): Hold | undefined {
    if (!t.NodeID) return undefined;
    const s = taskStateIndex(t.Status.State);
    if (s < ASSIGNED || s > RUNNING) return undefined;
    const r = t.Spec.Resources?.Reservations;
    return {
      nodeId: t.NodeID,
      serviceId: t.ServiceID,
      cpu: r?.NanoCPUs ?? 0,
      mem: r?.MemoryBytes ?? 0,
      ports: hostPortsOf(this.services.get(t.ServiceID), t),
      active: taskStateIndex(t.DesiredState) <= RUNNING,
    };
  }

  private hold(taskId: string, h: Hold, info = this.nodes.get(h.nodeId)): void {
    this.holds.set(taskId, h);
    if (info) this.addUsage(info, h, 1);
  }

  private release(taskId: string, h: Hold): void {
    this.holds.delete(taskId);
    const info = this.nodes.get(h.nodeId);
    if (info) this.addUsage(info, h, -1);
  }

  private addUsage(info: NodeInfo, h: Hold, sign: 1 | -1): void {
    info.usedCpu += sign * h.cpu;
    info.usedMem += sign * h.mem;
    for (const p of h.ports) {
      const c = (info.ports.get(p) ?? 0) + sign;
      if (c > 0) info.ports.set(p, c);
      else info.ports.delete(p);
    }
    if (!h.active) return;
    info.active += sign;
    const c = (info.byService.get(h.serviceId) ?? 0) + sign;
    if (c > 0) info.byService.set(h.serviceId, c);
    else info.byService.delete(h.serviceId);
  }
}
