import { RaftError } from './errors.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/**
 * The durable log as the core reads it. Reads are synchronous: the driver keeps an in-memory
 * mirror of what it has persisted (MemoryStorage) and the core only ever reads that.
 */
export interface Storage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries [lo, hi), at most maxBytes (but at least one). */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** The term of entry i; i may be firstIndex()-1 (the snapshot's index). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
}

/** Approximate wire size of an entry, for flow control and batching. */
export function entrySize(e: Entry): number {
  return 24 + (e.kind === 'normal' ? e.data.byteLength : 32 + (e.change.context?.byteLength ?? 0));
}

/** Keeps entries while their total size stays within maxBytes; always keeps the first. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySize(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySize(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/**
 * The stable log in memory. `ents[0]` is a dummy entry holding the snapshot's index and term,
 * as in etcd's MemoryStorage, so term(firstIndex()-1) always answers.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { ...EMPTY_HARD_STATE };
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [{ term: 0, index: 0, kind: 'normal', data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.hardState }, conf: this.snap.metadata.conf };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new RaftError('COMPACTED', `entry ${lo} is compacted (first index ${off + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError('UNAVAILABLE', `entries up to ${hi - 1} requested, last is ${this.lastIndex()}`);
    }
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  term(i: number): number {
    const off = this.offset();
    if (i < off) throw new RaftError('COMPACTED', `term of ${i} is compacted (first index ${off + 1})`);
    if (i - off >= this.ents.length) throw new RaftError('UNAVAILABLE', `no entry ${i}, last is ${this.lastIndex()}`);
    return this.ents[i - off]!.term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index < this.snap.metadata.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot at ${snap.metadata.index} is older than ${this.snap.metadata.index}`);
    }
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, kind: 'normal', data: new Uint8Array(0) }];
  }

  /**
   * Records the application's own snapshot at index i (i <= applied). Does not compact: call
   * compact() for that, possibly keeping some entries for slow followers.
   */
  createSnapshot(i: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot at ${i} is not newer than ${this.snap.metadata.index}`);
    }
    if (i > this.lastIndex()) throw new RaftError('UNAVAILABLE', `snapshot at ${i} is past the last index ${this.lastIndex()}`);
    this.snap = { metadata: { index: i, term: this.term(i), conf }, data };
    return this.snap;
  }

  /** Discards entries up to and including i. */
  compact(i: number): void {
    const off = this.offset();
    if (i <= off) return;
    if (i > this.lastIndex()) throw new RaftError('UNAVAILABLE', `compact to ${i} past the last index ${this.lastIndex()}`);
    const keep = this.ents.slice(i - off);
    keep[0] = { term: keep[0]!.term, index: keep[0]!.index, kind: 'normal', data: new Uint8Array(0) };
    this.ents = keep;
  }

  /** Appends entries, replacing any conflicting suffix. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return;
    // Drop what the snapshot already covers.
    if (first > entries[0]!.index) entries = entries.slice(first - entries[0]!.index);
    const at = entries[0]!.index - this.offset();
    if (at > this.ents.length) {
      throw new RaftError('CORRUPT', `gap in log: appending ${entries[0]!.index} after ${this.lastIndex()}`);
    }
    if (at === this.ents.length) {
      // The common case: extend in place, so appending stays O(batch) however long the log.
      for (const e of entries) this.ents.push(e);
    } else {
      this.ents = this.ents.slice(0, at).concat(entries);
    }
  }
}
