// A small deterministic in-memory cluster for the consensus core's tests. Every member is a
// RawNode over a MemoryStorage; the network is a FIFO queue that the test drains with
// deliverAll(), running each member's Ready cycle the way a real driver must:
// persist (snapshot, entries, hard state) → send messages → apply → advance.
// No timers and no Math.random: time is tick(), randomness is a seeded mulberry32.

import { RaftError, type RaftErrorCode } from './errors.js';
import type { RaftConfig } from './raft.js';
import { Rng } from './rng.js';
import { RawNode } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import type { ConfState, Entry, HardState, MemberId, Message, MessageType, ReadState, Snapshot } from './types.js';

/** A seeded random source with values in [0, 1). */
export function mulberry32(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** The code of the RaftError fn throws, or undefined when it returns. */
export function codeOf(fn: () => unknown): RaftErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof RaftError) return err.code;
    throw err;
  }
  return undefined;
}

/** [index, term] of each entry, for compact assertions. */
export function indexTerms(ents: Entry[]): Array<[number, number]> {
  return ents.map((e) => [e.index, e.term]);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

export function text(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Normal entries with the given terms, at consecutive indexes from `start`. */
export function entriesOfTerms(terms: number[], start = 1): Entry[] {
  return terms.map((term, i) => ({ term, index: start + i, kind: 'normal', data: bytes(`e${start + i}`) }));
}

export interface StorageSetup {
  voters: MemberId[];
  learners?: MemberId[];
  /** The log, from index 1. */
  entries?: Entry[];
  hardState?: HardState;
}

/**
 * A MemoryStorage already holding a membership (recorded as an empty snapshot at index 0, as
 * etcd's tests do), a log and a hard state: a member restarting with that state.
 */
export function memoryStorage(setup: StorageSetup): MemoryStorage {
  const s = new MemoryStorage();
  const conf: ConfState = { voters: [...setup.voters], learners: [...(setup.learners ?? [])] };
  s.applySnapshot({ metadata: { index: 0, term: 0, conf }, data: new Uint8Array(0) });
  if (setup.entries) s.append(setup.entries);
  if (setup.hardState) s.setHardState(setup.hardState);
  return s;
}

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;

export interface NetworkOptions {
  /** Seeds every member's PRNG (each member gets its own stream). */
  seed?: number;
  /** Config shared by every member; electionTick 10 and heartbeatTick 1 unless given. */
  config?: NodeOptions;
}

export interface AddNodeOptions {
  /** Existing state to start from; a fresh empty storage otherwise. */
  storage?: MemoryStorage;
  /** Per-member overrides of the shared config. */
  config?: NodeOptions;
  /** Bootstrap a brand-new cluster with these voters (empty storage only). */
  bootstrap?: MemberId[];
}

interface Member {
  node: RawNode;
  storage: MemoryStorage;
  config: NodeOptions;
  random: () => number;
  /** Index of the last entry (or snapshot) handed to the state machine. */
  appliedIndex: number;
  applied: Entry[];
  snapshots: Snapshot[];
  readStates: ReadState[];
}

/** Returns true to drop the message. */
export type DropFilter = (m: Message) => boolean;

export class TestNetwork {
  private readonly members = new Map<MemberId, Member>();
  private readonly opts: NetworkOptions;
  private readonly queue: Message[] = [];
  /** Links that lose every message, as "from->to". */
  private readonly cutLinks = new Set<string>();
  /** Extra test-controlled loss, checked after the cut links. */
  dropFilter: DropFilter | undefined;
  /** Every wire message sent, in order, delivered or not. */
  readonly sent: Message[] = [];
  /** The subset of `sent` that was lost. */
  readonly dropped: Message[] = [];
  private seedCounter = 0;

  constructor(opts: NetworkOptions = {}) {
    this.opts = opts;
  }

  /** A brand-new cluster of `ids`, every member bootstrapped with the same voters. */
  static bootstrap(ids: MemberId[], opts: NetworkOptions = {}): TestNetwork {
    const net = new TestNetwork(opts);
    for (const id of ids) net.addNode(id, { bootstrap: ids });
    return net;
  }

  private configFor(id: MemberId, storage: MemoryStorage, random: () => number, extra: NodeOptions, applied?: number): RaftConfig {
    const c: RaftConfig = {
      electionTick: 10,
      heartbeatTick: 1,
      ...this.opts.config,
      ...extra,
      id,
      storage,
      random,
    };
    if (applied !== undefined) c.applied = applied;
    return c;
  }

  addNode(id: MemberId, o: AddNodeOptions = {}): RawNode {
    if (this.members.has(id)) throw new Error(`member ${id} already exists`);
    const storage = o.storage ?? new MemoryStorage();
    const random = mulberry32(((this.opts.seed ?? 1) * 7919 + ++this.seedCounter * 104729) >>> 0);
    const config = o.config ?? {};
    const node = new RawNode(this.configFor(id, storage, random, config));
    if (o.bootstrap) node.bootstrap(o.bootstrap);
    this.members.set(id, {
      node,
      storage,
      config,
      random,
      appliedIndex: storage.snapshot().metadata.index,
      applied: [],
      snapshots: [],
      readStates: [],
    });
    return node;
  }

  /**
   * Crash and restart: a new RawNode over the same storage. Unpersisted state is lost, and the
   * committed log is replayed to the state machine from the snapshot on (re-applying entries the
   * state machine already has is a no-op here, as applying is idempotent by index).
   */
  restart(id: MemberId): RawNode {
    const m = this.member(id);
    m.node = new RawNode(this.configFor(id, m.storage, m.random, m.config));
    return m.node;
  }

  private member(id: MemberId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: MemberId): RawNode {
    return this.member(id).node;
  }

  storage(id: MemberId): MemoryStorage {
    return this.member(id).storage;
  }

  ids(): MemberId[] {
    return [...this.members.keys()];
  }

  // ------------------------------------------------------------------ faults

  /** Cuts every link between `id` and the others, both ways. */
  isolate(...ids: MemberId[]): void {
    for (const id of ids) {
      for (const other of this.members.keys()) {
        if (other === id) continue;
        this.cut(id, other);
      }
    }
  }

  /** Cuts the link between a and b, both ways. */
  cut(a: MemberId, b: MemberId): void {
    this.cutLinks.add(`${a}->${b}`);
    this.cutLinks.add(`${b}->${a}`);
  }

  /** Only members of the same group can talk; replaces every earlier cut. */
  partition(...groups: MemberId[][]): void {
    this.heal();
    const groupOf = new Map<MemberId, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const a of this.members.keys()) {
      for (const b of this.members.keys()) {
        if (a !== b && groupOf.get(a) !== groupOf.get(b)) this.cutLinks.add(`${a}->${b}`);
      }
    }
  }

  /** Restores every link (the drop filter stays). */
  heal(): void {
    this.cutLinks.clear();
  }

  // ------------------------------------------------------------------ driving

  /** Hands a message to the network; it is lost if its link is cut or the filter says so. */
  send(m: Message): void {
    this.sent.push(m);
    if (this.cutLinks.has(`${m.from}->${m.to}`) || !this.members.has(m.to) || this.dropFilter?.(m)) {
      this.dropped.push(m);
      return;
    }
    this.queue.push(m);
  }

  /** Runs one member's Ready cycles until it has nothing more to hand out. */
  private processReady(id: MemberId): boolean {
    const m = this.member(id);
    let any = false;
    while (m.node.hasReady()) {
      any = true;
      const rd = m.node.ready();
      // 1. Persist: the snapshot first, then entries (replacing a conflicting suffix), then the hard state.
      if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) m.storage.append(rd.entries);
      if (rd.hardState) m.storage.setHardState(rd.hardState);
      // 2. Send.
      for (const msg of rd.messages) this.send(msg);
      // 3. Apply.
      if (rd.snapshot && rd.snapshot.metadata.index > m.appliedIndex) {
        m.snapshots.push(rd.snapshot);
        m.appliedIndex = rd.snapshot.metadata.index;
      }
      for (const e of rd.committedEntries) {
        if (e.index <= m.appliedIndex) continue;
        m.applied.push(e);
        m.appliedIndex = e.index;
      }
      m.readStates.push(...rd.readStates);
      // 4. Advance.
      m.node.advance(rd);
    }
    return any;
  }

  /** Delivers messages (one at a time, FIFO) and runs Ready cycles until everything settles. */
  deliverAll(maxSteps = 200_000): void {
    for (let step = 0; step < maxSteps; step++) {
      let progressed = false;
      for (const id of this.members.keys()) progressed = this.processReady(id) || progressed;
      const msg = this.queue.shift();
      if (msg === undefined) {
        if (!progressed) return;
        continue;
      }
      const target = this.members.get(msg.to);
      if (target) target.node.step(msg);
    }
    throw new Error(`the network did not settle within ${maxSteps} steps`);
  }

  /** Ticks each of `ids` once and delivers everything, `times` times. */
  tick(ids: MemberId | MemberId[], times = 1): void {
    const list = typeof ids === 'string' ? [ids] : ids;
    for (let i = 0; i < times; i++) {
      for (const id of list) this.node(id).tick();
      this.deliverAll();
    }
  }

  tickAll(times = 1): void {
    this.tick(this.ids(), times);
  }

  /**
   * `id` starts an election now; everything is delivered. Pending Readies are handled first: a
   * member does not campaign while committed membership changes (e.g. its bootstrap) are unapplied.
   */
  campaign(id: MemberId): void {
    this.deliverAll();
    this.node(id).campaign();
    this.deliverAll();
  }

  propose(id: MemberId, data: string): void {
    this.node(id).propose(bytes(data));
    this.deliverAll();
  }

  /**
   * The application's snapshot at `id`'s applied index, then log compaction up to it (as a driver
   * does to bound its log).
   */
  snapshotAndCompact(id: MemberId, data: Uint8Array): Snapshot {
    const m = this.member(id);
    const at = m.node.status().applied;
    const snap = m.storage.createSnapshot(at, m.node.confState(), data);
    m.storage.compact(at);
    return snap;
  }

  // ------------------------------------------------------------------ observing

  /** Members that currently believe they lead. */
  leaders(): MemberId[] {
    return this.ids().filter((id) => this.node(id).status().role === 'leader');
  }

  /** The single member that believes it leads; throws unless there is exactly one. */
  leader(): MemberId {
    const ls = this.leaders();
    if (ls.length !== 1) throw new Error(`expected one leader, found [${ls.join(', ')}]`);
    return ls[0]!;
  }

  /** The durable log of `id` (after its snapshot). */
  log(id: MemberId): Entry[] {
    const s = this.storage(id);
    return s.entries(s.firstIndex(), s.lastIndex() + 1);
  }

  /** Terms of the durable log of `id`, from its first index. */
  logTerms(id: MemberId): number[] {
    return this.log(id).map((e) => e.term);
  }

  /** Entries handed to `id`'s state machine, in order. */
  applied(id: MemberId): Entry[] {
    return this.member(id).applied;
  }

  /** The data of the non-empty normal entries `id` applied, as text. */
  appliedData(id: MemberId): string[] {
    const out: string[] = [];
    for (const e of this.member(id).applied) if (e.kind === 'normal' && e.data.byteLength > 0) out.push(text(e.data));
    return out;
  }

  snapshotsInstalled(id: MemberId): Snapshot[] {
    return this.member(id).snapshots;
  }

  readStates(id: MemberId): ReadState[] {
    return this.member(id).readStates;
  }

  /** Sent messages matching the given fields. */
  sentWhere(q: { type?: MessageType; from?: MemberId; to?: MemberId }): Message[] {
    return this.sent.filter(
      (m) => (q.type === undefined || m.type === q.type) && (q.from === undefined || m.from === q.from) && (q.to === undefined || m.to === q.to),
    );
  }
}
