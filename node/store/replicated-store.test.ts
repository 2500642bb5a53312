import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RaftError, type Entry, type MemberId } from '../../raft/index.js';
import { LocalNetwork, RaftNode } from '../../raft/driver/index.js';
import { SwarmError } from '../errors.js';
import { ClusterStore } from './cluster-store.js';
import { encodeProposal } from './proposal.js';
import { ReplicatedStore, type RaftLike } from './replicated-store.js';
import { TABLE_NAMES, type ApplyResult, type ObjectInput, type StoreAction } from './types.js';

const svc = (ID: string, name: string, extra: Record<string, unknown> = {}): ObjectInput => ({ ID, Spec: { Name: name }, ...extra });
const createSvc = (ID: string, name: string): StoreAction => ({ op: 'create', table: 'services', object: svc(ID, name) });

async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The SwarmError a promise rejects with. */
async function swarmError(p: Promise<unknown>): Promise<SwarmError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SwarmError) return err;
    throw err;
  }
  throw new Error('expected a SwarmError, but it resolved');
}

// ---- against a scripted Raft: the routing and error rules ----

/** A one-member "Raft" that applies proposals to a store at once, or fails as told. */
class FakeRaft implements RaftLike {
  index = 0;
  leader = 'me';
  failPropose: Error | undefined;
  proposed = 0;
  constructor(readonly store: ClusterStore) {}
  status(): { leader: string; role: string; id: string } {
    return { id: 'me', leader: this.leader, role: this.leader === 'me' ? 'leader' : 'follower' };
  }
  async propose(data: Uint8Array): Promise<unknown> {
    this.proposed++;
    if (this.failPropose) throw this.failPropose;
    return this.store.apply({ term: 1, index: ++this.index, kind: 'normal', data });
  }
  async readBarrier(): Promise<void> {}
}

function fake(forward?: (leader: string, p: Uint8Array) => Promise<ApplyResult>) {
  const store = new ClusterStore();
  const raft = new FakeRaft(store);
  const fwd = vi.fn(forward ?? (() => Promise.reject(new Error('unexpected forward'))));
  const clock = () => new Date('2024-05-01T10:00:00.000Z');
  const replicated = new ReplicatedStore({ raft, store, forward: fwd, clock, leaderWaitMs: 150, applyWaitMs: 100, pollMs: 5 });
  return { store, raft, forward: fwd, replicated };
}

describe('ReplicatedStore routing (scripted Raft)', () => {
  it('proposes locally on the leader, stamping objects with the clock', async () => {
    const { replicated, store } = fake();
    const [s] = await replicated.commit([createSvc('s1', 'web')]);
    expect(s).toMatchObject({ ID: 's1', Version: { Index: 1 }, CreatedAt: '2024-05-01T10:00:00.000Z' });
    expect(store.get('services', 's1')).toEqual(s);
  });

  it('turns a failed transaction into a SwarmError with its code and message', async () => {
    const { replicated } = fake();
    await replicated.commit([createSvc('s1', 'web')]);
    const err = await swarmError(replicated.commit([{ op: 'update', table: 'services', object: svc('s1', 'web'), expectVersion: 99 }]));
    expect([err.code, err.message, err.status]).toEqual(['OUT_OF_SEQUENCE', 'update out of sequence', 409]);
  });

  it('rejects an invalid write before proposing it', async () => {
    const { replicated, raft } = fake();
    const err = await swarmError(replicated.commit([{ op: 'create', table: 'volumes' as 'tasks', object: { ID: 'v' } }]));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/^proposal\.actions\[0\]\.table/);
    expect(raft.proposed).toBe(0);
    expect((await swarmError(replicated.proposeLocal(new Uint8Array([0x92])))).code).toBe('INVALID_ARGUMENT');
  });

  it('maps a Raft TIMEOUT to NO_QUORUM with the recovery hint', async () => {
    const { replicated, raft } = fake();
    raft.failPropose = new RaftError('TIMEOUT', 'proposal at 1 not applied within 10 ms');
    const err = await swarmError(replicated.commit([createSvc('s1', 'web')]));
    expect([err.code, err.message, err.hint]).toEqual([
      'NO_QUORUM',
      'no quorum: the write could not be committed',
      'restore a majority of managers, or run `swarm init --force-new-cluster` on a surviving manager',
    ]);
  });

  it('forwards from a follower and retries once when the leader has changed', async () => {
    let calls = 0;
    const { replicated, raft, forward, store } = fake(async (_leader, p) => {
      if (++calls === 1) {
        raft.leader = 'other';
        // As it arrives over an RPC: a plain error carrying the code.
        throw Object.assign(new Error('not leader, leader is other'), { code: 'NOT_LEADER' });
      }
      // The leader applies it, and (here at once) so does this member.
      return store.apply({ term: 1, index: calls, kind: 'normal', data: p }) as ApplyResult;
    });
    raft.leader = 'old';
    const objects = await replicated.commit([createSvc('s1', 'web')]);
    expect(objects.map((o) => o.ID)).toEqual(['s1']);
    expect(forward.mock.calls.map((c) => c[0])).toEqual(['old', 'other']);
  });

  it('gives up after the second leader change', async () => {
    const { replicated, raft, forward } = fake(async () => {
      raft.leader = raft.leader === 'a' ? 'b' : 'a';
      throw new RaftError('NOT_LEADER', 'not leader');
    });
    raft.leader = 'a';
    expect((await swarmError(replicated.commit([createSvc('s1', 'web')]))).code).toBe('UNAVAILABLE');
    expect(forward).toHaveBeenCalledTimes(2);
  });

  it('passes the leader SwarmErrors through and names an unreachable leader', async () => {
    const { replicated, raft } = fake(() => Promise.reject(new SwarmError('NO_QUORUM', 'no quorum: the write could not be committed')));
    raft.leader = 'l';
    expect((await swarmError(replicated.commit([createSvc('s1', 'web')]))).code).toBe('NO_QUORUM');
    const other = fake(() => Promise.reject(new Error('connection refused')));
    other.raft.leader = 'l';
    const err = await swarmError(other.replicated.commit([createSvc('s1', 'web')]));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/leader l: connection refused/);
  });

  it('fails with NO_LEADER and a hint when no leader appears in time', async () => {
    const { replicated, raft } = fake();
    raft.leader = '';
    const t0 = Date.now();
    const err = await swarmError(replicated.commit([createSvc('s1', 'web')]));
    expect(err.code).toBe('NO_LEADER');
    expect(err.hint).toMatch(/more than half of the managers/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('rebuilds a SwarmError that crossed an RPC as a plain object', async () => {
    const { replicated, raft } = fake(() => Promise.reject(Object.assign(new Error('no quorum: x'), { code: 'NO_QUORUM', hint: 'restore' })));
    raft.leader = 'l';
    const err = await swarmError(replicated.commit([createSvc('s1', 'web')]));
    expect([err.code, err.status, err.message, err.hint]).toEqual(['NO_QUORUM', 503, 'no quorum: x', 'restore']);
  });

  it('answers with TIMEOUT when Raft never settles a request', async () => {
    const store = new ClusterStore();
    const raft: RaftLike = {
      status: () => ({ id: 'me', leader: 'me', role: 'leader' }),
      propose: () => new Promise(() => {}),
      readBarrier: () => new Promise(() => {}),
    };
    const replicated = new ReplicatedStore({ raft, store, forward: () => Promise.reject(new Error('no')), requestTimeoutMs: 50 });
    const err = await swarmError(replicated.commit([createSvc('s1', 'web')]));
    expect([err.code, err.message]).toEqual(['TIMEOUT', 'the write was not confirmed within 50 ms; the write may or may not have been applied']);
    expect((await swarmError(replicated.readFresh())).code).toBe('TIMEOUT');
  });

  it('passes NOT_LEADER through proposeLocal on a member that does not lead', async () => {
    const { replicated, raft } = fake();
    raft.failPropose = RaftError.notLeader('x');
    await expect(replicated.proposeLocal(encodeProposal({ proposedAt: '2024-05-01T10:00:00Z', actions: [] }))).rejects.toMatchObject({ code: 'NOT_LEADER' });
  });
});

// ---- against real Raft members: three RaftNodes with WALs on disk, on a LocalNetwork ----

const MEMBERS: MemberId[] = ['m1', 'm2', 'm3'];

interface Member {
  id: MemberId;
  store: ClusterStore;
  raft: RaftNode;
  replicated: ReplicatedStore;
  /** What this member's state machine returned, by entry index. */
  results: Map<number, unknown>;
  resets: number[];
}

class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'swarm-store-test-'));
  readonly net = new LocalNetwork();
  readonly members = new Map<MemberId, Member>();
  forwarded = 0;

  async start(id: MemberId): Promise<Member> {
    const store = new ClusterStore();
    const resets: number[] = [];
    store.onReset((i) => resets.push(i));
    const raft = await RaftNode.open({
      id,
      dataDir: join(this.dir, id),
      transport: this.net.transport(),
      stateMachine: store,
      bootstrap: MEMBERS,
      // Elections in 200-400 ms: quick, yet calm on a busy machine.
      tickMs: 10,
      electionTick: 20,
      heartbeatTick: 2,
      snapshotEvery: 5,
      keepEntries: 2,
      requestTimeoutMs: 400,
    });
    const results = new Map<number, unknown>();
    raft.on('applied', (e: Entry, r: unknown) => results.set(e.index, r));
    const replicated = new ReplicatedStore({
      raft,
      store,
      // The daemon's RPC, in miniature: bytes in, the leader's proposeLocal, a result back through the wire encoding.
      forward: async (leaderId, proposal) => {
        this.forwarded++;
        const leader = this.members.get(leaderId);
        if (!leader) throw new Error(`${leaderId} is unreachable`);
        return unpack(pack(await leader.replicated.proposeLocal(new Uint8Array(proposal)))) as ApplyResult;
      },
      leaderWaitMs: 800,
      requestTimeoutMs: 3000,
      pollMs: 5,
    });
    this.net.attach(id, (m) => raft.step(m));
    const member: Member = { id, store, raft, replicated, results, resets };
    this.members.set(id, member);
    return member;
  }

  stop(id: MemberId): void {
    this.net.detach(id);
    this.members.get(id)?.raft.stop();
    this.members.delete(id);
  }

  async startAll(): Promise<void> {
    for (const id of MEMBERS) await this.start(id);
    await this.leader();
  }

  /** The leader every running member agrees on. */
  leader(): Promise<Member> {
    return until(() => {
      const all = [...this.members.values()];
      const l = all.find((m) => m.raft.status().role === 'leader');
      return l && all.every((m) => m.raft.status().leader === l.id) ? l : undefined;
    }, 'a leader');
  }

  async follower(): Promise<Member> {
    const l = await this.leader();
    return [...this.members.values()].find((m) => m.id !== l.id)!;
  }

  /** Waits until every running member has applied all the leader has committed. */
  async converged(): Promise<Member[]> {
    const l = await this.leader();
    const target = l.raft.status().commit;
    const all = [...this.members.values()];
    await until(() => all.every((m) => m.store.lastIndex() >= target), `all members to apply up to ${target}`);
    return all;
  }

  close(): void {
    for (const id of [...this.members.keys()]) this.stop(id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function contents(store: ClusterStore): unknown {
  return Object.fromEntries(TABLE_NAMES.map((t) => [t, store.list(t)]));
}

function expectIdentical(members: Member[]): void {
  const [first, ...rest] = members;
  for (const m of rest) {
    expect(m.store.lastIndex()).toBe(first!.store.lastIndex());
    expect(contents(m.store)).toEqual(contents(first!.store));
    expect(Buffer.from(m.store.snapshot()).equals(Buffer.from(first!.store.snapshot()))).toBe(true);
  }
}

describe('ReplicatedStore on real Raft members', () => {
  let cluster: TestCluster | undefined;
  afterEach(() => {
    cluster?.close();
    cluster = undefined;
  });

  it('commits on the leader and through a follower; all three stores converge', async () => {
    cluster = new TestCluster();
    await cluster.startAll();
    const leader = await cluster.leader();
    const follower = await cluster.follower();

    const [web] = await leader.replicated.commit([createSvc('s1', 'web'), { op: 'create', table: 'tasks', object: { ID: 't1', ServiceID: 's1' } }]);
    expect(cluster.forwarded).toBe(0);
    expect(web!.Version.Index).toBe(leader.store.lastIndex());

    const [db] = await follower.replicated.commit([createSvc('s2', 'db')]);
    expect(cluster.forwarded).toBe(1);
    // Read-your-writes on the follower: its own store already shows the write.
    expect(follower.store.get('services', 's2')).toEqual(db);

    await follower.replicated.commit([{ op: 'update', table: 'services', object: svc('s1', 'web', { Replicas: 3 }), expectVersion: web!.Version.Index }]);
    await leader.replicated.commit([{ op: 'delete', table: 'tasks', id: 't1' }]);

    const all = await cluster.converged();
    expectIdentical(all);
    expect(leader.store.list('services').map((s) => [s.ID, (s as unknown as { Replicas?: number }).Replicas])).toEqual([
      ['s1', 3],
      ['s2', undefined],
    ]);
    expect(leader.store.count('tasks')).toBe(0);
  });

  it('fails a stale-version update with OUT_OF_SEQUENCE on every member alike', async () => {
    cluster = new TestCluster();
    await cluster.startAll();
    const leader = await cluster.leader();
    const follower = await cluster.follower();
    const [s] = await leader.replicated.commit([createSvc('s1', 'web')]);
    await leader.replicated.commit([{ op: 'update', table: 'services', object: svc('s1', 'web', { Replicas: 2 }), expectVersion: s!.Version.Index }]);

    const stale: StoreAction = { op: 'update', table: 'services', object: svc('s1', 'web', { Replicas: 9 }), expectVersion: s!.Version.Index };
    for (const via of [leader, follower]) {
      const err = await swarmError(via.replicated.commit([stale]));
      expect([err.code, err.message]).toEqual(['OUT_OF_SEQUENCE', 'update out of sequence']);
    }

    const all = await cluster.converged();
    const failed = [...leader.results].filter(([, r]) => (r as ApplyResult | undefined)?.ok === false).map(([i]) => i);
    expect(failed).toHaveLength(2);
    for (const index of failed) {
      for (const m of all) {
        expect(m.results.get(index)).toEqual({ ok: false, index, code: 'OUT_OF_SEQUENCE', message: 'update out of sequence' });
      }
    }
    expectIdentical(all);
    expect((leader.store.get('services', 's1') as unknown as { Replicas?: number } | undefined)?.Replicas).toBe(2);
  });

  it('fails with NO_QUORUM, in bounded time, when two of three members are down', async () => {
    cluster = new TestCluster();
    await cluster.startAll();
    const leader = await cluster.leader();
    await leader.replicated.commit([createSvc('s1', 'web')]);
    for (const id of MEMBERS) if (id !== leader.id) cluster.stop(id);

    const t0 = Date.now();
    const err = await swarmError(leader.replicated.commit([createSvc('s2', 'db')]));
    expect([err.code, err.message, err.status]).toEqual(['NO_QUORUM', 'no quorum: the write could not be committed', 503]);
    expect(err.hint).toContain('swarm init --force-new-cluster');
    // Raft's requestTimeoutMs (400) and a tick or two.
    expect(Date.now() - t0).toBeLessThan(1500);

    // CheckQuorum makes the lone leader step down; then no leader is known at all.
    await until(() => leader.raft.status().leader === '', 'the leader to step down');
    const t1 = Date.now();
    expect((await swarmError(leader.replicated.commit([createSvc('s3', 'api')]))).code).toBe('NO_LEADER');
    // leaderWaitMs (800), polled.
    expect(Date.now() - t1).toBeLessThan(2000);
    expect(leader.store.get('services', 's2')).toBeUndefined();
  });

  it('restores a restarted member from its WAL and snapshot, and it catches up to match the others', async () => {
    cluster = new TestCluster();
    await cluster.startAll();
    const leader = await cluster.leader();
    const follower = await cluster.follower();
    for (let i = 0; i < 8; i++) await leader.replicated.commit([createSvc(`s${i}`, `svc${i}`)]);
    await cluster.converged();
    cluster.stop(follower.id);

    // Enough writes for the leader to compact past what the stopped member holds.
    for (let i = 0; i < 8; i++) {
      const s = leader.store.get('services', `s${i}`)!;
      await leader.replicated.commit([{ op: 'update', table: 'services', object: { ...s, Replicas: i }, expectVersion: s.Version.Index }]);
    }
    await leader.replicated.commit([{ op: 'delete', table: 'services', id: 's0' }, createSvc('s8', 'svc8')]);

    const back = await cluster.start(follower.id);
    // Straight from its own WAL: the last snapshot it took, before any message arrived.
    expect(back.resets.length).toBe(1);
    expect(back.store.lastIndex()).toBeGreaterThan(0);
    expect(back.store.count('services')).toBeGreaterThan(0);

    const all = await cluster.converged();
    expectIdentical(all);
    // The leader had compacted past it, so it also installed the leader's snapshot.
    expect(back.resets.length).toBeGreaterThanOrEqual(2);
    expect(back.store.get('services', 's0')).toBeUndefined();
    expect((back.store.get('services', 's7') as unknown as { Replicas?: number } | undefined)?.Replicas).toBe(7);
    expect(back.store.getByName('services', 'svc8')?.ID).toBe('s8');
  });

  it('readFresh on a follower returns only once the follower has applied a write committed just before', async () => {
    cluster = new TestCluster();
    await cluster.startAll();
    const leader = await cluster.leader();
    const follower = await cluster.follower();
    let lagged = 0;
    for (let i = 0; i < 3; i++) {
      const term = leader.raft.status().term;
      await leader.replicated.commit([createSvc(`s${i}`, `svc${i}`)]);
      // Committed and applied on the leader; the follower learns of the commit only from a later
      // message (LocalNetwork delivers on a later turn). Unless an election moved the write.
      const undisturbed = leader.raft.status().role === 'leader' && leader.raft.status().term === term;
      if (undisturbed) {
        expect(follower.store.get('services', `s${i}`)).toBeUndefined();
        lagged++;
      }
      await follower.replicated.readFresh();
      expect(follower.store.get('services', `s${i}`)).toBeDefined();
    }
    expect(lagged).toBeGreaterThan(0);
  });
});
