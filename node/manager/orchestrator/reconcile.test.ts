import { describe, expect, it } from 'vitest';
import type { ServiceObject, ServiceSpec, TaskObject, TaskState } from '../../store/index.js';
import { taskStateIndex, type SchedulerNode } from '../scheduler/index.js';
import { mkNode, mkService, mkSpec, mkTask } from '../test-helpers.js';
import { reconcileCluster, reconcileRemovedService, reconcileService, type ReconcileOptions, type ReconcilePlan } from './index.js';

const T0 = 1_700_000_000_000;
const SEC = 1000;
const NS = 1e9; // nanoseconds per second, for durations in specs
const OPTS: ReconcileOptions = { historyLimit: 5 };

/** reconcileService, checking that the plan only ever moves desired states forward. */
function plan(service: ServiceObject, tasks: TaskObject[], nodes: SchedulerNode[], now = T0, opts: ReconcileOptions = OPTS): ReconcilePlan {
  const p = reconcileService(service, tasks, nodes, now, opts);
  const byId = new Map(tasks.map((t) => [t.ID, t]));
  for (const u of p.update) {
    const t = byId.get(u.taskId)!;
    expect(taskStateIndex(u.desiredState), `${u.taskId}: ${t.DesiredState} → ${u.desiredState}`).toBeGreaterThan(taskStateIndex(t.DesiredState));
  }
  expect(new Set(p.update.map((u) => u.taskId)).size).toBe(p.update.length);
  return p;
}

let seq = 0;
/** Commits a plan as the store would: drafts get ids and CreatedAt; updates and deletes apply. */
function commit(tasks: TaskObject[], p: ReconcilePlan, now = T0): TaskObject[] {
  const removed = new Set(p.remove);
  const updates = new Map(p.update.map((u) => [u.taskId, u.desiredState]));
  const out = tasks.filter((t) => !removed.has(t.ID)).map((t) => (updates.has(t.ID) ? { ...t, DesiredState: updates.get(t.ID)! } : t));
  for (const d of p.create) {
    const at = new Date(now).toISOString();
    out.push({ ...d, ID: `new${++seq}`, Version: { Index: 1 }, CreatedAt: at, UpdatedAt: at });
  }
  return out;
}

/** The agent's side: the task reached `state` at `now`. */
function setState(tasks: TaskObject[], id: string, state: TaskState, now = T0, extra: Partial<TaskObject['Status']> = {}): TaskObject[] {
  return tasks.map((t) => (t.ID === id ? { ...t, Status: { ...t.Status, State: state, Timestamp: new Date(now).toISOString(), ...extra } } : t));
}

/** The scheduler and agents, simplified: every pending task lands on `node` and runs. */
function runAll(tasks: TaskObject[], node = 'a'): TaskObject[] {
  return tasks.map((t) =>
    t.DesiredState === 'running' && t.Status.State === 'pending' ? { ...t, NodeID: t.NodeID ?? node, Status: { ...t.Status, State: 'running' } } : t,
  );
}

const replicated = (id: string, replicas: number, o: Partial<ServiceSpec> = {}, version = 1): ServiceObject => mkService(id, { Mode: { Replicated: { Replicas: replicas } }, ...o }, version);
const global = (id: string, o: Partial<ServiceSpec> = {}, version = 1): ServiceObject => mkService(id, { Mode: { Global: {} }, ...o }, version);
const run = (id: string, slot: number, node: string, o: Parameters<typeof mkTask>[2] = {}): TaskObject => mkTask(id, 's', { slot, node, state: 'running', ...o });
const empty: ReconcilePlan = { create: [], update: [], remove: [], services: [], traffic: [] };

describe('replicated services', () => {
  const nodes = [mkNode('a'), mkNode('b')];

  it('creates one task per slot, pending and desired running, with the service spec and version', () => {
    const s = replicated('s', 3, {}, 7);
    const p = plan(s, [], nodes);
    expect(p.update).toEqual([]);
    expect(p.remove).toEqual([]);
    expect(p.create.map((d) => d.Slot)).toEqual([1, 2, 3]);
    for (const d of p.create) {
      expect(d).toMatchObject({ ServiceID: 's', DesiredState: 'running', SpecVersion: { Index: 7 }, Status: { State: 'pending', Timestamp: new Date(T0).toISOString() } });
      expect(d.Spec).toBe(s.Spec.TaskTemplate);
      expect(d.NodeID).toBeUndefined();
      expect(d.NotBefore).toBeUndefined();
    }
  });

  it('does nothing when every slot runs', () => {
    expect(plan(replicated('s', 2), [run('t1', 1, 'a'), run('t2', 2, 'b')], nodes)).toEqual(empty);
  });

  it('leaves pending and starting tasks alone', () => {
    expect(plan(replicated('s', 2), [mkTask('t1', 's', { slot: 1 }), run('t2', 2, 'b', { state: 'preparing' })], nodes)).toEqual(empty);
  });

  it('scales up into the lowest free slots', () => {
    const p = plan(replicated('s', 5), [run('t1', 1, 'a'), run('t2', 2, 'b'), run('t4', 4, 'a')], nodes);
    expect(p.create.map((d) => d.Slot)).toEqual([3, 5]);
  });

  it('scales down by removing the highest slots: running tasks told to stop, ended ones deleted', () => {
    const tasks = [run('t1', 1, 'a'), run('t2', 2, 'b'), run('t3', 3, 'a'), run('t4', 4, 'b'), run('t5', 5, 'a'), mkTask('h5', 's', { slot: 5, node: 'a', state: 'failed', desired: 'shutdown' })];
    const p = plan(replicated('s', 2), tasks, nodes);
    expect(p.create).toEqual([]);
    expect(p.update).toEqual([
      { taskId: 't3', desiredState: 'remove', message: 'scaled down' },
      { taskId: 't4', desiredState: 'remove', message: 'scaled down' },
      { taskId: 't5', desiredState: 'remove', message: 'scaled down' },
    ]);
    expect(p.remove).toEqual(['h5']);
    // Once they are down, they are deleted.
    let after = commit(tasks, p);
    for (const id of ['t3', 't4', 't5']) after = setState(after, id, 'shutdown');
    expect(plan(replicated('s', 2), after, nodes).remove.sort()).toEqual(['t3', 't4', 't5']);
  });

  it('scaling to zero removes everything; a never-placed task is deleted at once', () => {
    const p = plan(replicated('s', 0), [run('t1', 1, 'a'), mkTask('t2', 's', { slot: 2 })], nodes);
    expect(p.update).toEqual([{ taskId: 't1', desiredState: 'remove', message: 'scaled down' }]);
    expect(p.remove).toEqual(['t2']);
  });

  it.each([
    ['down', [mkNode('a', { state: 'down' }), mkNode('b')], 'node is down'],
    ['drained', [mkNode('a', { availability: 'drain' }), mkNode('b')], 'node is drained'],
    ['removed', [mkNode('b')], 'node was removed'],
  ])('replaces a task whose node is %s at once, in the same slot, without restart delay', (_name, ns, message) => {
    const s = replicated('s', 2, { TaskTemplate: mkSpec({ RestartPolicy: { Delay: 30 * NS } }) });
    const tasks = [run('t1', 1, 'a', { spec: s.Spec.TaskTemplate }), run('t2', 2, 'b', { spec: s.Spec.TaskTemplate })];
    const p = plan(s, tasks, ns);
    expect(p.update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message }]);
    expect(p.create).toHaveLength(1);
    expect(p.create[0]).toMatchObject({ Slot: 1, DesiredState: 'running' });
    expect(p.create[0]!.NotBefore).toBeUndefined();
    expect(p.create[0]!.NodeID).toBeUndefined(); // the scheduler places it elsewhere
    // Committed, the replacement is the slot's task: nothing more to do.
    expect(plan(s, commit(tasks, p), ns)).toEqual(empty);
  });

  it('keeps tasks on paused and unknown nodes', () => {
    const ns = [mkNode('a', { availability: 'pause' }), mkNode('b', { state: 'unknown' })];
    expect(plan(replicated('s', 2), [run('t1', 1, 'a'), run('t2', 2, 'b')], ns)).toEqual(empty);
  });

  it('moves a task whose node no longer satisfies its constraints', () => {
    const spec = mkSpec({ Placement: { Constraints: ['node.labels.disk == ssd'] } });
    const s = replicated('s', 1, { TaskTemplate: spec });
    const p = plan(s, [run('t1', 1, 'a', { spec })], [mkNode('a', { labels: { disk: 'hdd' } })]);
    expect(p.update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'node no longer satisfies the placement constraints' }]);
    expect(p.create).toHaveLength(1);
  });

  it('deletes tasks without a slot', () => {
    const p = plan(replicated('s', 1), [run('t1', 1, 'a'), mkTask('x', 's', { node: 'a', state: 'running' }), mkTask('y', 's', { state: 'failed', desired: 'shutdown', node: 'a' })], nodes);
    expect(p.update).toEqual([{ taskId: 'x', desiredState: 'remove', message: 'task has no slot' }]);
    expect(p.remove).toEqual(['y']);
  });
});

describe('restart supervisor', () => {
  const nodes = [mkNode('a')];
  const svc = (policy: NonNullable<ServiceSpec['TaskTemplate']['RestartPolicy']>, replicas = 1) => replicated('s', replicas, { TaskTemplate: mkSpec({ RestartPolicy: policy }) });
  const failed = (id: string, at: number, o: Parameters<typeof mkTask>[2] = {}) => mkTask(id, 's', { slot: 1, node: 'a', state: 'failed', desired: 'running', created: at - 10 * SEC, at, ...o });
  const old = (id: string, at: number, o: Parameters<typeof mkTask>[2] = {}) => failed(id, at, { desired: 'shutdown', ...o });

  it('restarts a failed task as a new task in the same slot after Delay', () => {
    const s = svc({ Condition: 'any', Delay: 10 * NS });
    const p = plan(s, [failed('t1', T0 - SEC)], nodes);
    expect(p.update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'task failed; restarting in 10s' }]);
    expect(p.create).toHaveLength(1);
    expect(p.create[0]).toMatchObject({ Slot: 1, DesiredState: 'running', NotBefore: new Date(T0 + 10 * SEC).toISOString() });
  });

  it('uses the default delay of 5s; a zero delay sets no NotBefore', () => {
    expect(plan(svc({}), [failed('t1', T0)], nodes).create[0]!.NotBefore).toBe(new Date(T0 + 5 * SEC).toISOString());
    expect(plan(svc({ Delay: 0 }), [failed('t1', T0)], nodes).create[0]!.NotBefore).toBeUndefined();
  });

  it.each([
    ['any', 'complete', 0, true],
    ['any', 'failed', 1, true],
    ['on-failure', 'complete', 0, false],
    ['on-failure', 'complete', 3, true],
    ['on-failure', 'failed', 1, true],
    ['on-failure', 'rejected', undefined, true],
    ['none', 'failed', 1, false],
    ['none', 'complete', 0, false],
  ] as const)('condition %s, task %s (exit %s): restart %s', (condition, state, exitCode, restart) => {
    const s = svc({ Condition: condition });
    const t = failed('t1', T0, { state, ...(exitCode === undefined ? {} : { exitCode }) });
    const p = plan(s, [t], nodes);
    expect(p.update.map((u) => [u.taskId, u.desiredState])).toEqual([['t1', 'shutdown']]);
    expect(p.create).toHaveLength(restart ? 1 : 0);
    if (!restart) {
      // The slot is done: its task is not replaced later, nor counted as missing.
      expect(plan(s, commit([t], p), nodes)).toEqual(empty);
    }
  });

  it('stops after MaxAttempts restarts (no window: all count)', () => {
    const s = svc({ MaxAttempts: 2, Delay: 0 });
    const history = [old('h1', T0 - 100 * SEC), old('h2', T0 - 50 * SEC)];
    const p = plan(s, [...history, failed('t3', T0)], nodes);
    expect(p.create).toEqual([]);
    expect(p.update).toEqual([{ taskId: 't3', desiredState: 'shutdown', message: 'task failed; 2 of 2 restart attempts used' }]);
    expect(plan(s, [old('h2', T0 - 50 * SEC), failed('t3', T0)], nodes).create).toHaveLength(1);
  });

  it('counts only attempts within Window before the failure', () => {
    const s = svc({ MaxAttempts: 2, Window: 60 * NS, Delay: 0 });
    const tasks = [old('h1', T0 - 90 * SEC), old('h2', T0 - 30 * SEC), failed('t3', T0)];
    expect(plan(s, tasks, nodes).create).toHaveLength(1);
    const p = plan(s, [old('h1', T0 - 50 * SEC), old('h2', T0 - 30 * SEC), failed('t3', T0)], nodes);
    expect(p.create).toHaveLength(0);
    expect(p.update[0]!.message).toBe('task failed; 2 of 2 restart attempts used within 60s');
  });

  it('a new spec version starts the count again; tasks stopped on purpose never count', () => {
    const s = svc({ MaxAttempts: 1, Delay: 0 });
    expect(plan(s, [old('h1', T0 - SEC, { version: 0 }), failed('t2', T0)], nodes).create).toHaveLength(1);
    expect(plan(s, [old('h1', T0 - SEC, { state: 'shutdown' }), failed('t2', T0)], nodes).create).toHaveLength(1);
  });

  it('restarts one task per failed slot and leaves the healthy ones', () => {
    const s = svc({ Delay: 0 }, 3);
    const tasks = [run('t1', 1, 'a'), failed('t2', T0, { slot: 2 }), run('t3', 3, 'a')];
    const p = plan(s, tasks, nodes);
    expect(p.create.map((d) => d.Slot)).toEqual([2]);
    const after = commit(tasks, p);
    expect(plan(s, after, nodes)).toEqual(empty);
  });

  it('a crash loop converges: each failure is one new task, until MaxAttempts', () => {
    const s = svc({ MaxAttempts: 3, Delay: 2 * NS });
    let tasks = runAll(commit([], plan(s, [], nodes)));
    let now = T0;
    let created = 1;
    for (let i = 0; i < 10; i++) {
      const live = tasks.find((t) => t.DesiredState === 'running');
      if (!live) break;
      now += 10 * SEC;
      tasks = setState(tasks, live.ID, 'failed', now, { ContainerStatus: { ContainerID: 'c', PID: 0, ExitCode: 1 } });
      const p = plan(s, tasks, nodes, now, { historyLimit: 10 });
      created += p.create.length;
      tasks = runAll(commit(tasks, p, now));
      expect(plan(s, tasks, nodes, now, { historyLimit: 10 }).create).toEqual([]);
    }
    expect(created).toBe(4); // the first task and 3 restarts
  });
});

describe('task history retention', () => {
  const nodes = [mkNode('a')];
  const ended = (i: number, o: Parameters<typeof mkTask>[2] = {}) => mkTask(`h${i}`, 's', { slot: 1, node: 'a', state: 'failed', desired: 'shutdown', created: T0 - (100 - i) * SEC, at: T0 - (100 - i) * SEC, ...o });
  const history = Array.from({ length: 8 }, (_, i) => ended(i + 1));
  const live = run('t9', 1, 'a', { created: T0 });

  it('keeps the newest historyLimit ended tasks per slot, deleting the oldest', () => {
    expect(plan(replicated('s', 1), [...history, live], nodes).remove).toEqual(['h1', 'h2', 'h3']);
  });

  it('0 keeps none; a negative limit keeps all', () => {
    expect(plan(replicated('s', 1), [...history, live], nodes, T0, { historyLimit: 0 }).remove).toHaveLength(8);
    expect(plan(replicated('s', 1), [...history, live], nodes, T0, { historyLimit: -1 }).remove).toEqual([]);
  });

  it('does not delete tasks still stopping, nor count them', () => {
    const stopping = mkTask('stopping', 's', { slot: 1, node: 'a', state: 'running', desired: 'shutdown', created: 0 });
    expect(plan(replicated('s', 1), [stopping, ...history, live], nodes).remove).toEqual(['h1', 'h2', 'h3']);
  });

  it('deletes an old task whose node left the cluster like an ended one', () => {
    const lost = mkTask('lost', 's', { slot: 1, node: 'gone', state: 'running', desired: 'shutdown', created: 0 });
    expect(plan(replicated('s', 1), [lost, ...history.slice(3), live], nodes).remove).toEqual(['lost']);
  });

  it('keeps tasks that still count as restart attempts, so MaxAttempts above the limit still holds', () => {
    const s = replicated('s', 1, { TaskTemplate: mkSpec({ RestartPolicy: { MaxAttempts: 10 } }) });
    expect(plan(s, [...history, live], nodes).remove).toEqual([]);
    const s2 = replicated('s', 1, { TaskTemplate: mkSpec({ RestartPolicy: { MaxAttempts: 10, Window: 95 * NS } }) });
    expect(plan(s2, [...history, live], nodes).remove).toEqual(['h1', 'h2', 'h3']); // h1..h4 are outside the window
  });
});

describe('spec updates', () => {
  const nodes = [mkNode('a'), mkNode('b')];
  const v1 = mkSpec({ ContainerSpec: { Image: 'web:1' } });
  const v2 = mkSpec({ ContainerSpec: { Image: 'web:2' } });
  const tasksV1 = () => [1, 2, 3].map((i) => run(`t${i}`, i, i % 2 ? 'a' : 'b', { spec: v1, version: 1, created: T0 - 100 * SEC }));

  it('a new version with the same task spec (e.g. a VIP allocated) changes nothing', () => {
    expect(plan(replicated('s', 3, { TaskTemplate: mkSpec({ ContainerSpec: { Image: 'web:1' } }) }, 2), tasksV1(), nodes)).toEqual(empty);
  });

  it('a changed published port replaces the tasks: they carry the endpoint they were created with', () => {
    const ports = (n: number) => ({ Spec: {}, Ports: [{ Protocol: 'tcp' as const, TargetPort: 80, PublishedPort: n, PublishMode: 'ingress' as const }] });
    const tasks = tasksV1().map((t) => ({ ...t, Endpoint: ports(8080) }));
    const same = { ...replicated('s', 3, { TaskTemplate: v1 }, 2), Endpoint: ports(8080) };
    expect(plan(same, tasks, nodes)).toEqual(empty);
    const moved = { ...replicated('s', 3, { TaskTemplate: v1, UpdateConfig: { Parallelism: 1 } }, 2), Endpoint: ports(9090) };
    expect(plan(moved, tasks, nodes).update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'replaced: service spec updated' }]);
  });

  it('replaces tasks of an older spec slot by slot, Parallelism at a time (stop-first)', () => {
    const s = replicated('s', 3, { TaskTemplate: v2, UpdateConfig: { Parallelism: 1 } }, 2);
    let tasks = tasksV1();
    const p1 = plan(s, tasks, nodes);
    expect(p1.update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'replaced: service spec updated' }]);
    expect(p1.create).toMatchObject([{ Slot: 1, SpecVersion: { Index: 2 } }]);
    tasks = commit(tasks, p1);
    // The new task is not running yet: the update waits.
    expect(plan(s, tasks, nodes)).toEqual(empty);
    tasks = runAll(setState(tasks, 't1', 'shutdown'));
    const p2 = plan(s, tasks, nodes);
    expect(p2.update.map((u) => u.taskId)).toEqual(['t2']);
    tasks = runAll(commit(tasks, p2));
    tasks = runAll(commit(tasks, plan(s, tasks, nodes)));
    expect(tasks.filter((t) => t.DesiredState === 'running').map((t) => t.Spec.ContainerSpec.Image)).toEqual(['web:2', 'web:2', 'web:2']);
    expect(plan(s, tasks, nodes)).toEqual(empty);
  });

  it('Parallelism 0 updates every slot at once', () => {
    const s = replicated('s', 3, { TaskTemplate: v2, UpdateConfig: { Parallelism: 0 } }, 2);
    const p = plan(s, tasksV1(), nodes);
    expect(p.update).toHaveLength(3);
    expect(p.create).toHaveLength(3);
  });

  it('start-first starts the new task and stops the old one once the new one runs', () => {
    const s = replicated('s', 1, { TaskTemplate: v2, UpdateConfig: { Order: 'start-first' } }, 2);
    let tasks = [run('t1', 1, 'a', { spec: v1, created: T0 - 100 * SEC })];
    const p1 = plan(s, tasks, nodes);
    expect(p1.update).toEqual([]);
    expect(p1.create).toHaveLength(1);
    tasks = commit(tasks, p1, T0);
    expect(plan(s, tasks, nodes)).toEqual(empty);
    tasks = runAll(tasks);
    expect(plan(s, tasks, nodes).update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'replaced by a newer task' }]);
  });

  it('start-first: a new task that fails for good is not replaced by the update behind the restart policy', () => {
    const s = replicated('s', 1, { TaskTemplate: mkSpec({ ContainerSpec: { Image: 'web:2' }, RestartPolicy: { MaxAttempts: 1, Delay: 0 } }), UpdateConfig: { Order: 'start-first' } }, 2);
    const old = run('t1', 1, 'a', { spec: v1, created: T0 - 100 * SEC });
    const failedNew = (id: string, at: number) => mkTask(id, 's', { slot: 1, node: 'b', state: 'failed', desired: 'shutdown', version: 2, spec: s.Spec.TaskTemplate, created: at - SEC, at });
    // Two attempts of the new spec failed: the slot keeps its old task.
    expect(plan(s, [old, failedNew('n1', T0 - 20 * SEC), failedNew('n2', T0 - 10 * SEC)], nodes)).toEqual(empty);
    // One failed attempt: the restart policy allows one more.
    expect(plan(s, [old, failedNew('n1', T0 - 20 * SEC)], nodes).create).toHaveLength(1);
  });

  it('a placement-only change keeps tasks whose node still fits and moves the others', () => {
    const placed = (c: string[]) => mkSpec({ ContainerSpec: { Image: 'web:1' }, Placement: { Constraints: c } });
    const s = replicated('s', 2, { TaskTemplate: placed(['node.labels.zone == x']) }, 2);
    const ns = [mkNode('a', { labels: { zone: 'x' } }), mkNode('b')];
    const tasks = [run('t1', 1, 'a', { spec: placed([]) }), run('t2', 2, 'b', { spec: placed([]) })];
    const p = plan(s, tasks, ns);
    expect(p.update.map((u) => u.taskId)).toEqual(['t2']);
  });
});

describe('global services', () => {
  const g = global('g', { TaskTemplate: mkSpec({ Placement: { Constraints: ['node.role == worker'] }, RestartPolicy: { Delay: 3 * NS } }) });
  const gt = (id: string, node: string, o: Parameters<typeof mkTask>[2] = {}) => mkTask(id, 'g', { node, state: 'running', spec: g.Spec.TaskTemplate, ...o });

  it('runs one task on every eligible node: ready, active, matching constraints', () => {
    const nodes = [mkNode('a'), mkNode('b'), mkNode('m', { role: 'manager' }), mkNode('d', { state: 'down' }), mkNode('p', { availability: 'pause' }), mkNode('x', { availability: 'drain' })];
    const p = plan(g, [], nodes);
    expect(p.create.map((d) => [d.NodeID, d.Slot])).toEqual([
      ['a', undefined],
      ['b', undefined],
    ]);
    expect(p.create[0]).toMatchObject({ DesiredState: 'running', Status: { State: 'pending' } });
  });

  it('follows joins, drains and removals', () => {
    const tasks = [gt('ta', 'a'), gt('tb', 'b'), gt('tc', 'c')];
    const nodes = [mkNode('a'), mkNode('b', { availability: 'drain' }), mkNode('n')];
    const p = plan(g, tasks, nodes);
    expect(p.create.map((d) => d.NodeID)).toEqual(['n']);
    expect(p.update).toEqual([
      { taskId: 'tb', desiredState: 'shutdown', message: 'node is drained' },
      { taskId: 'tc', desiredState: 'shutdown', message: 'node was removed' },
    ]);
    // Once stopped, the drained node keeps its history; the removed node's goes.
    const after = setState(setState(commit(tasks, p), 'tb', 'shutdown'), 'tc', 'shutdown');
    expect(plan(g, runAll(after, 'n'), nodes)).toEqual({ create: [], update: [], remove: ['tc'], services: [], traffic: [] });
  });

  it('stops tasks on a down node and starts one again when it is back', () => {
    const tasks = [gt('ta', 'a')];
    const p = plan(g, tasks, [mkNode('a', { state: 'down' })]);
    expect(p).toEqual({ create: [], update: [{ taskId: 'ta', desiredState: 'shutdown', message: 'node is down' }], remove: [], services: [], traffic: [] });
    const back = plan(g, commit(tasks, p), [mkNode('a')]);
    expect(back.create.map((d) => d.NodeID)).toEqual(['a']);
    expect(back.create[0]!.NotBefore).toBeUndefined();
  });

  it('keeps tasks on paused nodes, without starting new ones there', () => {
    expect(plan(g, [gt('ta', 'a')], [mkNode('a', { availability: 'pause' }), mkNode('b', { availability: 'pause' })])).toEqual(empty);
  });

  it('stops tasks on nodes that no longer match the constraints (e.g. promoted to manager)', () => {
    expect(plan(g, [gt('ta', 'a')], [mkNode('a', { role: 'manager' })]).update).toEqual([{ taskId: 'ta', desiredState: 'shutdown', message: 'node no longer satisfies the placement constraints' }]);
  });

  it('restarts a failed task on the same node after the delay', () => {
    const p = plan(g, [gt('ta', 'a', { state: 'failed', at: T0 })], [mkNode('a')]);
    expect(p.update).toEqual([{ taskId: 'ta', desiredState: 'shutdown', message: 'task failed; restarting in 3s' }]);
    expect(p.create).toMatchObject([{ NodeID: 'a', NotBefore: new Date(T0 + 3 * SEC).toISOString() }]);
  });

  it('a node that is paused when its task fails gets the restart once active again', () => {
    const tasks = [gt('ta', 'a', { state: 'failed', at: T0 })];
    const p = plan(g, tasks, [mkNode('a', { availability: 'pause' })]);
    expect(p.create).toEqual([]);
    expect(plan(g, commit(tasks, p), [mkNode('a')], T0 + 60 * SEC).create.map((d) => d.NodeID)).toEqual(['a']);
  });

  it('with restart condition none, a completed task is not replaced, but a drained-and-back node gets a new one', () => {
    const none = global('g', { TaskTemplate: mkSpec({ RestartPolicy: { Condition: 'none' } }) });
    const done = [mkTask('ta', 'g', { node: 'a', state: 'complete', desired: 'shutdown', spec: none.Spec.TaskTemplate })];
    expect(plan(none, done, [mkNode('a')])).toEqual(empty);
    const drained = [mkTask('ta', 'g', { node: 'a', state: 'shutdown', desired: 'shutdown', spec: none.Spec.TaskTemplate })];
    expect(plan(none, drained, [mkNode('a')]).create.map((d) => d.NodeID)).toEqual(['a']);
  });

  it('updates to a new spec node by node', () => {
    const g2 = global('g', { TaskTemplate: mkSpec({ ContainerSpec: { Image: 'new' } }) }, 2);
    const p = plan(g2, [gt('ta', 'a'), gt('tb', 'b')], [mkNode('a'), mkNode('b')]);
    expect(p.update).toEqual([{ taskId: 'ta', desiredState: 'shutdown', message: 'replaced: service spec updated' }]);
    expect(p.create).toMatchObject([{ NodeID: 'a', SpecVersion: { Index: 2 } }]);
  });
});

describe('removed services', () => {
  it('stops running tasks and deletes those that are down, never placed, or on a removed node', () => {
    const tasks = [
      mkTask('run', 's', { node: 'a', state: 'running' }),
      mkTask('stopping', 's', { node: 'a', state: 'running', desired: 'shutdown' }),
      mkTask('done', 's', { node: 'a', state: 'complete', desired: 'shutdown' }),
      mkTask('unplaced', 's', {}),
      mkTask('lost', 's', { node: 'gone', state: 'running' }),
      mkTask('removing', 's', { node: 'a', state: 'running', desired: 'remove' }),
    ];
    expect(reconcileRemovedService(tasks, [mkNode('a')])).toEqual({
      create: [],
      update: [
        { taskId: 'run', desiredState: 'remove', message: 'service removed' },
        { taskId: 'stopping', desiredState: 'remove', message: 'service removed' },
      ],
      remove: ['done', 'unplaced', 'lost'],
      services: [],
      traffic: [],
    });
  });
});

describe('depends_on', () => {
  const nodes = [mkNode('a')];
  const db = replicated('db', 1);
  const cache = replicated('cache', 1, { TaskTemplate: mkSpec({ ContainerSpec: { Image: 'redis', Healthcheck: { Test: ['CMD', 'true'] } } }) });
  const web = replicated('web', 2, {
    DependsOn: [
      { Service: 'db', Condition: 'service_started' },
      { Service: 'cache', Condition: 'service_healthy' },
    ],
  });

  it('holds a service’s tasks READY until its dependencies run (and are healthy), then lets them run', () => {
    const services = [db, cache, web];
    let tasks = commit([], reconcileCluster({ services, tasks: [], nodes }, T0, OPTS));
    const webTasks = () => tasks.filter((t) => t.ServiceID === 'web');
    expect(webTasks().map((t) => [t.DesiredState, t.Status.Message])).toEqual([
      ['ready', 'waiting for db, cache'],
      ['ready', 'waiting for db, cache'],
    ]);
    tasks = runAll(tasks); // db and cache run; web's tasks are placed but not started
    tasks = tasks.map((t) => (t.ServiceID === 'web' ? { ...t, NodeID: 'a', Status: { ...t.Status, State: 'assigned' } } : t));
    expect(reconcileCluster({ services, tasks, nodes }, T0, OPTS)).toEqual(empty); // cache is not healthy yet
    tasks = tasks.map((t) => (t.ServiceID === 'cache' ? { ...t, Status: { ...t.Status, Health: 'healthy' } } : t));
    const p = reconcileCluster({ services, tasks, nodes }, T0, OPTS);
    expect(p.create).toEqual([]);
    expect(p.update.map((u) => [u.taskId, u.desiredState])).toEqual(webTasks().map((t) => [t.ID, 'running']));
  });

  it('reconcileCluster also cleans up the tasks of deleted services', () => {
    const p = reconcileCluster({ services: [], tasks: [mkTask('x', 'old', { node: 'a', state: 'running' })], nodes }, T0, OPTS);
    expect(p.update).toEqual([{ taskId: 'x', desiredState: 'remove', message: 'service removed' }]);
  });
});

describe('rolling updates: delay, monitor, failure actions', () => {
  const nodes = [mkNode('a'), mkNode('b')];
  const img1 = mkSpec({ ContainerSpec: { Image: 'web:1' } });
  const img2 = mkSpec({ ContainerSpec: { Image: 'web:2' } });
  const started = new Date(T0 - 60 * SEC).toISOString();
  const updating = (cfg: ServiceSpec['UpdateConfig'], replicas = 2): ServiceObject => ({
    ...replicated('s', replicas, { TaskTemplate: img2, UpdateConfig: cfg }, 2),
    PreviousSpec: replicated('s', replicas, { TaskTemplate: img1 }).Spec,
    UpdateStatus: { State: 'updating', StartedAt: started, Message: 'update in progress' },
  });
  const old = (id: string, slot: number) => run(id, slot, 'a', { spec: img1, created: T0 - 100 * SEC });
  const fresh = (id: string, slot: number, o: Parameters<typeof mkTask>[2] = {}) => mkTask(id, 's', { slot, node: 'b', spec: img2, version: 2, created: T0 - 30 * SEC, ...o });

  it('Delay holds the next slot until the updated one has run that long, and wakes the loop then', () => {
    const s = updating({ Parallelism: 1, Delay: 10 * NS });
    const tasks = [old('t1', 1), old('t2', 2), fresh('n1', 1, { state: 'running', at: T0 - 4 * SEC })];
    const p = plan(s, tasks, nodes);
    expect(p.create).toEqual([]);
    expect(p.wakeAt).toBe(T0 + 6 * SEC);
    // Ten seconds after it started running, slot 2 goes.
    const later = plan(s, tasks, nodes, T0 + 6 * SEC);
    expect(later.create.map((c) => c.Slot)).toEqual([2]);
  });

  it('FailureAction pause: a failed task of the new spec pauses the update and starts nothing more', () => {
    const s = updating({ Parallelism: 1, FailureAction: 'pause' });
    const tasks = [old('t2', 2), mkTask('t1', 's', { slot: 1, node: 'a', spec: img1, state: 'shutdown', desired: 'shutdown', created: T0 - 100 * SEC }), fresh('n1', 1, { state: 'failed', at: T0 - SEC })];
    const p = plan(s, tasks, nodes);
    expect(p.create.filter((c) => c.Slot === 2)).toEqual([]);
    expect(p.services).toEqual([{ serviceId: 's', expectVersion: 2, UpdateStatus: { State: 'paused', StartedAt: started, Message: 'update paused due to failure or early termination of task n1' } }]);
    // Paused: the old slot stays as it is.
    const paused = { ...s, UpdateStatus: { State: 'paused' as const, StartedAt: started, Message: 'paused' } };
    expect(plan(paused, tasks, nodes).create.filter((c) => c.Slot === 2)).toEqual([]);
  });

  it('FailureAction rollback swaps the previous spec back in, and the rollback replaces the new tasks', () => {
    const s = updating({ Parallelism: 1, FailureAction: 'rollback' });
    const tasks = [old('t2', 2), fresh('n1', 1, { state: 'failed', at: T0 - SEC })];
    const p = plan(s, tasks, nodes);
    expect(p.services).toHaveLength(1);
    const change = p.services[0]!;
    expect(change.UpdateStatus).toMatchObject({ State: 'rollback_started', Message: 'update rolled back due to failure or early termination of task n1' });
    expect(change.rollback?.Spec.TaskTemplate).toEqual(img1);
    expect(change.rollback?.PreviousSpec.TaskTemplate).toEqual(img2);
    // After the swap: the old spec is the spec; the failed task is history, slot 1 gets web:1 back.
    const rolled: ServiceObject = { ...s, Spec: change.rollback!.Spec, PreviousSpec: change.rollback!.PreviousSpec, UpdateStatus: change.UpdateStatus, Version: { Index: 3 } };
    const back = plan(rolled, tasks, nodes, T0 + SEC);
    expect(back.services).toEqual([]);
    expect(back.create.map((c) => [c.Slot, c.Spec.ContainerSpec.Image])).toEqual([[1, 'web:1']]);
  });

  it('MaxFailureRatio tolerates failures up to that share of the slots', () => {
    const s = updating({ Parallelism: 1, FailureAction: 'pause', MaxFailureRatio: 0.5 }, 4);
    const tasks = [old('t2', 2), old('t3', 3), old('t4', 4), fresh('n1', 1, { state: 'failed', at: T0 - SEC })];
    expect(plan(s, tasks, nodes).services).toEqual([]);
  });

  it('completes once every slot runs the new spec and has been watched for Monitor', () => {
    const s = updating({ Monitor: 5 * NS });
    const tasks = [fresh('n1', 1, { state: 'running', at: T0 - 10 * SEC }), fresh('n2', 2, { state: 'running', at: T0 - 2 * SEC })];
    const p = plan(s, tasks, nodes);
    expect(p.services).toEqual([]);
    expect(p.wakeAt).toBe(T0 + 3 * SEC);
    const done = plan(s, tasks, nodes, T0 + 3 * SEC);
    expect(done.services).toEqual([
      { serviceId: 's', expectVersion: 2, UpdateStatus: { State: 'completed', StartedAt: started, CompletedAt: new Date(T0 + 3 * SEC).toISOString(), Message: 'update completed' } },
    ]);
  });

  it('a rollback uses RollbackConfig and ends rollback_completed', () => {
    const base = replicated('s', 1, { TaskTemplate: img1, RollbackConfig: { Parallelism: 0, Monitor: 0 } }, 3);
    const s: ServiceObject = { ...base, UpdateStatus: { State: 'rollback_started', StartedAt: started, Message: 'manually requested rollback' } };
    const tasks = [mkTask('n1', 's', { slot: 1, node: 'a', spec: img1, state: 'running', created: T0 - 20 * SEC, at: T0 - 19 * SEC })];
    expect(plan(s, tasks, nodes).services[0]?.UpdateStatus).toMatchObject({ State: 'rollback_completed', Message: 'rollback completed' });
  });
});

describe('canary and blue/green deployments', () => {
  const nodes = [mkNode('a'), mkNode('b')];
  const img1 = mkSpec({ ContainerSpec: { Image: 'web:1' } });
  const img2 = mkSpec({ ContainerSpec: { Image: 'web:2' } });
  const started = new Date(T0 - 60 * SEC).toISOString();
  const deploying = (strategy: ServiceSpec['Strategy'], deployment?: ServiceObject['Deployment'], replicas = 4): ServiceObject => ({
    ...replicated('s', replicas, { TaskTemplate: img2, Strategy: strategy }, 2),
    PreviousSpec: replicated('s', replicas, { TaskTemplate: img1 }).Spec,
    UpdateStatus: { State: 'updating', StartedAt: started, Message: 'update in progress' },
    Deployment: deployment ?? { Step: 0, StepStartedAt: started },
  });
  const old = (id: string, slot: number) => run(id, slot, 'a', { spec: img1, created: T0 - 100 * SEC });
  const olds = () => [old('t1', 1), old('t2', 2), old('t3', 3), old('t4', 4)];

  it('canary: the first step updates one slot of four, and weights give the new task its share', () => {
    const s = deploying({ Type: 'canary', Steps: [25, 100] });
    const p1 = plan(s, olds(), nodes);
    expect(p1.create.map((c) => c.Slot)).toEqual([1]);
    // Start-first: the old task serves until the new one runs, and it already has its weight.
    expect(p1.update).toEqual([]);
    expect(p1.create[0]!.Traffic).toEqual({ Weight: 25 * 4 });
    let tasks = runAll(commit(olds(), p1));
    const p2 = plan(s, tasks, nodes);
    expect(p2.update).toEqual([{ taskId: 't1', desiredState: 'shutdown', message: 'replaced by a newer task' }]);
    tasks = commit(tasks, p2);
    tasks = setState(tasks, 't1', 'shutdown');
    // 3 old tasks weigh 75 × 1 each, the new one 25 × 3: a quarter of the connections.
    const p3 = plan(s, tasks, nodes);
    const weights = new Map(p3.traffic.map((t) => [t.taskId, t.traffic?.Weight]));
    expect([weights.get('t2'), weights.get('t3'), weights.get('t4')]).toEqual([75, 75, 75]);
    expect(p3.create).toEqual([]);
    // No interval: the step holds until promoted.
    expect(p3.services).toEqual([]);
  });

  it('canary: a promoted (or timed-out) step moves to the next, which is a plain rolling update to the end', () => {
    const settled = [mkTask('n1', 's', { slot: 1, node: 'b', spec: img2, version: 2, state: 'running', created: T0 - 30 * SEC, at: T0 - 20 * SEC }), old('t2', 2), old('t3', 3), old('t4', 4)];
    const promoted = deploying({ Type: 'canary', Steps: [25, 100] }, { Step: 0, StepStartedAt: started, Promoted: true });
    expect(plan(promoted, settled, nodes).services).toEqual([{ serviceId: 's', expectVersion: 2, Deployment: { Step: 1, StepStartedAt: new Date(T0).toISOString() } }]);
    const timed = deploying({ Type: 'canary', Steps: [25, 100], StepInterval: 90 * NS }, { Step: 0, StepStartedAt: started });
    expect(plan(timed, settled, nodes).wakeAt).toBe(T0 + 30 * SEC);
    expect(plan(timed, settled, nodes, T0 + 30 * SEC).services[0]?.Deployment?.Step).toBe(1);
    // At 100 %: every slot goes, weights are dropped.
    const last = deploying({ Type: 'canary', Steps: [25, 100] }, { Step: 1, StepStartedAt: started });
    const p = plan(last, settled, nodes);
    expect(p.create.map((c) => c.Slot)).toEqual([2]);
    expect(p.create[0]!.Traffic).toBeUndefined();
  });

  it('blue/green: every slot starts a preview beside the old task, which keeps serving until promoted', () => {
    const s = deploying({ Type: 'blue-green' });
    const p1 = plan(s, olds(), nodes);
    expect(p1.create.map((c) => [c.Slot, c.Traffic])).toEqual([1, 2, 3, 4].map((n) => [n, { Weight: 0, Preview: true }]));
    let tasks = runAll(commit(olds(), p1));
    expect(plan(s, tasks, nodes).update).toEqual([]);
    // Promoted: the old tasks stop and the new ones take the traffic, in one plan.
    const promoted = { ...s, Deployment: { Step: 0, StepStartedAt: started, Promoted: true } };
    const p2 = plan(promoted, tasks, nodes);
    expect(p2.update.map((u) => u.taskId).sort()).toEqual(['t1', 't2', 't3', 't4']);
    expect(p2.traffic.map((t) => t.traffic)).toEqual([undefined, undefined, undefined, undefined]);
    tasks = commit(tasks, p2);
    void tasks;
  });

  it('blue/green rolled back before the switch: the previews stop, the old tasks stay', () => {
    const s = deploying({ Type: 'blue-green' }, undefined, 2);
    const tasks = runAll(commit([old('t1', 1), old('t2', 2)], plan(s, [old('t1', 1), old('t2', 2)], nodes)));
    const back: ServiceObject = { ...s, Spec: s.PreviousSpec!, PreviousSpec: s.Spec, UpdateStatus: { State: 'rollback_started', StartedAt: started, Message: 'manually requested rollback' }, Version: { Index: 3 } };
    const p = plan(back, tasks, nodes);
    expect(p.create).toEqual([]);
    expect(p.update.map((u) => [u.desiredState, u.message])).toEqual([['shutdown', 'rolled back'], ['shutdown', 'rolled back']]);
    expect(p.update.map((u) => u.taskId).some((id) => id === 't1' || id === 't2')).toBe(false);
  });
});
