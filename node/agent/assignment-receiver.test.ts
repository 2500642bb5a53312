import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import type { TaskObject } from '../store/index.js';
import { AssignmentReceiver } from './assignment-receiver.js';

const task = (id: string) => ({ ID: id, NodeID: 'n1' }) as TaskObject;

describe('AssignmentReceiver', () => {
  it('applies messages in sequence and syncs directly on a gap', async () => {
    const applied: string[][] = [];
    let syncs = 0;
    const r = new AssignmentReceiver('n1', async () => {
      syncs++;
      return { version: 30, tasks: [task('c')] };
    }, (ts) => applied.push(ts.map((t) => t.ID)), silentLogger());
    r.onMessage({ version: 10, prev: 0, nodes: { n1: [task('a')] } });
    r.onMessage({ version: 12, prev: 10, nodes: { n2: [task('x')] } });
    r.onMessage({ version: 15, prev: 12, nodes: { n1: [task('a'), task('b')] } });
    expect(applied).toEqual([['a'], ['a', 'b']]);
    expect(r.current()).toBe(15);
    // Version 20 was lost: the message after it names it as prev.
    r.onMessage({ version: 25, prev: 20, nodes: { n1: [task('c')] } });
    await r.resync();
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(applied.at(-1)).toEqual(['c']);
    expect(r.current()).toBe(30);
    // Old and repeated messages are ignored.
    r.onMessage({ version: 28, prev: 25, nodes: { n1: [] } });
    expect(applied.at(-1)).toEqual(['c']);
  });

  it('catches up when the leader is ahead (e.g. after a new leader)', async () => {
    let synced = 0;
    const r = new AssignmentReceiver('n1', async () => {
      synced++;
      return { version: 7, tasks: [] };
    }, () => {}, silentLogger());
    r.leaderAt(7);
    await r.resync();
    expect(synced).toBeGreaterThanOrEqual(1);
    const before = synced;
    r.leaderAt(5);
    expect(synced).toBe(before);
  });
});
