// The slot sampler's rule, on hand-made store snapshots: more running tasks in a slot than its
// update order allows is a violation, except for tasks replaced because their node was down.
import { describe, expect, it } from 'vitest';
import { mkService, mkTask } from '../../node/manager/test-helpers.js';
import type { NodeObject, TaskObject } from '../../node/store/types.js';
import { newSlotWatch, overfullSlots } from './invariants.js';

function node(id: string, state: 'ready' | 'down', version: number): NodeObject {
  // Only what the sampler reads is meaningful; the rest satisfies the type.
  return { ID: id, Version: { Index: version }, Status: { State: state, Addr: '' }, Spec: {}, Description: {}, Swarm: {} } as unknown as NodeObject;
}

const stopFirst = mkService('svc', { UpdateConfig: { Parallelism: 1, Order: 'stop-first' } });
const startFirst = mkService('svc', { UpdateConfig: { Parallelism: 1, Order: 'start-first' } });
const running = (id: string, nodeId: string, desired: 'running' | 'shutdown' | 'remove' = 'running'): TaskObject => mkTask(id, 'svc', { slot: 1, node: nodeId, state: 'running', desired });

describe('overfullSlots', () => {
  it('reports a stop-first slot with two running tasks on ready nodes', () => {
    const out = overfullSlots([running('old', 'n1', 'shutdown'), running('new', 'n2')], [stopFirst], [node('n1', 'ready', 5), node('n2', 'ready', 5)], newSlotWatch());
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^svc slot 1: 2 running \(allowed 1\)/);
  });

  it('allows two in a start-first slot, and reports three', () => {
    const nodes = [node('n1', 'ready', 5), node('n2', 'ready', 5)];
    expect(overfullSlots([running('old', 'n1', 'shutdown'), running('new', 'n2')], [startFirst], nodes, newSlotWatch())).toEqual([]);
    expect(overfullSlots([running('a', 'n1', 'shutdown'), running('b', 'n1', 'shutdown'), running('c', 'n2')], [startFirst], nodes, newSlotWatch())).toHaveLength(1);
  });

  it('does not count a task scaled away (desired remove)', () => {
    expect(overfullSlots([running('old', 'n1', 'remove'), running('new', 'n2')], [stopFirst], [node('n1', 'ready', 5), node('n2', 'ready', 5)], newSlotWatch())).toEqual([]);
  });

  it('does not count a task once seen on a down node, even after the node is ready again', () => {
    const watch = newSlotWatch();
    expect(overfullSlots([running('old', 'n1'), running('new', 'n2')], [stopFirst], [node('n1', 'down', 6), node('n2', 'ready', 5)], watch)).toEqual([]);
    expect(overfullSlots([running('old', 'n1', 'shutdown'), running('new', 'n2')], [stopFirst], [node('n1', 'ready', 7), node('n2', 'ready', 5)], watch)).toEqual([]);
  });

  it('does not count a task told to stop on a node written between two samples (a down and up unseen)', () => {
    const watch = newSlotWatch();
    const before = [running('old', 'n1'), mkTask('new', 'svc', { slot: 1, node: 'n2', state: 'pending' })];
    expect(overfullSlots(before, [stopFirst], [node('n1', 'ready', 5), node('n2', 'ready', 5)], watch)).toEqual([]);
    const after = [running('old', 'n1', 'shutdown'), running('new', 'n2')];
    expect(overfullSlots(after, [stopFirst], [node('n1', 'ready', 9), node('n2', 'ready', 5)], watch)).toEqual([]);
  });

  it('still reports it when the node was not written since the last sample', () => {
    const watch = newSlotWatch();
    const nodes = [node('n1', 'ready', 5), node('n2', 'ready', 5)];
    expect(overfullSlots([running('old', 'n1')], [stopFirst], nodes, watch)).toEqual([]);
    expect(overfullSlots([running('old', 'n1', 'shutdown'), running('new', 'n2')], [stopFirst], nodes, watch)).toHaveLength(1);
  });
});
