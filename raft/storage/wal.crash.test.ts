// Kills a writing process with SIGKILL at random points and checks that everything it reported
// durable survives, that recovery leaves a clean tail, and that appending continues.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../core/types.js';
import { CRASH_CONF, CRASH_SEGMENT_BYTES, payload, prng, snapshotData } from './crash-child.js';
import { Wal } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// tsx runs the TypeScript child directly (Node 20 cannot).
const LOADER = 'tsx';
const CHILD = path.join(here, 'crash-child.ts');
const SEED = 0x5eed1;
const ROUNDS = 8;

const dirs: string[] = [];
const children: { kill: () => void }[] = [];

afterEach(() => {
  for (const c of children.splice(0)) c.kill();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs the child until it has printed `lines` batch lines, then SIGKILLs it; returns all it printed. */
async function runAndKill(dir: string, term: number, seed: number, lines: number): Promise<{ start: number; durable: number[] }> {
  const proc = spawn(process.execPath, ['--import', LOADER, CHILD, dir, String(term), String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push({ kill: () => proc.kill('SIGKILL') });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<string>((resolve) => proc.on('exit', (code, signal) => resolve(`code ${code}, signal ${signal}`)));
  const out: string[] = [];
  let reached: (() => void) | undefined;
  const enough = new Promise<void>((resolve) => (reached = resolve));
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    out.push(line);
    if (out.length > lines) reached?.(); // the "start" line plus `lines` batches
  });
  await Promise.race([
    enough,
    exited.then((how) => {
      throw new Error(`child exited early (${how}) after ${out.length} lines: ${stderr}`);
    }),
  ]);
  proc.kill('SIGKILL');
  const how = await exited;
  expect(how, stderr).toBe('code null, signal SIGKILL');
  // Every line is complete (one small write to a pipe is atomic); all of them were printed
  // after save() returned, including those that arrived after the kill was decided.
  const m = /^start (\d+)$/.exec(out[0] ?? '');
  expect(m, `first line of ${JSON.stringify(out.slice(0, 3))}`).not.toBeNull();
  const durable = out.slice(1).map((l) => {
    expect(l).toMatch(/^\d+$/);
    return Number(l);
  });
  return { start: Number(m![1]), durable };
}

interface Written {
  from: number;
  to: number;
  term: number;
}

/** Opens the WAL as a restarted member would and checks it against what was reported durable. */
async function verify(dir: string, written: Written[], durable: number): Promise<number> {
  const { wal, state } = await Wal.open(dir, { segmentBytes: CRASH_SEGMENT_BYTES });
  try {
    const snapIndex = state.snapshot?.metadata.index ?? 0;
    if (state.snapshot) {
      expect(state.snapshot.metadata.conf).toEqual(CRASH_CONF);
      expect(state.snapshot.data).toEqual(snapshotData(snapIndex));
    }
    state.entries.forEach((e: Entry, i) => {
      expect(e.index).toBe(snapIndex + 1 + i);
      // Even unreported entries must be whole: garbage never passes recovery.
      expect(e.kind === 'normal' && e.data).toEqual(payload(e.index, e.term));
    });
    const last = state.entries.at(-1)?.index ?? snapIndex;
    expect(last).toBeGreaterThanOrEqual(durable);
    for (const w of written) {
      for (let i = Math.max(w.from, snapIndex + 1); i <= w.to; i++) expect(state.entries[i - snapIndex - 1]!.term, `entry ${i}`).toBe(w.term);
    }
    expect(state.hardState.commit).toBeGreaterThanOrEqual(durable);
    expect(state.hardState.commit).toBeLessThanOrEqual(last);
    return last;
  } finally {
    wal.close();
  }
}

function segmentSizes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of fs.readdirSync(dir)) if (f.endsWith('.wal')) out[f] = fs.statSync(path.join(dir, f)).size;
  return out;
}

describe('Wal crash safety', () => {
  it(`keeps every reported-durable entry across ${ROUNDS} SIGKILLs at random points`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-wal-crash-'));
    dirs.push(dir);
    const rnd = prng(SEED);
    const written: Written[] = [];
    let durable = 0;
    let last = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const term = round; // each incarnation writes its own term, so entries tell who wrote them
      const lines = 1 + Math.floor(rnd() * 80);
      const run = await runAndKill(dir, term, Math.floor(rnd() * 2 ** 31), lines);
      // The child recovered exactly what the last verification saw.
      expect(run.start, `round ${round} (seed ${SEED})`).toBe(last);
      expect(run.durable.length).toBeGreaterThanOrEqual(lines);
      const top = run.durable.at(-1)!;
      written.push({ from: run.start + 1, to: top, term });
      durable = top;
      last = await verify(dir, written, durable);
    }

    // The tail is clean: a second open changes nothing, and appending continues.
    const sizes = segmentSizes(dir);
    const { wal, state } = await Wal.open(dir, { segmentBytes: CRASH_SEGMENT_BYTES });
    expect(segmentSizes(dir)).toEqual(sizes);
    const term = ROUNDS + 1;
    const more: Entry[] = [];
    for (let i = last + 1; i <= last + 5; i++) more.push({ term, index: i, kind: 'normal', data: payload(i, term) });
    wal.save({ term, vote: 'n1', commit: last + 5 }, more);
    wal.close();
    expect(state.hardState.commit).toBeGreaterThanOrEqual(durable);
    written.push({ from: last + 1, to: last + 5, term });
    expect(await verify(dir, written, last + 5)).toBe(last + 5);
  });
});
