import '../../polyfill.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RaftError, type Entry, type MemberId } from '../index.js';
import { LocalNetwork, RaftNode } from '../driver/index.js';

// A 3-member Raft cluster on this machine: real WALs on disk, an in-process network. It elects a
// leader, commits writes, loses the leader (its process state thrown away), elects another,
// keeps committing, then restarts the old leader from its WAL and shows it catch up.

const MEMBERS: MemberId[] = ['alpha', 'bravo', 'charlie'];
const started = Date.now();

function say(line: string): void {
  const t = ((Date.now() - started) / 1000).toFixed(2).padStart(6);
  process.stdout.write(`[${t}s] ${line}\n`);
}

/** A counter per member: the replicated state the demo shows. */
class Counter {
  value = 0;
  apply(e: Entry): number {
    if (e.kind === 'normal' && e.data.byteLength > 0) this.value += Number(new TextDecoder().decode(e.data));
    return this.value;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.value));
  }
  restore(data: Uint8Array): void {
    this.value = Number(new TextDecoder().decode(data) || '0');
  }
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-demo-raft-'));
  const net = new LocalNetwork();
  const nodes = new Map<MemberId, RaftNode>();
  const counters = new Map<MemberId, Counter>();

  const open = async (id: MemberId): Promise<RaftNode> => {
    const counter = new Counter();
    const node = await RaftNode.open({
      id,
      dataDir: join(dir, id),
      transport: net.transport(),
      stateMachine: counter,
      bootstrap: MEMBERS,
      tickMs: 50,
      snapshotEvery: 20,
      keepEntries: 5,
    });
    node.on('softState', (s) => {
      if (s.role === 'leader') say(`${id} is elected leader (term ${node.status().term})`);
    });
    net.attach(id, (m) => node.step(m));
    nodes.set(id, node);
    counters.set(id, counter);
    return node;
  };

  const leaderNow = (): RaftNode | undefined => [...nodes.values()].find((n) => n.status().role === 'leader');

  const write = async (amount: number): Promise<void> => {
    for (;;) {
      const leader = await until(leaderNow, 'a leader');
      try {
        const total = await leader.propose(new TextEncoder().encode(String(amount)));
        say(`  +${amount} committed by ${leader.id} at index ${leader.status().applied}: counter = ${String(total)}`);
        return;
      } catch (err) {
        if (err instanceof RaftError && (err.code === 'NOT_LEADER' || err.code === 'TIMEOUT' || err.code === 'PROPOSAL_DROPPED')) continue;
        throw err;
      }
    }
  };

  try {
    say(`starting ${MEMBERS.join(', ')} with their WALs under ${dir}`);
    for (const id of MEMBERS) await open(id);
    const first = await until(leaderNow, 'the first leader');
    for (let i = 1; i <= 5; i++) await write(i);

    say(`crashing the leader ${first.id}: its memory is gone, only its WAL remains`);
    net.disconnect(first.id);
    first.stop();
    nodes.delete(first.id);
    const t0 = Date.now();
    const second = await until(() => {
      const l = leaderNow();
      return l && l.id !== first.id ? l : undefined;
    }, 'a new leader');
    say(`failover took ${Date.now() - t0} ms`);
    for (let i = 6; i <= 30; i++) await write(i);

    say(`restarting ${first.id} from its WAL`);
    net.reconnect(first.id);
    const back = await open(first.id);
    const s = back.status();
    say(`${first.id} recovered term ${s.term}, commit ${s.commit}, last index ${s.lastIndex}; catching up...`);
    const target = second.status().commit;
    await until(() => (back.status().applied >= target ? true : undefined), `${first.id} to catch up`);
    say(`${first.id} caught up: applied ${back.status().applied}, counter = ${counters.get(first.id)!.value}`);

    const values = MEMBERS.map((id) => `${id}=${counters.get(id)!.value}`).join(' ');
    say(`all members agree: ${values}`);
    const agreed = new Set(MEMBERS.map((id) => counters.get(id)!.value)).size === 1;
    if (!agreed) throw new Error(`members disagree: ${values}`);
  } finally {
    for (const n of nodes.values()) n.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
