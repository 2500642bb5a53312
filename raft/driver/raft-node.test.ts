// Tests of the driver: RaftNodes on a LocalNetwork, each with a real WAL in its own temporary
// directory, ticking every 10 ms. Every wait polls a condition against a deadline; nothing is
// synchronised by sleeping.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RaftError } from '../core/errors.js';
import type { Entry, MemberId, Message } from '../core/types.js';
import { Wal, WalError, WalIoError } from '../storage/index.js';
import { fillDisk } from '../storage/test-disk-full.js';
import { LocalNetwork, RaftNode, type RaftNodeOptions, type RaftStateMachine } from './index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

const dirs: string[] = [];
const nodes: RaftNode[] = [];

afterEach(() => {
  vi.restoreAllMocks();
  for (const n of nodes.splice(0)) n.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs`. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets `n` turns of the event loop pass, so work the driver scheduled with setImmediate runs. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

function describeEntry(e: Entry): string {
  const body = e.kind === 'normal' ? `normal:${dec.decode(e.data)}` : `conf:${e.change.type}:${e.change.member}`;
  return `${e.index}/${e.term}/${body}`;
}

/**
 * The replicated application: it keeps every applied entry, so members can be compared entry by
 * entry. apply() returns the entry's index, so a proposal resolves with where it landed.
 */
class RecordingMachine implements RaftStateMachine {
  /** Every applied entry in apply order (a restored snapshot brings its prefix). */
  history: string[] = [];
  lastApplied = 0;
  /** Entries applied out of order or twice: must stay empty. */
  readonly misordered: string[] = [];
  /** lastApplied of every snapshot installed through restore(). */
  readonly restores: number[] = [];
  /** lastApplied of every snapshot taken. */
  readonly snapshots: number[] = [];

  apply(e: Entry): number {
    if (e.index !== this.lastApplied + 1) this.misordered.push(`${e.index} after ${this.lastApplied}`);
    this.lastApplied = e.index;
    this.history.push(describeEntry(e));
    return e.index;
  }

  /** The payloads of the non-empty normal entries: what clients wrote. */
  values(): string[] {
    return this.history.flatMap((h) => {
      const m = /^\d+\/\d+\/normal:(.+)$/.exec(h);
      return m ? [m[1]!] : [];
    });
  }

  snapshot(): Uint8Array {
    this.snapshots.push(this.lastApplied);
    return enc.encode(JSON.stringify({ lastApplied: this.lastApplied, history: this.history }));
  }

  restore(data: Uint8Array): void {
    const s = JSON.parse(dec.decode(data)) as { lastApplied: number; history: string[] };
    this.lastApplied = s.lastApplied;
    this.history = s.history;
    this.restores.push(s.lastApplied);
  }
}

interface Member {
  id: MemberId;
  node: RaftNode;
  sm: RecordingMachine;
}

/**
 * Members on one LocalNetwork. The transport lets a test watch every message sent (`onSend`)
 * or delivered (`onDeliver`), and hold back those matching `hold` until release().
 */
class Cluster {
  readonly net = new LocalNetwork();
  readonly live = new Map<MemberId, Member>();
  readonly root: string;
  onSend: ((m: Message) => void) | undefined;
  onDeliver: ((m: Message) => void) | undefined;
  hold: ((m: Message) => boolean) | undefined;
  readonly held: Message[] = [];
  private readonly base = this.net.transport();

  constructor(
    readonly ids: MemberId[],
    private readonly options: Partial<RaftNodeOptions> = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-raft-node-test-'));
    dirs.push(this.root);
  }

  dataDir(id: MemberId): string {
    return path.join(this.root, id);
  }

  /** Opens (or reopens, from its dataDir) a member. */
  async start(id: MemberId, sm = new RecordingMachine()): Promise<Member> {
    const node = await RaftNode.open({
      tickMs: 10,
      electionTick: 20,
      ...this.options,
      id,
      dataDir: this.dataDir(id),
      bootstrap: this.ids,
      stateMachine: sm,
      transport: {
        send: (m) => {
          this.onSend?.(m);
          if (this.hold?.(m)) this.held.push(m);
          else this.base.send(m);
        },
      },
    });
    nodes.push(node);
    this.net.attach(id, (m) => {
      this.onDeliver?.(m);
      node.step(m);
    });
    const member = { id, node, sm };
    this.live.set(id, member);
    return member;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  /** A crash: cut off from the network, then stopped. Only its WAL remains. */
  crash(id: MemberId): Member {
    const m = this.member(id);
    this.net.disconnect(id);
    m.node.stop();
    this.net.detach(id);
    this.live.delete(id);
    return m;
  }

  /** Sends the held messages on through the network. */
  release(): void {
    this.hold = undefined;
    for (const m of this.held.splice(0)) this.base.send(m);
  }

  member(id: MemberId): Member {
    const m = this.live.get(id);
    if (!m) throw new Error(`${id} is not running`);
    return m;
  }

  members(): Member[] {
    return [...this.live.values()];
  }

  leaders(): Member[] {
    return this.members().filter((m) => m.node.status().role === 'leader');
  }

  /** Waits until the running members agree on one leader (and it knows it leads). */
  async leader(what = 'a leader every running member agrees on'): Promise<Member> {
    let found: Member | undefined;
    await waitFor(() => {
      const ls = this.leaders();
      if (ls.length !== 1) return false;
      found = ls[0]!;
      return this.members().every((m) => m.node.status().leader === found!.id);
    }, what);
    return found!;
  }

  followers(leader: Member): Member[] {
    return this.members().filter((m) => m.id !== leader.id);
  }

  /** Writes through the current leader; retries only when the write surely was not committed. */
  async write(payload: string): Promise<number> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const l = await this.leader();
      try {
        return (await l.node.propose(enc.encode(payload))) as number;
      } catch (err) {
        const retry = err instanceof RaftError && (err.code === 'NOT_LEADER' || err.code === 'PROPOSAL_DROPPED');
        if (!retry || Date.now() > deadline) throw err;
      }
    }
  }

  /** Waits until every running member has applied everything `leader` has committed. */
  async converged(leader: Member, what = 'every member to apply what the leader committed'): Promise<void> {
    const target = leader.node.status().commit;
    await waitFor(() => this.members().every((m) => m.sm.lastApplied >= target && m.node.status().applied >= target), what);
  }
}

async function threeMembers(options: Partial<RaftNodeOptions> = {}): Promise<Cluster> {
  const c = new Cluster(['a', 'b', 'c'], options);
  await c.startAll();
  return c;
}

function isRaftError(code: string, leader?: MemberId): (err: unknown) => boolean {
  return (err) => err instanceof RaftError && err.code === code && (leader === undefined || err.leader === leader);
}

describe('RaftNode', () => {
  it('a single-member bootstrap elects itself and applies proposals', async () => {
    const c = new Cluster(['solo']);
    const { node, sm } = await c.start('solo');
    await waitFor(() => node.status().role === 'leader', 'the only member to lead');

    const results: unknown[] = [];
    for (const v of ['x', 'y', 'z']) results.push(await node.propose(enc.encode(v)));

    // 1 is the bootstrap membership entry, 2 the new leader's empty entry.
    expect(results).toEqual([3, 4, 5]);
    expect(sm.values()).toEqual(['x', 'y', 'z']);
    expect(sm.history[0]).toBe('1/1/conf:addVoter:solo');
    expect(sm.misordered).toEqual([]);
    expect(node.status()).toMatchObject({ role: 'leader', leader: 'solo', commit: 5, applied: 5, lastIndex: 5 });
  });

  it('three members elect exactly one leader and apply the same entries in the same order', async () => {
    const c = await threeMembers();
    const leader = await c.leader();
    expect(c.leaders().map((m) => m.id)).toEqual([leader.id]);
    const term = leader.node.status().term;
    for (const m of c.members()) expect(m.node.status()).toMatchObject({ term, leader: leader.id });

    for (let i = 0; i < 10; i++) await c.write(`seq-${i}`);
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.write(`par-${i}`)));
    for (let i = 10; i < 20; i++) await c.write(`seq-${i}`);
    await c.converged(leader);

    const expected = leader.sm.history;
    expect(expected.length).toBe(leader.node.status().commit);
    expect(leader.sm.values()).toHaveLength(30);
    expect(new Set(leader.sm.values()).size).toBe(30);
    for (const m of c.members()) {
      expect(m.sm.history).toEqual(expected);
      expect(m.sm.misordered).toEqual([]);
    }
    // Still one leader, in the same term: nothing disturbed it.
    expect(c.leaders().map((m) => m.id)).toEqual([leader.id]);
    expect(leader.node.status().term).toBe(term);
  });

  it('propose on a follower rejects with NOT_LEADER naming the leader', async () => {
    const c = await threeMembers();
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;

    const err = await follower.node.propose(enc.encode('misdirected')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RaftError);
    expect(err).toMatchObject({ code: 'NOT_LEADER', leader: leader.id });

    // The rejected proposal went nowhere: a later write commits without it.
    await c.write('accepted');
    await c.converged(leader);
    for (const m of c.members()) expect(m.sm.values()).toEqual(['accepted']);
  });

  it('batches the proposals of one turn: 200 resolve in index order with far fewer fsyncs and appends', async () => {
    const c = await threeMembers();
    const leader = await c.leader();
    await c.write('warm-up');
    await c.converged(leader);

    const flush = vi.spyOn(Wal.prototype, 'flush');
    let appendsWithEntries = 0;
    c.onSend = (m) => {
      if (m.type === 'app' && m.from === leader.id && (m.entries?.length ?? 0) > 0) appendsWithEntries++;
    };

    const n = 200;
    const resolvedOrder: number[] = [];
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        leader.node.propose(enc.encode(`w${i}`)).then((r) => {
          resolvedOrder.push(i);
          return r as number;
        }),
      ),
    );
    await c.converged(leader);

    // Consecutive indexes in proposal order, resolved in that order.
    const first = results[0]!;
    expect(results).toEqual(Array.from({ length: n }, (_, i) => first + i));
    expect(resolvedOrder).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const m of c.members()) expect(m.sm.values().slice(1)).toEqual(Array.from({ length: n }, (_, i) => `w${i}`));

    // One fsync batch per member for the lot, give or take, instead of one per proposal.
    const perWal = new Map<unknown, number>();
    for (const w of flush.mock.contexts) perWal.set(w, (perWal.get(w) ?? 0) + 1);
    expect(perWal.size).toBe(3);
    for (const count of perWal.values()) expect(count).toBeLessThanOrEqual(5);
    // One append per follower, give or take, instead of one per proposal and follower.
    expect(appendsWithEntries).toBeGreaterThanOrEqual(2);
    expect(appendsWithEntries).toBeLessThanOrEqual(6);
  });

  it('after the leader stops, a new leader is elected and keeps committing', async () => {
    const c = await threeMembers();
    const old = await c.leader();
    for (let i = 0; i < 5; i++) await c.write(`before-${i}`);
    const oldTerm = old.node.status().term;

    c.crash(old.id);
    const next = await c.leader('a new leader among the two left');
    expect(next.id).not.toBe(old.id);
    expect(next.node.status().term).toBeGreaterThan(oldTerm);

    for (let i = 0; i < 5; i++) await c.write(`after-${i}`);
    await c.converged(next);
    const expected = [...Array.from({ length: 5 }, (_, i) => `before-${i}`), ...Array.from({ length: 5 }, (_, i) => `after-${i}`)];
    for (const m of c.members()) {
      expect(m.sm.values()).toEqual(expected);
      expect(m.sm.history).toEqual(next.sm.history);
    }
  });

  it('a member reopened from its dataDir recovers term, commit and applied state from its WAL, then catches up', async () => {
    const c = await threeMembers();
    const leader = await c.leader();
    for (let i = 0; i < 5; i++) await c.write(`early-${i}`);
    await c.converged(leader);
    const f = c.followers(leader)[0]!;
    const before = f.node.status();
    const historyBefore = [...f.sm.history];
    expect(before.commit).toBe(leader.node.status().commit);

    c.crash(f.id);
    for (let i = 0; i < 5; i++) await c.write(`late-${i}`);

    // Reopened while still cut off: all it knows comes from its WAL.
    const back = await c.start(f.id);
    const recovered = back.node.status();
    expect(recovered).toMatchObject({ term: before.term, vote: before.vote, commit: before.commit, lastIndex: before.lastIndex });
    await waitFor(() => back.sm.lastApplied === before.commit, 'the reopened member to replay its committed entries');
    expect(back.node.status().applied).toBe(before.commit);
    expect(back.sm.history).toEqual(historyBefore);

    c.net.reconnect(f.id);
    await c.converged(leader, 'the reopened member to catch up');
    expect(back.sm.history).toEqual(leader.sm.history);
    expect(back.sm.values()).toEqual([...Array.from({ length: 5 }, (_, i) => `early-${i}`), ...Array.from({ length: 5 }, (_, i) => `late-${i}`)]);
    expect(back.sm.misordered).toEqual([]);
  });

  it('a member that was down while the others compacted past its log gets a snapshot and converges', async () => {
    const c = await threeMembers({ snapshotEvery: 5, keepEntries: 2, wal: { segmentBytes: 1024 } });
    const leader = await c.leader();
    for (let i = 0; i < 3; i++) await c.write(`early-${i}`);
    await c.converged(leader);
    const f = c.followers(leader)[0]!;
    const lastBefore = f.node.status().lastIndex;

    c.crash(f.id);
    for (let i = 0; i < 30; i++) await c.write(`late-${i}`);
    // The leader snapshotted and kept only 2 entries behind: the entries after lastBefore are gone.
    const leaderSnap = leader.sm.snapshots.at(-1) ?? 0;
    expect(leaderSnap - 2).toBeGreaterThan(lastBefore + 1);

    c.net.reconnect(f.id);
    const back = await c.start(f.id);
    await c.converged(leader, 'the member to install a snapshot and catch up');
    // Besides any snapshot of its own from its WAL, it restored one from past its old log.
    expect(back.sm.restores.some((at) => at > lastBefore)).toBe(true);
    expect(back.sm.history).toEqual(leader.sm.history);
    expect(back.sm.values()).toEqual([...Array.from({ length: 3 }, (_, i) => `early-${i}`), ...Array.from({ length: 30 }, (_, i) => `late-${i}`)]);

    // It keeps up with new writes, and recovers from the received snapshot after another restart.
    await c.write('last');
    await c.converged(leader);
    expect(back.sm.history).toEqual(leader.sm.history);
    c.crash(f.id);
    c.net.reconnect(f.id);
    const again = await c.start(f.id);
    await c.converged(leader, 'the member to recover again');
    expect(again.sm.history).toEqual(leader.sm.history);
  });

  describe('readBarrier', () => {
    it('on the leader resolves only after it applied every write committed before the call', async () => {
      const c = await threeMembers({ electionTick: 30 });
      const leader = await c.leader();
      await c.write('first');
      await c.converged(leader);

      // Hold back the followers' acknowledgements, so the leader cannot commit w yet.
      c.hold = (m) => m.to === leader.id && m.type === 'appResp';
      const w = leader.node.propose(enc.encode('w'));
      await waitFor(() => leader.node.status().lastIndex > leader.node.status().commit, 'the leader to append w');
      const wIndex = leader.node.status().lastIndex;
      await waitFor(
        () => c.followers(leader).every((f) => c.held.some((m) => m.from === f.id && !m.reject && (m.index ?? 0) >= wIndex)),
        'both followers to acknowledge w',
      );
      expect(leader.node.status().commit).toBeLessThan(wIndex);

      // Hand the acknowledgements over synchronously: w is committed, but not applied yet.
      c.hold = undefined;
      for (const m of c.held.splice(0)) leader.node.step(m);
      expect(leader.node.status().commit).toBeGreaterThanOrEqual(wIndex);
      expect(leader.sm.values()).toEqual(['first']);

      let seen: string[] | undefined;
      const read = leader.node.readBarrier().then(() => {
        seen = [...leader.sm.values()];
      });
      await read;
      expect(seen).toEqual(['first', 'w']);
      await expect(w).resolves.toBe(wIndex);
    });

    it('on a follower resolves only after it applied every write committed before the call', async () => {
      const c = await threeMembers({ electionTick: 30 });
      const leader = await c.leader();
      await c.write('first');
      await c.converged(leader);
      const f = c.followers(leader)[0]!;

      // The follower is cut off from replication (appends and heartbeats), not from reads.
      c.hold = (m) => m.to === f.id && (m.type === 'app' || m.type === 'heartbeat');
      await c.write('w'); // committed by the leader and the other follower
      expect(f.sm.values()).toEqual(['first']);

      let answered = false;
      c.onDeliver = (m) => {
        if (m.type === 'readIndexResp' && m.to === f.id) answered = true;
      };
      let seen: string[] | undefined;
      const read = f.node.readBarrier().then(() => {
        seen = [...f.sm.values()];
      });
      await waitFor(() => answered, 'the leader to answer the read');
      await turns(3); // the driver handles the answer on its next pump
      expect(seen).toBeUndefined();
      expect(f.sm.values()).toEqual(['first']);

      c.release();
      await read;
      expect(seen).toEqual(['first', 'w']);
    });

    it('on a single member resolves only after the write committed before it is applied', async () => {
      const c = new Cluster(['solo']);
      const { node, sm } = await c.start('solo');
      await waitFor(() => node.status().role === 'leader', 'the only member to lead');
      await node.propose(enc.encode('first'));

      // Hold every fsync from now on: what is committed cannot be applied until it is on disk.
      const flush = Wal.prototype.flush;
      let openGate!: () => void;
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      vi.spyOn(Wal.prototype, 'flush').mockImplementation(async function (this: Wal) {
        await flush.call(this);
        await gate;
      });

      const w = node.propose(enc.encode('w'));
      // A quorum of one: w is committed as soon as it is appended.
      await waitFor(() => node.status().lastIndex === 4 && node.status().commit === 4, 'w to be committed');
      let seen: string[] | undefined;
      const read = node.readBarrier().then(() => {
        seen = [...sm.values()];
      });
      await turns(3);
      expect(seen).toBeUndefined();
      expect(sm.values()).toEqual(['first']);

      openGate();
      await read;
      expect(seen).toEqual(['first', 'w']);
      await expect(w).resolves.toBe(4);
    });
    it('an answer meant for an earlier incarnation of the member does not complete a read after a restart', async () => {
      const c = await threeMembers({ electionTick: 30 });
      const leader = await c.leader();
      await c.write('first');
      await c.converged(leader);
      const f = c.followers(leader)[0]!;

      // The answer to the member's read is delayed in the network past the member's crash.
      c.hold = (m) => m.to === f.id && m.type === 'readIndexResp';
      const oldRead = f.node.readBarrier();
      await waitFor(() => c.held.length > 0, 'the leader to answer the first read');
      c.crash(f.id);
      await expect(oldRead).rejects.toSatisfy(isRaftError('STOPPED'));
      const stale = c.held.splice(0);

      // Meanwhile w commits. The restarted member hears heartbeats but gets no entries (nor answers).
      c.hold = (m) => m.to === f.id && (m.type === 'app' || m.type === 'snap' || m.type === 'readIndexResp');
      await c.write('w');
      c.net.reconnect(f.id);
      const back = await c.start(f.id);
      const staleIndex = stale[0]!.index ?? 0;
      await waitFor(
        () => back.node.status().leader === leader.id && back.sm.lastApplied >= staleIndex,
        'the restarted member to replay its log and hear from the leader',
      );

      let seen: string[] | undefined;
      const read = back.node.readBarrier().then(() => {
        seen = [...back.sm.values()];
      });
      // The old answer arrives now: it says nothing about a read issued after w committed.
      for (const m of stale) back.node.step(m);
      await turns(3);
      expect(seen).toBeUndefined();
      expect(back.sm.values()).toEqual(['first']);

      c.release();
      await read;
      expect(seen).toEqual(['first', 'w']);
    });
  });

  describe('when the WAL fails', () => {
    async function soloLeader(): Promise<{ node: RaftNode; failures: Error[] }> {
      const c = new Cluster(['solo']);
      const { node } = await c.start('solo');
      const failures: Error[] = [];
      node.on('failed', (err) => failures.push(err));
      await waitFor(() => node.status().role === 'leader', 'the only member to lead');
      await node.propose(enc.encode('first'));
      return { node, failures };
    }

    it('a failed write stops the member, emits failed and rejects the proposal with STOPPED', async () => {
      const { node, failures } = await soloLeader();
      const boom = new WalError('WAL_FAILED', 'WAL write failed: ENOSPC');
      vi.spyOn(Wal.prototype, 'save').mockImplementationOnce(() => {
        throw boom;
      });
      await expect(node.propose(enc.encode('lost'))).rejects.toSatisfy(isRaftError('STOPPED'));
      expect(failures).toEqual([boom]);
      await expect(node.propose(enc.encode('later'))).rejects.toSatisfy(isRaftError('STOPPED'));
    });

    it('a follower whose disk fills acknowledges and applies nothing it could not persist, stops, and catches up once restarted', async () => {
      const c = await threeMembers();
      const leader = await c.leader();
      const f = c.followers(leader)[0]!;
      const failures: Error[] = [];
      f.node.on('failed', (err) => failures.push(err));
      // Every index f tells the leader it holds.
      const acked: number[] = [];
      c.onSend = (m) => {
        if (m.from === f.id && m.type === 'appResp' && m.reject !== true) acked.push(m.index ?? 0);
      };
      await c.write('before');
      await c.converged(leader);

      const disk = fillDisk(c.dataDir(f.id));
      let firstLost: number;
      let appliedAtStop: number;
      try {
        // The other two are a quorum: writes go on.
        firstLost = await c.write('during-0');
        for (let i = 1; i < 5; i++) await c.write(`during-${i}`);
        await waitFor(() => f.node.isStopped(), `${f.id} to stop on ENOSPC`);
        expect(failures).toHaveLength(1);
        expect(failures[0]).toBeInstanceOf(WalIoError);
        expect(failures[0]).toMatchObject({ code: 'WAL_FAILED', errno: 'ENOSPC' });
        expect((failures[0] as WalIoError).path.startsWith(fs.realpathSync(c.dataDir(f.id)))).toBe(true);
        expect(f.node.failedWith()).toBe(failures[0]);
        expect(disk.refused).toBeGreaterThan(0);
        appliedAtStop = f.sm.lastApplied;
        // It never claimed an entry written after the disk filled, nor applied one.
        expect(acked.length).toBeGreaterThan(0);
        expect(Math.max(...acked)).toBeLessThan(firstLost);
        expect(appliedAtStop).toBeLessThan(firstLost);
        // Stopped, it stays where it was while the others go on.
        await c.write('while-stopped');
        expect(f.sm.lastApplied).toBe(appliedAtStop);
      } finally {
        disk.free();
      }

      // Space is back; the member is restarted from its data dir, as a supervisor would.
      c.crash(f.id);
      const { wal, state } = await Wal.open(c.dataDir(f.id));
      wal.close();
      const durable = Math.max(state.snapshot?.metadata.index ?? 0, state.entries.at(-1)?.index ?? 0);
      expect(Math.max(...acked)).toBeLessThanOrEqual(durable);
      expect(appliedAtStop).toBeLessThanOrEqual(durable);

      const back = await c.start(f.id);
      c.net.reconnect(f.id);
      await c.write('after');
      await c.converged(leader, `${f.id} to catch up after the restart`);
      expect(back.sm.history).toEqual(leader.sm.history);
      expect(back.sm.misordered).toEqual([]);
      expect(back.sm.values()).toEqual(['before', 'during-0', 'during-1', 'during-2', 'during-3', 'during-4', 'while-stopped', 'after']);
    });

    it('a failed fsync stops the member, emits failed and rejects the proposal with STOPPED', async () => {
      const { node, failures } = await soloLeader();
      const boom = new WalError('WAL_FAILED', 'WAL fsync failed: EIO');
      vi.spyOn(Wal.prototype, 'flush').mockRejectedValueOnce(boom);
      await expect(node.propose(enc.encode('lost'))).rejects.toSatisfy(isRaftError('STOPPED'));
      expect(failures).toEqual([boom]);
    });
  });

  describe('without a quorum', () => {
    /** A leader whose two followers are gone; a long election timeout keeps it leader meanwhile. */
    async function lonelyLeader(requestTimeoutMs: number): Promise<{ c: Cluster; leader: Member }> {
      const c = await threeMembers({ electionTick: 100, requestTimeoutMs });
      const a = c.member('a');
      // A member campaigns only once it has applied the bootstrap membership.
      await waitFor(() => a.node.status().applied >= 3, 'a to apply the bootstrap membership');
      a.node.campaign();
      const leader = await c.leader();
      await c.write('committed');
      for (const f of c.followers(leader)) c.crash(f.id);
      return { c, leader };
    }

    it('propose and readBarrier fail with TIMEOUT', async () => {
      const { leader } = await lonelyLeader(300);
      const t0 = Date.now();
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => ({ err: undefined as unknown, at: Date.now() - t0 }),
          (err: unknown) => ({ err, at: Date.now() - t0 }),
        );
      const [write, read] = await Promise.all([outcome(leader.node.propose(enc.encode('lost'))), outcome(leader.node.readBarrier())]);

      for (const r of [write, read]) {
        expect(r.err).toBeInstanceOf(RaftError);
        expect(isRaftError('TIMEOUT')(r.err)).toBe(true);
        expect(r.at).toBeGreaterThanOrEqual(300);
      }
      // It timed out as leader, waiting for a quorum: it was not deposed.
      expect(leader.node.status().role).toBe('leader');
      expect(leader.sm.values()).toEqual(['committed']);
    });

    it('stop() rejects queued and pending proposals and pending reads with STOPPED', async () => {
      const { leader } = await lonelyLeader(10_000);
      const pending = leader.node.propose(enc.encode('pending'));
      const lastIndex = leader.node.status().lastIndex;
      await waitFor(() => leader.node.status().lastIndex > lastIndex, 'the proposal to be appended');
      const read = leader.node.readBarrier();
      const queued = leader.node.propose(enc.encode('queued')); // still in this turn's batch

      leader.node.stop();
      const results = await Promise.allSettled([pending, read, queued]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        if (r.status === 'rejected') expect(isRaftError('STOPPED')(r.reason)).toBe(true);
      }
      await expect(leader.node.propose(enc.encode('late'))).rejects.toSatisfy(isRaftError('STOPPED'));
      await expect(leader.node.readBarrier()).rejects.toSatisfy(isRaftError('STOPPED'));
      expect(leader.sm.values()).toEqual(['committed']);
    });
  });
});
