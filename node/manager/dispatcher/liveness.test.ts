import { describe, expect, it } from 'vitest';
import { LivenessTracker, heartbeatPeriodMs, MIN_HEARTBEAT_PERIOD_MS, MIN_SILENCE_FOR_DOWN_MS } from './liveness.js';

describe('heartbeat period', () => {
  it('stays at the minimum for small clusters so a dead node is down within about a second', () => {
    expect(heartbeatPeriodMs(5)).toBe(MIN_HEARTBEAT_PERIOD_MS);
    expect(heartbeatPeriodMs(25) * 3).toBeLessThanOrEqual(1000);
  });

  it('grows with the node count so the leader handles at most 100 heartbeats per second', () => {
    for (const n of [10, 100, 1000, 5000]) expect(n / (heartbeatPeriodMs(n) / 1000)).toBeLessThanOrEqual(100);
    expect(heartbeatPeriodMs(1000)).toBe(10_000);
  });

  it('uses an explicitly configured period', () => {
    expect(heartbeatPeriodMs(1000, 2000)).toBe(2000);
  });
});

describe('LivenessTracker', () => {
  it('marks a silent node down after MIN_SILENCE_FOR_DOWN_MS when three periods are shorter, not before', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }], 0);
    // Three missed 250 ms heartbeats are not enough: a lossy link stalls that long.
    expect(t.expire(750, () => 250, 250)).toEqual([]);
    expect(t.expire(MIN_SILENCE_FOR_DOWN_MS - 1, () => 250, 250)).toEqual([]);
    const changes = t.expire(MIN_SILENCE_FOR_DOWN_MS, () => 250, 250);
    expect(changes.map((c) => [c.nodeId, c.state])).toEqual([['a', 'down']]);
    expect(changes[0]!.message).toMatch(/heartbeat failure: no heartbeat for 2000 ms/);
    expect(t.expire(5000, () => 250, 250)).toEqual([]); // reported once
  });

  it('marks a silent node down after three missed heartbeats when they take longer than that', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }], 0);
    expect(t.expire(2_999, () => 1000, 250)).toEqual([]);
    expect(t.expire(3_000, () => 1000, 250).map((c) => [c.nodeId, c.state])).toEqual([['a', 'down']]);
  });

  it('gives every node extra grace when tracking starts (a new leader)', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }], 0, 2_000);
    expect(t.expire(2_000 + MIN_SILENCE_FOR_DOWN_MS - 1, () => 250, 250)).toEqual([]);
    expect(t.expire(2_000 + MIN_SILENCE_FOR_DOWN_MS, () => 250, 250).map((c) => [c.nodeId, c.state])).toEqual([['a', 'down']]);
  });

  it('brings a down node back on its next heartbeat', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'down' }], 0);
    expect(t.heartbeat('a', 10)).toEqual({ nodeId: 'a', state: 'ready', message: '' });
    expect(t.heartbeat('a', 20)).toBeUndefined();
  });

  it('gives a node whose connection closed only one period', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }, { nodeId: 'b', state: 'ready' }], 0);
    t.heartbeat('a', 100);
    t.heartbeat('b', 100);
    t.disconnected('a', 120);
    expect(t.expire(369, () => 250, 250)).toEqual([]);
    expect(t.expire(370, () => 250, 250).map((c) => c.nodeId)).toEqual(['a']);
    expect(t.state('b')).toBe('ready');
  });

  it('uses each node its own period, but the same short grace after a disconnect', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'manager', state: 'ready' }, { nodeId: 'worker', state: 'ready' }], 0);
    const periodOf = (id: string) => (id === 'manager' ? 1000 : 250);
    expect(t.expire(MIN_SILENCE_FOR_DOWN_MS, periodOf, 250).map((c) => c.nodeId)).toEqual(['worker']);
    expect(t.expire(2999, periodOf, 250)).toEqual([]);
    t.heartbeat('manager', 3000);
    t.disconnected('manager', 3100);
    expect(t.expire(3350, periodOf, 250).map((c) => c.nodeId)).toEqual(['manager']);
  });

  it("ends a new leader's extra grace for a node whose connection closed", () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'dead', state: 'ready' }, { nodeId: 'alive', state: 'ready' }], 0, 2_000);
    t.disconnected('dead', 0);
    expect(t.expire(249, () => 250, 250)).toEqual([]);
    expect(t.expire(250, () => 250, 250).map((c) => c.nodeId)).toEqual(['dead']);
    expect(t.state('alive')).toBe('ready');
  });

  it('clears suspicion when the node heartbeats again after reconnecting', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }], 0);
    t.disconnected('a', 10);
    t.heartbeat('a', 200);
    expect(t.expire(400, () => 250, 250)).toEqual([]);
  });

  it('gives every node a fresh grace period on reset (a new leader)', () => {
    const t = new LivenessTracker();
    t.reset([{ nodeId: 'a', state: 'ready' }], 10_000);
    expect(t.expire(10_500, () => 250, 250)).toEqual([]);
  });
});
