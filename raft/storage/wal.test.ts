import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStorage } from '../core/storage.js';
import type { Entry, HardState, Snapshot } from '../core/types.js';
import { Wal, WalCorruptError, WalError, WalIoError, restoreMemoryStorage, type WalOptions } from './index.js';
import { failNextFdatasync, fillDisk, type DiskFull } from './test-disk-full.js';

const dirs: string[] = [];
const wals: Wal[] = [];

afterEach(() => {
  for (const w of wals.splice(0)) w.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-wal-test-'));
  dirs.push(d);
  return d;
}

async function open(dir: string, opts?: WalOptions): ReturnType<typeof Wal.open> {
  const r = await Wal.open(dir, opts);
  wals.push(r.wal);
  return r;
}

function data(index: number, term: number, size = 16): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (index * 31 + term * 7 + i) & 0xff;
  return out;
}

function ent(index: number, term = 1, size = 16): Entry {
  return { term, index, kind: 'normal', data: data(index, term, size) };
}

function range(from: number, to: number, term = 1, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term, size));
  return out;
}

function hs(term: number, commit: number, vote = 'n1'): HardState {
  return { term, vote, commit };
}

function snap(index: number, term = 1): Snapshot {
  return { metadata: { index, term, conf: { voters: ['n1', 'n2'], learners: ['n3'] } }, data: new TextEncoder().encode(`snapshot ${index}`) };
}

function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.wal')).sort();
}

function lastSegment(dir: string): string {
  return path.join(dir, segments(dir).at(-1)!);
}

function snapFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'snap')).sort();
}

/** Start offsets of the [len][crc][payload] frames of a file, read by the format alone. */
function frames(file: string): number[] {
  const buf = fs.readFileSync(file);
  const out: number[] = [];
  for (let off = 0; off + 8 <= buf.length; off += 8 + buf.readUInt32LE(off)) out.push(off);
  return out;
}

function patch(file: string, at: number, bytes: number[]): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  fs.closeSync(fd);
}

function flipByte(file: string, at: number): void {
  const buf = fs.readFileSync(file);
  patch(file, at, [buf[at]! ^ 0xff]);
}

function indexes(entries: Entry[]): number[] {
  return entries.map((e) => e.index);
}

/** Saves entries 1..n one per save(), so each is its own record. */
async function walWithSingles(dir: string, n: number, opts?: WalOptions): Promise<void> {
  const { wal } = await open(dir, opts);
  for (let i = 1; i <= n; i++) wal.save(hs(1, i - 1), [ent(i)]);
  wal.close();
}

async function expectCorrupt(dir: string, file: string, offset: number, opts?: WalOptions): Promise<WalCorruptError> {
  const err: unknown = await Wal.open(dir, opts).then(
    (r) => {
      wals.push(r.wal);
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalCorruptError);
  const c = err as WalCorruptError;
  expect(c.code).toBe('WAL_CORRUPT');
  expect(c.file).toBe(file);
  expect(c.offset).toBe(offset);
  return c;
}

describe('Wal: basics', () => {
  it('creates a missing directory and opens empty', async () => {
    const dir = path.join(tempDir(), 'a', 'b');
    const { state } = await open(dir);
    expect(state).toEqual({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: undefined, entries: [] });
    expect(segments(dir)).toEqual(['0000000000000001-0000000000000001.wal']);
  });

  it('round-trips normal and conf entries and the hard state', async () => {
    const dir = tempDir();
    const entries: Entry[] = [
      ent(1),
      { term: 1, index: 2, kind: 'conf', change: { type: 'addVoter', member: 'n2', context: new Uint8Array([10, 0, 0, 2]) } },
      { term: 2, index: 3, kind: 'conf', change: { type: 'removeVoter', member: 'n3' } },
      { term: 2, index: 4, kind: 'normal', data: new Uint8Array(0) },
      ent(5, 2, 5000),
    ];
    const { wal } = await open(dir);
    wal.save(hs(2, 3, 'n2'), entries);
    wal.close();
    const { state } = await open(dir);
    expect(state.hardState).toEqual(hs(2, 3, 'n2'));
    expect(state.snapshot).toBeUndefined();
    expect(state.entries).toEqual(entries);
    // Plain Uint8Arrays, not Buffers pinning the segment they were read from.
    const first = state.entries[0]!;
    expect(first.kind === 'normal' && Object.getPrototypeOf(first.data)).toBe(Uint8Array.prototype);
  });

  it('recovers the last saved hard state, whether saved alone or with entries', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 0), []);
    wal.save(undefined, range(1, 3));
    wal.save(hs(2, 0, 'n3'), []);
    wal.save(hs(2, 2, 'n3'), range(4, 4));
    wal.save(undefined, range(5, 5));
    wal.close();
    const { state } = await open(dir);
    expect(state.hardState).toEqual(hs(2, 2, 'n3'));
    expect(indexes(state.entries)).toEqual([1, 2, 3, 4, 5]);
  });

  it('continues appending after a reopen', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 3);
    const { wal } = await open(dir);
    wal.save(hs(1, 3), range(4, 6));
    wal.close();
    const { state } = await open(dir);
    expect(state.entries).toEqual(range(1, 6));
  });

  it('rejects batches that would leave a gap, and use after close', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(undefined, range(1, 3));
    expect(() => wal.save(undefined, range(5, 6))).toThrow(expect.objectContaining({ code: 'WAL_INVALID' }));
    expect(() => wal.save(undefined, [ent(4), ent(6)])).toThrow(expect.objectContaining({ code: 'WAL_INVALID' }));
    wal.close();
    expect(() => wal.save(undefined, range(4, 4))).toThrow(expect.objectContaining({ code: 'WAL_CLOSED' }));
    const { state } = await open(dir);
    expect(indexes(state.entries)).toEqual([1, 2, 3]);
  });

  it('refuses all writes after a failed one', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(undefined, range(1, 5));
    // Make the snapshot write fail: snap/ is now a file.
    fs.rmSync(path.join(dir, 'snap'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'snap'), 'not a directory');
    expect(() => wal.saveSnapshot(snap(3))).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
    expect(() => wal.save(undefined, range(6, 6))).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
  });

  it('removes temp files left by a crash', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 2);
    fs.writeFileSync(path.join(dir, '0000000000000002-0000000000000003.wal.tmp'), 'partial');
    fs.writeFileSync(path.join(dir, 'snap', '0000000000000001-0000000000000002.snap.tmp'), 'partial');
    const { state } = await open(dir);
    expect(indexes(state.entries)).toEqual([1, 2]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(snapFiles(dir)).toEqual([]);
  });
});

describe('Wal: conflicts', () => {
  it('a later entry at an existing index replaces it and everything after, in the session and on replay', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 2), range(1, 10, 1));
    wal.save(hs(2, 2), range(6, 7, 2));
    wal.save(undefined, range(8, 8, 2));
    wal.close();
    const { state, wal: wal2 } = await open(dir);
    expect(state.entries).toEqual([...range(1, 5, 1), ...range(6, 8, 2)]);
    // The WAL knows its last index is 8 now: appending 9 is no gap.
    wal2.save(undefined, range(9, 9, 2));
    wal2.close();
    expect(indexes((await open(dir)).state.entries)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('resolves conflicts that reach back into earlier segments', async () => {
    const dir = tempDir();
    const { wal } = await open(dir, { segmentBytes: 256 });
    for (let i = 1; i <= 20; i++) wal.save(undefined, [ent(i, 1, 64)]);
    expect(segments(dir).length).toBeGreaterThan(3);
    wal.save(hs(3, 2), range(3, 4, 3, 64));
    for (let i = 5; i <= 7; i++) wal.save(undefined, [ent(i, 3, 64)]);
    wal.close();
    const { state } = await open(dir, { segmentBytes: 256 });
    expect(state.entries).toEqual([...range(1, 2, 1, 64), ...range(3, 7, 3, 64)]);
  });
});

describe('Wal: segments', () => {
  it('rolls to a new segment past segmentBytes, named by sequence and first index', async () => {
    const dir = tempDir();
    const { wal } = await open(dir, { segmentBytes: 1024 });
    for (let i = 1; i <= 100; i++) wal.save(hs(1, i), [ent(i, 1, 100)]);
    wal.close();
    const names = segments(dir);
    expect(names.length).toBeGreaterThan(5);
    let prevFirst = 0;
    names.forEach((name, i) => {
      const [seq, first] = name.replace('.wal', '').split('-').map((h) => parseInt(h, 16));
      expect(seq).toBe(i + 1);
      expect(first).toBeGreaterThan(prevFirst);
      prevFirst = first!;
      // Each segment holds about segmentBytes: rolled once it reached the limit.
      if (i < names.length - 1) expect(fs.statSync(path.join(dir, name)).size).toBeLessThan(1024 + 200);
    });
    const { state } = await open(dir, { segmentBytes: 1024 });
    expect(state.entries).toEqual(range(1, 100, 1, 100));
    expect(state.hardState).toEqual(hs(1, 100));
  });
});

describe('Wal: torn tail', () => {
  // Each case damages the last record (entry 5) the way a crash mid-write could.
  const cases: [string, (file: string, off: number) => void][] = [
    ['the frame header is cut short', (file, off) => fs.truncateSync(file, off + 3)],
    ['the payload is cut short', (file, off) => fs.truncateSync(file, off + 12)],
    ['the checksum does not match', (file, off) => flipByte(file, off + 10)],
    ['the length field is garbage', (file, off) => patch(file, off, [0xf0, 0xff, 0xff, 0x7f])],
    ['the record is zeros', (file, off) => patch(file, off, new Array<number>(fs.statSync(file).size - off).fill(0))],
  ];
  for (const [what, damage] of cases) {
    it(`truncates the last record when ${what}, then works normally`, async () => {
      const dir = tempDir();
      await walWithSingles(dir, 5);
      const file = lastSegment(dir);
      const off = frames(file).at(-2)!; // entry 5; its hard state record follows it
      const hsOff = frames(file).at(-1)!;
      fs.truncateSync(file, hsOff); // make entry 5 the last record
      damage(file, off);
      const { wal, state } = await open(dir);
      expect(indexes(state.entries)).toEqual([1, 2, 3, 4]);
      expect(fs.statSync(file).size).toBe(off);
      wal.save(hs(1, 4), [ent(5)]);
      wal.close();
      const again = await open(dir);
      expect(again.state.entries).toEqual(range(1, 5));
      expect(again.state.hardState).toEqual(hs(1, 4));
    });
  }

  it('truncates a zero-filled tail after intact records', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 5);
    const file = lastSegment(dir);
    const size = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.alloc(4096));
    const { state } = await open(dir);
    expect(indexes(state.entries)).toEqual([1, 2, 3, 4, 5]);
    expect(fs.statSync(file).size).toBe(size);
  });
});

describe('Wal: damage in the middle', () => {
  it('throws naming file and offset for a checksum mismatch followed by valid records', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 10);
    const file = lastSegment(dir);
    const off = frames(file)[6]!;
    const size = fs.statSync(file).size;
    flipByte(file, off + 9);
    await expectCorrupt(dir, file, off);
    expect(fs.statSync(file).size).toBe(size); // nothing truncated
  });

  it('throws for a damaged length field in the middle (looks like a short payload)', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 10);
    const file = lastSegment(dir);
    const off = frames(file)[4]!;
    patch(file, off, [0xf0, 0xff, 0xff, 0x7f]);
    await expectCorrupt(dir, file, off);
  });

  it('throws for a bad record at the end of a segment that is not the last', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 30, { segmentBytes: 256 });
    const names = segments(dir);
    expect(names.length).toBeGreaterThan(2);
    const file = path.join(dir, names[0]!);
    const off = frames(file).at(-1)!;
    fs.truncateSync(file, off + 10);
    await expectCorrupt(dir, file, off, { segmentBytes: 256 });
  });

  it('throws when a segment is missing', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 30, { segmentBytes: 256 });
    const names = segments(dir);
    fs.rmSync(path.join(dir, names[1]!));
    await expectCorrupt(dir, path.join(dir, names[2]!), 0, { segmentBytes: 256 });
  });
});

describe('Wal: snapshots', () => {
  it('recovers the snapshot and only the entries after it', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 20), range(1, 20));
    wal.saveSnapshot(snap(10));
    wal.close();
    const { state } = await open(dir);
    expect(state.snapshot).toEqual(snap(10));
    expect(state.entries).toEqual(range(11, 20));
    expect(state.hardState).toEqual(hs(1, 20));
    expect(snapFiles(dir)).toEqual(['0000000000000001-000000000000000a.snap']);
  });

  it('rejects a snapshot that is not newer or is past the log', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(undefined, range(1, 10));
    wal.saveSnapshot(snap(5));
    expect(() => wal.saveSnapshot(snap(5))).toThrow(expect.objectContaining({ code: 'WAL_INVALID' }));
    expect(() => wal.saveSnapshot(snap(11))).toThrow(expect.objectContaining({ code: 'WAL_INVALID' }));
    expect(() => wal.save(undefined, [], snap(4))).toThrow(WalError);
  });

  it('a received snapshot replaces the log, including stale entries after its index', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 3), range(1, 10, 1));
    // The leader's snapshot at 8 (term 3) conflicts with our entries 6..10 of term 1.
    wal.save(hs(3, 8), [], snap(8, 3));
    wal.close();
    let r = await open(dir);
    expect(r.state.snapshot).toEqual(snap(8, 3));
    expect(r.state.entries).toEqual([]);
    expect(r.state.hardState).toEqual(hs(3, 8));
    r.wal.save(hs(3, 9), range(9, 10, 3), snap(8, 3)); // entries in the same batch as the snapshot
    r.wal.save(undefined, range(11, 11, 3));
    r.wal.close();
    r = await open(dir);
    expect(r.state.snapshot).toEqual(snap(8, 3));
    expect(r.state.entries).toEqual(range(9, 11, 3));
  });

  it('falls back to an older snapshot file when the newest is corrupt and the WAL still has the entries', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 30), range(1, 30));
    wal.saveSnapshot(snap(10));
    const older = path.join(dir, 'snap', snapFiles(dir)[0]!);
    const olderBytes = fs.readFileSync(older);
    wal.saveSnapshot(snap(20));
    wal.close();
    // As if the crash came before the older file was deleted.
    fs.writeFileSync(older, olderBytes);
    const newest = path.join(dir, 'snap', '0000000000000001-0000000000000014.snap');
    flipByte(newest, 20);
    const { state } = await open(dir);
    expect(state.snapshot).toEqual(snap(10));
    expect(state.entries).toEqual(range(11, 30));
  });

  it('falls back to replaying the whole log when it still starts at index 1', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 30), range(1, 30));
    wal.saveSnapshot(snap(10));
    wal.close();
    flipByte(path.join(dir, 'snap', snapFiles(dir)[0]!), 12);
    const { state } = await open(dir);
    expect(state.snapshot).toBeUndefined();
    expect(state.entries).toEqual(range(1, 30));
  });

  it('throws naming the snapshot file when it is corrupt and the WAL no longer has the entries', async () => {
    const dir = tempDir();
    const opts = { segmentBytes: 256 };
    const { wal } = await open(dir, opts);
    for (let i = 1; i <= 50; i++) wal.save(hs(1, i), [ent(i, 1, 32)]);
    wal.saveSnapshot(snap(45));
    wal.close();
    const file = path.join(dir, 'snap', snapFiles(dir)[0]!);
    fs.truncateSync(file, fs.statSync(file).size - 1);
    await expectCorrupt(dir, file, 0, opts);
  });

  it('does not fall back to an older snapshot file whose later entries were deleted', async () => {
    const dir = tempDir();
    const opts = { segmentBytes: 256 };
    const { wal } = await open(dir, opts);
    for (let i = 1; i <= 50; i++) wal.save(hs(1, i), [ent(i, 1, 32)]);
    wal.saveSnapshot(snap(10));
    const older = path.join(dir, 'snap', snapFiles(dir)[0]!);
    const olderBytes = fs.readFileSync(older);
    wal.saveSnapshot(snap(45));
    wal.close();
    fs.writeFileSync(older, olderBytes);
    const newest = path.join(dir, 'snap', '0000000000000001-000000000000002d.snap');
    flipByte(newest, 20);
    const err = await expectCorrupt(dir, newest, 0, opts);
    expect(err.message).toMatch(/entries 11\.\.\d+ are missing/);
  });

  it('ignores a snapshot file the WAL never recorded (crash between file and marker)', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 20), range(1, 20));
    wal.close();
    const other = tempDir();
    const o = await open(other);
    o.wal.save(undefined, range(1, 20));
    o.wal.saveSnapshot(snap(15));
    o.wal.close();
    const name = snapFiles(other)[0]!;
    fs.copyFileSync(path.join(other, 'snap', name), path.join(dir, 'snap', name));
    const { state } = await open(dir);
    expect(state.snapshot).toBeUndefined();
    expect(state.entries).toEqual(range(1, 20));
  });

  it('keeps the hard state when the segments it was saved in are deleted', async () => {
    const dir = tempDir();
    const opts = { segmentBytes: 256 };
    const { wal } = await open(dir, opts);
    wal.save(hs(7, 0, 'n2'), []);
    for (let i = 1; i <= 40; i++) wal.save(undefined, [ent(i, 7, 32)]);
    wal.saveSnapshot(snap(38, 7));
    wal.close();
    expect(segments(dir)[0]).not.toBe('0000000000000001-0000000000000001.wal');
    const { state } = await open(dir, opts);
    expect(state.hardState).toEqual(hs(7, 0, 'n2'));
    expect(state.snapshot).toEqual(snap(38, 7));
    expect(state.entries).toEqual(range(39, 40, 7, 32));
  });

  it('keeps disk bounded: few segments and one snapshot file after many saves and snapshots', async () => {
    const dir = tempDir();
    const opts = { segmentBytes: 2048 };
    const { wal } = await open(dir, opts);
    let maxSegments = 0;
    let last = 0;
    for (let round = 1; round <= 30; round++) {
      for (let b = 0; b < 40; b++) {
        wal.save(hs(round, last), range(last + 1, last + 3, round, 64));
        last += 3;
      }
      wal.saveSnapshot(snap(last - 10, round));
      maxSegments = Math.max(maxSegments, segments(dir).length);
      expect(snapFiles(dir)).toHaveLength(1);
    }
    wal.close();
    // 120 entries of ~90 bytes per round: about 6 segments of 2 KiB between snapshots.
    expect(maxSegments).toBeLessThanOrEqual(8);
    const { state } = await open(dir, opts);
    expect(state.snapshot).toEqual(snap(last - 10, 30));
    expect(state.entries).toEqual(range(last - 9, last, 30, 64));
    // The hard state survives the deletion of the segments it was first written to.
    expect(state.hardState).toEqual(hs(30, last - 3));
  });
});

describe('restoreMemoryStorage', () => {
  it('loads snapshot, entries and hard state into a MemoryStorage', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(2, 18), range(1, 20, 2));
    wal.saveSnapshot(snap(10, 2));
    wal.close();
    const { state } = await open(dir);
    const ms = new MemoryStorage();
    restoreMemoryStorage(state, ms);
    expect(ms.firstIndex()).toBe(11);
    expect(ms.lastIndex()).toBe(20);
    expect(ms.term(10)).toBe(2);
    expect(ms.entries(11, 21)).toEqual(range(11, 20, 2));
    expect(ms.snapshot()).toEqual(snap(10, 2));
    expect(ms.initialState()).toEqual({ hardState: hs(2, 18), conf: snap(10, 2).metadata.conf });
  });

  it('loads a log without a snapshot', async () => {
    const dir = tempDir();
    await walWithSingles(dir, 4);
    const { state } = await open(dir);
    const ms = new MemoryStorage();
    restoreMemoryStorage(state, ms);
    expect(ms.firstIndex()).toBe(1);
    expect(ms.entries(1, 5)).toEqual(range(1, 4));
    expect(ms.initialState().hardState).toEqual(hs(1, 3));
  });
});

describe('Wal: a full disk (ENOSPC)', () => {
  const disks: DiskFull[] = [];
  afterEach(() => {
    for (const d of disks.splice(0)) d.free();
  });

  function full(dir: string): DiskFull {
    const d = fillDisk(dir);
    disks.push(d);
    return d;
  }

  /** The error `work` throws, which must be a WalIoError. */
  function ioErrorOf(work: () => unknown): WalIoError {
    let caught: unknown;
    try {
      work();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(WalIoError);
    return caught as WalIoError;
  }

  it('a batch that does not fit fails naming ENOSPC and the segment, and the WAL refuses more; reopened, it has the old state', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 2), range(1, 3));
    const disk = full(dir);

    // A short write lands part of the batch, then ENOSPC: a torn record at the tail.
    const err = ioErrorOf(() => wal.save(hs(1, 5), range(4, 6, 1, 4096)));
    expect(err).toMatchObject({ code: 'WAL_FAILED', errno: 'ENOSPC', path: lastSegment(dir) });
    expect(err.message).toContain('ENOSPC');
    expect(err.message).toContain(lastSegment(dir));
    expect(disk.refused).toBeGreaterThanOrEqual(2);
    expect(wal.failed()).toBe(err);

    // Space back or not, this WAL instance no longer writes: what reached the disk is unknown.
    disk.free();
    expect(() => wal.save(hs(1, 5), range(4, 4))).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
    expect(() => wal.saveSnapshot(snap(2))).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
    await expect(wal.flush()).rejects.toMatchObject({ code: 'WAL_FAILED' });
    wal.close();

    // Reopened (a restarted member): everything save() reported durable, the old hard state, and
    // at most whole entries of the failed batch that the short write happened to land (the
    // torn record is cut off). Those were never acknowledged: the leader confirms or replaces them.
    const { state } = await open(dir);
    const failed = range(4, 6, 1, 4096);
    expect(state.hardState).toEqual(hs(1, 2));
    expect(state.entries.slice(0, 3)).toEqual(range(1, 3));
    const landed = state.entries.slice(3);
    expect(landed.length).toBeLessThan(failed.length);
    expect(landed).toEqual(failed.slice(0, landed.length));
  });

  it('an unsynced save that fails leaves flush() failing, so no caller can treat it as durable', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 0), range(1, 2));
    full(dir);
    expect(() => wal.save(hs(1, 0), range(3, 4, 1, 4096), undefined, { sync: false })).toThrow(expect.objectContaining({ errno: 'ENOSPC' }));
    await expect(wal.flush()).rejects.toMatchObject({ code: 'WAL_FAILED' });
  });

  it('a failed fsync fails flush() with the segment named, and later saves', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 0), range(1, 2), undefined, { sync: false });
    failNextFdatasync();
    const err: unknown = await wal.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalIoError);
    expect(err).toMatchObject({ code: 'WAL_FAILED', errno: 'EIO', path: lastSegment(dir) });
    expect(() => wal.save(hs(1, 0), range(3, 3))).toThrow(expect.objectContaining({ code: 'WAL_FAILED' }));
  });

  it('a snapshot that does not fit names its temp file, and recovery keeps the older state', async () => {
    const dir = tempDir();
    const { wal } = await open(dir);
    wal.save(hs(1, 5), range(1, 5));
    full(dir);
    const err = ioErrorOf(() => wal.saveSnapshot(snap(4)));
    expect(err).toMatchObject({ errno: 'ENOSPC', path: path.join(dir, 'snap', `${'0'.repeat(15)}1-${'0'.repeat(15)}4.snap.tmp`) });
    for (const d of disks) d.free();
    wal.close();
    const { state } = await open(dir);
    expect(state.snapshot).toBeUndefined();
    expect(indexes(state.entries)).toEqual([1, 2, 3, 4, 5]);
    expect(snapFiles(dir)).toEqual([]);
  });
});
