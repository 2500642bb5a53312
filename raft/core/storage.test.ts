import { describe, expect, it } from 'vitest';
import type { RaftErrorCode } from './errors.js';
import { EMPTY_HARD_STATE, MemoryStorage, emptySnapshot, entrySize, limitSize } from './storage.js';
import { codeOf, entriesOfTerms, indexTerms } from './test-network.js';
import type { Entry } from './types.js';


/** Storage holding a snapshot at index 3 (term 3) and entries 4 (t4), 5 (t5), like etcd's storage tests. */
function compactedStorage(): MemoryStorage {
  const s = new MemoryStorage();
  s.append(entriesOfTerms([1, 2, 3, 4, 5]));
  s.createSnapshot(3, { voters: ['1'], learners: [] }, new Uint8Array([9]));
  s.compact(3);
  return s;
}

describe('MemoryStorage', () => {
  it('starts empty: no entries, a zero hard state, an empty conf, and a dummy entry 0 of term 0', () => {
    const s = new MemoryStorage();
    expect(s.firstIndex()).toBe(1);
    expect(s.lastIndex()).toBe(0);
    expect(s.term(0)).toBe(0);
    expect(s.initialState()).toEqual({ hardState: EMPTY_HARD_STATE, conf: { voters: [], learners: [] } });
    expect(s.snapshot()).toEqual(emptySnapshot());
    expect(s.entries(1, 1)).toEqual([]);
  });

  it('keeps its own copy of the hard state', () => {
    const s = new MemoryStorage();
    const hs = { term: 3, vote: '2', commit: 0 };
    s.setHardState(hs);
    hs.term = 99;
    expect(s.initialState().hardState).toEqual({ term: 3, vote: '2', commit: 0 });
    const read = s.initialState().hardState;
    read.vote = 'x';
    expect(s.initialState().hardState.vote).toBe('2');
  });

  describe('term', () => {
    it.each([
      [2, 'COMPACTED'],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 'UNAVAILABLE'],
    ] as const)('term(%i) after a snapshot at 3 is %s', (i, want) => {
      const s = compactedStorage();
      if (typeof want === 'number') expect(s.term(i)).toBe(want);
      else expect(codeOf(() => s.term(i))).toBe(want);
    });
  });

  describe('entries', () => {
    it.each([
      [2, 6, Infinity, 'COMPACTED'],
      [3, 4, Infinity, 'COMPACTED'],
      [4, 5, Infinity, [[4, 4]]],
      [4, 6, Infinity, [[4, 4], [5, 5]]],
      [4, 7, Infinity, 'UNAVAILABLE'],
      // a size bound stops early but always returns at least one entry
      [4, 6, 0, [[4, 4]]],
      [4, 6, entrySize(entriesOfTerms([4], 4)[0]!), [[4, 4]]],
      [4, 6, 2 * entrySize(entriesOfTerms([4], 4)[0]!), [[4, 4], [5, 5]]],
    ] as const)('entries(%i, %i, %s) → %j', (lo, hi, maxBytes, want) => {
      const s = compactedStorage();
      if (typeof want === 'string') expect(codeOf(() => s.entries(lo, hi, maxBytes))).toBe(want);
      else expect(indexTerms(s.entries(lo, hi, maxBytes))).toEqual(want);
    });
  });

  describe('append', () => {
    const cases: Array<{ name: string; append: Entry[]; want: Array<[number, number]> | RaftErrorCode }> = [
      { name: 'the same entries change nothing', append: entriesOfTerms([3, 4, 5], 3), want: [[4, 4], [5, 5]] },
      { name: 'a conflicting suffix is replaced', append: entriesOfTerms([3, 6, 6], 3), want: [[4, 6], [5, 6]] },
      { name: 'new entries extend the log', append: entriesOfTerms([3, 4, 5, 5], 3), want: [[4, 4], [5, 5], [6, 5]] },
      { name: 'entries the snapshot covers are skipped', append: entriesOfTerms([2, 3, 3, 5], 2), want: [[4, 3], [5, 5]] },
      { name: 'entries wholly covered by the snapshot are ignored', append: entriesOfTerms([1, 2], 1), want: [[4, 4], [5, 5]] },
      { name: 'a conflict in the middle drops everything after it', append: entriesOfTerms([5], 4), want: [[4, 5]] },
      { name: 'appending right after the last entry extends', append: entriesOfTerms([5], 6), want: [[4, 4], [5, 5], [6, 5]] },
      { name: 'a gap after the last entry is refused', append: entriesOfTerms([5], 7), want: 'CORRUPT' },
      { name: 'nothing to append changes nothing', append: [], want: [[4, 4], [5, 5]] },
    ];
    it.each(cases)('$name', ({ append, want }) => {
      const s = compactedStorage();
      if (typeof want === 'string') {
        expect(codeOf(() => s.append(append))).toBe(want);
        expect(indexTerms(s.entries(4, 6))).toEqual([[4, 4], [5, 5]]);
      } else {
        s.append(append);
        expect(indexTerms(s.entries(s.firstIndex(), s.lastIndex() + 1))).toEqual(want);
        expect(s.firstIndex()).toBe(4);
        expect(s.term(3)).toBe(3);
      }
    });
  });

  describe('compact', () => {
    it('drops entries up to i and keeps the term of i for the consistency check', () => {
      const s = new MemoryStorage();
      s.append(entriesOfTerms([1, 1, 2, 3, 3]));
      s.compact(3);
      expect(s.firstIndex()).toBe(4);
      expect(s.lastIndex()).toBe(5);
      expect(s.term(3)).toBe(2);
      expect(codeOf(() => s.term(2))).toBe('COMPACTED');
      expect(codeOf(() => s.entries(3, 4))).toBe('COMPACTED');
      expect(indexTerms(s.entries(4, 6))).toEqual([[4, 3], [5, 3]]);
    });

    it('ignores an index already compacted and refuses one past the end', () => {
      const s = compactedStorage();
      s.compact(2);
      expect(s.firstIndex()).toBe(4);
      expect(codeOf(() => s.compact(6))).toBe('UNAVAILABLE');
      s.compact(5);
      expect(s.firstIndex()).toBe(6);
      expect(s.lastIndex()).toBe(5);
      expect(s.term(5)).toBe(5);
    });
  });

  describe('createSnapshot', () => {
    it('records the term of the index and the given conf, without compacting', () => {
      const s = new MemoryStorage();
      s.append(entriesOfTerms([1, 2, 2, 3]));
      const snap = s.createSnapshot(3, { voters: ['a', 'b'], learners: ['c'] }, new Uint8Array([1, 2]));
      expect(snap.metadata).toEqual({ index: 3, term: 2, conf: { voters: ['a', 'b'], learners: ['c'] } });
      expect(s.snapshot()).toBe(snap);
      expect(s.firstIndex()).toBe(1);
      expect(s.initialState().conf).toEqual({ voters: ['a', 'b'], learners: ['c'] });
    });

    it('refuses an index not newer than the current snapshot or past the last index', () => {
      const s = compactedStorage();
      expect(codeOf(() => s.createSnapshot(3, { voters: [], learners: [] }, new Uint8Array()))).toBe('SNAPSHOT_OUT_OF_DATE');
      expect(codeOf(() => s.createSnapshot(2, { voters: [], learners: [] }, new Uint8Array()))).toBe('SNAPSHOT_OUT_OF_DATE');
      expect(codeOf(() => s.createSnapshot(6, { voters: [], learners: [] }, new Uint8Array()))).toBe('UNAVAILABLE');
      expect(s.createSnapshot(5, { voters: [], learners: [] }, new Uint8Array()).metadata.term).toBe(5);
    });
  });

  describe('applySnapshot', () => {
    it('replaces the whole log with the snapshot', () => {
      const s = compactedStorage();
      const snap = { metadata: { index: 10, term: 7, conf: { voters: ['1', '2'], learners: [] } }, data: new Uint8Array([4]) };
      s.applySnapshot(snap);
      expect(s.firstIndex()).toBe(11);
      expect(s.lastIndex()).toBe(10);
      expect(s.term(10)).toBe(7);
      expect(s.snapshot()).toBe(snap);
      expect(s.initialState().conf).toEqual({ voters: ['1', '2'], learners: [] });
      s.append(entriesOfTerms([7, 8], 11));
      expect(indexTerms(s.entries(11, 13))).toEqual([[11, 7], [12, 8]]);
    });

    it('refuses a snapshot older than the one it has', () => {
      const s = compactedStorage();
      const old = { metadata: { index: 2, term: 2, conf: { voters: [], learners: [] } }, data: new Uint8Array() };
      expect(codeOf(() => s.applySnapshot(old))).toBe('SNAPSHOT_OUT_OF_DATE');
      expect(s.firstIndex()).toBe(4);
      expect(s.lastIndex()).toBe(5);
    });
  });
});

describe('entry sizes', () => {
  it('counts the payload of normal entries and the context of conf changes', () => {
    const small: Entry = { term: 1, index: 1, kind: 'normal', data: new Uint8Array(10) };
    const big: Entry = { term: 1, index: 2, kind: 'normal', data: new Uint8Array(100) };
    const cc: Entry = { term: 1, index: 3, kind: 'conf', change: { type: 'addVoter', member: 'x', context: new Uint8Array(5) } };
    expect(entrySize(big) - entrySize(small)).toBe(90);
    expect(entrySize(cc)).toBeGreaterThan(entrySize({ ...cc, change: { type: 'addVoter', member: 'x' } }));
  });

  it('limitSize keeps a prefix within the bound and always the first entry', () => {
    const ents = entriesOfTerms([1, 1, 1, 1]);
    const one = entrySize(ents[0]!);
    expect(limitSize(ents, 0)).toHaveLength(1);
    expect(limitSize(ents, one * 2)).toHaveLength(2);
    expect(limitSize(ents, one * 2 + one - 1)).toHaveLength(2);
    expect(limitSize(ents, Infinity)).toBe(ents);
    expect(limitSize([], 0)).toEqual([]);
  });
});
