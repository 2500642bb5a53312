import { describe, expect, it } from 'vitest';
import type { RaftErrorCode } from './errors.js';
import { RaftLog } from './log.js';
import { MemoryStorage, entrySize } from './storage.js';
import { codeOf, entriesOfTerms, indexTerms } from './test-network.js';
import type { Entry, Snapshot } from './types.js';


/** The terms of every entry from firstIndex to lastIndex. */
function logTerms(log: RaftLog): number[] {
  const out: number[] = [];
  for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i)!);
  return out;
}

/** A log whose stable part holds `stable` (from index 1) and whose unstable tail holds `unstable`. */
function newLog(stable: number[], unstable: number[] = [], maxApplyBytes = Infinity): RaftLog {
  const s = new MemoryStorage();
  s.append(entriesOfTerms(stable));
  const log = new RaftLog(s, maxApplyBytes);
  if (unstable.length > 0) log.append(entriesOfTerms(unstable, stable.length + 1));
  return log;
}

describe('RaftLog.maybeAppend', () => {
  // The log holds (1,1) (2,2) (3,3), committed 1 — as in etcd's TestLogMaybeAppend.
  const cases: Array<{
    name: string;
    index: number;
    logTerm: number;
    commit: number;
    ents: Entry[];
    want: number | undefined | RaftErrorCode;
    wantCommit: number;
    wantTerms: number[];
  }> = [
    { name: 'previous term does not match', index: 3, logTerm: 2, commit: 3, ents: entriesOfTerms([4], 4), want: undefined, wantCommit: 1, wantTerms: [1, 2, 3] },
    { name: 'previous index is past the end', index: 4, logTerm: 4, commit: 3, ents: entriesOfTerms([4], 5), want: undefined, wantCommit: 1, wantTerms: [1, 2, 3] },
    { name: 'match at the end, nothing new: commit follows the leader', index: 3, logTerm: 3, commit: 3, ents: [], want: 3, wantCommit: 3, wantTerms: [1, 2, 3] },
    { name: 'the leader commit is capped at the last new entry', index: 3, logTerm: 3, commit: 4, ents: [], want: 3, wantCommit: 3, wantTerms: [1, 2, 3] },
    { name: 'commit moves to the leader commit when below the last new entry', index: 3, logTerm: 3, commit: 2, ents: [], want: 3, wantCommit: 2, wantTerms: [1, 2, 3] },
    { name: 'commit never goes backwards', index: 3, logTerm: 3, commit: 0, ents: [], want: 3, wantCommit: 1, wantTerms: [1, 2, 3] },
    { name: 'match at 0 with an entry we have', index: 0, logTerm: 0, commit: 3, ents: entriesOfTerms([1], 1), want: 1, wantCommit: 1, wantTerms: [1, 2, 3] },
    { name: 'new entries after the end are appended', index: 3, logTerm: 3, commit: 5, ents: entriesOfTerms([4, 4], 4), want: 5, wantCommit: 5, wantTerms: [1, 2, 3, 4, 4] },
    { name: 'new entries, commit capped by the leader commit', index: 3, logTerm: 3, commit: 4, ents: entriesOfTerms([4, 4], 4), want: 5, wantCommit: 4, wantTerms: [1, 2, 3, 4, 4] },
    { name: 'a conflicting suffix is truncated', index: 2, logTerm: 2, commit: 3, ents: entriesOfTerms([4], 3), want: 3, wantCommit: 3, wantTerms: [1, 2, 4] },
    { name: 'a conflict right after a match truncates from there', index: 1, logTerm: 1, commit: 3, ents: entriesOfTerms([4, 4], 2), want: 3, wantCommit: 3, wantTerms: [1, 4, 4] },
    { name: 'a stale, shorter append does not truncate matching entries', index: 1, logTerm: 1, commit: 2, ents: entriesOfTerms([2], 2), want: 2, wantCommit: 2, wantTerms: [1, 2, 3] },
    { name: 'a conflict with a committed entry is corruption', index: 0, logTerm: 0, commit: 3, ents: entriesOfTerms([4, 4], 1), want: 'CORRUPT', wantCommit: 1, wantTerms: [1, 2, 3] },
  ];

  it.each(cases)('$name', ({ index, logTerm, commit, ents, want, wantCommit, wantTerms }) => {
    const log = newLog([], [1, 2, 3]);
    log.commitTo(1);
    if (typeof want === 'string') {
      expect(codeOf(() => log.maybeAppend(index, logTerm, commit, ents))).toBe(want);
    } else {
      expect(log.maybeAppend(index, logTerm, commit, ents)).toBe(want);
    }
    expect(log.committed).toBe(wantCommit);
    expect(logTerms(log)).toEqual(wantTerms);
  });

  it('puts only the new entries into the unstable tail', () => {
    const log = newLog([1, 2, 3]);
    expect(log.maybeAppend(2, 2, 0, entriesOfTerms([3, 4, 4], 3))).toBe(5);
    expect(indexTerms(log.unstableEntries())).toEqual([
      [4, 4],
      [5, 4],
    ]);
  });
});

describe('RaftLog.findConflictByTerm', () => {
  // index: 1 2 3 4 5 6
  // term:  1 2 2 4 4 5
  const full = (): RaftLog => newLog([1, 2, 2, 4, 4, 5]);
  // The same log with everything up to 3 compacted into a snapshot.
  const compacted = (): RaftLog => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 2, 2, 4, 4, 5]));
    s.createSnapshot(3, { voters: ['1'], learners: [] }, new Uint8Array());
    s.compact(3);
    return new RaftLog(s, Infinity);
  };

  it.each([
    [6, 5, 6, 5],
    [6, 6, 6, 5],
    [6, 4, 5, 4],
    [6, 3, 3, 2],
    [6, 2, 3, 2],
    [6, 1, 1, 1],
    [6, 0, 0, 0],
    [4, 3, 3, 2],
    [2, 1, 1, 1],
    // past the end: nothing is known there
    [10, 3, 10, 0],
  ])('full log: (%i, term %i) → (%i, term %i)', (index, term, wantIndex, wantTerm) => {
    expect(full().findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
  });

  it.each([
    [6, 4, 5, 4],
    [6, 3, 3, 2],
    // the snapshot's own term is still known; below it is not
    [6, 1, 2, 0],
  ])('compacted log: (%i, term %i) → (%i, term %i)', (index, term, wantIndex, wantTerm) => {
    expect(compacted().findConflictByTerm(index, term)).toEqual({ index: wantIndex, term: wantTerm });
  });
});

describe('RaftLog commit rule helpers', () => {
  it.each([
    // last entry is (3, term 3)
    [3, 3, true],
    [4, 3, true],
    [2, 3, false],
    [1, 4, true],
    [9, 2, false],
  ])('isUpToDate(lastIndex %i, lastTerm %i) is %s for a log ending at (3, 3)', (index, term, want) => {
    expect(newLog([1, 2, 3]).isUpToDate(index, term)).toBe(want);
  });

  it('maybeCommit commits only an entry of the given (current) term', () => {
    const log = newLog([1, 1, 2, 2]);
    expect(log.maybeCommit(4, 3)).toBe(false);
    expect(log.committed).toBe(0);
    expect(log.maybeCommit(2, 2)).toBe(false);
    expect(log.committed).toBe(0);
    expect(log.maybeCommit(3, 2)).toBe(true);
    expect(log.committed).toBe(3);
    // never backwards, and not for an index already committed
    expect(log.maybeCommit(2, 1)).toBe(false);
    expect(log.maybeCommit(3, 2)).toBe(false);
    expect(log.committed).toBe(3);
    expect(log.maybeCommit(4, 2)).toBe(true);
    expect(log.committed).toBe(4);
  });

  it('commitTo never decreases and refuses an index past the end', () => {
    const log = newLog([1, 1, 2]);
    log.commitTo(2);
    log.commitTo(1);
    expect(log.committed).toBe(2);
    expect(codeOf(() => log.commitTo(4))).toBe('CORRUPT');
    expect(log.committed).toBe(2);
  });

  it('appliedTo stays within [applied, committed]', () => {
    const log = newLog([1, 1, 2]);
    log.commitTo(2);
    expect(codeOf(() => log.appliedTo(3))).toBe('CORRUPT');
    log.appliedTo(2);
    expect(log.applied).toBe(2);
    expect(codeOf(() => log.appliedTo(1))).toBe('CORRUPT');
    expect(log.applied).toBe(2);
  });

  it('append refuses to rewrite committed entries', () => {
    const log = newLog([1, 1, 2]);
    log.commitTo(2);
    expect(codeOf(() => log.append(entriesOfTerms([3], 2)))).toBe('CORRUPT');
    expect(log.append(entriesOfTerms([3], 3))).toBe(3);
    expect(logTerms(log)).toEqual([1, 1, 3]);
  });
});

describe('RaftLog unstable handling', () => {
  it('new entries stay unstable until stableTo, which needs a matching term', () => {
    const log = newLog([1], [1, 2, 2]);
    expect(indexTerms(log.unstableEntries())).toEqual([
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    // A stale acknowledgement: entry 3 was meanwhile replaced by one of another term.
    log.stableTo(3, 1);
    expect(log.unstableEntries()).toHaveLength(3);
    log.stableTo(3, 2);
    expect(indexTerms(log.unstableEntries())).toEqual([[4, 2]]);
    expect(log.unstable.offset).toBe(4);
    // Beyond the end: ignored.
    log.stableTo(9, 2);
    expect(log.unstableEntries()).toHaveLength(1);
  });

  it('appending after the unstable tail extends it', () => {
    const log = newLog([1], [1, 2]);
    log.append(entriesOfTerms([3], 4));
    expect(indexTerms(log.unstableEntries())).toEqual([
      [2, 1],
      [3, 2],
      [4, 3],
    ]);
  });

  it('appending inside the unstable tail truncates it there', () => {
    const log = newLog([1], [1, 2, 2]);
    log.append(entriesOfTerms([3, 3], 3));
    expect(indexTerms(log.unstableEntries())).toEqual([
      [2, 1],
      [3, 3],
      [4, 3],
    ]);
    expect(logTerms(log)).toEqual([1, 1, 3, 3]);
  });

  it('appending before the unstable tail overrides stable entries too', () => {
    const log = newLog([1, 1, 1], [2, 2]);
    log.append(entriesOfTerms([3], 3));
    expect(log.unstable.offset).toBe(3);
    expect(indexTerms(log.unstableEntries())).toEqual([[3, 3]]);
    expect(log.lastIndex()).toBe(3);
    // The unstable entry wins over the stored one it replaces.
    expect(log.term(3)).toBe(3);
    expect(logTerms(log)).toEqual([1, 1, 3]);
  });

  it('restore makes a snapshot pending: the log starts after it and nothing is applied until it is stable', () => {
    const log = newLog([1, 1, 2]);
    log.commitTo(2);
    log.appliedTo(1);
    const snap: Snapshot = { metadata: { index: 10, term: 4, conf: { voters: ['1'], learners: [] } }, data: new Uint8Array([1]) };
    log.restore(snap);
    expect(log.firstIndex()).toBe(11);
    expect(log.lastIndex()).toBe(10);
    expect(log.lastTerm()).toBe(4);
    expect(log.term(10)).toBe(4);
    expect(log.term(9)).toBeUndefined();
    expect(log.committed).toBe(10);
    expect(log.snapshot()).toBe(snap);
    expect(log.hasNextCommittedEnts()).toBe(false);
    expect(log.nextCommittedEnts()).toEqual([]);
    // Entries from the leader may follow the snapshot before it is persisted.
    log.append(entriesOfTerms([4], 11));
    expect(log.lastIndex()).toBe(11);
    log.stableSnapTo(9);
    expect(log.unstable.snapshot).toBe(snap);
    log.stableSnapTo(10);
    expect(log.unstable.snapshot).toBeUndefined();
  });

  it('term() answers for the dummy entry and nothing outside the log', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 2, 3, 4]));
    s.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array());
    s.compact(2);
    const log = new RaftLog(s, Infinity);
    log.append(entriesOfTerms([5], 5));
    expect(log.term(1)).toBeUndefined();
    expect(log.term(2)).toBe(2);
    expect(log.term(4)).toBe(4);
    expect(log.term(5)).toBe(5);
    expect(log.term(6)).toBeUndefined();
    expect(log.matchTerm(2, 2)).toBe(true);
    expect(log.matchTerm(1, 1)).toBe(false);
  });
});

describe('RaftLog reads', () => {
  it('nextCommittedEnts spans stable and unstable entries, from applied+1 to committed', () => {
    const log = newLog([1, 1, 2], [2, 3]);
    expect(log.hasNextCommittedEnts()).toBe(false);
    log.commitTo(4);
    expect(indexTerms(log.nextCommittedEnts())).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
    ]);
    log.appliedTo(2);
    expect(indexTerms(log.nextCommittedEnts())).toEqual([
      [3, 2],
      [4, 2],
    ]);
    log.appliedTo(4);
    expect(log.hasNextCommittedEnts()).toBe(false);
    expect(log.nextCommittedEnts()).toEqual([]);
  });

  it('nextCommittedEnts honours maxApplyBytes but always returns one entry', () => {
    const one = entrySize(entriesOfTerms([1])[0]!);
    const log = newLog([1, 1, 1], [1], 2 * one);
    log.commitTo(4);
    expect(indexTerms(log.nextCommittedEnts())).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const tiny = newLog([1, 1], [], 1);
    tiny.commitTo(2);
    expect(indexTerms(tiny.nextCommittedEnts())).toEqual([[1, 1]]);
  });

  it('slice crosses the stable/unstable boundary and stops at the size bound', () => {
    const log = newLog([1, 2], [3, 4]);
    const one = entrySize(entriesOfTerms([1])[0]!);
    expect(indexTerms(log.slice(1, 5))).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(indexTerms(log.slice(2, 4))).toEqual([
      [2, 2],
      [3, 3],
    ]);
    expect(indexTerms(log.slice(1, 5, 3 * one))).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(indexTerms(log.slice(1, 5, one))).toEqual([[1, 1]]);
    expect(log.slice(3, 3)).toEqual([]);
  });

  it('entriesFrom is undefined below the first index and empty past the last', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 1, 2, 2]));
    s.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array());
    s.compact(2);
    const log = new RaftLog(s, Infinity);
    expect(log.entriesFrom(2, Infinity)).toBeUndefined();
    expect(indexTerms(log.entriesFrom(3, Infinity)!)).toEqual([
      [3, 2],
      [4, 2],
    ]);
    expect(log.entriesFrom(5, Infinity)).toEqual([]);
  });

  it('a new log starts committed and applied at the snapshot', () => {
    const s = new MemoryStorage();
    s.append(entriesOfTerms([1, 1, 2]));
    s.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array());
    s.compact(2);
    const log = new RaftLog(s, Infinity);
    expect(log.committed).toBe(2);
    expect(log.applied).toBe(2);
    expect(log.firstIndex()).toBe(3);
    expect(log.lastIndex()).toBe(3);
    expect(log.unstable.offset).toBe(4);
  });
});
