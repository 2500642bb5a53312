import { describe, expect, it } from 'vitest';
import type { HistoryEvent } from '../../raft/sim/index.js';
import { checkHistory, withFinalReads } from './history-check.js';

// Hand-written histories: [process, type, f, key, value] per event, times in event order.
type Row = [number, HistoryEvent['type'], HistoryEvent['f'], string, unknown];
const h = (...rows: Row[]): HistoryEvent[] => rows.map(([process, type, f, key, value], time) => ({ process, type, f, key, value, time }));

describe('checkHistory', () => {
  it('accepts a clean history whose final state shows the last acked write', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [0, 'ok', 'write', 'x', 1],
      [1, 'invoke', 'read', 'x', null],
      [1, 'ok', 'read', 'x', 1],
      [0, 'invoke', 'cas', 'x', [1, 2]],
      [1, 'invoke', 'write', 'y', 7],
      [0, 'ok', 'cas', 'x', [1, 2]],
      [1, 'ok', 'write', 'y', 7],
    );
    const v = checkHistory(events, { x: 2, y: 7 });
    expect(v).toMatchObject({ linearizable: true, ackedWrites: 3, lostAckedWrites: 0, ops: { ok: 4, fail: 0, info: 0 } });
    expect(v.reason).toBeUndefined();
  });

  it('accepts a final value written by an op concurrent with the last acked write', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [1, 'invoke', 'write', 'x', 2],
      [1, 'ok', 'write', 'x', 2],
      [0, 'ok', 'write', 'x', 1],
    );
    expect(checkHistory(events, { x: 1 })).toMatchObject({ linearizable: true, lostAckedWrites: 0 });
    expect(checkHistory(events, { x: 2 })).toMatchObject({ linearizable: true, lostAckedWrites: 0 });
  });

  it('counts a lost acked write when the final read shows an older value', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [0, 'ok', 'write', 'x', 1],
      [0, 'invoke', 'write', 'x', 2],
      [0, 'ok', 'write', 'x', 2],
      [1, 'invoke', 'write', 'x', 3],
      [1, 'ok', 'write', 'x', 3],
    );
    const v = checkHistory(events, { x: 1 });
    expect(v.linearizable).toBe(false);
    expect(v.key).toBe('x');
    expect(v.lostAckedWrites).toBe(2); // 2 and 3 both came after 1 was acknowledged
    expect(v.losses).toEqual([{ key: 'x', final: 1, lost: 2 }]);
  });

  it('counts acked creates lost when the final state is the initial null', () => {
    const events = h([0, 'invoke', 'cas', 'cfg-0', [null, 'present']], [0, 'ok', 'cas', 'cfg-0', [null, 'present']]);
    const v = checkHistory(events, { 'cfg-0': null });
    expect(v).toMatchObject({ linearizable: false, lostAckedWrites: 1 });
  });

  it('counts at least one loss for a final value nobody wrote', () => {
    const events = h([0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1]);
    expect(checkHistory(events, { x: 99 })).toMatchObject({ linearizable: false, lostAckedWrites: 1 });
    expect(checkHistory([], { x: 99 })).toMatchObject({ linearizable: false, lostAckedWrites: 1 });
  });

  it('accepts an info write that did apply, seen by later reads and the final state', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [0, 'ok', 'write', 'x', 1],
      [1, 'invoke', 'write', 'x', 2],
      [1, 'info', 'write', 'x', 2],
      [0, 'invoke', 'read', 'x', null],
      [0, 'ok', 'read', 'x', 2],
    );
    const v = checkHistory(events, { x: 2 });
    expect(v).toMatchObject({ linearizable: true, ackedWrites: 1, lostAckedWrites: 0, ops: { ok: 2, fail: 0, info: 1 } });
    // ... and one that did not: the acked 1 survives.
    expect(checkHistory(events.slice(0, 4), { x: 1 })).toMatchObject({ linearizable: true, lostAckedWrites: 0 });
  });

  it('rejects a stale read', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [0, 'ok', 'write', 'x', 1],
      [0, 'invoke', 'write', 'x', 2],
      [0, 'ok', 'write', 'x', 2],
      [1, 'invoke', 'read', 'x', null],
      [1, 'ok', 'read', 'x', 1],
    );
    const v = checkHistory(events, { x: 2 });
    expect(v.linearizable).toBe(false);
    expect(v.key).toBe('x');
    expect(v.reason).toMatch(/x/);
    expect(v.lostAckedWrites).toBe(0); // nothing lost in the end: the read alone was wrong
  });

  it('ignores failed ops, in the check and in the counts of acked writes', () => {
    const events = h(
      [0, 'invoke', 'write', 'x', 1],
      [0, 'ok', 'write', 'x', 1],
      [1, 'invoke', 'write', 'x', 2],
      [1, 'fail', 'write', 'x', 2],
      [1, 'invoke', 'cas', 'x', [5, 6]],
      [1, 'fail', 'cas', 'x', [5, 6]],
      [2, 'invoke', 'read', 'x', null],
      [2, 'fail', 'read', 'x', null],
      [2, 'invoke', 'read', 'x', null],
      [2, 'ok', 'read', 'x', 1],
    );
    expect(checkHistory(events, { x: 1 })).toMatchObject({ linearizable: true, ackedWrites: 1, lostAckedWrites: 0, ops: { ok: 2, fail: 3, info: 0 } });
    // A failed write's value showing up in the end is a violation: it promised no effect.
    expect(checkHistory(events, { x: 2 })).toMatchObject({ linearizable: false, lostAckedWrites: 1 });
  });

  it('withFinalReads appends ok reads of a fresh process after everything', () => {
    const events = h([3, 'invoke', 'write', 'x', 1], [3, 'ok', 'write', 'x', 1]);
    const all = withFinalReads(events, { x: 1, y: null, z: undefined });
    expect(all.slice(2)).toEqual([
      { process: 4, type: 'invoke', f: 'read', key: 'x', value: null, time: 1 },
      { process: 4, type: 'ok', f: 'read', key: 'x', value: 1, time: 1 },
      { process: 4, type: 'invoke', f: 'read', key: 'y', value: null, time: 1 },
      { process: 4, type: 'ok', f: 'read', key: 'y', value: null, time: 1 },
    ]);
  });
});
