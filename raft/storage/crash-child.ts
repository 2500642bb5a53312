// The process the crash test SIGKILLs. Run as:
//   node --import tsx raft/storage/crash-child.ts <dir> <term> <seed>
// It recovers the WAL, prints "start <last index>", then appends batches forever, printing each
// batch's last index only after save() returned: a printed index is durable. Now and then it
// saves a snapshot, so kills also land in snapshot writes and segment deletion.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Entry, Snapshot } from '../core/types.js';
import { Rng } from '../index.js';
import { Wal } from './index.js';

export const CRASH_SEGMENT_BYTES = 16 * 1024;
export const CRASH_CONF = { voters: ['n1', 'n2', 'n3'], learners: [] };

/** A seeded source: the same seed gives the same run. */
export function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** The data of entry (index, term): 1..700 bytes, so batches straddle pages and can tear. */
export function payload(index: number, term: number): Uint8Array {
  const r = prng(index * 7919 + term);
  const out = new Uint8Array(1 + Math.floor(r() * 700));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  return out;
}

export function snapshotData(index: number): Uint8Array {
  return new TextEncoder().encode(`state machine at ${index}`);
}

async function main(dir: string, term: number, seed: number): Promise<void> {
  const rnd = prng(seed);
  const { wal, state } = await Wal.open(dir, { segmentBytes: CRASH_SEGMENT_BYTES });
  let last = state.entries.at(-1)?.index ?? state.snapshot?.metadata.index ?? 0;
  fs.writeSync(1, `start ${last}\n`);
  for (;;) {
    const n = 1 + Math.floor(rnd() * 16);
    const batch: Entry[] = [];
    for (let i = last + 1; i <= last + n; i++) batch.push({ term, index: i, kind: 'normal', data: payload(i, term) });
    wal.save({ term, vote: 'n1', commit: last + n }, batch);
    last += n;
    fs.writeSync(1, `${last}\n`);
    if (rnd() < 0.1) {
      const snap: Snapshot = { metadata: { index: last, term, conf: CRASH_CONF }, data: snapshotData(last) };
      wal.saveSnapshot(snap);
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [dir, term, seed] = process.argv.slice(2);
  await main(dir!, Number(term), Number(seed));
}
