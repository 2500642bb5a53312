import { RaftError } from './errors.js';
import { entrySize, limitSize, type Storage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/**
 * Entries and a snapshot not yet persisted. Invariant: entries[i].index === offset + i, and the
 * snapshot (if any) ends at offset - 1.
 */
class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Entries up to (i, t) are now durable. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    // Only when the term matches: a newer leader may have replaced the entry meanwhile.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: Entry[]): void {
    const after = ents[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // Replace everything unstable; storage entries from `after` on are overridden when persisted.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The log as the core sees it: durable entries in storage plus the unstable tail. */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be on a quorum. */
  committed: number;
  /** Highest index the application has applied. */
  applied: number;
  private readonly maxApplyBytes: number;

  constructor(storage: Storage, maxApplyBytes: number) {
    this.storage = storage;
    this.maxApplyBytes = maxApplyBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === undefined) throw new RaftError('CORRUPT', `no term for the last index ${this.lastIndex()}`);
    return t;
  }

  /** The term of entry i, or undefined when it is compacted or beyond the end. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof RaftError && (err.code === 'COMPACTED' || err.code === 'UNAVAILABLE')) return undefined;
      throw err;
    }
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  isUpToDate(lastIndex: number, term: number): boolean {
    const myTerm = this.lastTerm();
    return term > myTerm || (term === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Appends leader entries after (index, logTerm) if they match; returns the last new index,
   * or undefined when the previous entry does not match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftError('CORRUPT', `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftError('CORRUPT', `append after ${after} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** The index of the first entry that is new or conflicts with an existing one; 0 if none. */
  private findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For fast backtracking: the largest index <= index whose term is <= term, and that term.
   * Lets a rejection skip a whole term of divergent entries at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; ; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  hasNextCommittedEnts(): boolean {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.committed + 1 > lo && !this.unstable.snapshot;
  }

  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.slice(lo, this.committed + 1, this.maxApplyBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(i: number): void {
    if (i > this.committed) {
      if (i > this.lastIndex()) {
        throw new RaftError('CORRUPT', `commit ${i} is past the last index ${this.lastIndex()}`);
      }
      this.committed = i;
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new RaftError('CORRUPT', `applied ${i} is outside [${this.applied}, ${this.committed}]`);
    }
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Commits up to maxIndex if that entry is of the given (current) term: Raft's commit rule. */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries [lo, hi) bounded by maxBytes; undefined when lo is compacted. */
  entriesFrom(lo: number, maxBytes: number): Entry[] | undefined {
    const last = this.lastIndex();
    if (lo > last) return [];
    if (lo < this.firstIndex()) return undefined;
    return this.slice(lo, last + 1, maxBytes);
  }

  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo >= hi) return [];
    const off = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < off) {
      ents = this.storage.entries(lo, Math.min(hi, off), maxBytes);
      // Storage stopped early because of the size bound.
      if (ents.length < Math.min(hi, off) - lo) return ents;
    }
    if (hi > off) {
      const un = this.unstable.slice(Math.max(lo, off), hi);
      ents = ents.length > 0 ? ents.concat(un) : un;
    }
    return maxBytes === Infinity ? ents : limitSize(ents, maxBytes);
  }

  /** Total size of entries, for flow control. */
  static bytes(ents: Entry[]): number {
    let n = 0;
    for (const e of ents) n += entrySize(e);
    return n;
  }
}
