// The on-disk record format, shared by WAL segments and snapshot files:
//   [u32 LE length][u32 LE crc32c(payload)][payload]
// where payload is a msgpack array whose first element is the record type. Arrays rather than
// maps keep records small and make every payload start with a fixarray byte, which the
// corruption scan uses as a cheap filter.
import { crc32c } from '@node-rs/crc32';
import { Packr, Unpackr } from 'msgpackr';
import type { ConfChange, ConfChangeType, Entry, HardState, Snapshot } from '../core/types.js';

export const FRAME_HEADER_BYTES = 8;
/** Bumped when the payload layout changes; written in segment headers and snapshot files. */
export const FORMAT_VERSION = 1;

const T_HEADER = 0;
const T_NORMAL = 1;
const T_CONF = 2;
const T_HARD_STATE = 3;
const T_SNAPSHOT = 4;
const T_SNAPSHOT_FILE = 5;

export type WalRecord =
  | { type: 'header'; seq: number; firstIndex: number }
  | { type: 'entry'; entry: Entry }
  | { type: 'hardState'; hardState: HardState }
  /** reset: the log was replaced by a received snapshot; otherwise a local compaction point. */
  | { type: 'snapshot'; index: number; term: number; reset: boolean };

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

const CONF_TYPES: ReadonlySet<string> = new Set<ConfChangeType>(['addVoter', 'removeVoter', 'addLearner', 'promoteLearner']);

export function checksum(payload: Uint8Array): number {
  return crc32c(payload) >>> 0;
}

/**
 * Accumulates framed records into one reusable buffer, so a save() is one write syscall.
 * The buffer returned by bytes() is only valid until the next reset().
 */
export class RecordWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;

  reset(): void {
    // Do not pin a huge buffer after one exceptional batch.
    if (this.buf.length > 8 * 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
    this.len = 0;
  }

  get length(): number {
    return this.len;
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  header(seq: number, firstIndex: number): void {
    this.frame([T_HEADER, FORMAT_VERSION, seq, firstIndex]);
  }

  entry(e: Entry): void {
    if (e.kind === 'normal') {
      this.frame([T_NORMAL, e.term, e.index, e.data]);
    } else {
      const c = e.change;
      this.frame(c.context === undefined ? [T_CONF, e.term, e.index, c.type, c.member] : [T_CONF, e.term, e.index, c.type, c.member, c.context]);
    }
  }

  hardState(hs: HardState): void {
    this.frame([T_HARD_STATE, hs.term, hs.vote, hs.commit]);
  }

  snapshotMarker(index: number, term: number, reset: boolean): void {
    this.frame([T_SNAPSHOT, index, term, reset ? 1 : 0]);
  }

  private frame(record: unknown[]): void {
    // packr returns a view into its own scratch buffer: copy it out before the next pack().
    const payload = packr.pack(record);
    const need = this.len + FRAME_HEADER_BYTES + payload.length;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    this.buf.writeUInt32LE(payload.length, this.len);
    this.buf.writeUInt32LE(checksum(payload), this.len + 4);
    payload.copy(this.buf, this.len + FRAME_HEADER_BYTES);
    this.len = need;
  }
}

export type FrameRead =
  | { kind: 'end' }
  | { kind: 'ok'; payload: Buffer; next: number }
  /** The frame at this offset is short or fails its checksum. */
  | { kind: 'bad'; reason: string };

/** Reads the frame starting at `off`. */
export function readFrame(buf: Buffer, off: number): FrameRead {
  const left = buf.length - off;
  if (left === 0) return { kind: 'end' };
  if (left < FRAME_HEADER_BYTES) return { kind: 'bad', reason: `short frame header (${left} bytes)` };
  const len = buf.readUInt32LE(off);
  // No payload is empty; a zero length is typically a zero-filled tail.
  if (len === 0) return { kind: 'bad', reason: 'zero-length frame' };
  if (len > left - FRAME_HEADER_BYTES) return { kind: 'bad', reason: `short payload (${left - FRAME_HEADER_BYTES} of ${len} bytes)` };
  const payload = buf.subarray(off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + len);
  if (checksum(payload) !== buf.readUInt32LE(off + 4)) return { kind: 'bad', reason: 'checksum mismatch' };
  return { kind: 'ok', payload, next: off + FRAME_HEADER_BYTES + len };
}

/**
 * True when a whole valid WAL record starts anywhere in buf[from..]. Used after a bad frame to
 * tell a torn tail (nothing valid follows) from damage in the middle (valid records follow).
 * A byte scan, because a damaged length field hides where the next frame starts.
 */
export function validRecordAfter(buf: Buffer, from: number): boolean {
  for (let p = from; p + FRAME_HEADER_BYTES < buf.length; p++) {
    const first = buf[p + FRAME_HEADER_BYTES]!;
    if (first < 0x90 || first > 0x9f) continue; // every payload is a msgpack fixarray
    const len = buf.readUInt32LE(p);
    if (len === 0 || len > buf.length - p - FRAME_HEADER_BYTES) continue;
    const f = readFrame(buf, p);
    if (f.kind === 'ok' && decodeRecord(f.payload) !== undefined) return true;
  }
  return false;
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function unpackArray(payload: Uint8Array): unknown[] | undefined {
  try {
    const v: unknown = unpackr.unpack(payload);
    return Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** msgpackr hands out Buffers viewing the source; copy into a plain Uint8Array so entries do not pin whole segments. */
function bytesOf(x: unknown): Uint8Array | undefined {
  return x instanceof Uint8Array ? new Uint8Array(x) : undefined;
}

/** Decodes a checksummed payload; undefined when it is not a well-formed record. */
export function decodeRecord(payload: Uint8Array): WalRecord | undefined {
  const r = unpackArray(payload);
  if (r === undefined) return undefined;
  switch (r[0]) {
    case T_HEADER:
      if (r[1] !== FORMAT_VERSION || !isIndex(r[2]) || !isIndex(r[3])) return undefined;
      return { type: 'header', seq: r[2], firstIndex: r[3] };
    case T_NORMAL: {
      const data = bytesOf(r[3]);
      if (!isIndex(r[1]) || !isIndex(r[2]) || data === undefined) return undefined;
      return { type: 'entry', entry: { term: r[1], index: r[2], kind: 'normal', data } };
    }
    case T_CONF: {
      const [, term, index, type, member, ctx] = r;
      if (!isIndex(term) || !isIndex(index) || typeof type !== 'string' || !CONF_TYPES.has(type) || typeof member !== 'string') {
        return undefined;
      }
      const change: ConfChange = { type: type as ConfChangeType, member };
      if (r.length > 5) {
        const context = bytesOf(ctx);
        if (context === undefined) return undefined;
        change.context = context;
      }
      return { type: 'entry', entry: { term, index, kind: 'conf', change } };
    }
    case T_HARD_STATE:
      if (!isIndex(r[1]) || typeof r[2] !== 'string' || !isIndex(r[3])) return undefined;
      return { type: 'hardState', hardState: { term: r[1], vote: r[2], commit: r[3] } };
    case T_SNAPSHOT:
      if (!isIndex(r[1]) || !isIndex(r[2]) || (r[3] !== 0 && r[3] !== 1)) return undefined;
      return { type: 'snapshot', index: r[1], term: r[2], reset: r[3] === 1 };
    default:
      return undefined;
  }
}

/** A snapshot file: one frame holding [type, version, index, term, voters, learners, data]. */
export function encodeSnapshotFile(s: Snapshot): { header: Buffer; payload: Buffer } {
  const m = s.metadata;
  const payload = packr.pack([T_SNAPSHOT_FILE, FORMAT_VERSION, m.index, m.term, m.conf.voters, m.conf.learners, s.data]);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt32LE(checksum(payload), 4);
  return { header, payload };
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'string');
}

/** Decodes a snapshot file; a string says what is wrong with it. */
export function decodeSnapshotFile(buf: Buffer): Snapshot | string {
  const f = readFrame(buf, 0);
  if (f.kind === 'end') return 'empty file';
  if (f.kind === 'bad') return f.reason;
  if (f.next !== buf.length) return `${buf.length - f.next} trailing bytes`;
  const r = unpackArray(f.payload);
  if (r === undefined) return 'undecodable payload';
  const [type, version, index, term, voters, learners, data] = r;
  const bytes = bytesOf(data);
  if (type !== T_SNAPSHOT_FILE || version !== FORMAT_VERSION || !isIndex(index) || !isIndex(term)) return 'malformed payload';
  if (!isStringArray(voters) || !isStringArray(learners) || bytes === undefined) return 'malformed payload';
  return { metadata: { index, term, conf: { voters, learners } }, data: bytes };
}
