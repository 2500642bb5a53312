// Shared by bench/raft.ts (both transports) and bench/raft-member.ts (one member per process in
// the libp2p mode): the state machine, the load generator, the summary, and the JSON-lines
// protocol between the parent and its member processes.
import { RaftError, type Entry } from '../raft/index.js';
import type { RaftNode } from '../raft/driver/index.js';

export const PAYLOAD = 256;
export const MEMBERS = ['m1', 'm2', 'm3'];
/** The RaftNode options both transports use. */
export const RAFT_OPTIONS = { tickMs: 20, snapshotEvery: 50_000, keepEntries: 5_000 } as const;

export class CountingMachine {
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

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `proposers` loops of sequential writes for durationMs; returns latencies in ms. */
export async function load(leader: RaftNode, proposers: number, durationMs: number): Promise<{ latencies: number[]; seconds: number }> {
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

/** What a load phase yields: completed writes, its duration, and latency percentiles. */
export interface LoadSummary {
  writes: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarize(run: { latencies: number[]; seconds: number }): LoadSummary {
  const sorted = run.latencies.sort((a, b) => a - b);
  return { writes: sorted.length, seconds: run.seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** The benchmark's last line: the same shape for both transports. */
export function result(transport: 'local' | 'libp2p', single: LoadSummary, many: LoadSummary): Record<string, unknown> {
  return {
    bench: 'raft',
    transport,
    proposers: 64,
    writesPerSec: Math.round(many.writes / many.seconds),
    p50Ms: round(many.p50Ms),
    p99Ms: round(many.p99Ms),
    singleProposerP50Ms: round(single.p50Ms),
    singleProposerP99Ms: round(single.p99Ms),
    singleProposerWritesPerSec: Math.round(single.writes / single.seconds),
    payloadBytes: PAYLOAD,
    fsync: true,
  };
}

// ---------------------------------------------------------------- parent <-> member protocol
// One JSON object per line: commands on the member's stdin, answers and events on its stdout.
// The member's logs go to its stderr (inherited from the parent).

export interface PeerInfo {
  member: string;
  peerId: string;
  addrs: string[];
}

export type MemberCommand =
  /** Trust (base64 of the encoded certificate and of the CA public key), the other members, and go. */
  | { id: number; cmd: 'start'; certificate: string; caPublicKey: string; members: string[]; peers: PeerInfo[] }
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'load'; proposers: number; durationMs: number }
  | { id: number; cmd: 'stop' };

export interface MemberStatus {
  role: string;
  leader: string;
  term: number;
  applied: number;
}

export type MemberMessage =
  | ({ event: 'listening' } & PeerInfo)
  | { id: number; ok: true; result: MemberStatus | LoadSummary | null }
  | { id: number; ok: false; error: string };
