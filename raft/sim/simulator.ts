import { pack, unpack } from 'msgpackr';
import {
  MemoryStorage,
  RaftError,
  RawNode,
  type ConfChange,
  type Entry,
  type MemberId,
  type Message,
  type Ready,
} from '../index.js';
import { EventQueue } from './event-queue.js';
import { History, type HistoryEvent } from './history.js';
import { KvStore, type KvCommand } from './kv.js';
import { checkLinearizable } from './linearizability.js';
import { Rng } from '../index.js';

export interface SimOptions {
  seed: number;
  /** Initial voters: 3, 5 or 7. */
  members: number;
  /** Virtual milliseconds of faults and load, before the final healing period. */
  durationMs: number;
  clients: number;
  keys: number;
  faults: boolean;
  membershipChanges: boolean;
  /** Compact the log when this many entries were applied since the last snapshot. */
  snapshotEvery: number;
  /** Bytes per InstallSnapshot chunk: small, so transfers take several messages. */
  snapshotChunkBytes: number;
  /** Entries kept behind a snapshot for slow followers. */
  keepEntries: number;
  proposalForwarding: boolean;
  /** Keep the last N trace lines for a violation report. */
  traceLines: number;
}

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'seed'> = {
  members: 3,
  durationMs: 4000,
  clients: 5,
  keys: 3,
  faults: true,
  membershipChanges: true,
  snapshotEvery: 40,
  snapshotChunkBytes: 256,
  keepEntries: 5,
  proposalForwarding: true,
  traceLines: 40,
};

export interface SimResult {
  seed: number;
  members: number;
  violations: string[];
  /** Entries committed (the highest applied index at the end). */
  commits: number;
  /** Leaders elected (distinct terms with a leader). */
  elections: number;
  snapshotsSent: number;
  /** Membership changes committed during the run (beyond the bootstrap). */
  confChanges: number;
  crashes: number;
  opsOk: number;
  opsTotal: number;
  history: HistoryEvent[];
  trace: string[];
}

const TICK_MS = 10;
const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 1;
const CLIENT_TIMEOUT_MS = 600;
const HEAL_MS = 2500;

type SimEvent =
  | { kind: 'tick'; node: MemberId }
  | { kind: 'deliver'; msg: Uint8Array; to: MemberId }
  | { kind: 'persisted'; node: MemberId; incarnation: number; ready: Ready }
  | { kind: 'clientSend'; client: number }
  | { kind: 'request'; node: MemberId; client: number; op: ClientOp }
  | { kind: 'reply'; client: number; op: ClientOp; outcome: 'ok' | 'fail'; value?: number | null }
  | { kind: 'timeout'; client: number; op: ClientOp }
  | { kind: 'fault' }
  | { kind: 'heal' }
  | { kind: 'restart'; node: MemberId }
  | { kind: 'membership' }
  | { kind: 'stop'; node: MemberId };

interface ClientOp {
  id: string;
  f: 'read' | 'write' | 'cas';
  key: string;
  value: number;
  expected: number | null;
}

interface SimClient {
  id: number;
  process: number;
  outstanding: ClientOp | undefined;
  leaderHint: MemberId;
}

interface PendingRead {
  client: number;
  op: ClientOp;
  index: number | undefined;
}

/** One simulated host: its disk (a MemoryStorage holding only what was persisted) and its memory. */
class SimNode {
  raw!: RawNode;
  kv = new KvStore();
  applied = 0;
  alive = true;
  persisting = false;
  incarnation = 0;
  /** Proposals received from clients, by request id. */
  proposals = new Map<string, { client: number; op: ClientOp }>();
  reads = new Map<string, PendingRead>();

  constructor(
    readonly id: MemberId,
    readonly disk: MemoryStorage,
  ) {}
}

/** Runs one seeded simulation of a Raft cluster under faults and checks its safety properties. */
export class Simulation {
  private readonly opts: SimOptions;
  private readonly rng: Rng;
  private readonly queue = new EventQueue<SimEvent>();
  private now = 0;
  private readonly nodes = new Map<MemberId, SimNode>();
  /** Current members according to the sim's operator (what it started and has not removed). */
  private readonly members = new Set<MemberId>();
  private readonly blocked = new Set<string>();
  private dropRate = 0;
  private dupRate = 0;
  private readonly clients: SimClient[] = [];
  private nextProcess = 0;
  private nextValue = 1;
  private nextMember = 0;
  private readonly history = new History();
  private readonly trace: string[] = [];
  private readonly violations: string[] = [];
  private healing = false;

  // Safety bookkeeping
  private readonly leaderOfTerm = new Map<number, MemberId>();
  /** For each applied index, the entry everyone must apply there. */
  private readonly appliedAt = new Map<number, string>();
  private maxApplied = 0;
  private snapshotsSent = 0;
  private confChanges = 0;
  private crashes = 0;
  private pendingConf: { change: ConfChange; proposedAt: number } | undefined;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = new Rng(opts.seed);
  }

  run(): SimResult {
    const initial: MemberId[] = [];
    for (let i = 0; i < this.opts.members; i++) initial.push(this.newMemberId());
    for (const id of initial) {
      const node = this.startNode(id, new MemoryStorage());
      node.raw.bootstrap(initial);
      this.members.add(id);
    }
    for (let c = 0; c < this.opts.clients; c++) {
      this.clients.push({ id: c, process: this.nextProcess++, outstanding: undefined, leaderHint: '' });
      this.queue.push(this.rng.int(0, 50), { kind: 'clientSend', client: c });
    }
    if (this.opts.faults) this.queue.push(this.rng.int(200, 600), { kind: 'fault' });
    if (this.opts.membershipChanges) this.queue.push(this.rng.int(300, 900), { kind: 'membership' });
    this.queue.push(this.opts.durationMs, { kind: 'heal' });
    const end = this.opts.durationMs + HEAL_MS;

    for (let ev = this.queue.pop(); ev && ev.at <= end && this.violations.length === 0; ev = this.queue.pop()) {
      this.now = ev.at;
      this.handle(ev.item);
    }
    if (this.violations.length === 0) this.finalChecks();
    return {
      seed: this.opts.seed,
      members: this.opts.members,
      violations: this.violations,
      commits: this.maxApplied,
      elections: this.leaderOfTerm.size,
      snapshotsSent: this.snapshotsSent,
      confChanges: this.confChanges,
      crashes: this.crashes,
      opsOk: this.history.events().filter((e) => e.type === 'ok').length,
      opsTotal: this.history.events().filter((e) => e.type === 'invoke').length,
      history: this.history.events(),
      trace: this.trace.slice(),
    };
  }

  private newMemberId(): MemberId {
    return `n${++this.nextMember}`;
  }

  private note(line: string): void {
    this.trace.push(`${String(this.now).padStart(6)}ms ${line}`);
    if (this.trace.length > this.opts.traceLines) this.trace.shift();
  }

  private violation(what: string): void {
    this.note(`VIOLATION ${what}`);
    this.violations.push(what);
  }

  // ---------------------------------------------------------------- nodes

  private startNode(id: MemberId, disk: MemoryStorage): SimNode {
    let node = this.nodes.get(id);
    if (!node) {
      node = new SimNode(id, disk);
      this.nodes.set(id, node);
    }
    node.alive = true;
    node.persisting = false;
    node.incarnation++;
    node.proposals.clear();
    node.reads.clear();
    const snap = disk.snapshot();
    node.kv = KvStore.restore(snap.data);
    node.applied = snap.metadata.index;
    node.raw = new RawNode({
      id,
      storage: disk,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      random: () => this.rng.next(),
      checkQuorum: true,
      preVote: true,
      proposalForwarding: this.opts.proposalForwarding,
      snapshotChunkBytes: this.opts.snapshotChunkBytes,
      maxSizePerMsg: 4096,
      maxInflightMsgs: 8,
    });
    this.queue.push(this.now + this.rng.int(1, TICK_MS), { kind: 'tick', node: id });
    return node;
  }

  private crash(node: SimNode): void {
    node.alive = false;
    node.incarnation++;
    this.crashes++;
    // Everything in memory is gone, including a batch whose fsync had not finished.
    node.proposals.clear();
    node.reads.clear();
    this.note(`crash ${node.id}`);
  }

  /** Drives the Ready loop: persist (with a disk delay), then send, apply and advance. */
  private pump(node: SimNode): void {
    while (node.alive && !node.persisting && node.raw.hasReady()) {
      const rd = node.raw.ready();
      if (rd.mustSync) {
        node.persisting = true;
        this.queue.push(this.now + this.rng.int(0, 2), { kind: 'persisted', node: node.id, incarnation: node.incarnation, ready: rd });
        return;
      }
      this.handleReady(node, rd);
    }
  }

  private handleReady(node: SimNode, rd: Ready): void {
    if (rd.snapshot) node.disk.applySnapshot(rd.snapshot);
    node.disk.append(rd.entries);
    if (rd.hardState) node.disk.setHardState(rd.hardState);
    if (rd.softState?.role === 'leader') this.onLeader(node);
    for (const m of rd.messages) this.send(m);
    if (rd.snapshot) {
      node.kv = KvStore.restore(rd.snapshot.data);
      node.applied = rd.snapshot.metadata.index;
      this.note(`${node.id} installed snapshot at ${node.applied}`);
    }
    for (const e of rd.committedEntries) this.apply(node, e);
    for (const rs of rd.readStates) {
      const r = node.reads.get(rs.context);
      if (r) r.index = rs.index;
    }
    node.raw.advance(rd);
    this.serveReads(node);
    this.maybeCompact(node);
  }

  private onLeader(node: SimNode): void {
    const term = node.raw.status().term;
    const prev = this.leaderOfTerm.get(term);
    if (prev !== undefined && prev !== node.id) {
      this.violation(`election safety: ${prev} and ${node.id} both leaders of term ${term}`);
      return;
    }
    this.leaderOfTerm.set(term, node.id);
    this.note(`${node.id} leader of term ${term}`);
    // Leader completeness: the new leader's log holds every entry anyone has applied.
    for (const [index, sig] of this.appliedAt) {
      const first = node.disk.firstIndex();
      if (index < first) continue; // covered by its snapshot
      let have: Entry | undefined;
      try {
        have = node.disk.entries(index, index + 1)[0];
      } catch {
        have = undefined;
      }
      if (!have || entrySignature(have) !== sig) {
        this.violation(`leader completeness: leader ${node.id} of term ${term} lacks committed entry ${index}`);
        return;
      }
    }
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index <= node.applied) return;
    if (e.index !== node.applied + 1) {
      this.violation(`${node.id} applied ${e.index} after ${node.applied}: gap`);
      return;
    }
    node.applied = e.index;
    const sig = entrySignature(e);
    const known = this.appliedAt.get(e.index);
    if (known === undefined) this.appliedAt.set(e.index, sig);
    else if (known !== sig) {
      this.violation(`state machine safety: ${node.id} applied ${sig} at ${e.index}, others applied ${known}`);
      return;
    }
    this.maxApplied = Math.max(this.maxApplied, e.index);
    if (e.kind === 'conf') {
      this.onConfApplied(node, e.change);
      return;
    }
    if (e.data.byteLength === 0) return;
    const cmd = KvStore.decode(e.data);
    const result = node.kv.apply(cmd);
    const waiting = node.proposals.get(cmd.request);
    if (waiting) {
      node.proposals.delete(cmd.request);
      this.reply(waiting.client, waiting.op, result.ok ? 'ok' : 'fail');
    }
  }

  private serveReads(node: SimNode): void {
    for (const [ctx, r] of node.reads) {
      if (r.index !== undefined && node.applied >= r.index) {
        node.reads.delete(ctx);
        this.reply(r.client, r.op, 'ok', node.kv.get(r.op.key));
      }
    }
  }

  private maybeCompact(node: SimNode): void {
    const snapIndex = node.disk.snapshot().metadata.index;
    if (node.applied - snapIndex < this.opts.snapshotEvery) return;
    node.disk.createSnapshot(node.applied, node.raw.confState(), node.kv.snapshot());
    node.disk.compact(Math.max(node.disk.firstIndex() - 1, node.applied - this.opts.keepEntries));
  }

  // ---------------------------------------------------------------- network

  private send(m: Message): void {
    if (m.type === 'snap') this.snapshotsSent++;
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    if (this.rng.chance(this.dropRate)) return;
    // Through the wire format, so nothing is shared between members by reference.
    const wire = pack(m);
    this.queue.push(this.now + this.rng.int(1, 8), { kind: 'deliver', msg: wire, to: m.to });
    if (this.rng.chance(this.dupRate)) this.queue.push(this.now + this.rng.int(1, 30), { kind: 'deliver', msg: wire, to: m.to });
  }

  // ---------------------------------------------------------------- events

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node);
        if (!node || !node.alive) return;
        node.raw.tick();
        this.pump(node);
        this.queue.push(this.now + TICK_MS, { kind: 'tick', node: ev.node });
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.to);
        if (!node || !node.alive) return;
        const m = unpack(ev.msg) as Message;
        if (this.blocked.has(`${m.from}>${m.to}`)) return;
        node.raw.step(m);
        this.pump(node);
        return;
      }
      case 'persisted': {
        const node = this.nodes.get(ev.node);
        if (!node || !node.alive || node.incarnation !== ev.incarnation) return;
        node.persisting = false;
        this.handleReady(node, ev.ready);
        this.pump(node);
        return;
      }
      case 'clientSend':
        this.clientSend(this.clients[ev.client]!);
        return;
      case 'request':
        this.onRequest(ev.node, ev.client, ev.op);
        return;
      case 'reply':
        this.onReply(ev.client, ev.op, ev.outcome, ev.value);
        return;
      case 'timeout': {
        const c = this.clients[ev.client]!;
        if (c.outstanding?.id !== ev.op.id) return;
        // Unknown outcome: the operation may still take effect, so this process is done.
        this.history.complete(c.process, 'info', this.now);
        c.process = this.nextProcess++;
        c.outstanding = undefined;
        c.leaderHint = '';
        this.scheduleNextOp(c);
        return;
      }
      case 'fault':
        if (!this.healing) {
          this.injectFault();
          this.queue.push(this.now + this.rng.int(150, 700), { kind: 'fault' });
        }
        return;
      case 'heal':
        this.healAll();
        return;
      case 'restart': {
        const node = this.nodes.get(ev.node);
        if (!node || node.alive || !this.members.has(ev.node)) return;
        this.startNode(ev.node, node.disk);
        this.note(`restart ${ev.node}`);
        return;
      }
      case 'membership':
        if (!this.healing) {
          this.changeMembership();
          this.queue.push(this.now + this.rng.int(300, 900), { kind: 'membership' });
        }
        return;
      case 'stop': {
        const node = this.nodes.get(ev.node);
        if (node?.alive) this.crash(node);
        this.note(`stop removed member ${ev.node}`);
        return;
      }
    }
  }

  // ---------------------------------------------------------------- clients

  private scheduleNextOp(c: SimClient): void {
    if (this.healing && this.now > this.opts.durationMs + HEAL_MS - CLIENT_TIMEOUT_MS) return;
    this.queue.push(this.now + this.rng.int(0, 20), { kind: 'clientSend', client: c.id });
  }

  private clientSend(c: SimClient): void {
    const key = `k${this.rng.int(1, this.opts.keys)}`;
    const r = this.rng.next();
    const id = `c${c.id}-${this.nextValue}`;
    let op: ClientOp;
    if (r < 0.4) op = { id, f: 'read', key, value: 0, expected: null };
    else if (r < 0.75) op = { id, f: 'write', key, value: this.nextValue++, expected: null };
    else {
      // Expect a recent value so that some cas operations succeed.
      const expected = this.rng.chance(0.2) ? null : Math.max(1, this.nextValue - this.rng.int(1, 4));
      op = { id, f: 'cas', key, value: this.nextValue++, expected };
    }
    c.outstanding = op;
    const value = op.f === 'cas' ? [op.expected, op.value] : op.f === 'write' ? op.value : null;
    this.history.invoke(c.process, op.f, key, value, this.now);
    const live = [...this.members];
    const target = c.leaderHint !== '' && this.members.has(c.leaderHint) && this.rng.chance(0.8) ? c.leaderHint : this.rng.pick(live);
    this.queue.push(this.now + this.rng.int(1, 3), { kind: 'request', node: target, client: c.id, op });
    this.queue.push(this.now + CLIENT_TIMEOUT_MS, { kind: 'timeout', client: c.id, op });
  }

  private onRequest(nodeId: MemberId, client: number, op: ClientOp): void {
    const node = this.nodes.get(nodeId);
    if (!node || !node.alive) return; // the client will time out
    try {
      if (op.f === 'read') {
        node.reads.set(op.id, { client, op, index: undefined });
        node.raw.readIndex(op.id);
      } else {
        const cmd: KvCommand =
          op.f === 'write'
            ? { op: 'write', key: op.key, value: op.value, request: op.id }
            : { op: 'cas', key: op.key, expected: op.expected, value: op.value, request: op.id };
        node.proposals.set(op.id, { client, op });
        node.raw.propose(KvStore.encode(cmd));
      }
    } catch (err) {
      node.reads.delete(op.id);
      node.proposals.delete(op.id);
      if (!(err instanceof RaftError)) throw err;
      // Rejected before anything was proposed: a definite failure, with a hint where to go.
      const c = this.clients[client]!;
      c.leaderHint = err.leader;
      this.queue.push(this.now + this.rng.int(1, 3), { kind: 'reply', client, op, outcome: 'fail' });
    }
    this.pump(node);
  }

  private reply(client: number, op: ClientOp, outcome: 'ok' | 'fail', value?: number | null): void {
    const ev: SimEvent = { kind: 'reply', client, op, outcome };
    if (value !== undefined) ev.value = value;
    this.queue.push(this.now + this.rng.int(1, 3), ev);
  }

  private onReply(client: number, op: ClientOp, outcome: 'ok' | 'fail', value: number | null | undefined): void {
    const c = this.clients[client]!;
    if (c.outstanding?.id !== op.id) return; // timed out already
    if (op.f === 'read' && outcome === 'ok') this.history.complete(c.process, 'ok', value ?? null, this.now);
    else this.history.complete(c.process, outcome, this.now);
    c.outstanding = undefined;
    this.scheduleNextOp(c);
  }

  // ---------------------------------------------------------------- faults

  private liveMembers(): SimNode[] {
    return [...this.members].map((id) => this.nodes.get(id)!).filter((n) => n.alive);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.liveMembers()) {
      const s = n.raw.status();
      if (s.role === 'leader' && (!best || s.term > best.raw.status().term)) best = n;
    }
    return best;
  }

  private injectFault(): void {
    const members = [...this.members];
    const live = this.liveMembers();
    const down = members.length - live.length;
    const maxDown = Math.floor((members.length - 1) / 2);
    const r = this.rng.next();
    if (r < 0.25 && live.length > 0 && down < maxDown) {
      const victim = this.rng.chance(0.5) ? (this.leader() ?? this.rng.pick(live)) : this.rng.pick(live);
      this.crash(victim);
      this.queue.push(this.now + this.rng.int(50, 1200), { kind: 'restart', node: victim.id });
    } else if (r < 0.4) {
      // Symmetric partition into two sides.
      const side = new Set(members.filter(() => this.rng.chance(0.5)));
      for (const a of members) for (const b of members) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
      this.note(`partition {${[...side].join(',')}} | rest`);
    } else if (r < 0.5) {
      const leader = this.leader();
      if (leader) {
        for (const b of members) {
          if (b === leader.id) continue;
          this.blocked.add(`${leader.id}>${b}`);
          this.blocked.add(`${b}>${leader.id}`);
        }
        this.note(`isolate leader ${leader.id}`);
      }
    } else if (r < 0.6) {
      const a = this.rng.pick(members);
      const b = this.rng.pick(members);
      if (a !== b) {
        this.blocked.add(`${a}>${b}`);
        this.note(`one-way ${a} -/-> ${b}`);
      }
    } else if (r < 0.7) {
      this.dropRate = this.rng.next() * 0.25;
      this.dupRate = this.rng.next() * 0.1;
      this.note(`loss ${this.dropRate.toFixed(2)} dup ${this.dupRate.toFixed(2)}`);
    } else if (r < 0.8) {
      const leader = this.leader();
      const voters = leader ? leader.raw.confState().voters.filter((v) => v !== leader.id) : [];
      if (leader && voters.length > 0) {
        const to = this.rng.pick(voters);
        leader.raw.transferLeadership(to);
        this.note(`transfer leadership ${leader.id} -> ${to}`);
        this.pump(leader);
      }
    } else {
      this.blocked.clear();
      this.dropRate = 0;
      this.dupRate = 0;
      this.note('heal network');
    }
  }

  private healAll(): void {
    this.healing = true;
    this.blocked.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    for (const id of this.members) {
      const n = this.nodes.get(id)!;
      if (!n.alive) {
        this.startNode(id, n.disk);
        this.note(`restart ${id} (heal)`);
      }
    }
    this.note('heal all');
  }

  // ---------------------------------------------------------------- membership

  /** One membership step at a time: replace a voter (remove, add learner, promote) or transfer. */
  private changeMembership(): void {
    const leader = this.leader();
    if (!leader) return;
    const conf = leader.raw.confState();
    if (this.pendingConf && this.now - this.pendingConf.proposedAt < 1500) return;
    let change: ConfChange | undefined;
    if (conf.learners.length > 0) {
      const learner = conf.learners[0]!;
      const pr = leader.raw.status().progress?.[learner];
      if (pr && pr.match >= leader.raw.status().commit - 2) change = { type: 'promoteLearner', member: learner };
      else return;
    } else if (conf.voters.length > this.opts.members || (conf.voters.length > 3 && this.rng.chance(0.3))) {
      change = { type: 'removeVoter', member: this.rng.pick(conf.voters) };
    } else if (conf.voters.length < this.opts.members + 1 && this.rng.chance(0.5)) {
      const id = this.newMemberId();
      this.startNode(id, new MemoryStorage());
      this.members.add(id);
      this.note(`start new member ${id}`);
      change = { type: 'addLearner', member: id };
    }
    if (!change) return;
    try {
      leader.raw.proposeConfChange(change);
      this.pendingConf = { change, proposedAt: this.now };
      this.note(`propose ${change.type} ${change.member} via ${leader.id}`);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.note(`conf change refused: ${err.message}`);
      if (change.type === 'addLearner') this.queue.push(this.now, { kind: 'stop', node: change.member });
    }
    this.pump(leader);
  }

  private onConfApplied(node: SimNode, cc: ConfChange): void {
    if (this.pendingConf && this.pendingConf.change.type === cc.type && this.pendingConf.change.member === cc.member) {
      this.pendingConf = undefined;
      this.confChanges++;
    }
    if (cc.type === 'removeVoter' && this.members.has(cc.member)) {
      this.members.delete(cc.member);
      this.note(`${cc.member} removed (applied at ${node.id})`);
      // The operator shuts the removed host down a little later.
      this.queue.push(this.now + this.rng.int(0, 400), { kind: 'stop', node: cc.member });
    }
  }

  // ---------------------------------------------------------------- final checks

  private finalChecks(): void {
    this.checkLogMatching();
    if (this.violations.length > 0) return;
    // Liveness after healing: one leader, and every live member caught up with it.
    const leader = this.leader();
    if (!leader) {
      this.violation('no leader after healing the cluster');
      return;
    }
    const commit = leader.raw.status().commit;
    for (const n of this.liveMembers()) {
      const conf = leader.raw.confState();
      if (!conf.voters.includes(n.id) && !conf.learners.includes(n.id)) continue;
      if (n.applied < commit - 1) {
        this.violation(`${n.id} applied ${n.applied} but the leader committed ${commit} after healing`);
      }
    }
    const check = checkLinearizable(this.history.events());
    if (check.ok === false) {
      this.violation(`linearizability on key ${check.key}: ${check.reason}\n  ${check.ops.join('\n  ')}`);
    } else if (check.ok === 'unknown') {
      // Not proven linearizable is not a pass.
      this.violation(`linearizability check inconclusive on key ${check.key}: ${check.reason}`);
    }
  }

  /** Any two logs with an entry of the same index and term agree on it (hence on all before it). */
  private checkLogMatching(): void {
    const nodes = [...this.nodes.values()];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i]!.disk;
        const b = nodes[j]!.disk;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        if (lo > hi) continue;
        const ea = a.entries(lo, hi + 1);
        const eb = b.entries(lo, hi + 1);
        let matched = false;
        // Walk back from the end: once terms match, everything before must be identical.
        for (let k = ea.length - 1; k >= 0; k--) {
          if (!matched && ea[k]!.term === eb[k]!.term) matched = true;
          if (matched && entrySignature(ea[k]!) !== entrySignature(eb[k]!)) {
            this.violation(`log matching: ${nodes[i]!.id} and ${nodes[j]!.id} differ at ${ea[k]!.index}`);
            return;
          }
        }
      }
    }
  }
}

function entrySignature(e: Entry): string {
  if (e.kind === 'conf') return `${e.term}:conf:${e.change.type}:${e.change.member}`;
  return `${e.term}:${Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64')}`;
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
