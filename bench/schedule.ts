import { reconcileCluster, type TaskDraft } from '../node/manager/orchestrator/index.js';
import { matchConstraints, parseConstraints, Scheduler, type SchedulerNode } from '../node/manager/scheduler/index.js';
import type { ServiceObject, TaskObject, TaskSpec } from '../node/store/types.js';
import { Rng } from '../raft/index.js';

// The orchestrator and scheduler alone, no store, no network: 100 services of 300 replicas
// (some constrained, some with spread preferences, some with reservations, a few with host
// ports or a per-node limit) on 1,000 synthetic nodes. Times the orchestrator turning the
// services into 30,000 tasks plus the scheduler placing them all, then a failure of 20 nodes.
// Last line: one JSON object.

const NODES = Number(process.argv.find((a) => a.startsWith('--nodes='))?.slice(8) ?? 1000);
const SERVICES = Number(process.argv.find((a) => a.startsWith('--services='))?.slice(11) ?? 100);
const REPLICAS = Number(process.argv.find((a) => a.startsWith('--replicas='))?.slice(11) ?? 300);
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const NOW = Date.parse('2025-01-01T00:00:00Z'); // time is an input: a fixed one keeps runs comparable

/** The project's seeded source (mulberry32), so runs replay exactly. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function makeNodes(r: () => number): SchedulerNode[] {
  return Array.from({ length: NODES }, (_, i): SchedulerNode => {
    const zone = `z${(i % 5) + 1}`;
    return {
      id: `node-${String(i).padStart(5, '0')}`,
      hostname: `host-${i}`,
      role: i % 143 === 0 ? 'manager' : 'worker',
      availability: i % 97 === 5 ? 'drain' : 'active',
      state: i % 211 === 7 ? 'down' : 'ready',
      os: 'linux',
      arch: i % 10 === 9 ? 'arm64' : 'amd64',
      labels: { zone, rack: `${zone}-r${Math.floor(r() * 20) + 1}`, disk: r() < 0.6 ? 'ssd' : 'hdd' },
      engineLabels: r() < 0.1 ? { gpu: 'true' } : {},
      capacity: { nanoCpus: pick(r, [4, 8, 16, 32]) * 1e9, memoryBytes: pick(r, [8, 16, 32, 64]) * GiB },
    };
  });
}

function makeServices(r: () => number): ServiceObject[] {
  return Array.from({ length: SERVICES }, (_, i) => {
    const spec: TaskSpec = { ContainerSpec: { Image: `app-${i}:1` }, RestartPolicy: { Condition: 'any', Delay: 5e9 } };
    const constraints: string[] = [];
    if (i % 4 === 0) constraints.push('node.role == worker');
    if (i % 4 === 1) constraints.push('node.labels.disk == ssd', 'node.labels.zone != z5');
    if (i % 10 === 3) constraints.push('node.platform.arch == amd64');
    const preferences = [];
    if (i % 5 === 0) preferences.push({ Spread: { SpreadDescriptor: 'node.labels.zone' } });
    if (i % 10 === 0) preferences.push({ Spread: { SpreadDescriptor: 'node.labels.rack' } });
    const maxReplicas = i % 20 === 7 ? 2 : 0;
    if (constraints.length || preferences.length || maxReplicas) spec.Placement = { Constraints: constraints, Preferences: preferences, ...(maxReplicas ? { MaxReplicas: maxReplicas } : {}) };
    if (i % 3 === 0) spec.Resources = { Reservations: { NanoCPUs: Math.round((0.05 + r() * 0.2) * 1e9), MemoryBytes: Math.round(64 + r() * 192) * MiB } };
    const ports = i % 25 === 11 ? [{ TargetPort: 80, PublishedPort: 20000 + i, PublishMode: 'host' as const }] : undefined;
    return {
      ID: `svc-${String(i).padStart(3, '0')}`,
      Version: { Index: 10 + i },
      CreatedAt: new Date(NOW).toISOString(),
      UpdatedAt: new Date(NOW).toISOString(),
      Spec: { Name: `bench_${i}`, Labels: {}, TaskTemplate: spec, Mode: { Replicated: { Replicas: REPLICAS } }, ...(ports ? { EndpointSpec: { Ports: ports } } : {}) },
    };
  });
}

let nextId = 0;
function materialise(drafts: readonly TaskDraft[], at: number): TaskObject[] {
  const ts = new Date(at).toISOString();
  // What the store does on commit: an id, a version and timestamps (a literal: spreading is slow).
  return drafts.map((d) => {
    const t: TaskObject = { ID: `task-${++nextId}`, Version: { Index: 1 }, CreatedAt: ts, UpdatedAt: ts, Labels: d.Labels, Spec: d.Spec, ServiceID: d.ServiceID, Status: d.Status, DesiredState: d.DesiredState, SpecVersion: d.SpecVersion };
    if (d.Slot !== undefined) t.Slot = d.Slot;
    if (d.NodeID !== undefined) t.NodeID = d.NodeID;
    if (d.NotBefore !== undefined) t.NotBefore = d.NotBefore;
    return t;
  });
}

/** Every placement satisfies its constraints and no node is over its capacity. */
function verify(nodes: SchedulerNode[], tasks: TaskObject[], assigned: Map<string, string>, sched: Scheduler): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const t of tasks) {
    const nodeId = assigned.get(t.ID);
    if (!nodeId) continue;
    const n = byId.get(nodeId)!;
    if (!matchConstraints(parseConstraints(t.Spec.Placement?.Constraints), n)) throw new Error(`${t.ID} placed on ${nodeId} against its constraints`);
    if (n.state !== 'ready' || n.availability !== 'active') throw new Error(`${t.ID} placed on unavailable ${nodeId}`);
  }
  for (const n of nodes) {
    const u = sched.usage(n.id)!;
    if (u.usedNanoCpus > n.capacity.nanoCpus || u.usedMemoryBytes > n.capacity.memoryBytes) throw new Error(`${n.id} over capacity`);
  }
}

function main(): void {
  const r = rng(42);
  const nodes = makeNodes(r);
  const services = makeServices(r);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  log(`bench:schedule: ${nodes.length} nodes, ${services.length} services x ${REPLICAS} replicas`);

  // 1. Orchestrator: services to tasks; 2. scheduler: tasks to nodes.
  const t0 = performance.now();
  const plan = reconcileCluster({ services, tasks: [], nodes }, NOW, { historyLimit: 5 });
  let tasks = materialise(plan.create, NOW);
  const t1 = performance.now();
  log(`orchestrator: ${plan.create.length} tasks in ${(t1 - t0).toFixed(1)} ms`);
  const sched = new Scheduler({ nodes, services });
  const placed = sched.place(tasks);
  const t2 = performance.now();
  log(`scheduler: ${placed.assigned.length} placed, ${placed.unplaced.length} unplaced in ${(t2 - t1).toFixed(1)} ms`);
  for (const u of placed.unplaced.slice(0, 3)) log(`  unplaced ${u.taskId}: ${u.message}`);

  const assigned = new Map(placed.assigned.map((a) => [a.taskId, a.nodeId]));
  verify(nodes, tasks, assigned, sched);
  const zoneOf = new Map(nodes.map((n) => [n.id, n.labels.zone]));
  const spreadSvc = services.find((s) => s.Spec.TaskTemplate.Placement?.Preferences?.length)!;
  const perZone: Record<string, number> = {};
  for (const t of tasks) if (t.ServiceID === spreadSvc.ID) perZone[zoneOf.get(assigned.get(t.ID)!)!] = (perZone[zoneOf.get(assigned.get(t.ID)!)!] ?? 0) + 1;
  log(`verified; ${spreadSvc.Spec.Name} by zone: ${JSON.stringify(perZone)}`);

  // 3. Failure: 20 nodes go down; the orchestrator replaces their tasks, the scheduler places them.
  tasks = tasks.map((t) => {
    const nodeId = assigned.get(t.ID);
    return nodeId ? { ...t, NodeID: nodeId, Status: { ...t.Status, State: 'running' as const } } : t;
  });
  for (const t of tasks) sched.observeTask(t);
  const failed = new Set(nodes.filter((n) => n.state === 'ready' && n.availability === 'active').slice(0, 20).map((n) => n.id));
  const after = nodes.map((n) => (failed.has(n.id) ? { ...n, state: 'down' as const } : n));
  const t3 = performance.now();
  for (const n of after) if (failed.has(n.id)) sched.upsertNode(n);
  const p2 = reconcileCluster({ services, tasks, nodes: after }, NOW + 60_000, { historyLimit: 5 });
  const replacements = materialise(p2.create, NOW + 60_000);
  const placed2 = sched.place(replacements);
  const t4 = performance.now();
  log(`node failure: ${failed.size} nodes down, ${p2.update.length} tasks shut down, ${placed2.assigned.length} replacements placed in ${(t4 - t3).toFixed(1)} ms`);

  const totalMs = t2 - t0;
  const round = (x: number): number => Math.round(x * 10) / 10;
  process.stdout.write(
    `${JSON.stringify({
      bench: 'schedule',
      tasks: tasks.length,
      nodes: nodes.length,
      placementsPerSec: Math.round(placed.assigned.length / (totalMs / 1000)),
      totalMs: round(totalMs),
      orchestrateMs: round(t1 - t0),
      scheduleMs: round(t2 - t1),
      unplaced: placed.unplaced.length,
      failover: { nodesDown: failed.size, replaced: placed2.assigned.length, ms: round(t4 - t3) },
    })}\n`,
  );
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench:schedule failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
