import { describe, expect, it } from 'vitest';
import type { ServiceObject, TaskObject, TaskSpec } from '../../store/index.js';
import { countByNode, mkNode, mkService, mkSpec, mkTask, pending } from '../test-helpers.js';
import { Heap } from './heap.js';
import { ASSIGNED_MESSAGE, explainFailures, Scheduler, toSchedulerNode, type SchedulerNode } from './index.js';

const GiB = 2 ** 30;

function running(id: string, serviceId: string, node: string, spec?: TaskSpec): TaskObject {
  return mkTask(id, serviceId, { node, state: 'running', ...(spec ? { spec } : {}) });
}

/** Places `n` tasks of a fresh service `s` with `spec` on `nodes`; returns the result and the scheduler. */
function placeN(nodes: SchedulerNode[], n: number, spec: TaskSpec = mkSpec(), opts: { service?: ServiceObject; existing?: TaskObject[] } = {}) {
  const service = opts.service ?? mkService('s', { TaskTemplate: spec });
  const sched = new Scheduler({ nodes, services: [service], tasks: opts.existing ?? [] });
  const result = sched.place(pending(service.ID, n, spec));
  return { result, sched };
}

/** Node ids by a label, to count assignments per label value. */
function countBy(nodes: SchedulerNode[], assigned: { nodeId: string }[], label: string): Record<string, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out: Record<string, number> = {};
  for (const a of assigned) {
    const v = byId.get(a.nodeId)!.labels[label] ?? '(none)';
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

describe('filters and their messages', () => {
  const base = () => [mkNode('a'), mkNode('b'), mkNode('c')];
  const cases: { name: string; nodes: SchedulerNode[]; spec?: TaskSpec; message: string }[] = [
    { name: 'a down node', nodes: [mkNode('a', { state: 'down' })], message: 'no suitable node (1 node not available for new tasks)' },
    {
      name: 'down, unknown, disconnected, paused and drained nodes',
      nodes: [mkNode('a', { state: 'down' }), mkNode('b', { state: 'unknown' }), mkNode('c', { state: 'disconnected' }), mkNode('d', { availability: 'pause' }), mkNode('e', { availability: 'drain' })],
      message: 'no suitable node (5 nodes not available for new tasks)',
    },
    {
      name: 'insufficient memory',
      nodes: base(),
      spec: mkSpec({ Resources: { Reservations: { MemoryBytes: 9 * GiB } } }),
      message: 'no suitable node (3 nodes had insufficient memory)',
    },
    {
      name: 'insufficient cpu',
      nodes: [mkNode('a')],
      spec: mkSpec({ Resources: { Reservations: { NanoCPUs: 5e9 } } }),
      message: 'no suitable node (1 node had insufficient cpu)',
    },
    {
      name: 'cpu is checked before memory',
      nodes: [mkNode('a')],
      spec: mkSpec({ Resources: { Reservations: { NanoCPUs: 5e9, MemoryBytes: 9 * GiB } } }),
      message: 'no suitable node (1 node had insufficient cpu)',
    },
    {
      name: 'constraints',
      nodes: base(),
      spec: mkSpec({ Placement: { Constraints: ['node.labels.zone == x'] } }),
      message: 'no suitable node (scheduling constraints not satisfied on 3 nodes)',
    },
    {
      name: 'the example of the issue',
      nodes: [mkNode('a', { state: 'down' }), mkNode('b', { availability: 'drain' }), mkNode('c', { availability: 'pause' }), mkNode('d', { capacity: { nanoCpus: 4e9, memoryBytes: GiB } }), mkNode('e', { capacity: { nanoCpus: 4e9, memoryBytes: GiB } })],
      spec: mkSpec({ Resources: { Reservations: { MemoryBytes: 2 * GiB } } }),
      message: 'no suitable node (3 nodes not available for new tasks; 2 nodes had insufficient memory)',
    },
    {
      name: 'reasons ordered by node count, most first',
      nodes: [mkNode('a', { state: 'down' }), mkNode('b'), mkNode('c'), mkNode('d', { labels: { zone: 'x' }, capacity: { nanoCpus: 4e9, memoryBytes: GiB } })],
      spec: mkSpec({ Resources: { Reservations: { MemoryBytes: 2 * GiB } }, Placement: { Constraints: ['node.labels.zone == x'] } }),
      message: 'no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks; 1 node had insufficient memory)',
    },
    { name: 'no nodes at all', nodes: [], message: 'no suitable node' },
    {
      name: 'an invalid constraint',
      nodes: base(),
      spec: mkSpec({ Placement: { Constraints: ['node.colour == red'] } }),
      message: 'no suitable node (invalid constraint "node.colour == red": unknown key "node.colour" (expected node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>))',
    },
  ];
  it.each(cases)('$name', ({ nodes, spec, message }) => {
    const { result } = placeN(nodes, 2, spec);
    expect(result.assigned).toEqual([]);
    expect(result.unplaced).toEqual([
      { taskId: 't-s-1', message },
      { taskId: 't-s-2', message },
    ]);
  });

  it('host-mode port already in use', () => {
    const service = mkService('s', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
    const { result } = placeN([mkNode('a'), mkNode('b')], 3, mkSpec(), { service });
    expect(Object.values(countByNode(result.assigned))).toEqual([1, 1]);
    expect(result.unplaced).toEqual([{ taskId: 't-s-3', message: 'no suitable node (host-mode port 8080/tcp already in use on 2 nodes)' }]);
  });

  it('host ports: another service on the same port and protocol conflicts; udp, ingress and unpublished ports do not', () => {
    const web = mkService('web', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
    const other = mkService('other', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
    const udp = mkService('udp', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host', Protocol: 'udp' }] } });
    const ingress = mkService('ingress', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }, { TargetPort: 81, PublishMode: 'host' }] } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [web, other, udp, ingress], tasks: [running('w1', 'web', 'a')] });
    const r = sched.place([...pending('other', 1), ...pending('udp', 1), ...pending('ingress', 1)]);
    expect(r.assigned.map((a) => a.taskId)).toEqual(['t-udp-1', 't-ingress-1']);
    expect(r.unplaced).toEqual([{ taskId: 't-other-1', message: 'no suitable node (host-mode port 8080/tcp already in use on 1 node)' }]);
  });

  it('host ports: a task holds the ports of its own endpoint (as created), not those the service has since', () => {
    const before = mkService('web', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
    const old = { ...running('w1', 'web', 'a'), Endpoint: { Spec: {}, Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' as const, Protocol: 'tcp' as const }] } };
    const after = mkService('web', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 9090, PublishMode: 'host' }] } }, 2);
    const other = mkService('other', { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [before, other], tasks: [old] });
    sched.upsertService(after);
    sched.observeTask({ ...old, Status: { ...old.Status, Message: 'still running' } });
    expect(sched.usage('a')?.hostPorts).toEqual(['8080/tcp']);
    const r = sched.place(pending('other', 1));
    expect(r.unplaced).toEqual([{ taskId: 't-other-1', message: 'no suitable node (host-mode port 8080/tcp already in use on 1 node)' }]);
    expect(explainFailures([0, 0, 0, 0, 2, 0], ['8080/tcp', '53/udp'])).toBe('no suitable node (host-mode port 8080/tcp, 53/udp already in use on 2 nodes)');
  });

  it('max replicas per node', () => {
    const spec = mkSpec({ Placement: { MaxReplicas: 2 } });
    const { result } = placeN([mkNode('a'), mkNode('b')], 5, spec);
    expect(countByNode(result.assigned)).toEqual({ a: 2, b: 2 });
    expect(result.unplaced).toEqual([{ taskId: 't-s-5', message: 'no suitable node (max replicas per node limit exceed)' }]);
  });

  it('max replicas counts tasks already running, but not those being shut down', () => {
    const spec = mkSpec({ Placement: { MaxReplicas: 1 } });
    const existing = [running('r1', 's', 'a', spec), { ...running('r2', 's', 'b', spec), DesiredState: 'shutdown' as const }];
    const { result } = placeN([mkNode('a'), mkNode('b')], 2, spec, { existing });
    expect(result.assigned).toEqual([{ taskId: 't-s-1', nodeId: 'b' }]);
    expect(result.unplaced[0]!.message).toBe('no suitable node (max replicas per node limit exceed)');
  });

  it('explainFailures words single nodes and sorts by count', () => {
    expect(explainFailures([0, 1, 0, 0, 0, 0])).toBe('no suitable node (1 node had insufficient cpu)');
    expect(explainFailures([1, 0, 2, 0, 3, 0])).toBe('no suitable node (host-mode port already in use on 3 nodes; 2 nodes had insufficient memory; 1 node not available for new tasks)');
  });
});

describe('reservations', () => {
  it('are subtracted from capacity as tasks are placed, until exhausted', () => {
    const nodes = [mkNode('a', { capacity: { nanoCpus: 8e9, memoryBytes: 2 * GiB } }), mkNode('b', { capacity: { nanoCpus: 8e9, memoryBytes: 2 * GiB } }), mkNode('c', { capacity: { nanoCpus: 8e9, memoryBytes: 3 * GiB } })];
    const spec = mkSpec({ Resources: { Reservations: { MemoryBytes: GiB, NanoCPUs: 1e9 } } });
    const { result, sched } = placeN(nodes, 9, spec);
    expect(countByNode(result.assigned)).toEqual({ a: 2, b: 2, c: 3 });
    expect(result.unplaced.map((u) => u.message)).toEqual(['no suitable node (3 nodes had insufficient memory)', 'no suitable node (3 nodes had insufficient memory)']);
    expect(sched.usage('c')).toMatchObject({ usedMemoryBytes: 3 * GiB, usedNanoCpus: 3e9, activeTasks: 3 });
  });

  it('running tasks hold their reservations; ended ones release them', () => {
    const spec = mkSpec({ Resources: { Reservations: { NanoCPUs: 3e9 } } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')], tasks: [running('r1', 's', 'a', spec)] });
    expect(sched.place(pending('s', 1, spec)).unplaced[0]!.message).toBe('no suitable node (1 node had insufficient cpu)');
    sched.observeTask({ ...running('r1', 's', 'a', spec), Status: { State: 'failed', Message: '', Timestamp: '' } });
    expect(sched.place(pending('s', 1, spec)).assigned).toEqual([{ taskId: 't-s-1', nodeId: 'a' }]);
  });

  it('a task being shut down keeps its reservation until it is down, but no longer counts for spread', () => {
    const spec = mkSpec({ Resources: { Reservations: { NanoCPUs: 3e9 } } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')], tasks: [{ ...running('r1', 's', 'a', spec), DesiredState: 'shutdown' }] });
    expect(sched.usage('a')).toMatchObject({ usedNanoCpus: 3e9, activeTasks: 0 });
  });
});

describe('spread', () => {
  it('fills nodes evenly', () => {
    const { result } = placeN([mkNode('a'), mkNode('b'), mkNode('c')], 7);
    expect(countByNode(result.assigned)).toEqual({ a: 3, b: 2, c: 2 });
  });

  it('prefers the fewest tasks of this service, then the fewest tasks, then the node id', () => {
    const existing = [running('x1', 's', 'a'), running('o1', 'other', 'b'), running('o2', 'other', 'b')];
    const sched = new Scheduler({ nodes: [mkNode('a'), mkNode('b'), mkNode('c'), mkNode('d')], services: [mkService('s'), mkService('other')], tasks: existing });
    // c and d are empty: c by id; then d; then b (no task of s, 2 others) before a (one of s).
    expect(sched.place(pending('s', 3)).assigned.map((a) => a.nodeId)).toEqual(['c', 'd', 'b']);
    expect(sched.place(pending('s', 1, undefined, 'more')).assigned.map((a) => a.nodeId)).toEqual(['a']);
  });

  it('is deterministic: the same result whatever the order of nodes and for every run', () => {
    const nodes = Array.from({ length: 20 }, (_, i) => mkNode(`n${String(i).padStart(2, '0')}`, { labels: { zone: `z${i % 3}` } }));
    const spec = mkSpec({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } });
    const a = placeN(nodes, 50, spec).result;
    const b = placeN([...nodes].reverse(), 50, spec).result;
    const c = placeN([...nodes.slice(7), ...nodes.slice(0, 7)], 50, spec).result;
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });

  it('only spreads over feasible nodes', () => {
    const nodes = [mkNode('a', { role: 'manager' }), mkNode('b'), mkNode('c')];
    const { result } = placeN(nodes, 4, mkSpec({ Placement: { Constraints: ['node.role != manager'] } }));
    expect(countByNode(result.assigned)).toEqual({ b: 2, c: 2 });
  });
});

describe('placement preferences', () => {
  const zones = (spec: Record<string, number>): SchedulerNode[] =>
    Object.entries(spec).flatMap(([zone, n]) => Array.from({ length: n }, (_, i) => mkNode(`${zone}${i}`, zone === '-' ? {} : { labels: { zone } })));
  const byZone = mkSpec({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } });

  it('splits replicas evenly across label values, not nodes: 9 over a(2) b(1) c(3) is 3/3/3', () => {
    const nodes = zones({ a: 2, b: 1, c: 3 });
    const { result } = placeN(nodes, 9, byZone);
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ a: 3, b: 3, c: 3 });
    expect(countByNode(result.assigned)).toEqual({ a0: 2, a1: 1, b0: 3, c0: 1, c1: 1, c2: 1 });
  });

  it('nodes without the label form their own group', () => {
    const nodes = zones({ a: 1, b: 2, '-': 3 });
    const { result } = placeN(nodes, 6, byZone);
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ a: 2, b: 2, '(none)': 2 });
  });

  it('counts the tasks already there', () => {
    const nodes = zones({ a: 1, b: 1, c: 1 });
    const existing = [running('e1', 's', 'a0', byZone), running('e2', 's', 'a0', byZone), running('e3', 's', 'a0', byZone)];
    const { result } = placeN(nodes, 3, byZone, { existing });
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ b: 2, c: 1 });
  });

  it('when a value has no room left, the other values take the rest', () => {
    const nodes = [...zones({ a: 1, b: 1 }), mkNode('c0', { labels: { zone: 'c' }, capacity: { nanoCpus: 1e9, memoryBytes: GiB } })];
    const spec = mkSpec({ ...byZone, Resources: { Reservations: { MemoryBytes: GiB } } });
    const { result } = placeN(nodes, 9, spec);
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ a: 4, b: 4, c: 1 });
  });

  it('values without a feasible node take nothing', () => {
    const nodes = [...zones({ a: 1, b: 1 }), mkNode('c0', { labels: { zone: 'c' }, role: 'manager' })];
    const spec = mkSpec({ ...byZone, Placement: { ...byZone.Placement, Constraints: ['node.role == worker'] } });
    const { result } = placeN(nodes, 4, spec);
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ a: 2, b: 2 });
  });

  it('nests: zone, then rack within each zone', () => {
    const nodes = [
      mkNode('a-r1-0', { labels: { zone: 'a', rack: 'r1' } }),
      mkNode('a-r1-1', { labels: { zone: 'a', rack: 'r1' } }),
      mkNode('a-r2-0', { labels: { zone: 'a', rack: 'r2' } }),
      mkNode('b-r1-0', { labels: { zone: 'b', rack: 'r1' } }),
      mkNode('b-r3-0', { labels: { zone: 'b', rack: 'r3' } }),
      mkNode('b-r4-0', { labels: { zone: 'b', rack: 'r4' } }),
    ];
    const spec = mkSpec({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'node.labels.rack' } }] } });
    const { result } = placeN(nodes, 12, spec);
    const per = countByNode(result.assigned);
    expect(countBy(nodes, result.assigned, 'zone')).toEqual({ a: 6, b: 6 });
    expect(per['a-r1-0']! + per['a-r1-1']!).toBe(3);
    expect(per['a-r2-0']).toBe(3);
    expect([per['b-r1-0'], per['b-r3-0'], per['b-r4-0']]).toEqual([2, 2, 2]);
  });

  it('engine labels and other attributes spread too; unknown descriptors are ignored', () => {
    const nodes = [mkNode('a', { engineLabels: { dc: 'x' } }), mkNode('b', { engineLabels: { dc: 'x' } }), mkNode('c', { engineLabels: { dc: 'y' } })];
    const spec = mkSpec({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'bogus' } }, { Spread: { SpreadDescriptor: 'engine.labels.dc' } }] } });
    const { result } = placeN(nodes, 4, spec);
    expect(countByNode(result.assigned)).toEqual({ a: 1, b: 1, c: 2 });
  });
});

describe('incremental state', () => {
  it('a task that fits nowhere is placed once a node comes', () => {
    const sched = new Scheduler({ nodes: [mkNode('a', { state: 'down' })], services: [mkService('s')] });
    const tasks = pending('s', 1);
    const g0 = sched.generation;
    expect(sched.place(tasks).unplaced).toHaveLength(1);
    expect(sched.generation).toBe(g0); // nothing changed: no point trying again
    sched.upsertNode(mkNode('a'));
    expect(sched.generation).toBeGreaterThan(g0);
    expect(sched.place(tasks).assigned).toEqual([{ taskId: 't-s-1', nodeId: 'a' }]);
  });

  it('placing the same pending task again gives the same node and counts it once', () => {
    const sched = new Scheduler({ nodes: [mkNode('a'), mkNode('b')], services: [mkService('s')] });
    const tasks = pending('s', 1);
    expect(sched.place(tasks).assigned).toEqual([{ taskId: 't-s-1', nodeId: 'a' }]);
    expect(sched.place(tasks).assigned).toEqual([{ taskId: 't-s-1', nodeId: 'a' }]);
    expect(sched.usage('a')!.activeTasks).toBe(1);
    // The committed version changes nothing; an observed pending version undoes the placement.
    sched.observeTask({ ...tasks[0]!, NodeID: 'a', Status: { State: 'assigned', Message: ASSIGNED_MESSAGE, Timestamp: '' } });
    expect(sched.usage('a')!.activeTasks).toBe(1);
    sched.observeTask(tasks[0]!);
    expect(sched.usage('a')!.activeTasks).toBe(0);
  });

  it('keeps usage of tasks on a node that leaves and comes back; forgets deleted tasks', () => {
    const spec = mkSpec({ Resources: { Reservations: { MemoryBytes: GiB } } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')], tasks: [running('r1', 's', 'a', spec)] });
    sched.removeNode('a');
    expect(sched.usage('a')).toBeUndefined();
    sched.upsertNode(mkNode('a'));
    expect(sched.usage('a')).toMatchObject({ usedMemoryBytes: GiB, activeTasks: 1 });
    sched.forgetTask('r1');
    expect(sched.usage('a')).toMatchObject({ usedMemoryBytes: 0, activeTasks: 0 });
  });

  it('follows node label changes for constraints', () => {
    const spec = mkSpec({ Placement: { Constraints: ['node.labels.disk == ssd'] } });
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')] });
    expect(sched.place(pending('s', 1, spec)).unplaced).toHaveLength(1);
    sched.upsertNode(mkNode('a', { labels: { disk: 'ssd' } }));
    expect(sched.place(pending('s', 1, spec)).assigned).toHaveLength(1);
  });

  it('ignores tasks that are not pending or not desired to run', () => {
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')] });
    const r = sched.place([mkTask('x', 's', { state: 'assigned', node: 'a' }), mkTask('y', 's', { desired: 'shutdown' }), mkTask('z', 's', { state: 'new' })]);
    expect(r).toEqual({ assigned: [], unplaced: [] });
  });

  it('places tasks desired READY (waiting for dependencies) like others', () => {
    const sched = new Scheduler({ nodes: [mkNode('a')], services: [mkService('s')] });
    expect(sched.place([mkTask('x', 's', { desired: 'ready' })]).assigned).toEqual([{ taskId: 'x', nodeId: 'a' }]);
  });
});

describe('tasks with a node already chosen (global services)', () => {
  it('are checked against that node only', () => {
    const spec = mkSpec({ Resources: { Reservations: { MemoryBytes: 6 * GiB } } });
    const sched = new Scheduler({ nodes: [mkNode('a'), mkNode('b', { availability: 'pause' })], services: [mkService('g')] });
    const r = sched.place([
      mkTask('g-a', 'g', { node: 'a', spec }),
      mkTask('g-a2', 'g', { node: 'a', spec }),
      mkTask('g-b', 'g', { node: 'b', spec }),
      mkTask('g-z', 'g', { node: 'z', spec }),
    ]);
    expect(r.assigned).toEqual([{ taskId: 'g-a', nodeId: 'a' }]);
    expect(r.unplaced).toEqual([
      { taskId: 'g-a2', message: 'no suitable node (1 node had insufficient memory)' },
      { taskId: 'g-b', message: 'no suitable node (1 node not available for new tasks)' },
      { taskId: 'g-z', message: 'no suitable node (node z is not in the cluster)' },
    ]);
  });
});

describe('toSchedulerNode', () => {
  it('flattens a NodeObject', () => {
    const n = toSchedulerNode({
      ID: 'n1',
      Version: { Index: 3 },
      CreatedAt: '',
      UpdatedAt: '',
      Spec: { Labels: { zone: 'a' }, Role: 'manager', Availability: 'drain' },
      Description: { Hostname: 'h1', Platform: { Architecture: 'x86_64', OS: 'linux' }, Resources: { NanoCPUs: 2e9, MemoryBytes: 1024 }, Engine: { EngineVersion: '1', Labels: { gpu: 'no' } } },
      Status: { State: 'ready', Addr: '10.0.0.1' },
      Swarm: { PeerId: 'p', Multiaddrs: [] },
    });
    expect(n).toEqual({
      id: 'n1',
      hostname: 'h1',
      role: 'manager',
      availability: 'drain',
      state: 'ready',
      os: 'linux',
      arch: 'x86_64',
      labels: { zone: 'a' },
      engineLabels: { gpu: 'no' },
      capacity: { nanoCpus: 2e9, memoryBytes: 1024 },
    });
  });
});

describe('Heap', () => {
  it('pops in order and re-sifts a grown top', () => {
    const keys = [5, 3, 8, 1, 9, 2, 7];
    const h = new Heap<number>((a, b) => keys[a]! < keys[b]!, [0, 1, 2, 3, 4, 5, 6]);
    expect(h.peek()).toBe(3);
    keys[3] = 10;
    h.fixTop();
    const out: number[] = [];
    while (h.size > 0) out.push(keys[h.pop()!]!);
    expect(out).toEqual([2, 3, 5, 7, 8, 9, 10]);
    h.push(0);
    expect(h.peek()).toBe(0);
  });
});
