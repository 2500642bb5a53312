// File-system helpers and the snapshot directory. Everything is synchronous: the driver must not
// send a batch's messages before its fsync returns, so there is nothing to overlap with.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Snapshot } from '../core/types.js';
import { decodeSnapshotFile, encodeSnapshotFile } from './codec.js';
import { WalCorruptError, WalIoError } from './errors.js';

const HEX16 = '[0-9a-f]{16}';
const SEGMENT_RE = new RegExp(`^(${HEX16})-(${HEX16})\\.wal$`);
const SNAP_RE = new RegExp(`^(${HEX16})-(${HEX16})\\.snap$`);

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export interface SegmentName {
  seq: number;
  firstIndex: number;
  name: string;
}

export function segmentName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}.wal`;
}

/** The segment files of dir, sorted by sequence number. */
export function listSegments(dir: string): SegmentName[] {
  const out: SegmentName[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = SEGMENT_RE.exec(name);
    if (m) out.push({ seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), name });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export interface SnapName {
  term: number;
  index: number;
  name: string;
}

export function snapName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

/** The snapshot files of snapDir, newest (highest index) first. */
export function listSnaps(snapDir: string): SnapName[] {
  const out: SnapName[] = [];
  for (const name of fs.readdirSync(snapDir)) {
    const m = SNAP_RE.exec(name);
    if (m) out.push({ term: parseInt(m[1]!, 16), index: parseInt(m[2]!, 16), name });
  }
  return out.sort((a, b) => b.index - a.index || b.term - a.term);
}

/** Leftovers of a crash during a write-then-rename: never referenced, safe to drop. */
export function removeTempFiles(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/**
 * Runs writes on `file` and reports a failure as a WalIoError naming it: calls on a file
 * descriptor (write, fsync) report no path, and Node's own path is kept when there is one.
 */
export function onFile<T>(file: string, work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof WalIoError) throw err;
    const own = (err as NodeJS.ErrnoException | undefined)?.path;
    throw new WalIoError(typeof own === 'string' ? own : file, err);
  }
}

export function writeAll(fd: number, buf: Uint8Array): void {
  // writeSync may write less than asked (e.g. interrupted); loop until all of it is written.
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

/** Makes a directory's entries (creations, renames, unlinks) durable. */
export function fsyncDir(dir: string): void {
  onFile(dir, () => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/**
 * Creates `dir/name` atomically: write a temp file, fsync it, rename, fsync the directory.
 * A crash leaves either no file or the whole file.
 */
export function writeFileAtomic(dir: string, name: string, chunks: Uint8Array[], sync: boolean): void {
  const tmp = path.join(dir, `${name}.tmp`);
  onFile(tmp, () => {
    const fd = fs.openSync(tmp, 'w');
    try {
      for (const c of chunks) writeAll(fd, c);
      if (sync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(dir, name));
  });
  if (sync) fsyncDir(dir);
}

export function writeSnapshotFile(snapDir: string, snap: Snapshot, sync: boolean): string {
  const name = snapName(snap.metadata.term, snap.metadata.index);
  const { header, payload } = encodeSnapshotFile(snap);
  writeFileAtomic(snapDir, name, [header, payload], sync);
  return name;
}

/** Loads and verifies a snapshot file; throws WalCorruptError when it is damaged. */
export function readSnapshotFile(snapDir: string, s: SnapName): Snapshot {
  const file = path.join(snapDir, s.name);
  const snap = decodeSnapshotFile(fs.readFileSync(file));
  if (typeof snap === 'string') throw new WalCorruptError(file, 0, `bad snapshot file: ${snap}`);
  if (snap.metadata.index !== s.index || snap.metadata.term !== s.term) {
    throw new WalCorruptError(file, 0, `snapshot file holds ${snap.metadata.term}/${snap.metadata.index}, its name says ${s.term}/${s.index}`);
  }
  return snap;
}
