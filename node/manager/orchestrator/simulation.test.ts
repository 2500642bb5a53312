import { describe, expect, it } from 'vitest';
import type { ServiceObject, TaskObject } from '../../store/index.js';
import { Scheduler, taskStateIndex, type SchedulerNode } from '../scheduler/index.js';
import { mkNode, mkService, mkSpec } from '../test-helpers.js';
import { reconcileCluster, type ReconcilePlan } from './index.js';
import { Rng } from '../../../raft/index.js';

// The orchestrator and the scheduler together, against seeded random cluster events (nodes
// failing, draining, leaving and joining; tasks failing; scaling; spec updates), with a toy
// store and toy agents. After each event the loop runs until the plan is empty, then the
// invariants of the issue must hold.

/** The project's seeded source (mulberry32), so runs replay exactly. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const RUNNING = taskStateIndex('running');
const HISTORY = 3;

class Sim {
  now = 1_700_000_000_000;
  nodes = new Map<string, SchedulerNode>();
  tasks = new Map<string, TaskObject>();
  services: ServiceObject[];
  sched: Scheduler;
  private seq = 0;

  constructor(readonly r: () => number) {
    for (let i = 0; i < 6; i++) this.addNode();
    const policy = { Condition: 'any' as const, Delay: 0 };
    this.services = [
      mkService('web', { Mode: { Replicated: { Replicas: 5 } }, TaskTemplate: mkSpec({ RestartPolicy: policy, Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } }) }),
      mkService('agent', { Mode: { Global: {} }, TaskTemplate: mkSpec({ RestartPolicy: policy, Placement: { Constraints: ['node.labels.kind != edge'] } }) }),
      mkService('batch', { Mode: { Replicated: { Replicas: 3 } }, TaskTemplate: mkSpec({ RestartPolicy: { Condition: 'on-failure', MaxAttempts: 2, Delay: 0 } }) }),
    ];
    this.sched = new Scheduler({ nodes: this.nodes.values(), services: this.services });
  }

  addNode(): void {
    const id = `n${++this.seq}`;
    this.nodes.set(id, mkNode(id, { labels: { zone: `z${this.seq % 3}`, ...(this.seq % 5 === 0 ? { kind: 'edge' } : {}) } }));
    this.sched?.upsertNode(this.nodes.get(id)!);
  }

  setNode(id: string, o: Partial<SchedulerNode>): void {
    const n = { ...this.nodes.get(id)!, ...o };
    this.nodes.set(id, n);
    this.sched.upsertNode(n);
  }

  put(t: TaskObject): void {
    this.tasks.set(t.ID, t);
    this.sched.observeTask(t);
  }

  apply(p: ReconcilePlan): void {
    for (const id of p.remove) {
      this.tasks.delete(id);
      this.sched.forgetTask(id);
    }
    for (const u of p.update) {
      const t = this.tasks.get(u.taskId)!;
      expect(taskStateIndex(u.desiredState)).toBeGreaterThan(taskStateIndex(t.DesiredState));
      this.put({ ...t, DesiredState: u.desiredState });
    }
    for (const d of p.create) {
      const at = new Date(this.now).toISOString();
      this.put({ ...d, ID: `t${++this.seq}`, Version: { Index: 1 }, CreatedAt: at, UpdatedAt: at });
    }
  }

  /** The leader's loop and the agents, until nothing changes. Returns the rounds it took. */
  settle(): number {
    for (let round = 1; round <= 20; round++) {
      this.now += 1000;
      let changed = false;
      const p = reconcileCluster({ services: this.services, tasks: [...this.tasks.values()], nodes: this.nodes }, this.now, { historyLimit: HISTORY });
      if (p.create.length || p.update.length || p.remove.length) changed = true;
      this.apply(p);
      const placed = this.sched.place([...this.tasks.values()]);
      for (const a of placed.assigned) {
        const t = this.tasks.get(a.taskId)!;
        this.put({ ...t, NodeID: a.nodeId, Status: { ...t.Status, State: 'assigned' } });
        changed = true;
      }
      // Agents on live nodes: run what should run, stop what should not.
      for (const t of [...this.tasks.values()]) {
        const n = t.NodeID ? this.nodes.get(t.NodeID) : undefined;
        if (!n || n.state === 'down') continue;
        const s = taskStateIndex(t.Status.State);
        const ts = new Date(this.now).toISOString();
        if (t.DesiredState === 'running' && s >= taskStateIndex('assigned') && s < RUNNING) {
          this.put({ ...t, Status: { ...t.Status, State: 'running', Timestamp: ts } });
          changed = true;
        } else if (taskStateIndex(t.DesiredState) > RUNNING && s <= RUNNING && s >= taskStateIndex('assigned')) {
          this.put({ ...t, Status: { ...t.Status, State: 'shutdown', Timestamp: ts } });
          changed = true;
        }
      }
      if (!changed) return round;
    }
    throw new Error('did not settle in 20 rounds');
  }

  event(): string {
    const r = this.r;
    const ids = [...this.nodes.keys()];
    const node = ids[Math.floor(r() * ids.length)];
    const running = [...this.tasks.values()].filter((t) => t.Status.State === 'running' && t.DesiredState === 'running');
    const x = r();
    if (x < 0.12 && node) {
      this.setNode(node, { state: 'down' });
      return `${node} down`;
    }
    if (x < 0.24 && node) {
      this.setNode(node, { state: 'ready' });
      return `${node} ready`;
    }
    if (x < 0.32 && node) {
      this.setNode(node, { availability: 'drain' });
      return `${node} drain`;
    }
    if (x < 0.38 && node) {
      this.setNode(node, { availability: 'pause' });
      return `${node} pause`;
    }
    if (x < 0.48 && node) {
      this.setNode(node, { availability: 'active' });
      return `${node} active`;
    }
    if (x < 0.53 && node && ids.length > 2) {
      this.nodes.delete(node);
      this.sched.removeNode(node);
      return `${node} removed`;
    }
    if (x < 0.6) {
      this.addNode();
      return 'node joined';
    }
    if (x < 0.8 && running.length > 0) {
      const t = running[Math.floor(r() * running.length)]!;
      this.put({ ...t, Status: { ...t.Status, State: r() < 0.7 ? 'failed' : 'complete', Timestamp: new Date(this.now).toISOString() } });
      return `${t.ID} ended`;
    }
    const web = this.services[0]!;
    if (x < 0.9) {
      const replicas = Math.floor(r() * 9);
      this.services[0] = { ...web, Spec: { ...web.Spec, Mode: { Replicated: { Replicas: replicas } } } };
      return `web scaled to ${replicas}`;
    }
    const v = web.Version.Index + 1;
    const order = r() < 0.5 ? 'start-first' : 'stop-first';
    this.services[0] = { ...web, Version: { Index: v }, Spec: { ...web.Spec, UpdateConfig: { Parallelism: 2, Order: order }, TaskTemplate: { ...web.Spec.TaskTemplate, ContainerSpec: { Image: `web:${v}` } } } };
    this.sched.upsertService(this.services[0]);
    return `web updated to ${v}`;
  }

  check(context: string): void {
    const tasks = [...this.tasks.values()];
    const live = tasks.filter((t) => taskStateIndex(t.DesiredState) <= RUNNING);
    const web = this.services[0]!;
    const webLive = live.filter((t) => t.ServiceID === 'web');
    const replicas = web.Spec.Mode.Replicated!.Replicas;
    // Exactly `replicas` slots live. An update waits while its new tasks cannot start (no node
    // takes them: a start-first slot then has two live tasks); otherwise it completes, one
    // live task per slot, all on the current spec.
    expect(new Set(webLive.map((t) => t.Slot)).size, context).toBe(replicas);
    if ([...this.nodes.values()].some((n) => n.state === 'ready' && n.availability === 'active')) {
      expect(webLive.length, context).toBe(replicas);
      for (const t of webLive) expect(t.Spec.ContainerSpec.Image, context).toBe(web.Spec.TaskTemplate.ContainerSpec.Image);
    }
    // on-failure with MaxAttempts: each slot 1..3 is live or done (its newest task ended by itself).
    for (let slot = 1; slot <= 3; slot++) {
      const mine = tasks.filter((t) => t.ServiceID === 'batch' && t.Slot === slot).sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt) || a.ID.localeCompare(b.ID));
      const newest = mine[mine.length - 1];
      const liveHere = mine.filter((t) => taskStateIndex(t.DesiredState) <= RUNNING).length;
      expect(liveHere <= 1 && (liveHere === 1 || ['complete', 'failed'].includes(newest?.Status.State ?? '')), `${context}: batch slot ${slot}`).toBe(true);
    }
    // Nothing live on a node that is down, drained or gone.
    for (const t of live) {
      if (!t.NodeID) continue;
      const n = this.nodes.get(t.NodeID);
      expect(n && n.state !== 'down' && n.availability !== 'drain', `${context}: ${t.ID} on ${t.NodeID}`).toBe(true);
    }
    // Global: one task on every eligible node, none elsewhere (paused nodes keep theirs).
    for (const n of this.nodes.values()) {
      const mine = live.filter((t) => t.ServiceID === 'agent' && t.NodeID === n.id);
      const eligible = n.state === 'ready' && n.availability === 'active' && n.labels.kind !== 'edge';
      if (eligible) expect(mine.length, `${context}: agent on ${n.id}`).toBe(1);
      else expect(mine.length, `${context}: agent on ${n.id}`).toBeLessThanOrEqual(n.availability === 'pause' && n.state === 'ready' ? 1 : 0);
    }
    // History: at most HISTORY ended tasks per slot.
    const perSlot = new Map<string, number>();
    for (const t of tasks) {
      if (taskStateIndex(t.DesiredState) <= RUNNING || taskStateIndex(t.Status.State) <= RUNNING) continue;
      const key = `${t.ServiceID}/${t.Slot ?? t.NodeID}`;
      perSlot.set(key, (perSlot.get(key) ?? 0) + 1);
    }
    for (const [k, n] of perSlot) expect(n, `${context}: history of ${k}`).toBeLessThanOrEqual(HISTORY);
    // The incremental scheduler agrees with one built from scratch.
    const fresh = new Scheduler({ nodes: this.nodes.values(), services: this.services, tasks });
    for (const id of this.nodes.keys()) expect(this.sched.usage(id), `${context}: usage of ${id}`).toEqual(fresh.usage(id));
  }
}

describe('orchestrator and scheduler under random cluster events', () => {
  it.each(Array.from({ length: 12 }, (_, i) => i + 1))('seed %i: converges and keeps the invariants', (seed) => {
    const sim = new Sim(rng(seed));
    sim.settle();
    sim.check('initial');
    const log: string[] = [];
    for (let step = 0; step < 120; step++) {
      log.push(sim.event());
      sim.settle();
      sim.check(`seed ${seed} after ${log.slice(-5).join(', ')}`);
    }
  });
});
