import '../polyfill.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftError, type Entry } from '../raft/index.js';
import { LocalNetwork, RaftNode } from '../raft/driver/index.js';

// 3 members with the real WAL on disk (fsync on) and an in-process transport.
// Last line: {"bench":"raft","proposers":64,"writesPerSec":...,"p50Ms":...,"p99Ms":...,"singleProposerP50Ms":...}

const PAYLOAD = 256;
const MEMBERS = ['m1', 'm2', 'm3'];

class CountingMachine {
  count = 0;
  apply(e: Entry): number {
    if (e.kind === 'normal' && e.data.byteLength > 0) this.count++;
    return this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  restore(data: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(data) || '0');
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `proposers` loops of sequential writes for durationMs; returns latencies in ms. */
async function load(leader: RaftNode, proposers: number, durationMs: number): Promise<{ latencies: number[]; seconds: number }> {
  const payload = new Uint8Array(PAYLOAD).fill(7);
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: proposers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await leader.propose(payload);
        } catch (err) {
          if (err instanceof RaftError && err.code === 'TIMEOUT') continue;
          throw err;
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, seconds: (performance.now() - start) / 1000 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-bench-raft-'));
  const net = new LocalNetwork();
  const nodes: RaftNode[] = [];
  try {
    for (const id of MEMBERS) {
      const node = await RaftNode.open({
        id,
        dataDir: join(dir, id),
        transport: net.transport(),
        stateMachine: new CountingMachine(),
        bootstrap: MEMBERS,
        tickMs: 20,
        snapshotEvery: 50_000,
        keepEntries: 5_000,
      });
      net.attach(id, (m) => node.step(m));
      nodes.push(node);
    }
    await waitFor(() => nodes.some((n) => n.status().role === 'leader'), 'a leader');
    const leader = nodes.find((n) => n.status().role === 'leader')!;
    await load(leader, 1, 300); // warm up

    const single = await load(leader, 1, 3000);
    const singleSorted = single.latencies.sort((a, b) => a - b);
    const many = await load(leader, 64, 5000);
    const sorted = many.latencies.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const result = {
      bench: 'raft',
      proposers: 64,
      writesPerSec: Math.round(many.latencies.length / many.seconds),
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      singleProposerP50Ms: round(percentile(singleSorted, 50)),
      singleProposerP99Ms: round(percentile(singleSorted, 99)),
      singleProposerWritesPerSec: Math.round(single.latencies.length / single.seconds),
      payloadBytes: PAYLOAD,
      fsync: true,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const n of nodes) n.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:raft failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
