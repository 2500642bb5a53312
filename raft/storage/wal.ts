// The write-ahead log: numbered segment files of checksummed records, plus snapshot files.
//
// Layout of dir:
//   <seq>-<firstIndex>.wal   segments (16 hex digits each). Every segment starts with a header
//                            record, the hard state and the current snapshot marker, so deleting
//                            older segments never loses either.
//   snap/<term>-<index>.snap snapshot files, written atomically (temp file, fsync, rename).
//
// Only the tail of the last segment can be torn by a crash: earlier segments were fsynced before
// the next one was created, and new segments appear by rename with their header already durable.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EMPTY_HARD_STATE, type MemoryStorage } from '../core/storage.js';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import { RecordWriter, decodeRecord, readFrame, validRecordAfter } from './codec.js';
import { WalCorruptError, WalError, WalIoError } from './errors.js';
import {
  fsyncDir,
  listSegments,
  listSnaps,
  onFile,
  readSnapshotFile,
  removeTempFiles,
  segmentName,
  writeAll,
  writeFileAtomic,
  writeSnapshotFile,
  type SegmentName,
} from './files.js';

export interface WalOptions {
  /** Roll to a new segment once the current one reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Skip every fsync. Only for tests and benchmarks: a crash of the machine loses data. */
  noSync?: boolean;
}

export interface RecoveredState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  /** Entries after the snapshot's index, conflicts already resolved. */
  entries: Entry[];
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const SNAP_DIR = 'snap';

function markerKey(index: number, term: number): string {
  return `${index}/${term}`;
}

/** Rebuilds, record by record, the log the WAL describes. */
class Replay {
  /** Entries base, base+1, ... with later writes having replaced conflicting suffixes. */
  ents: Entry[] = [];
  base = 0;
  hardState: HardState = { ...EMPTY_HARD_STATE };
  /** Snapshots the WAL vouches for: a snapshot file without a marker was never committed to. */
  readonly markers = new Set<string>();
  /** Index of the newest received snapshot: the log before it was thrown away. */
  lastReset = 0;

  get lastEntryIndex(): number {
    return this.ents.length === 0 ? 0 : this.base + this.ents.length - 1;
  }

  entry(e: Entry): void {
    const end = this.base + this.ents.length;
    if (this.ents.length > 0 && e.index === end) {
      this.ents.push(e);
    } else if (this.ents.length > 0 && e.index >= this.base && e.index < end) {
      this.ents.length = e.index - this.base; // a conflict: drop the replaced suffix
      this.ents.push(e);
    } else {
      // First entry, a rewrite below everything seen, or a gap: start over from here. Whatever is
      // missing before it must be covered by the snapshot, which gapFor() checks.
      this.ents = [e];
      this.base = e.index;
    }
  }

  marker(index: number, term: number, reset: boolean): void {
    this.markers.add(markerKey(index, term));
    if (reset) {
      this.ents = [];
      this.lastReset = index;
    }
  }

  /** Why a snapshot at (index, term) plus the replayed entries would not be a complete log; undefined when it would. */
  gapFor(index: number, term: number): string | undefined {
    if (index < this.lastReset) return `the log was replaced by a snapshot at ${this.lastReset}`;
    const last = this.lastEntryIndex;
    if (this.ents.length > 0) {
      if (this.base > index + 1) return `entries ${index + 1}..${this.base - 1} are missing`;
      if (index >= this.base && index <= last && this.ents[index - this.base]!.term !== term) {
        return `entry ${index} has term ${this.ents[index - this.base]!.term}, the snapshot says ${term}`;
      }
    }
    const top = Math.max(index, last);
    if (this.hardState.commit > top) return `commit index ${this.hardState.commit} is past the last recoverable index ${top}`;
    return undefined;
  }

  entriesAfter(index: number): Entry[] {
    return this.ents.slice(Math.max(0, index + 1 - this.base));
  }
}

function truncateFile(file: string, size: number, sync: boolean): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, size);
    if (sync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replays every segment; truncates a torn tail of the last one. Returns the last segment's size. */
function replaySegments(dir: string, segments: SegmentName[], replay: Replay, sync: boolean): number {
  let size = 0;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const file = path.join(dir, seg.name);
    if (i > 0 && seg.seq !== segments[i - 1]!.seq + 1) {
      throw new WalCorruptError(file, 0, `segment ${segments[i - 1]!.seq + 1} is missing`);
    }
    const isLast = i === segments.length - 1;
    const buf = fs.readFileSync(file);
    let off = 0;
    for (;;) {
      const f = readFrame(buf, off);
      if (f.kind === 'end') {
        if (off === 0) throw new WalCorruptError(file, 0, 'empty segment');
        break;
      }
      if (f.kind === 'bad') {
        // A torn write can only be the last thing in the last segment. Anything valid after the
        // bad frame means damage in the middle: refuse rather than drop acknowledged records.
        if (!isLast || off === 0 || validRecordAfter(buf, off + 1)) throw new WalCorruptError(file, off, f.reason);
        truncateFile(file, off, sync);
        break;
      }
      const rec = decodeRecord(f.payload);
      if (rec === undefined) throw new WalCorruptError(file, off, 'checksum matches but the record is malformed');
      if (off === 0) {
        if (rec.type !== 'header' || rec.seq !== seg.seq || rec.firstIndex !== seg.firstIndex) {
          throw new WalCorruptError(file, 0, 'segment header missing or not matching the file name');
        }
      } else if (rec.type === 'header') {
        throw new WalCorruptError(file, off, 'segment header in the middle of a segment');
      } else if (rec.type === 'entry') {
        replay.entry(rec.entry);
      } else if (rec.type === 'hardState') {
        replay.hardState = rec.hardState;
      } else {
        replay.marker(rec.index, rec.term, rec.reset);
      }
      off = f.next;
    }
    size = off;
  }
  return size;
}

/**
 * The newest snapshot file that the WAL vouches for, is intact, and together with the replayed
 * entries gives a complete log. A damaged newest file falls back to an older one only if the
 * WAL still holds the entries in between; otherwise recovery refuses.
 */
function chooseSnapshot(dir: string, snapDir: string, firstSegment: string, replay: Replay): { snapshot: Snapshot; file: string } | undefined {
  let damaged: WalCorruptError | undefined;
  let gap: string | undefined; // why the newest intact candidate did not do
  for (const s of listSnaps(snapDir)) {
    // No marker: the crash came between writing the file and logging it, or it is stale.
    if (!replay.markers.has(markerKey(s.index, s.term))) continue;
    let snap: Snapshot;
    try {
      snap = readSnapshotFile(snapDir, s);
    } catch (err) {
      if (!(err instanceof WalCorruptError)) throw err;
      damaged ??= err;
      continue;
    }
    const g = replay.gapFor(s.index, s.term);
    if (g === undefined) return { snapshot: snap, file: s.name };
    gap ??= `snapshot ${s.term}/${s.index}: ${g}`;
  }
  // Without a snapshot the log must be complete from index 1.
  const g0 = replay.gapFor(0, 0);
  if (g0 === undefined) return undefined;
  gap ??= g0;
  if (damaged) throw new WalCorruptError(damaged.file, damaged.offset, `${damaged.reason}; no fallback: ${gap}`, { cause: damaged });
  throw new WalCorruptError(path.join(dir, firstSegment), 0, `no snapshot completes the log: ${gap}`);
}

/** mkdir -p, making each created directory's entry durable. */
function ensureDir(dir: string, sync: boolean): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined || !sync) return;
  const top = path.resolve(first);
  for (let d = path.resolve(dir); d !== path.dirname(d); d = path.dirname(d)) {
    fsyncDir(path.dirname(d));
    if (d === top) break;
  }
}

interface WalInit {
  dir: string;
  segmentBytes: number;
  sync: boolean;
  hardState: HardState;
  lastIndex: number;
  snapshot: Snapshot | undefined;
}

export class Wal {
  private readonly dir: string;
  private readonly snapDir: string;
  private readonly segmentBytes: number;
  private readonly sync: boolean;
  private readonly w = new RecordWriter();
  private segments: SegmentName[] = [];
  private fd = -1;
  private segSize = 0;
  private lastIndex: number;
  private hardState: HardState;
  private snapIndex: number;
  private snapTerm: number;
  /** The snapshot file recovery would use; compaction keeps only it. */
  private snapFile: string | undefined;
  private closed = false;
  /** Bytes written by save(..., { sync: false }) that no fsync has covered yet. */
  private dirty = false;
  private failure: WalIoError | undefined = undefined;

  private constructor(init: WalInit) {
    this.dir = init.dir;
    this.snapDir = path.join(init.dir, SNAP_DIR);
    this.segmentBytes = init.segmentBytes;
    this.sync = init.sync;
    this.hardState = init.hardState;
    this.lastIndex = init.lastIndex;
    const m = init.snapshot?.metadata;
    this.snapIndex = m?.index ?? 0;
    this.snapTerm = m?.term ?? 0;
  }

  /** Opens (creating if missing) the WAL in dir and recovers what it holds. */
  static async open(dir: string, opts: WalOptions = {}): Promise<{ wal: Wal; state: RecoveredState }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!(segmentBytes > 0)) throw new WalError('WAL_INVALID', `segmentBytes must be positive, got ${segmentBytes}`);
    const sync = opts.noSync !== true;
    const snapDir = path.join(dir, SNAP_DIR);
    ensureDir(snapDir, sync);
    removeTempFiles(dir);
    removeTempFiles(snapDir);

    const segments = listSegments(dir);
    const replay = new Replay();
    let chosen: { snapshot: Snapshot; file: string } | undefined;
    let lastSize = 0;
    if (segments.length === 0) {
      const snaps = listSnaps(snapDir);
      if (snaps.length > 0) throw new WalCorruptError(path.join(snapDir, snaps[0]!.name), 0, 'snapshot files exist but the WAL has no segments');
    } else {
      lastSize = replaySegments(dir, segments, replay, sync);
      chosen = chooseSnapshot(dir, snapDir, segments[0]!.name, replay);
    }
    const snapshot = chosen?.snapshot;
    const snapIndex = snapshot?.metadata.index ?? 0;
    const state: RecoveredState = { hardState: { ...replay.hardState }, snapshot, entries: replay.entriesAfter(snapIndex) };

    const wal = new Wal({
      dir,
      segmentBytes,
      sync,
      hardState: { ...replay.hardState },
      lastIndex: Math.max(snapIndex, replay.lastEntryIndex),
      snapshot,
    });
    wal.snapFile = chosen?.file;
    if (segments.length === 0) {
      wal.startSegment(1);
    } else {
      wal.segments = segments;
      wal.fd = fs.openSync(path.join(dir, segments[segments.length - 1]!.name), 'a');
      wal.segSize = lastSize;
    }
    return { wal, state };
  }

  /**
   * Persists a Ready batch: records for the snapshot (if any), the entries and the hard state,
   * then one fsync. An entry at an index already in the log replaces it and all entries after it.
   * A snapshot replaces the log (as MemoryStorage.applySnapshot does); its file is made durable
   * before the batch. With `sync: false` the records are only written: call flush() before
   * anything may depend on them (a driver does, to overlap the fsync with other work).
   */
  save(hardState: HardState | undefined, entries: Entry[], snapshot?: Snapshot, opts: { sync?: boolean } = {}): void {
    this.assertWritable();
    const floor = snapshot ? snapshot.metadata.index : this.snapIndex;
    if (snapshot && floor < this.snapIndex) {
      throw new WalError('WAL_INVALID', `snapshot at ${floor} is older than the saved one at ${this.snapIndex}`);
    }
    for (let i = 1; i < entries.length; i++) {
      if (entries[i]!.index !== entries[i - 1]!.index + 1) {
        throw new WalError('WAL_INVALID', `entries not contiguous: ${entries[i]!.index} after ${entries[i - 1]!.index}`);
      }
    }
    // Entries the snapshot covers are already in it (MemoryStorage.append drops them too).
    let start = 0;
    while (start < entries.length && entries[start]!.index <= floor) start++;
    const top = snapshot ? floor : this.lastIndex;
    if (start < entries.length && entries[start]!.index > top + 1) {
      throw new WalError('WAL_INVALID', `gap in log: appending ${entries[start]!.index} after ${top}`);
    }
    if (hardState === undefined && start === entries.length && snapshot === undefined) return;

    let snapFile: string | undefined;
    this.guard(() => {
      if (snapshot) snapFile = writeSnapshotFile(this.snapDir, snapshot, this.sync);
      if (this.segSize >= this.segmentBytes) this.roll();
      const w = this.w;
      w.reset();
      if (snapshot) w.snapshotMarker(snapshot.metadata.index, snapshot.metadata.term, true);
      for (let i = start; i < entries.length; i++) w.entry(entries[i]!);
      if (hardState) w.hardState(hardState);
      this.append(w.bytes(), opts.sync !== false);
    });

    if (snapshot) {
      this.snapIndex = snapshot.metadata.index;
      this.snapTerm = snapshot.metadata.term;
      this.snapFile = snapFile;
      this.lastIndex = this.snapIndex;
    }
    if (start < entries.length) this.lastIndex = entries[entries.length - 1]!.index;
    if (hardState) this.hardState = { ...hardState };
    if (snapshot) this.guard(() => this.compact());
  }

  /**
   * Persists the application's own snapshot (entries after it stay in the log), then deletes
   * segments it wholly covers and older snapshot files.
   */
  saveSnapshot(snapshot: Snapshot): void {
    this.assertWritable();
    const { index, term } = snapshot.metadata;
    if (index <= this.snapIndex) throw new WalError('WAL_INVALID', `snapshot at ${index} is not newer than the saved one at ${this.snapIndex}`);
    if (index > this.lastIndex) throw new WalError('WAL_INVALID', `snapshot at ${index} is past the last index ${this.lastIndex}`);
    this.guard(() => {
      // The file must be durable before the marker that vouches for it.
      const name = writeSnapshotFile(this.snapDir, snapshot, this.sync);
      if (this.segSize >= this.segmentBytes) this.roll();
      this.w.reset();
      this.w.snapshotMarker(index, term, false);
      this.append(this.w.bytes());
      this.snapIndex = index;
      this.snapTerm = term;
      this.snapFile = name;
      this.compact();
    });
  }

  /** Closes the segment; throws a WalIoError if flushing unsynced records fails (the fd is closed anyway). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const fd = this.fd;
    this.fd = -1;
    if (fd < 0) return;
    try {
      if (this.dirty && this.failure === undefined) onFile(this.segmentPath(), () => fs.fdatasyncSync(fd));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The failure that made the WAL refuse writes, if any. */
  failed(): WalError | undefined {
    return this.failure;
  }

  private segmentPath(): string {
    const last = this.segments[this.segments.length - 1];
    return last ? path.join(this.dir, last.name) : this.dir;
  }

  private assertWritable(): void {
    if (this.closed) throw new WalError('WAL_CLOSED', 'the WAL is closed');
    if (this.failure !== undefined) throw new WalError('WAL_FAILED', `an earlier write to the WAL failed: ${this.failure.message}`, { cause: this.failure });
  }

  /**
   * Runs file-system work. After a failed write or fsync what reached the disk is unknown (a
   * retried fsync can report success for lost pages), so the WAL refuses all later writes.
   */
  private guard(work: () => void): void {
    try {
      work();
    } catch (err) {
      // Errors without a file (not from an fs call) are put on the WAL's directory.
      this.failure = err instanceof WalIoError ? err : new WalIoError(this.dir, err);
      throw this.failure;
    }
  }

  private append(buf: Buffer, sync = true): void {
    const fd = this.fd;
    onFile(this.segmentPath(), () => {
      writeAll(fd, buf);
      // fdatasync suffices: it also flushes the file size, the only metadata an append changes.
      if (this.sync && sync) fs.fdatasyncSync(fd);
    });
    if (this.sync) this.dirty = !sync;
    this.segSize += buf.length;
  }

  /**
   * Makes every earlier save durable, with the fsync running off the event loop (libuv's pool),
   * so several members or other work can proceed meanwhile.
   */
  async flush(): Promise<void> {
    this.assertWritable();
    if (!this.dirty) return;
    this.dirty = false;
    const fd = this.fd;
    try {
      await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      this.failure = new WalIoError(this.segmentPath(), err);
      throw this.failure;
    }
  }

  private roll(): void {
    this.startSegment(this.segments[this.segments.length - 1]!.seq + 1);
  }

  /** Creates the next segment atomically, its header, hard state and snapshot marker already inside. */
  private startSegment(seq: number): void {
    const firstIndex = this.lastIndex + 1;
    const name = segmentName(seq, firstIndex);
    const w = this.w;
    w.reset();
    w.header(seq, firstIndex);
    w.hardState(this.hardState);
    // Not a reset: replaying it must not drop the entries logged before this segment.
    if (this.snapIndex > 0) w.snapshotMarker(this.snapIndex, this.snapTerm, false);
    writeFileAtomic(this.dir, name, [w.bytes()], this.sync);
    const fd = fs.openSync(path.join(this.dir, name), 'a');
    if (this.fd >= 0) {
      // Unflushed records in the old segment must not be lost by closing it.
      const old = this.fd;
      if (this.dirty) onFile(this.segmentPath(), () => fs.fdatasyncSync(old));
      this.dirty = false;
      fs.closeSync(old);
    }
    this.fd = fd;
    this.segments.push({ seq, firstIndex, name });
    this.segSize = w.length;
  }

  /**
   * Deletes the segments before the newest one that starts at or below snapIndex+1: every live
   * entry in them is at most that segment's firstIndex-1, so the snapshot covers them.
   * Deletes oldest first with a directory fsync each, so a crash leaves a contiguous run.
   */
  private compact(): void {
    let k = this.segments.length - 1;
    while (k > 0 && this.segments[k]!.firstIndex > this.snapIndex + 1) k--;
    for (let i = 0; i < k; i++) {
      fs.unlinkSync(path.join(this.dir, this.segments[i]!.name));
      if (this.sync) fsyncDir(this.dir);
    }
    this.segments = this.segments.slice(k);
    let removed = false;
    for (const s of listSnaps(this.snapDir)) {
      if (s.name === this.snapFile) continue;
      fs.rmSync(path.join(this.snapDir, s.name), { force: true });
      removed = true;
    }
    if (removed && this.sync) fsyncDir(this.snapDir);
  }
}

/** Loads a recovered state into the in-memory mirror the Raft core reads. */
export function restoreMemoryStorage(state: RecoveredState, storage: MemoryStorage): void {
  if (state.snapshot) storage.applySnapshot(state.snapshot);
  storage.append(state.entries);
  storage.setHardState(state.hardState);
}
