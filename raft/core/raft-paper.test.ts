// Tests of the consensus core, one rule of the Raft paper at a time, named after the paper's
// sections ("In Search of an Understandable Consensus Algorithm", Ongaro & Ousterhout), as etcd's
// raft_paper_test.go does; then the extensions of Ongaro's thesis the core implements (PreVote,
// CheckQuorum, leadership transfer, ReadIndex, membership changes, snapshots, flow control).
//
// Unit tests drive a single Raft by hand (step/tick, inspecting msgs); cluster tests use the
// deterministic TestNetwork of RawNodes.

import { describe, expect, it } from 'vitest';
import { RaftError } from './errors.js';
import { Raft } from './raft.js';
import { RawNode } from './rawnode.js';
import { bytes, entriesOfTerms, memoryStorage, mulberry32, TestNetwork, text, type NetworkOptions, type StorageSetup } from './test-network.js';
import { NONE, type Entry, type HardState, type MemberId, type Message, type MessageType } from './types.js';

// ------------------------------------------------------------------ unit-test helpers

interface RaftOptions {
  peers?: MemberId[];
  entries?: Entry[];
  hardState?: HardState;
  electionTick?: number;
  heartbeatTick?: number;
  /** Off unless asked for: the paper's algorithm first. */
  preVote?: boolean;
  checkQuorum?: boolean;
  random?: () => number;
}

function newRaft(id: MemberId, o: RaftOptions = {}): Raft {
  const setup: StorageSetup = { voters: o.peers ?? ['1', '2', '3'] };
  if (o.entries) setup.entries = o.entries;
  if (o.hardState) setup.hardState = o.hardState;
  return new Raft({
    id,
    storage: memoryStorage(setup),
    electionTick: o.electionTick ?? 10,
    heartbeatTick: o.heartbeatTick ?? 1,
    random: o.random ?? mulberry32(1),
    preVote: o.preVote ?? false,
    checkQuorum: o.checkQuorum ?? false,
  });
}

/** The messages the Raft produced since the last call. */
function take(r: Raft): Message[] {
  const out = r.msgs;
  r.msgs = [];
  return out;
}

function msg(type: MessageType, from: MemberId, to: MemberId, term: number, extra: Partial<Message> = {}): Message {
  return { type, from, to, term, ...extra };
}

function hup(r: Raft): void {
  r.step(msg('hup', r.id, r.id, 0));
}

function propose(r: Raft, data: string): RaftError | undefined {
  return r.step(msg('propose', r.id, r.id, 0, { entries: [{ term: 0, index: 0, kind: 'normal', data: bytes(data) }] }));
}

/** Starts an election and grants every (pre-)vote it asks for, until it leads. */
function electLeader(r: Raft): void {
  hup(r);
  for (let round = 0; round < 3 && r.role !== 'leader'; round++) {
    for (const m of take(r)) {
      if (m.type === 'vote' || m.type === 'preVote') {
        r.step(msg(m.type === 'vote' ? 'voteResp' : 'preVoteResp', m.to, r.id, m.term, { reject: false }));
      }
    }
  }
  expect(r.role).toBe('leader');
  take(r);
}

/** Every voter acknowledges the leader's whole log (its empty entry of the new term). */
function commitNoop(r: Raft): void {
  for (const id of r.tracker.voters) {
    if (id !== r.id) r.step(msg('appResp', id, r.id, r.term, { index: r.log.lastIndex() }));
  }
  expect(r.log.committed).toBe(r.log.lastIndex());
  take(r);
}

function pairs(ents: Entry[]): Array<[number, number]> {
  return ents.map((e) => [e.index, e.term]);
}

function wholeLog(r: Raft): Array<[number, number]> {
  return pairs(r.log.slice(r.log.firstIndex(), r.log.lastIndex() + 1));
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo }, (_, i) => lo + i);
}

function byTo(ms: Message[]): Message[] {
  return [...ms].sort((a, b) => a.to.localeCompare(b.to));
}

function errorOf(fn: () => void): RaftError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RaftError) return err;
    throw err;
  }
  throw new Error('expected a RaftError');
}

const IDS3 = ['1', '2', '3'];

/** A bootstrapped cluster with 1 elected and its first entry committed everywhere. */
function cluster(ids: MemberId[] = IDS3, opts: NetworkOptions = {}): TestNetwork {
  const net = TestNetwork.bootstrap(ids, opts);
  net.campaign('1');
  expect(net.leader()).toBe('1');
  const st = net.node('1').status();
  expect(st.commit).toBe(st.lastIndex);
  return net;
}

function rejections(net: TestNetwork, from: MemberId, to: MemberId): number {
  return net.sentWhere({ type: 'appResp', from, to }).filter((m) => m.reject === true).length;
}

// ================================================================== §5.1

describe('§5.1 Raft basics', () => {
  describe('a member that sees a higher term adopts it and becomes a follower', () => {
    const roles = ['follower', 'candidate', 'leader'] as const;
    const types: Array<{ type: MessageType; leadIsSender: boolean }> = [
      { type: 'app', leadIsSender: true },
      { type: 'heartbeat', leadIsSender: true },
      { type: 'appResp', leadIsSender: false },
      { type: 'heartbeatResp', leadIsSender: false },
      { type: 'voteResp', leadIsSender: false },
    ];
    const cases = roles.flatMap((role) => types.map((t) => ({ role, ...t })));
    it.each(cases)('$role receiving $type', ({ role, type, leadIsSender }) => {
      const r = newRaft('1');
      if (role === 'candidate') hup(r);
      if (role === 'leader') electLeader(r);
      expect(r.term).toBe(role === 'follower' ? 0 : 1);
      r.step(msg(type, '2', '1', 2, { index: 0, logTerm: 0, commit: 0, entries: [] }));
      expect(r.term).toBe(2);
      expect(r.role).toBe('follower');
      expect(r.vote).toBe(NONE);
      expect(r.lead).toBe(leadIsSender ? '2' : NONE);
    });
  });

  it('a message of a stale term is ignored', () => {
    const r = newRaft('1', { entries: entriesOfTerms([1, 2]), hardState: { term: 2, vote: NONE, commit: 1 } });
    r.step(msg('app', '2', '1', 1, { index: 2, logTerm: 2, commit: 3, entries: entriesOfTerms([1], 3) }));
    r.step(msg('heartbeat', '2', '1', 1, { commit: 2 }));
    r.step(msg('vote', '3', '1', 1, { index: 9, logTerm: 9 }));
    expect(take(r)).toEqual([]);
    expect(r.term).toBe(2);
    expect(r.lead).toBe(NONE);
    expect(r.vote).toBe(NONE);
    expect(r.log.lastIndex()).toBe(2);
    expect(r.log.committed).toBe(1);
  });

  it('with CheckQuorum a stale leader is told the newer term, and steps down when it hears it', () => {
    const follower = newRaft('1', { hardState: { term: 2, vote: NONE, commit: 0 }, checkQuorum: true });
    follower.step(msg('heartbeat', '2', '1', 1, { commit: 0 }));
    const answer = take(follower);
    expect(answer).toEqual([msg('appResp', '1', '2', 2)]);

    const staleLeader = newRaft('2', { checkQuorum: true });
    electLeader(staleLeader);
    expect(staleLeader.term).toBe(1);
    staleLeader.step(answer[0]!);
    expect(staleLeader.role).toBe('follower');
    expect(staleLeader.term).toBe(2);
  });

  it('a stale pre-vote is answered with a rejection carrying the newer term', () => {
    const r = newRaft('1', { hardState: { term: 3, vote: NONE, commit: 0 }, preVote: true });
    r.step(msg('preVote', '2', '1', 2, { index: 5, logTerm: 2 }));
    expect(take(r)).toEqual([msg('preVoteResp', '1', '2', 3, { reject: true })]);
    expect(r.term).toBe(3);
  });

  it('members start as followers, with the persisted term and vote', () => {
    const fresh = newRaft('1');
    expect(fresh.role).toBe('follower');
    expect(fresh.term).toBe(0);
    expect(fresh.lead).toBe(NONE);
    const restarted = newRaft('1', { entries: entriesOfTerms([1, 5]), hardState: { term: 5, vote: '3', commit: 1 } });
    expect(restarted.role).toBe('follower');
    expect(restarted.term).toBe(5);
    expect(restarted.vote).toBe('3');
    expect(restarted.lead).toBe(NONE);
    expect(restarted.log.committed).toBe(1);
    expect(restarted.log.lastIndex()).toBe(2);
  });

  it('term, vote and log persisted through the Ready cycle survive a restart', () => {
    const net = cluster();
    net.propose('1', 'a');
    const before = net.node('2').status();
    const node = net.restart('2');
    const after = node.status();
    expect(after.term).toBe(before.term);
    expect(after.vote).toBe(before.vote);
    expect(after.lastIndex).toBe(before.lastIndex);
    expect(after.commit).toBe(before.commit);
    expect(after.role).toBe('follower');
    // The restarted member re-learns the membership from the committed log and rejoins.
    net.deliverAll();
    expect(net.node('2').confState()).toEqual({ voters: IDS3, learners: [] });
    net.propose('1', 'b');
    expect(net.appliedData('2')).toEqual(['a', 'b']);
  });

  it('a leader sends heartbeats every heartbeatTick, never telling a follower to commit past its match', () => {
    const r = newRaft('1', { heartbeatTick: 2 });
    electLeader(r);
    r.tick();
    expect(take(r)).toEqual([]);
    r.tick();
    // Nobody acknowledged the leader's entry yet: commit 0 for everyone.
    expect(byTo(take(r))).toEqual([msg('heartbeat', '1', '2', 1, { commit: 0 }), msg('heartbeat', '1', '3', 1, { commit: 0 })]);

    commitNoop(r);
    // Only 2 acknowledges a new entry: its heartbeat may carry the new commit, 3's may not.
    propose(r, 'x');
    r.step(msg('appResp', '2', '1', 1, { index: 2 }));
    expect(r.log.committed).toBe(2);
    take(r);
    r.tick();
    r.tick();
    expect(byTo(take(r))).toEqual([msg('heartbeat', '1', '2', 1, { commit: 2 }), msg('heartbeat', '1', '3', 1, { commit: 1 })]);
  });

  it('a follower answers a heartbeat and moves its commit index, capped by its log', () => {
    const r = newRaft('2', { entries: entriesOfTerms([1, 1]), hardState: { term: 1, vote: NONE, commit: 0 } });
    r.step(msg('heartbeat', '1', '2', 1, { commit: 5 }));
    expect(r.log.committed).toBe(2);
    expect(r.lead).toBe('1');
    expect(take(r)).toEqual([msg('heartbeatResp', '2', '1', 1)]);
  });
});

// ================================================================== §5.2

describe('§5.2 Leader election', () => {
  it('a follower that hears nothing for an election timeout becomes a candidate and asks for votes', () => {
    const r = newRaft('1', { entries: entriesOfTerms([1, 1]), hardState: { term: 1, vote: NONE, commit: 0 } });
    for (let i = 0; i < 2 * 10; i++) r.tick();
    expect(r.role).toBe('candidate');
    expect(r.term).toBe(2);
    expect(r.vote).toBe('1');
    expect(byTo(take(r))).toEqual([
      msg('vote', '1', '2', 2, { index: 2, logTerm: 1 }),
      msg('vote', '1', '3', 2, { index: 2, logTerm: 1 }),
    ]);
  });

  it('a follower that keeps hearing from the leader never starts an election', () => {
    const r = newRaft('1', { hardState: { term: 1, vote: NONE, commit: 0 } });
    for (let i = 0; i < 10 * 10; i++) {
      r.tick();
      if (i % 3 === 0) r.step(msg('heartbeat', '2', '1', 1, { commit: 0 }));
    }
    expect(r.role).toBe('follower');
    expect(r.term).toBe(1);
    expect(take(r).every((m) => m.type === 'heartbeatResp')).toBe(true);
  });

  it('a candidate whose election times out starts a new one in the next term', () => {
    const r = newRaft('1');
    hup(r);
    expect(r.term).toBe(1);
    take(r);
    for (let i = 0; i < 2 * 10; i++) r.tick();
    expect(r.role).toBe('candidate');
    expect(r.term).toBe(2);
    expect(r.vote).toBe('1');
    expect(byTo(take(r))).toEqual([msg('vote', '1', '2', 2, { index: 0, logTerm: 0 }), msg('vote', '1', '3', 2, { index: 0, logTerm: 0 })]);
  });

  describe('a candidate wins with votes from a majority, loses on rejections from a majority, else waits', () => {
    const cases: Array<{ size: number; votes: Record<string, boolean>; want: 'leader' | 'candidate' | 'follower' }> = [
      { size: 1, votes: {}, want: 'leader' },
      { size: 3, votes: { 2: true, 3: true }, want: 'leader' },
      { size: 3, votes: { 2: true }, want: 'leader' },
      { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: 'leader' },
      { size: 5, votes: { 2: true, 3: true, 4: true }, want: 'leader' },
      { size: 5, votes: { 2: true, 3: true }, want: 'leader' },
      // still waiting: neither a majority of grants nor of rejections
      { size: 3, votes: {}, want: 'candidate' },
      { size: 3, votes: { 2: false }, want: 'candidate' },
      { size: 5, votes: { 2: true }, want: 'candidate' },
      { size: 5, votes: { 2: false, 3: false }, want: 'candidate' },
      { size: 5, votes: { 2: true, 3: false, 4: false }, want: 'candidate' },
      // lost
      { size: 3, votes: { 2: false, 3: false }, want: 'follower' },
      { size: 5, votes: { 2: false, 3: false, 4: false }, want: 'follower' },
      { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: 'follower' },
    ];
    it.each(cases)('$size members, votes $votes → $want', ({ size, votes, want }) => {
      const r = newRaft('1', { peers: range(1, size + 1).map(String) });
      hup(r);
      for (const [from, granted] of Object.entries(votes)) r.step(msg('voteResp', from, '1', 1, { reject: !granted }));
      expect(r.role).toBe(want);
      expect(r.term).toBe(1);
    });
  });

  describe('each member votes for at most one candidate per term, first come first served', () => {
    it.each([
      { voted: NONE, from: '2', reject: false },
      { voted: NONE, from: '3', reject: false },
      { voted: '2', from: '2', reject: false },
      { voted: '3', from: '3', reject: false },
      { voted: '2', from: '3', reject: true },
      { voted: '3', from: '2', reject: true },
    ])('having voted for "$voted" in the term, a request from $from is rejected: $reject', ({ voted, from, reject }) => {
      const r = newRaft('1', { hardState: { term: 1, vote: voted, commit: 0 } });
      r.step(msg('vote', from, '1', 1, { index: 0, logTerm: 0 }));
      expect(take(r)).toEqual([msg('voteResp', '1', from, 1, { reject })]);
      expect(r.vote).toBe(voted === NONE ? from : voted);
    });

    it('the vote is cast by the first request and recorded in the hard state; a new term frees it', () => {
      const r = newRaft('1');
      r.step(msg('vote', '2', '1', 1, { index: 0, logTerm: 0 }));
      r.step(msg('vote', '3', '1', 1, { index: 0, logTerm: 0 }));
      expect(take(r).map((m) => [m.to, m.reject])).toEqual([
        ['2', false],
        ['3', true],
      ]);
      expect(r.hardState()).toEqual({ term: 1, vote: '2', commit: 0 });
      r.step(msg('vote', '3', '1', 2, { index: 0, logTerm: 0 }));
      expect(take(r)).toEqual([msg('voteResp', '1', '3', 2, { reject: false })]);
      expect(r.hardState()).toEqual({ term: 2, vote: '3', commit: 0 });
    });

    it('a candidate votes for itself and refuses other candidates of its term', () => {
      const r = newRaft('1');
      hup(r);
      take(r);
      r.step(msg('vote', '2', '1', 1, { index: 5, logTerm: 5 }));
      expect(take(r)).toEqual([msg('voteResp', '1', '2', 1, { reject: true })]);
      expect(r.vote).toBe('1');
    });
  });

  it.each([1, 2])('a candidate that hears from a leader of term %i (>= its own) becomes its follower', (term) => {
    const r = newRaft('1');
    hup(r);
    expect(r.term).toBe(1);
    take(r);
    r.step(msg('app', '2', '1', term, { index: 0, logTerm: 0, entries: [], commit: 0 }));
    expect(r.role).toBe('follower');
    expect(r.term).toBe(term);
    expect(r.lead).toBe('2');
    expect(take(r)).toEqual([msg('appResp', '1', '2', term, { index: 0 })]);
  });

  /** Ticks until the role changes; returns the number of ticks. */
  function ticksUntilElection(r: Raft, limit: number): number {
    const term = r.term;
    for (let n = 1; n <= limit; n++) {
      r.tick();
      if (r.term !== term || r.role !== 'follower') return n;
    }
    return -1;
  }

  it('election timeouts are randomized over [electionTick, 2*electionTick) for followers', () => {
    const et = 10;
    const random = mulberry32(2024);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const r = newRaft('1', { electionTick: et, random });
      seen.add(ticksUntilElection(r, 4 * et));
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(range(et, 2 * et));
  });

  it('election timeouts are randomized over [electionTick, 2*electionTick) for candidates', () => {
    const et = 10;
    const random = mulberry32(99);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const r = newRaft('1', { electionTick: et, random });
      hup(r);
      const term = r.term;
      let n = 0;
      while (r.term === term && n < 4 * et) {
        r.tick();
        n++;
      }
      seen.add(n);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(range(et, 2 * et));
  });

  describe('randomized timeouts make split votes rare: in most rounds a single member times out first', () => {
    const ids = ['1', '2', '3', '4', '5'];
    it.each(['follower', 'candidate'] as const)('as %ss', (role) => {
      const random = mulberry32(7);
      const rounds = 1000;
      let conflicts = 0;
      for (let round = 0; round < rounds; round++) {
        const rafts = ids.map((id) => newRaft(id, { peers: ids, random }));
        if (role === 'candidate') for (const r of rafts) hup(r);
        const terms = rafts.map((r) => r.term);
        let fired = 0;
        for (let t = 0; t < 40 && fired === 0; t++) {
          for (const r of rafts) r.tick();
          fired = rafts.filter((r, i) => r.term !== terms[i]).length;
        }
        expect(fired).toBeGreaterThan(0);
        if (fired > 1) conflicts++;
      }
      // Uniform over 10 values for 5 members: about 23% of rounds tie; without randomness, all would.
      expect(conflicts / rounds).toBeLessThanOrEqual(0.3);
    });
  });

  it('a cluster driven only by ticks elects exactly one leader, which then keeps its term', () => {
    const net = TestNetwork.bootstrap(['1', '2', '3', '4', '5'], { seed: 11 });
    let ticks = 0;
    while (net.leaders().length === 0 && ticks < 100) {
      net.tickAll();
      ticks++;
    }
    const leader = net.leader();
    const term = net.node(leader).status().term;
    for (const id of net.ids()) {
      expect(net.node(id).status().leader).toBe(leader);
      expect(net.node(id).status().term).toBe(term);
    }
    const votesBefore = net.sent.filter((m) => m.type === 'vote' || m.type === 'preVote').length;
    net.tickAll(100);
    expect(net.leader()).toBe(leader);
    expect(net.node(leader).status().term).toBe(term);
    expect(net.sent.filter((m) => m.type === 'vote' || m.type === 'preVote').length).toBe(votesBefore);
  });
});

// ================================================================== §5.3

describe('§5.3 Log replication', () => {
  it('the leader appends a proposal to its log and sends it to every follower after the preceding entry', () => {
    const r = newRaft('1');
    electLeader(r);
    commitNoop(r);
    expect(propose(r, 'some data')).toBeUndefined();
    expect(r.log.lastIndex()).toBe(2);
    expect(pairs(r.log.unstableEntries())).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const sent = byTo(take(r));
    expect(sent.map((m) => [m.type, m.to, m.term, m.index, m.logTerm, m.commit])).toEqual([
      ['app', '2', 1, 1, 1, 1],
      ['app', '3', 1, 1, 1, 1],
    ]);
    for (const m of sent) {
      expect(pairs(m.entries!)).toEqual([[2, 1]]);
      expect(text((m.entries![0] as Extract<Entry, { kind: 'normal' }>).data)).toBe('some data');
    }
  });

  it('the leader commits an entry once a majority stores it, applies it, and tells the followers', () => {
    const r = newRaft('1');
    electLeader(r);
    commitNoop(r);
    r.log.appliedTo(1);
    propose(r, 'some data');
    take(r);
    r.step(msg('appResp', '2', '1', 1, { index: 2 }));
    expect(r.log.committed).toBe(2);
    expect(pairs(r.log.nextCommittedEnts())).toEqual([[2, 1]]);
    const sent = byTo(take(r));
    expect(sent.map((m) => [m.type, m.to, m.commit])).toEqual([
      ['app', '2', 2],
      ['app', '3', 2],
    ]);
  });

  describe('the leader commits only with acknowledgements from a majority', () => {
    const cases: Array<{ size: number; acks: string[]; commit: boolean }> = [
      { size: 1, acks: [], commit: true },
      { size: 3, acks: [], commit: false },
      { size: 3, acks: ['2'], commit: true },
      { size: 3, acks: ['2', '3'], commit: true },
      { size: 4, acks: ['2'], commit: false },
      { size: 4, acks: ['2', '3'], commit: true },
      { size: 5, acks: [], commit: false },
      { size: 5, acks: ['2'], commit: false },
      { size: 5, acks: ['2', '3'], commit: true },
      { size: 5, acks: ['2', '3', '4'], commit: true },
      { size: 5, acks: ['2', '3', '4', '5'], commit: true },
    ];
    it.each(cases)('$size members, acknowledged by $acks → committed: $commit', ({ size, acks, commit }) => {
      const r = newRaft('1', { peers: range(1, size + 1).map(String) });
      electLeader(r);
      commitNoop(r);
      propose(r, 'x');
      const li = r.log.lastIndex();
      for (const id of acks) r.step(msg('appResp', id, '1', 1, { index: li }));
      expect(r.log.committed).toBe(commit ? li : li - 1);
    });
  });

  describe('committing an entry commits every preceding entry, of earlier terms too', () => {
    it.each([[[]], [[2]], [[1, 2]], [[1]], [[1, 1, 2, 2]]])('leader log with terms %j', (terms) => {
      const r = newRaft('1', { entries: entriesOfTerms(terms), hardState: { term: 2, vote: NONE, commit: 0 } });
      electLeader(r);
      expect(r.term).toBe(3);
      propose(r, 'x');
      const li = r.log.lastIndex();
      for (const id of ['2', '3']) r.step(msg('appResp', id, '1', 3, { index: li }));
      expect(r.log.committed).toBe(li);
      expect(pairs(r.log.nextCommittedEnts())).toEqual([...pairs(entriesOfTerms(terms)), [terms.length + 1, 3], [terms.length + 2, 3]]);
    });
  });

  describe('a follower commits what the leader says is committed, up to what it has', () => {
    it.each([
      { terms: [1], commit: 1, want: 1 },
      { terms: [1, 1], commit: 2, want: 2 },
      { terms: [1, 1], commit: 1, want: 1 },
      { terms: [1, 1], commit: 5, want: 2 },
    ])('entries $terms with leader commit $commit → $want', ({ terms, commit, want }) => {
      const r = newRaft('2', { hardState: { term: 1, vote: NONE, commit: 0 } });
      r.step(msg('app', '1', '2', 1, { index: 0, logTerm: 0, commit, entries: entriesOfTerms(terms) }));
      expect(r.log.committed).toBe(want);
      expect(pairs(r.log.nextCommittedEnts())).toEqual(pairs(entriesOfTerms(terms).slice(0, want)));
    });
  });

  describe('a follower accepts an append only if it has the preceding entry (consistency check)', () => {
    // The follower holds (1, term 1) (2, term 2), committed 1.
    it.each([
      { name: 'before the committed index', logTerm: 0, index: 0, want: { index: 1 } },
      { name: 'matching the committed entry', logTerm: 1, index: 1, want: { index: 1 } },
      { name: 'matching an uncommitted entry', logTerm: 2, index: 2, want: { index: 2 } },
      { name: 'mismatching an existing entry', logTerm: 1, index: 2, want: { index: 2, reject: true, rejectHint: 1, rejectTerm: 1 } },
      { name: 'past the end of its log', logTerm: 3, index: 3, want: { index: 3, reject: true, rejectHint: 2, rejectTerm: 2 } },
    ])('$name', ({ logTerm, index, want }) => {
      const r = newRaft('2', { entries: entriesOfTerms([1, 2]), hardState: { term: 2, vote: NONE, commit: 1 } });
      r.step(msg('app', '1', '2', 2, { logTerm, index, commit: 1, entries: [] }));
      expect(take(r)).toEqual([msg('appResp', '2', '1', 2, want)]);
    });
  });

  describe('a follower deletes a conflicting suffix and appends the new entries', () => {
    // The follower holds (1, term 1) (2, term 2), nothing committed.
    it.each([
      { index: 2, logTerm: 2, ents: entriesOfTerms([3], 3), log: [1, 2, 3], unstable: [[3, 3]] },
      { index: 1, logTerm: 1, ents: entriesOfTerms([3, 4], 2), log: [1, 3, 4], unstable: [[2, 3], [3, 4]] },
      { index: 0, logTerm: 0, ents: entriesOfTerms([1], 1), log: [1, 2], unstable: [] },
      { index: 0, logTerm: 0, ents: entriesOfTerms([3], 1), log: [3], unstable: [[1, 3]] },
    ])('append after ($index, term $logTerm) of $ents.length entries → terms $log', ({ index, logTerm, ents, log, unstable }) => {
      const r = newRaft('2', { entries: entriesOfTerms([1, 2]), hardState: { term: 2, vote: NONE, commit: 0 } });
      r.step(msg('app', '1', '2', 2, { logTerm, index, commit: 0, entries: ents }));
      expect(wholeLog(r).map(([, t]) => t)).toEqual(log);
      expect(pairs(r.log.unstableEntries())).toEqual(unstable);
    });
  });

  describe('the leader brings every follower log of Figure 7 in line with its own', () => {
    // Figure 7: the leader of term 8 holds indexes 1-10; followers (a)-(f) may be missing entries,
    // have extra uncommitted entries, or both.
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Array<[string, number[]]> = [
      ['a', [1, 1, 1, 4, 4, 5, 5, 6, 6]],
      ['b', [1, 1, 1, 4]],
      ['c', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
      ['d', [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
      ['e', [1, 1, 1, 4, 4, 4, 4]],
      ['f', [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
    ];
    it.each(followers)('follower (%s)', (_name, followerTerms) => {
      const net = new TestNetwork();
      const conf = { voters: IDS3 };
      net.addNode('1', { storage: memoryStorage({ ...conf, entries: entriesOfTerms(leaderTerms), hardState: { term: 7, vote: NONE, commit: 3 } }) });
      net.addNode('2', { storage: memoryStorage({ ...conf, entries: entriesOfTerms(followerTerms), hardState: { term: 7, vote: NONE, commit: 3 } }) });
      net.addNode('3', { storage: memoryStorage({ ...conf, entries: entriesOfTerms(leaderTerms), hardState: { term: 7, vote: NONE, commit: 3 } }) });
      net.campaign('1');
      expect(net.leader()).toBe('1');
      expect(net.node('1').status().term).toBe(8);
      net.propose('1', 'after');
      const want = [...leaderTerms, 8, 8];
      expect(net.logTerms('1')).toEqual(want);
      expect(net.logTerms('2')).toEqual(want);
      expect(net.logTerms('3')).toEqual(want);
      expect(net.log('2').map((e) => (e.kind === 'normal' ? text(e.data) : ''))).toEqual(net.log('1').map((e) => (e.kind === 'normal' ? text(e.data) : '')));
      expect(net.node('2').status().commit).toBe(12);
      expect(net.appliedData('2').at(-1)).toBe('after');
    });
  });

  describe('fast backtracking: a follower with a long conflicting log costs one rejection per conflicting term, not per entry', () => {
    const fill = (n: number, term: number): number[] => Array<number>(n).fill(term);
    const cases: Array<{ name: string; leader: number[]; follower: number[]; maxRejections: number }> = [
      { name: 'divergent tail of an older term', leader: [1, ...fill(50, 3)], follower: [1, ...fill(50, 2)], maxRejections: 1 },
      { name: 'follower far behind', leader: [1, ...fill(50, 3)], follower: [1], maxRejections: 1 },
      { name: 'follower with a longer divergent tail', leader: [1, ...fill(50, 3)], follower: [1, ...fill(100, 2)], maxRejections: 1 },
      { name: 'two divergent terms', leader: [1, 1, ...fill(20, 3), ...fill(20, 5)], follower: [1, 1, ...fill(20, 2), ...fill(20, 4)], maxRejections: 2 },
      { name: 'follower behind and divergent', leader: [1, ...fill(30, 2), ...fill(30, 4)], follower: [1, ...fill(10, 2), ...fill(10, 3)], maxRejections: 2 },
    ];
    it.each(cases)('$name', ({ leader, follower, maxRejections }) => {
      const net = new TestNetwork({ config: { maxSizePerMsg: 1 << 20 } });
      const term = Math.max(...leader, ...follower);
      const hs = { term, vote: NONE, commit: 1 };
      net.addNode('1', { storage: memoryStorage({ voters: IDS3, entries: entriesOfTerms(leader), hardState: hs }) });
      net.addNode('2', { storage: memoryStorage({ voters: IDS3, entries: entriesOfTerms(follower), hardState: hs }) });
      net.addNode('3', { storage: memoryStorage({ voters: IDS3, entries: entriesOfTerms(leader), hardState: hs }) });
      net.campaign('1');
      expect(net.leader()).toBe('1');
      expect(net.logTerms('2')).toEqual(net.logTerms('1'));
      const n = rejections(net, '2', '1');
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(maxRejections);
      expect(rejections(net, '3', '1')).toBe(0);
    });
  });
});

// ================================================================== §5.4

describe('§5.4.1 Election restriction', () => {
  describe('a member votes only for a candidate whose log is at least as up-to-date as its own', () => {
    const cases: Array<{ voter: number[]; lastTerm: number; lastIndex: number; grant: boolean }> = [
      // same last term: the longer (or equal) log wins
      { voter: [1], lastTerm: 1, lastIndex: 1, grant: true },
      { voter: [1], lastTerm: 1, lastIndex: 2, grant: true },
      { voter: [1, 1], lastTerm: 1, lastIndex: 1, grant: false },
      // the candidate's last term is higher: length does not matter
      { voter: [1], lastTerm: 2, lastIndex: 1, grant: true },
      { voter: [1, 1, 1], lastTerm: 2, lastIndex: 1, grant: true },
      // the voter's last term is higher: length does not matter
      { voter: [2], lastTerm: 1, lastIndex: 1, grant: false },
      { voter: [2], lastTerm: 1, lastIndex: 5, grant: false },
      { voter: [1, 2], lastTerm: 1, lastIndex: 3, grant: false },
    ];
    it.each(cases)('voter log $voter, candidate ends at (index $lastIndex, term $lastTerm) → $grant', ({ voter, lastTerm, lastIndex, grant }) => {
      for (const type of ['vote', 'preVote'] as const) {
        const r = newRaft('1', { entries: entriesOfTerms(voter), hardState: { term: 2, vote: NONE, commit: 0 }, preVote: true });
        r.step(msg(type, '2', '1', 3, { index: lastIndex, logTerm: lastTerm }));
        const [resp, ...rest] = take(r);
        expect(rest).toEqual([]);
        expect(resp!.type).toBe(type === 'vote' ? 'voteResp' : 'preVoteResp');
        expect(resp!.reject).toBe(!grant);
      }
    });
  });

  it('a member missing committed entries cannot be elected; one holding them can', () => {
    // No lease and no pre-vote here: the vote itself must be refused because of the log.
    const net = cluster(IDS3, { config: { checkQuorum: false, preVote: false } });
    net.isolate('3');
    net.propose('1', 'a');
    net.propose('1', 'b');
    // The leader crashes; 3 comes back with a stale log.
    net.partition(['1'], ['2', '3']);
    net.campaign('3');
    expect(net.node('3').status().role).not.toBe('leader');
    const answers = net.sentWhere({ type: 'voteResp', from: '2', to: '3' });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((m) => m.reject === true)).toBe(true);
    net.campaign('2');
    expect(net.node('2').status().role).toBe('leader');
    net.propose('2', 'c');
    expect(net.appliedData('3')).toEqual(['a', 'b', 'c']);
  });
});

describe('§5.4.2 Committing entries from previous terms', () => {
  describe('a leader commits by counting replicas only entries of its own term', () => {
    // The leader holds (1, term 1) (2, term 2); elected for term 3 it appends (3, term 3).
    it.each([
      [1, 0],
      [2, 0],
      [3, 3],
    ])('a follower acknowledging index %i → committed %i', (index, want) => {
      const r = newRaft('1', { entries: entriesOfTerms([1, 2]), hardState: { term: 2, vote: NONE, commit: 0 } });
      electLeader(r);
      expect(r.term).toBe(3);
      r.step(msg('appResp', '2', '1', 3, { index }));
      expect(r.log.committed).toBe(want);
    });
  });

  describe('Figure 8: an old-term entry stored on a majority can still be overwritten', () => {
    const ids = ['1', '2', '3', '4', '5'];
    const termAt = (net: TestNetwork, id: MemberId, index: number): number | undefined => net.log(id).find((e) => e.index === index)?.term;

    /**
     * Figure 8 (a)-(c), with indexes shifted by the 5 bootstrap entries and S1's first entry of
     * term 2 (index 6). Index 7 is the paper's index 2.
     */
    function upToC(): TestNetwork {
      // One entry per append, so that entries of different terms travel separately.
      const net = TestNetwork.bootstrap(ids, { config: { preVote: false, checkQuorum: false, maxSizePerMsg: 1 } });
      // (a) S1 leads term 2 and replicates index 7 to S2 only.
      net.campaign('1');
      expect(net.node('1').status()).toMatchObject({ role: 'leader', term: 2, commit: 6 });
      net.partition(['1', '2'], ['3'], ['4'], ['5']);
      net.propose('1', 'term-2 entry');
      expect(termAt(net, '2', 7)).toBe(2);
      expect(net.node('1').status().commit).toBe(6);
      // (b) S1 crashes; S5 is elected for term 3 by S3, S4 and itself, appends index 7 in term 3,
      // and crashes before sending it.
      net.partition(['1'], ['2'], ['3', '4', '5']);
      net.dropFilter = (m) => m.from === '5' && m.type === 'app';
      net.campaign('5');
      expect(net.node('5').status()).toMatchObject({ role: 'leader', term: 3 });
      expect(termAt(net, '5', 7)).toBe(3);
      // (c) S5 crashes; S1 restarts and is elected for term 4 (its first try, for term 3, fails:
      // S3 and S4 voted for S5). It replicates index 7 to S3 and S4, but its own entry of term 4
      // (index 8) reaches no one.
      net.partition(['1', '2', '3', '4'], ['5']);
      net.restart('1');
      net.dropFilter = (m) =>
        m.from === '1' && m.type === 'app' && (m.entries ?? []).some((e) => e.term === 4) && net.node(m.to).status().lastIndex >= 7;
      net.campaign('1');
      expect(net.node('1').status().role).toBe('candidate');
      net.campaign('1');
      expect(net.node('1').status()).toMatchObject({ role: 'leader', term: 4, lastIndex: 8 });
      for (const id of ['2', '3', '4']) expect(termAt(net, id, 7)).toBe(2);
      const progress = net.node('1').status().progress!;
      expect([progress['3']!.match, progress['4']!.match]).toEqual([7, 7]);
      // Index 7 is on S1, S3 and S4 (and S2), acknowledged by a majority — and still not committed.
      expect(net.node('1').status().commit).toBe(6);
      return net;
    }

    it('(d) if S1 crashes now, S5 can be elected and overwrite index 7 everywhere; nobody applied it', () => {
      const net = upToC();
      net.dropFilter = undefined;
      net.partition(['1'], ['2', '3', '4', '5']);
      net.restart('5');
      net.campaign('5'); // term 4: S2-S4 already voted for S1
      net.campaign('5'); // term 5
      expect(net.node('5').status()).toMatchObject({ role: 'leader', term: 5 });
      for (const id of ['2', '3', '4', '5']) expect(termAt(net, id, 7)).toBe(3);
      // S1 rejoins and its log is overwritten too.
      net.heal();
      net.tick('5');
      for (const id of ids) {
        expect(net.logTerms(id)).toEqual(net.logTerms('5'));
        expect(net.applied(id).find((e) => e.index === 7)?.term).toBe(3);
      }
    });

    it('(e) once S1 replicates an entry of its term to a majority, index 7 is committed and S5 cannot win', () => {
      const net = upToC();
      net.dropFilter = undefined;
      net.tick('1');
      expect(net.node('1').status().commit).toBe(8);
      for (const id of ['1', '2', '3', '4']) expect(net.applied(id).find((e) => e.index === 7)?.term).toBe(2);
      net.partition(['1'], ['2', '3', '4', '5']);
      net.restart('5');
      for (let i = 0; i < 3; i++) {
        net.campaign('5');
        expect(net.node('5').status().role).toBe('follower');
      }
      expect(net.node('5').status().term).toBe(6);
      expect(net.node('5').status().role).not.toBe('leader');
      net.campaign('2');
      expect(net.node('2').status().role).toBe('leader');
      net.propose('2', 'next');
      expect(termAt(net, '5', 7)).toBe(2);
      expect(net.appliedData('5')).toEqual(['term-2 entry', 'next']);
    });
  });
});

describe('§5.4.3 Safety under random faults', () => {
  const ids = ['1', '2', '3', '4', '5'];

  /**
   * Random partitions, message loss, restarts, compaction, membership changes, transfers and
   * proposals; after every step: at most one leader per term (Election Safety) and no two members
   * applying different entries at the same index (State Machine Safety). Healed at the end, the
   * cluster must elect a leader again.
   */
  function chaos(seed: number): void {
    const rnd = mulberry32(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const net = TestNetwork.bootstrap(ids, { seed, config: { snapshotChunkBytes: 7, maxInflightMsgs: 4, maxSizePerMsg: 64 } });
    net.addNode('6');
    const all = [...ids, '6'];
    let loss = 0;
    net.dropFilter = () => loss > 0 && rnd() < loss;
    const leaderOfTerm = new Map<number, MemberId>();
    const appliedAt = new Map<number, string>();
    const checked = new Map<MemberId, number>();
    let n = 0;
    const attempt = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
      net.deliverAll();
    };

    for (let step = 0; step < 400; step++) {
      const r = rnd();
      if (r < 0.05) {
        const shuffled = [...all].sort(() => rnd() - 0.5);
        const k = 1 + Math.floor(rnd() * 5);
        net.partition(shuffled.slice(0, k), shuffled.slice(k));
      } else if (r < 0.08) {
        net.heal();
      } else if (r < 0.1) {
        loss = loss > 0 ? 0 : 0.2;
      } else if (r < 0.13) {
        net.restart(pick(all));
      } else if (r < 0.16) {
        const id = pick(all);
        const applied = net.node(id).status().applied;
        if (applied > net.storage(id).snapshot().metadata.index + 2) net.snapshotAndCompact(id, bytes(`state@${applied}`.repeat(3)));
      } else if (r < 0.19) {
        const leader = net.leaders()[0];
        if (leader !== undefined) {
          const { voters, learners } = net.node(leader).confState();
          const m = pick(all);
          const type = voters.includes(m)
            ? voters.length > 3
              ? pick(['removeVoter', 'addLearner'] as const)
              : undefined
            : learners.includes(m)
              ? pick(['promoteLearner', 'removeVoter'] as const)
              : pick(['addLearner', 'addVoter'] as const);
          if (type !== undefined) attempt(() => net.node(leader).proposeConfChange({ type, member: m }));
        }
      } else if (r < 0.21) {
        const leader = net.leaders()[0];
        if (leader !== undefined) attempt(() => net.node(leader).transferLeadership(pick(all)));
      } else if (r < 0.5) {
        for (const id of all) attempt(() => net.node(id).propose(bytes(`v${n++}`)));
      } else {
        net.tickAll();
      }

      for (const id of all) {
        const st = net.node(id).status();
        if (st.role !== 'leader') continue;
        const other = leaderOfTerm.get(st.term);
        if (other !== undefined && other !== id) expect.fail(`seed ${seed} step ${step}: ${other} and ${id} both lead term ${st.term}`);
        leaderOfTerm.set(st.term, id);
      }
      for (const id of all) {
        const applied = net.applied(id);
        for (let i = checked.get(id) ?? 0; i < applied.length; i++) {
          const e = applied[i]!;
          const what = `${e.term}/${e.kind === 'normal' ? text(e.data) : `${e.change.type} ${e.change.member}`}`;
          const seen = appliedAt.get(e.index);
          if (seen !== undefined && seen !== what) expect.fail(`seed ${seed}: index ${e.index} applied as ${seen} and as ${what}`);
          appliedAt.set(e.index, what);
        }
        checked.set(id, applied.length);
      }
    }
    net.dropFilter = undefined;
    net.heal();
    net.tickAll(100);
    expect(net.leaders(), `seed ${seed}`).toHaveLength(1);
  }

  it.each(range(1, 13))('seed %i', (seed) => chaos(seed));
});

// ================================================================== PreVote (thesis §9.6)

describe('PreVote', () => {
  it('a pre-candidate asks for votes for term+1 without changing its term or vote, and campaigns once a majority agrees', () => {
    const r = newRaft('1', { entries: entriesOfTerms([1]), hardState: { term: 1, vote: NONE, commit: 0 }, preVote: true });
    hup(r);
    expect(r.role).toBe('preCandidate');
    expect(r.term).toBe(1);
    expect(r.vote).toBe(NONE);
    expect(byTo(take(r))).toEqual([msg('preVote', '1', '2', 2, { index: 1, logTerm: 1 }), msg('preVote', '1', '3', 2, { index: 1, logTerm: 1 })]);
    r.step(msg('preVoteResp', '2', '1', 2, { reject: false }));
    expect(r.role).toBe('candidate');
    expect(r.term).toBe(2);
    expect(r.vote).toBe('1');
    expect(byTo(take(r))).toEqual([msg('vote', '1', '2', 2, { index: 1, logTerm: 1 }), msg('vote', '1', '3', 2, { index: 1, logTerm: 1 })]);
  });

  it('a pre-candidate refused by a majority goes back to being a follower of its old term', () => {
    const r = newRaft('1', { hardState: { term: 1, vote: NONE, commit: 0 }, preVote: true });
    hup(r);
    r.step(msg('preVoteResp', '2', '1', 1, { reject: true }));
    r.step(msg('preVoteResp', '3', '1', 1, { reject: true }));
    expect(r.role).toBe('follower');
    expect(r.term).toBe(1);
  });

  it('granting a pre-vote changes neither the term nor the vote of the voter', () => {
    const r = newRaft('1', { hardState: { term: 1, vote: '3', commit: 0 }, preVote: true });
    r.step(msg('preVote', '2', '1', 2, { index: 0, logTerm: 0 }));
    expect(take(r)).toEqual([msg('preVoteResp', '1', '2', 2, { reject: false })]);
    expect(r.term).toBe(1);
    expect(r.vote).toBe('3');
  });

  /** 3 is cut off while the others commit an entry, ticks for ten election timeouts, then rejoins. */
  function partitionedMemberRejoins(preVote: boolean): { net: TestNetwork; termBefore: number; isolatedTerm: number } {
    // CheckQuorum (and its lease) off: PreVote alone must protect the leader.
    const net = cluster(IDS3, { seed: 5, config: { preVote, checkQuorum: false } });
    const termBefore = net.node('1').status().term;
    net.isolate('3');
    net.propose('1', 'a');
    net.tick('3', 10 * 10);
    const isolatedTerm = net.node('3').status().term;
    net.heal();
    net.tickAll(5 * 10);
    return { net, termBefore, isolatedTerm };
  }

  it('a partitioned member does not bump its term, and rejoining does not disrupt the leader', () => {
    const { net, termBefore, isolatedTerm } = partitionedMemberRejoins(true);
    expect(isolatedTerm).toBe(termBefore);
    expect(net.leader()).toBe('1');
    for (const id of IDS3) expect(net.node(id).status().term).toBe(termBefore);
    expect(net.sentWhere({ type: 'vote' }).length).toBe(2); // only the first election's
    expect(net.appliedData('3')).toEqual(['a']);
  });

  it('(without PreVote the same partition bumps the term and deposes the leader)', () => {
    const { net, termBefore, isolatedTerm } = partitionedMemberRejoins(false);
    expect(isolatedTerm).toBeGreaterThan(termBefore + 5);
    expect(net.node('1').status().term).toBeGreaterThan(isolatedTerm);
  });
});

// ================================================================== CheckQuorum (thesis §6.2)

describe('CheckQuorum', () => {
  it('a leader cut off from the majority steps down within an election timeout or two, and the majority elects another', () => {
    const et = 10;
    const net = cluster(IDS3, { seed: 3, config: { electionTick: et, checkQuorum: true } });
    const term = net.node('1').status().term;
    net.isolate('1');
    let ticks = 0;
    while (net.node('1').status().role === 'leader' && ticks < 10 * et) {
      net.tick('1');
      ticks++;
    }
    expect(net.node('1').status().role).toBe('follower');
    // It may have heard from everyone just before the cut: it notices at the next check at the latest.
    expect(ticks).toBeGreaterThanOrEqual(et);
    expect(ticks).toBeLessThanOrEqual(2 * et);
    expect(net.node('1').status().term).toBe(term);
    net.tick(['2', '3'], 4 * et);
    const leaders = net.leaders();
    expect(leaders).toHaveLength(1);
    expect(['2', '3']).toContain(leaders[0]);
    expect(net.node(leaders[0]!).status().term).toBeGreaterThan(term);
  });

  it('a leader that hears from a majority keeps leading', () => {
    const net = cluster(IDS3, { config: { checkQuorum: true } });
    const term = net.node('1').status().term;
    net.isolate('3');
    net.tick(['1', '2'], 20 * 10);
    expect(net.leader()).toBe('1');
    expect(net.node('1').status().term).toBe(term);
  });

  it('leader lease: a follower that heard from its leader within the election timeout ignores vote requests', () => {
    // A fixed random source: the follower's own timeout is 15 ticks, after the lease ends at 10.
    const r = newRaft('1', { checkQuorum: true, random: () => 0.5, hardState: { term: 1, vote: NONE, commit: 0 } });
    r.step(msg('heartbeat', '2', '1', 1, { commit: 0 }));
    take(r);
    r.step(msg('vote', '3', '1', 2, { index: 5, logTerm: 1 }));
    expect(take(r)).toEqual([]);
    expect(r.term).toBe(1);
    for (let i = 0; i < 9; i++) r.tick();
    r.step(msg('vote', '3', '1', 2, { index: 5, logTerm: 1 }));
    expect(take(r)).toEqual([]);
    r.tick();
    r.step(msg('vote', '3', '1', 2, { index: 5, logTerm: 1 }));
    expect(take(r)).toEqual([msg('voteResp', '1', '3', 2, { reject: false })]);
    expect(r.term).toBe(2);
  });
});

// ================================================================== Leadership transfer (thesis §3.10)

describe('Leadership transfer', () => {
  it('to an up-to-date follower: it is told to time out now and wins the next term', () => {
    const net = cluster();
    const term = net.node('1').status().term;
    net.node('1').transferLeadership('2');
    net.deliverAll();
    expect(net.leader()).toBe('2');
    expect(net.node('2').status().term).toBe(term + 1);
    expect(net.node('1').status()).toMatchObject({ role: 'follower', leader: '2' });
    expect(net.sentWhere({ type: 'timeoutNow' }).map((m) => [m.from, m.to])).toEqual([['1', '2']]);
    net.propose('2', 'x');
    expect(net.appliedData('1')).toEqual(['x']);
  });

  it('to a lagging follower: the leader first brings its log up to date', () => {
    const net = cluster();
    net.isolate('3');
    for (const d of ['a', 'b', 'c']) net.propose('1', d);
    net.heal();
    const start = net.sent.length;
    net.node('1').transferLeadership('3');
    net.deliverAll();
    expect(net.leader()).toBe('3');
    const after = net.sent.slice(start);
    const timeoutNow = after.findIndex((m) => m.type === 'timeoutNow');
    const caughtUp = after.findIndex((m) => m.type === 'appResp' && m.from === '3' && !m.reject && m.index === 7);
    expect(caughtUp).toBeGreaterThanOrEqual(0);
    expect(timeoutNow).toBeGreaterThan(caughtUp);
    net.propose('3', 'd');
    expect(net.appliedData('3')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('proposals are dropped while a transfer is in progress', () => {
    const net = cluster();
    net.isolate('3');
    net.node('1').transferLeadership('3');
    net.deliverAll();
    const err = errorOf(() => net.node('1').propose(bytes('x')));
    expect(err.code).toBe('PROPOSAL_DROPPED');
    expect(net.node('1').status().lastIndex).toBe(4);
  });

  it('a transfer that does not complete within an election timeout is abandoned', () => {
    const net = cluster();
    net.isolate('3');
    net.node('1').transferLeadership('3');
    net.deliverAll();
    net.tick(['1', '2'], 9);
    expect(errorOf(() => net.node('1').propose(bytes('x'))).code).toBe('PROPOSAL_DROPPED');
    net.tick(['1', '2']);
    net.propose('1', 'y');
    expect(net.leader()).toBe('1');
    expect(net.appliedData('2')).toEqual(['y']);
  });

  it('the vote of a transfer bypasses the leader lease', () => {
    const r = newRaft('1', { checkQuorum: true, hardState: { term: 1, vote: NONE, commit: 0 } });
    r.step(msg('heartbeat', '2', '1', 1, { commit: 0 }));
    take(r);
    r.step(msg('vote', '3', '1', 2, { index: 0, logTerm: 0 }));
    expect(take(r)).toEqual([]);
    r.step(msg('vote', '3', '1', 2, { index: 0, logTerm: 0, context: 'transfer' }));
    expect(take(r)).toEqual([msg('voteResp', '1', '3', 2, { reject: false })]);
  });

  it('a follower forwards a transfer request to the leader', () => {
    const net = cluster();
    net.node('3').transferLeadership('3');
    net.deliverAll();
    expect(net.leader()).toBe('3');
  });
});

// ================================================================== ReadIndex (thesis §6.4)

describe('ReadIndex', () => {
  it('the leader answers a read with its commit index once a quorum acknowledges its heartbeat', () => {
    const net = cluster();
    net.propose('1', 'a');
    const commit = net.node('1').status().commit;
    net.node('1').readIndex('r1');
    net.deliverAll();
    expect(net.readStates('1')).toEqual([{ index: commit, context: 'r1' }]);
    expect(net.sentWhere({ type: 'heartbeat', from: '1' }).filter((m) => m.context === 'r1')).toHaveLength(2);
  });

  it('without a quorum of acknowledgements there is no answer; a later confirmed read confirms the earlier ones', () => {
    const net = cluster();
    net.isolate('2', '3');
    net.node('1').readIndex('r1');
    net.deliverAll();
    net.node('1').readIndex('r2');
    net.deliverAll();
    expect(net.readStates('1')).toEqual([]);
    net.heal();
    net.node('1').readIndex('r3');
    net.deliverAll();
    const commit = net.node('1').status().commit;
    expect(net.readStates('1')).toEqual([
      { index: commit, context: 'r1' },
      { index: commit, context: 'r2' },
      { index: commit, context: 'r3' },
    ]);
  });

  it('a follower forwards the read to the leader and receives the read index back', () => {
    const net = cluster();
    net.propose('1', 'a');
    net.node('2').readIndex('f1');
    net.deliverAll();
    expect(net.readStates('2')).toEqual([{ index: net.node('1').status().commit, context: 'f1' }]);
    expect(net.readStates('1')).toEqual([]);
    expect(net.sentWhere({ type: 'readIndexResp', from: '1', to: '2' })).toHaveLength(1);
  });

  it('a new leader does not answer before it has committed an entry of its own term', () => {
    const net = TestNetwork.bootstrap(IDS3);
    // The followers' acknowledgements of the new leader's first entry are lost.
    net.dropFilter = (m) => m.type === 'appResp';
    net.campaign('1');
    expect(net.node('1').status()).toMatchObject({ role: 'leader', commit: 3, lastIndex: 4 });
    net.node('1').readIndex('early');
    net.deliverAll();
    expect(net.readStates('1')).toEqual([]);
    expect(net.sent.filter((m) => m.context === 'early')).toEqual([]);
    net.dropFilter = undefined;
    net.tick('1');
    expect(net.node('1').status().commit).toBe(4);
    expect(net.readStates('1')).toEqual([{ index: 4, context: 'early' }]);
  });

  it('a member without a known leader refuses a read with NOT_LEADER', () => {
    const net = TestNetwork.bootstrap(IDS3);
    net.deliverAll();
    const err = errorOf(() => net.node('2').readIndex('x'));
    expect(err.code).toBe('NOT_LEADER');
    expect(err.leader).toBe(NONE);
  });
});

// ================================================================== Membership changes (thesis §4)

describe('Membership changes', () => {
  /** A 3-voter cluster led by 1 to which the empty member 4 was added as a learner. */
  function withLearner(opts: NetworkOptions = {}): TestNetwork {
    const net = cluster(IDS3, opts);
    net.addNode('4');
    net.node('1').proposeConfChange({ type: 'addLearner', member: '4' });
    net.deliverAll();
    return net;
  }

  it('adding a learner: every member applies it, and the learner receives the whole log', () => {
    const net = withLearner();
    net.propose('1', 'a');
    for (const id of ['1', '2', '3', '4']) expect(net.node(id).confState()).toEqual({ voters: IDS3, learners: ['4'] });
    expect(net.logTerms('4')).toEqual(net.logTerms('1'));
    expect(net.appliedData('4')).toEqual(['a']);
    expect(net.node('1').status().progress!['4']!.match).toBe(net.node('1').status().lastIndex);
  });

  it('promoting a learner makes it a voter that can be elected', () => {
    const net = withLearner();
    net.node('1').proposeConfChange({ type: 'promoteLearner', member: '4' });
    net.deliverAll();
    for (const id of ['1', '2', '3', '4']) expect(net.node(id).confState()).toEqual({ voters: ['1', '2', '3', '4'], learners: [] });
    net.node('1').transferLeadership('4');
    net.deliverAll();
    expect(net.leader()).toBe('4');
    expect(net.sentWhere({ type: 'voteResp', to: '4' }).filter((m) => m.reject !== true).length).toBeGreaterThanOrEqual(2);
  });

  it('a removed voter no longer counts: the two remaining voters form the quorum', () => {
    const net = cluster();
    net.node('1').proposeConfChange({ type: 'removeVoter', member: '3' });
    net.deliverAll();
    for (const id of ['1', '2']) expect(net.node(id).confState()).toEqual({ voters: ['1', '2'], learners: [] });
    const start = net.sent.length;
    net.isolate('3');
    net.propose('1', 'a');
    expect(net.appliedData('2')).toEqual(['a']);
    expect(net.sent.slice(start).filter((m) => m.to === '3')).toEqual([]);
    // and both are needed
    net.heal();
    net.isolate('2');
    net.propose('1', 'b');
    expect(net.appliedData('1')).toEqual(['a']);
  });

  it('a leader that removes itself steps down once the change is applied, and the others elect a leader', () => {
    const net = cluster();
    net.node('1').proposeConfChange({ type: 'removeVoter', member: '1' });
    net.deliverAll();
    expect(net.node('1').status().role).toBe('follower');
    for (const id of ['2', '3']) expect(net.node(id).confState()).toEqual({ voters: ['2', '3'], learners: [] });
    net.tickAll(4 * 10);
    const leader = net.leader();
    expect(['2', '3']).toContain(leader);
    net.propose(leader, 'after');
    expect(net.appliedData(leader === '2' ? '3' : '2')).toEqual(['after']);
    expect(errorOf(() => net.node('1').propose(bytes('x'))).code).toBe('NOT_LEADER');
  });

  it('only one membership change may be pending at a time', () => {
    const net = cluster();
    net.addNode('4');
    net.addNode('5');
    net.node('1').proposeConfChange({ type: 'addLearner', member: '4' });
    const err = errorOf(() => net.node('1').proposeConfChange({ type: 'addLearner', member: '5' }));
    expect(err.code).toBe('PROPOSAL_DROPPED');
    net.deliverAll();
    net.node('1').proposeConfChange({ type: 'addLearner', member: '5' });
    net.deliverAll();
    expect(net.node('1').confState()).toEqual({ voters: IDS3, learners: ['4', '5'] });
  });

  it('a new leader accepts no membership change before its first entry is applied', () => {
    const r = newRaft('1', { entries: entriesOfTerms([1, 1]), hardState: { term: 1, vote: NONE, commit: 2 } });
    r.log.appliedTo(2);
    electLeader(r);
    // Entry 3 (the leader's first) is not committed yet — but nothing before it is pending either.
    expect(r.step(msg('propose', '1', '1', 0, { entries: [{ term: 0, index: 0, kind: 'conf', change: { type: 'addLearner', member: '4' } }] }))).toBeUndefined();
    const r2 = newRaft('1', { entries: entriesOfTerms([1, 1]), hardState: { term: 1, vote: NONE, commit: 2 } });
    electLeader(r2);
    // Committed entries 1-2 are not applied: they might hold a membership change.
    const err = r2.step(msg('propose', '1', '1', 0, { entries: [{ term: 0, index: 0, kind: 'conf', change: { type: 'addLearner', member: '4' } }] }));
    expect(err?.code).toBe('PROPOSAL_DROPPED');
  });

  it('learners never campaign, not even after many election timeouts, and cannot be handed leadership', () => {
    const net = withLearner();
    const term = net.node('4').status().term;
    const start = net.sent.length;
    net.isolate('4');
    net.tick('4', 20 * 10);
    expect(net.node('4').status()).toMatchObject({ role: 'follower', term });
    expect(net.sent.slice(start).filter((m) => m.from === '4')).toEqual([]);
    net.heal();
    net.node('1').transferLeadership('4');
    net.deliverAll();
    expect(net.leader()).toBe('1');
    expect(net.sentWhere({ type: 'timeoutNow' })).toEqual([]);
  });

  it('learners do not count toward the commit quorum', () => {
    const net = withLearner();
    net.isolate('2', '3');
    net.propose('1', 'a');
    expect(net.logTerms('4')).toEqual(net.logTerms('1'));
    expect(net.node('1').status().commit).toBeLessThan(net.node('1').status().lastIndex);
    expect(net.appliedData('1')).toEqual([]);
    net.heal();
    net.tick('1');
    expect(net.appliedData('1')).toEqual(['a']);
    expect(net.appliedData('4')).toEqual(['a']);
  });
});

// ================================================================== Snapshots (§7)

describe('Snapshots (§7 log compaction, InstallSnapshot)', () => {
  const CHUNK = 16;
  const stateBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) % 251);

  /** 3 falls behind while the leader compacts its log past what 3 has. */
  function laggingFollower(): { net: TestNetwork; snapIndex: number; data: Uint8Array } {
    const net = cluster(IDS3, { config: { snapshotChunkBytes: CHUNK } });
    net.isolate('3');
    for (let i = 0; i < 20; i++) net.propose('1', `v${i}`);
    const data = stateBytes(100);
    const snap = net.snapshotAndCompact('1', data);
    expect(net.storage('1').firstIndex()).toBe(snap.metadata.index + 1);
    expect(net.node('3').status().lastIndex).toBeLessThan(snap.metadata.index);
    return { net, snapIndex: snap.metadata.index, data };
  }

  it('a follower too far behind gets the snapshot in several chunks, installs it, then replicates normally', () => {
    const { net, snapIndex, data } = laggingFollower();
    net.heal();
    net.tick('1');
    const chunks = net.sentWhere({ type: 'snap', from: '1', to: '3' });
    expect(chunks.map((m) => m.snapshot!.offset)).toEqual(range(0, Math.ceil(100 / CHUNK)).map((i) => i * CHUNK));
    expect(chunks.every((m) => m.snapshot!.data.byteLength <= CHUNK && m.snapshot!.total === 100)).toBe(true);
    const installed = net.snapshotsInstalled('3');
    expect(installed).toHaveLength(1);
    expect(installed[0]!.metadata.index).toBe(snapIndex);
    expect(installed[0]!.metadata.conf).toEqual({ voters: IDS3, learners: [] });
    expect([...installed[0]!.data]).toEqual([...data]);
    expect(net.storage('3').firstIndex()).toBe(snapIndex + 1);
    expect(net.node('3').status()).toMatchObject({ commit: snapIndex, applied: snapIndex });
    expect(net.node('1').status().progress!['3']).toMatchObject({ match: snapIndex, state: 'replicate' });

    net.propose('1', 'after');
    expect(net.sentWhere({ type: 'snap' })).toHaveLength(chunks.length);
    expect(net.appliedData('3')).toEqual(['after']);
    expect(net.logTerms('3').length).toBe(1);
  });

  it('a lost chunk is sent again with the next heartbeat', () => {
    const { net, snapIndex, data } = laggingFollower();
    let seen = 0;
    net.dropFilter = (m) => m.type === 'snap' && ++seen === 3;
    net.heal();
    net.tick('1');
    expect(net.snapshotsInstalled('3')).toEqual([]);
    net.tick('1');
    const offsets = net.sentWhere({ type: 'snap', to: '3' }).map((m) => m.snapshot!.offset);
    expect(offsets.slice(0, 4)).toEqual([0, CHUNK, 2 * CHUNK, 2 * CHUNK]);
    expect(net.snapshotsInstalled('3').map((s) => s.metadata.index)).toEqual([snapIndex]);
    expect([...net.snapshotsInstalled('3')[0]!.data]).toEqual([...data]);
    net.propose('1', 'after');
    expect(net.appliedData('3')).toEqual(['after']);
  });

  it('a follower that restarts in the middle of a transfer makes the leader start over from the first byte', () => {
    const { net, snapIndex, data } = laggingFollower();
    let seen = 0;
    net.dropFilter = (m) => m.type === 'snap' && ++seen === 4;
    net.heal();
    net.tick('1');
    expect(net.snapshotsInstalled('3')).toEqual([]);
    net.restart('3');
    net.tick('1');
    const offsets = net.sentWhere({ type: 'snap', to: '3' }).map((m) => m.snapshot!.offset);
    // chunks 0-3 (3 lost), 3 again: the restarted follower asks for byte 0, and the transfer restarts
    expect(offsets.slice(0, 6)).toEqual([0, CHUNK, 2 * CHUNK, 3 * CHUNK, 3 * CHUNK, 0]);
    expect(net.snapshotsInstalled('3').map((s) => s.metadata.index)).toEqual([snapIndex]);
    expect([...net.snapshotsInstalled('3')[0]!.data]).toEqual([...data]);
  });

  it('if the acknowledgement of the installed snapshot is lost, the next heartbeat recovers', () => {
    const { net, snapIndex } = laggingFollower();
    let dropped = false;
    net.dropFilter = (m) => {
      if (!dropped && m.type === 'appResp' && m.from === '3' && m.reject !== true && m.index === snapIndex) return (dropped = true);
      return false;
    };
    net.heal();
    net.tick('1');
    expect(dropped).toBe(true);
    expect(net.snapshotsInstalled('3')).toHaveLength(1);
    expect(net.node('1').status().progress!['3']!.state).toBe('snapshot');
    net.tick('1');
    expect(net.node('1').status().progress!['3']).toMatchObject({ state: 'replicate', match: snapIndex });
    net.propose('1', 'after');
    expect(net.appliedData('3')).toEqual(['after']);
    expect(net.snapshotsInstalled('3')).toHaveLength(1);
  });

  it('a follower restarted after installing a snapshot recovers its membership and log from it', () => {
    const { net, snapIndex } = laggingFollower();
    net.heal();
    net.tick('1');
    net.propose('1', 'after');
    const node = net.restart('3');
    expect(node.confState()).toEqual({ voters: IDS3, learners: [] });
    expect(node.status()).toMatchObject({ commit: snapIndex + 1, lastIndex: snapIndex + 1, applied: snapIndex });
    net.deliverAll();
    net.propose('1', 'later');
    expect(net.appliedData('3')).toEqual(['after', 'later']);
  });
});

// ================================================================== Flow control

describe('Flow control', () => {
  it('appends in flight to a follower are bounded by maxInflightMsgs; each acknowledgement frees a slot', () => {
    const net = cluster(IDS3, { config: { maxInflightMsgs: 3 } });
    const held: Message[] = [];
    let holding = true;
    net.dropFilter = (m) => {
      if (holding && m.from === '2' && m.to === '1' && m.type === 'appResp') {
        held.push(m);
        return true;
      }
      return false;
    };
    const start = net.sent.length;
    for (let i = 0; i < 10; i++) net.propose('1', `p${i}`);
    const appsTo2 = (): Message[] => net.sent.slice(start).filter((m) => m.type === 'app' && m.to === '2' && (m.entries ?? []).length > 0);
    expect(appsTo2()).toHaveLength(3);
    // 3 kept up: everything is committed meanwhile.
    expect(net.node('1').status().commit).toBe(net.node('1').status().lastIndex);
    // One acknowledgement: one more append, carrying everything not yet sent.
    holding = false;
    net.send(held.shift()!);
    holding = true;
    net.deliverAll();
    expect(appsTo2()).toHaveLength(4);
    expect(appsTo2()[3]!.entries!.at(-1)!.index).toBe(net.node('1').status().lastIndex);
    holding = false;
    for (const m of held.splice(0)) net.send(m);
    net.deliverAll();
    expect(net.node('1').status().progress!['2']!.match).toBe(net.node('1').status().lastIndex);
    expect(net.appliedData('2')).toHaveLength(10);
  });

  it('a follower whose whole in-flight window was lost catches up once the partition heals', () => {
    const net = cluster(IDS3, { config: { maxInflightMsgs: 3 } });
    // Everything between 1 and 2 is lost while 1 sends (at least) a full window of appends.
    net.isolate('2');
    const start = net.sent.length;
    for (let i = 0; i < 5; i++) net.propose('1', `p${i}`);
    expect(net.sent.slice(start).filter((m) => m.type === 'app' && m.to === '2' && (m.entries ?? []).length > 0)).toHaveLength(3);
    net.heal();
    net.tick(['1', '2', '3'], 3 * 10);
    expect(net.node('1').status().leader).toBe('1');
    expect(net.node('2').status().lastIndex).toBe(net.node('1').status().lastIndex);
    expect(net.appliedData('2')).toHaveLength(5);
  });

  it('maxSizePerMsg bounds the entries of one append', () => {
    const net = cluster(IDS3, { config: { maxSizePerMsg: 1 } });
    net.isolate('3');
    for (let i = 0; i < 4; i++) net.propose('1', `p${i}`);
    net.heal();
    const start = net.sent.length;
    net.tick('1');
    const apps = net.sent.slice(start).filter((m) => m.type === 'app' && m.to === '3' && (m.entries ?? []).length > 0);
    expect(apps.length).toBeGreaterThanOrEqual(4);
    expect(apps.every((m) => m.entries!.length === 1)).toBe(true);
    expect(net.appliedData('3')).toEqual(['p0', 'p1', 'p2', 'p3']);
  });
});

// ================================================================== Proposals on a follower

describe('Proposals on a member that is not the leader', () => {
  it('are rejected with NOT_LEADER naming the leader', () => {
    const net = cluster();
    const err = errorOf(() => net.node('2').propose(bytes('x')));
    expect(err).toBeInstanceOf(RaftError);
    expect(err.code).toBe('NOT_LEADER');
    expect(err.message).toBe('not leader, leader is 1');
    expect(err.leader).toBe('1');
    expect(net.node('2').status().lastIndex).toBe(net.node('1').status().lastIndex);
  });

  it('are rejected with NOT_LEADER when no leader is known, even with forwarding on', () => {
    const net = TestNetwork.bootstrap(IDS3, { config: { proposalForwarding: true } });
    net.deliverAll();
    const err = errorOf(() => net.node('2').propose(bytes('x')));
    expect(err.code).toBe('NOT_LEADER');
    expect(err.message).toBe('not leader, no leader is known yet');
  });

  it('on the leader, a proposal returns the index of its entry', () => {
    const net = cluster();
    const last = net.node('1').status().lastIndex;
    expect(net.node('1').propose(bytes('a'))).toBe(last + 1);
    expect(net.node('1').proposeBatch([bytes('b'), bytes('c')])).toBe(last + 3);
    net.deliverAll();
    expect(net.applied('2').filter((e) => e.kind === 'normal' && e.data.byteLength > 0).map((e) => e.index)).toEqual([last + 1, last + 2, last + 3]);
  });

  it('are rejected by a candidate', () => {
    const r = newRaft('1');
    hup(r);
    expect(propose(r, 'x')?.code).toBe('NOT_LEADER');
  });

  it('are forwarded to the leader when proposalForwarding is on', () => {
    const net = cluster(IDS3, { config: { proposalForwarding: true } });
    // The index is only known on the leader: a forwarded proposal reports 0.
    expect(net.node('2').propose(bytes('via 2'))).toBe(0);
    net.deliverAll();
    expect(net.sentWhere({ type: 'propose', from: '2', to: '1' })).toHaveLength(1);
    for (const id of IDS3) expect(net.appliedData(id)).toEqual(['via 2']);
  });
});

describe('RawNode', () => {
  it('refuses local-only message types from the network', () => {
    const node = new RawNode({ id: '1', storage: memoryStorage({ voters: ['1'] }), electionTick: 10, heartbeatTick: 1, random: mulberry32(1) });
    for (const type of ['hup', 'beat', 'checkQuorum', 'unreachable'] as const) {
      expect(errorOf(() => node.step(msg(type, '2', '1', 1))).code).toBe('CORRUPT');
    }
    expect(node.status().term).toBe(0);
  });

  it('a single-member cluster elects itself and commits alone', () => {
    const net = TestNetwork.bootstrap(['1']);
    net.campaign('1');
    expect(net.leader()).toBe('1');
    net.propose('1', 'solo');
    expect(net.appliedData('1')).toEqual(['solo']);
    net.node('1').readIndex('r');
    net.deliverAll();
    expect(net.readStates('1')).toEqual([{ index: net.node('1').status().commit, context: 'r' }]);
  });
});

describe('forgetting the leader (connection lost)', () => {
  it('lets a follower grant a pre-vote it would refuse under the leader lease', () => {
    const net = TestNetwork.bootstrap(['a', 'b', 'c']);
    net.campaign('a');
    net.deliverAll();
    expect(net.node('a').status().role).toBe('leader');
    // b is within its lease: a pre-vote from c at a higher term is ignored.
    net.node('b').step({ type: 'preVote', from: 'c', to: 'b', term: net.node('b').status().term + 1, index: 100, logTerm: 100 });
    expect(net.node('b').ready().messages.filter((m) => m.type === 'preVoteResp')).toHaveLength(0);
    net.node('b').forgetLeader();
    expect(net.node('b').status().leader).toBe('');
    net.node('b').step({ type: 'preVote', from: 'c', to: 'b', term: net.node('b').status().term + 1, index: 100, logTerm: 100 });
    const resp = net.node('b').ready().messages.filter((m) => m.type === 'preVoteResp');
    expect(resp).toHaveLength(1);
    expect(resp[0]!.reject).toBe(false);
  });
});
