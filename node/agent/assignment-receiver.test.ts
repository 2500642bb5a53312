import { describe, expect, it } from 'vitest';
import { silentLogger } from '../log.js';
import type { TaskObject } from '../store/index.js';
import { AssignmentReceiver } from './assignment-receiver.js';

const task = (id: string) => ({ ID: id, NodeID: 'n1' }) as TaskObject;
/** Lets a sync started by leaderAt or onMessage finish (the fakes answer at once). */
const settle = () => new Promise((r) => setImmediate(r));

describe('AssignmentReceiver', () => {
  it('applies messages in sequence and syncs directly on a gap', async () => {
    const applied: string[][] = [];
    let syncs = 0;
    let leader = { version: 5, tasks: [task('z')] };
    const r = new AssignmentReceiver('n1', async () => {
      syncs++;
      return leader;
    }, (ts) => applied.push(ts.map((t) => t.ID)), silentLogger());
    await r.resync();
    r.onMessage({ version: 10, prev: 5, nodes: { n1: [task('a')] } });
    r.onMessage({ version: 12, prev: 10, nodes: { n2: [task('x')] } });
    r.onMessage({ version: 15, prev: 12, nodes: { n1: [task('a'), task('b')] } });
    expect(applied).toEqual([['z'], ['a'], ['a', 'b']]);
    expect(r.current()).toBe(15);
    // Version 20 was lost: the message after it names it as prev.
    leader = { version: 30, tasks: [task('c')] };
    r.onMessage({ version: 25, prev: 20, nodes: { n1: [task('c')] } });
    await r.resync();
    expect(syncs).toBeGreaterThanOrEqual(2);
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

  // Every daemon restarted at once: the workers' first sync found no manager, and the new leader's
  // heartbeats say version 0 until a task changes. Without a retry the tasks a worker adopted never
  // got their assignments, so their overlay endpoints were never re-announced.
  it('retries a failed first sync at the next heartbeat, whatever version the leader names', async () => {
    const applied: string[][] = [];
    let up = false;
    let syncs = 0;
    const r = new AssignmentReceiver('n1', async () => {
      syncs++;
      if (!up) throw new Error('connect ECONNREFUSED');
      return { version: 40, tasks: [task('adopted')] };
    }, (ts) => applied.push(ts.map((t) => t.ID)), silentLogger());
    await r.resync();
    expect(applied).toEqual([]);
    up = true;
    r.leaderAt(0);
    await settle();
    expect(applied).toEqual([['adopted']]);
    expect(r.current()).toBe(40);
    // Synced: a heartbeat naming an older version asks for nothing more.
    const before = syncs;
    r.leaderAt(0);
    expect(syncs).toBe(before);
  });

  it('asks for the full set when a message arrives before any sync succeeded', async () => {
    const applied: string[][] = [];
    let answer = false;
    const r = new AssignmentReceiver('n1', async () => {
      if (!answer) throw new Error('no leader');
      return { version: 12, tasks: [task('a'), task('b')] };
    }, (ts) => applied.push(ts.map((t) => t.ID)), silentLogger());
    await r.resync();
    answer = true;
    // A new leader's first message names prev 0, as this receiver is at: it holds only what changed.
    r.onMessage({ version: 11, prev: 0, nodes: { n1: [task('a')] } });
    await settle();
    expect(applied).toEqual([['a', 'b']]);
    expect(r.current()).toBe(12);
  });

  it('does not apply the empty set of a manager that has applied nothing yet', async () => {
    const applied: string[][] = [];
    let version = 0;
    const r = new AssignmentReceiver('n1', async () => ({ version, tasks: version === 0 ? [] : [task('adopted')] }), (ts) => applied.push(ts.map((t) => t.ID)), silentLogger());
    await r.resync();
    expect(applied).toEqual([]);
    version = 9;
    r.leaderAt(0);
    await settle();
    expect(applied).toEqual([['adopted']]);
  });
});
