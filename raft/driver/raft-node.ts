import { EventEmitter } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { RaftError } from '../core/errors.js';
import { RawNode, type Status } from '../core/rawnode.js';
import { MemoryStorage } from '../core/storage.js';
import type { ConfChange, Entry, MemberId, Message, Ready, SoftState } from '../core/types.js';
import { Wal, restoreMemoryStorage, type WalOptions } from '../storage/index.js';

/** Sends messages to other members; best-effort, never throws for an unreachable peer. */
export interface RaftTransport {
  send(message: Message): void;
}

/** The replicated application. Called in log order, once per entry, on every member. */
export interface RaftStateMachine {
  /** Applies a committed entry (normal or conf); the result goes to the proposer on this member. */
  apply(entry: Entry): unknown;
  /** The whole state, for a snapshot at the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}

export interface RaftNodeOptions {
  id: MemberId;
  dataDir: string;
  transport: RaftTransport;
  stateMachine: RaftStateMachine;
  /** Voters of a brand-new cluster; used only when the WAL is empty. */
  bootstrap?: MemberId[];
  tickMs?: number;
  electionTick?: number;
  heartbeatTick?: number;
  /** Take a snapshot after this many applied entries. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot so slow followers need no snapshot transfer. */
  keepEntries?: number;
  /** How long propose() and readBarrier() wait before failing with TIMEOUT. */
  requestTimeoutMs?: number;
  wal?: WalOptions;
  snapshotChunkBytes?: number;
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  /** Date.now() after which the request fails with TIMEOUT (checked on each tick). */
  deadline: number;
}

export interface RaftNodeEvents {
  /** Leader or role changed. */
  softState: [SoftState];
  /** An entry was applied; `result` is what the state machine returned. */
  applied: [Entry, unknown];
  /** Writing to the WAL (or applying what it holds) failed; the member has stopped. */
  failed: [Error];
}

/**
 * The thin driver around the pure core: ticks on a timer, persists each Ready to the WAL (one
 * fsync) before sending its messages, applies committed entries, takes snapshots.
 */
export class RaftNode extends EventEmitter<RaftNodeEvents> {
  readonly id: MemberId;
  private readonly raw: RawNode;
  private readonly storage: MemoryStorage;
  private readonly wal: Wal;
  private readonly opts: RaftNodeOptions;
  private ticker: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  /** The leader as of the last Ready, to notice changes. */
  private lastLeader: MemberId = '';
  /** A batch is waiting for its fsync; the next Ready waits for it. */
  private persisting = false;
  private stopped = false;
  /** Why the member stopped on its own (a failed write or apply); undefined while running or after stop(). */
  private failure: Error | undefined;
  private applied: number;
  private readonly proposals = new Map<number, Waiter & { term: number }>();
  private readonly reads = new Map<string, Waiter & { index?: number }>();
  /** Proposals of this turn of the event loop, proposed together as one batch. */
  private queued: { data: Uint8Array; waiter: Waiter }[] = [];
  private nextRead = 0;
  /**
   * Read contexts are unique to this incarnation: an answer to a read of an earlier one (still in
   * the network across a restart) must not complete a read issued after it with a stale index.
   */
  private readonly readPrefix = randomBytes(6).toString('hex');

  private constructor(opts: RaftNodeOptions, raw: RawNode, storage: MemoryStorage, wal: Wal, applied: number) {
    super();
    this.id = opts.id;
    this.opts = opts;
    this.raw = raw;
    this.storage = storage;
    this.wal = wal;
    this.applied = applied;
  }

  /** Opens (or creates) the member's WAL, restores its state and starts ticking. */
  static async open(opts: RaftNodeOptions): Promise<RaftNode> {
    const { wal, state } = await Wal.open(opts.dataDir, opts.wal);
    const storage = new MemoryStorage();
    restoreMemoryStorage(state, storage);
    if (state.snapshot) opts.stateMachine.restore(state.snapshot.data);
    const applied = state.snapshot?.metadata.index ?? 0;
    const raw = new RawNode({
      id: opts.id,
      storage,
      electionTick: opts.electionTick ?? 10,
      heartbeatTick: opts.heartbeatTick ?? 1,
      random: () => randomInt(0, 1 << 30) / (1 << 30),
      applied,
      checkQuorum: true,
      preVote: true,
      snapshotChunkBytes: opts.snapshotChunkBytes ?? 1 << 20,
    });
    if (storage.lastIndex() === 0 && opts.bootstrap && opts.bootstrap.length > 0) raw.bootstrap(opts.bootstrap);
    const node = new RaftNode(opts, raw, storage, wal, applied);
    node.ticker = setInterval(() => node.tick(), opts.tickMs ?? 100);
    node.schedulePump();
    return node;
  }

  private tick(): void {
    this.raw.tick();
    this.expire(Date.now());
    this.schedulePump();
  }

  /** Fails requests past their deadline: their outcome is unknown to the caller. */
  private expire(now: number): void {
    // Queued proposals wait for a batch that a slow fsync holds back: they expire too.
    const late = this.queued.filter((q) => q.waiter.deadline <= now);
    if (late.length > 0) {
      this.queued = this.queued.filter((q) => q.waiter.deadline > now);
      for (const q of late) q.waiter.reject(new RaftError('TIMEOUT', `proposal not started within ${this.timeoutMs()} ms: the disk is slow or stuck`));
    }
    for (const [index, w] of this.proposals) {
      if (w.deadline > now) continue;
      this.proposals.delete(index);
      w.reject(new RaftError('TIMEOUT', `proposal at ${index} not applied within ${this.timeoutMs()} ms; its outcome is unknown`));
    }
    for (const [ctx, w] of this.reads) {
      if (w.deadline > now) continue;
      this.reads.delete(ctx);
      w.reject(new RaftError('TIMEOUT', `read not confirmed within ${this.timeoutMs()} ms`));
    }
  }

  private stoppedError(): RaftError {
    return new RaftError('STOPPED', `raft member ${this.id} is stopped`);
  }

  /** Feeds a message from another member. */
  step(m: Message): void {
    if (this.stopped) return;
    this.raw.step(m);
    this.schedulePump();
  }

  /** Starts an election now instead of waiting for the election timeout. */
  campaign(): void {
    this.raw.campaign();
    this.schedulePump();
  }

  /**
   * Replicates data; resolves with the state machine's result once applied here. Rejects with
   * NOT_LEADER on a follower, TIMEOUT when the outcome is unknown.
   */
  propose(data: Uint8Array): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => {
      this.queued.push({ data, waiter: { resolve, reject, deadline: Date.now() + this.timeoutMs() } });
      this.schedulePump();
    });
  }

  proposeConfChange(change: ConfChange): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    let index: number;
    try {
      index = this.raw.proposeConfChange(change);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.schedulePump();
    return new Promise((resolve, reject) => {
      this.track(index, { resolve, reject, deadline: Date.now() + this.timeoutMs(), term: this.raw.term() });
    });
  }

  /** Proposes this turn's queued data as one batch: one append message per follower. */
  private proposeQueued(): void {
    const batch = this.queued;
    if (batch.length === 0) return;
    this.queued = [];
    let last: number;
    try {
      last = this.raw.proposeBatch(batch.map((q) => q.data));
    } catch (err) {
      for (const q of batch) q.waiter.reject(err as Error);
      return;
    }
    const term = this.raw.term();
    const first = last - batch.length + 1;
    batch.forEach((q, i) => this.track(first + i, { ...q.waiter, term }));
  }

  /**
   * Waits for the entry at index. A waiter already there belongs to an entry of an older term
   * that a newer leader (possibly us again) has replaced: it can never be applied.
   */
  private track(index: number, waiter: Waiter & { term: number }): void {
    const old = this.proposals.get(index);
    if (old) old.reject(new RaftError('PROPOSAL_DROPPED', `entry ${index} was replaced by a newer leader's entry`));
    this.proposals.set(index, waiter);
  }

  /** Resolves once this member has applied everything committed before the call (linearizable). */
  readBarrier(): Promise<void> {
    if (this.stopped) return Promise.reject(this.stoppedError());
    const context = `${this.id}/${this.readPrefix}/${++this.nextRead}`;
    try {
      this.raw.readIndex(context);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.schedulePump();
    return new Promise((resolve, reject) => {
      this.reads.set(context, { resolve: () => resolve(), reject, deadline: Date.now() + this.timeoutMs() });
    });
  }

  /** See RawNode.forgetLeader: the leader's connection is gone. */
  forgetLeader(): void {
    this.raw.forgetLeader();
    this.schedulePump();
  }

  transferLeadership(to: MemberId): void {
    this.raw.transferLeadership(to);
    this.schedulePump();
  }

  status(): Status {
    return this.raw.status();
  }

  private timeoutMs(): number {
    return this.opts.requestTimeoutMs ?? 5000;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    // Everything that arrives in the same turn of the event loop shares one fsync.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    // A write that throws (e.g. ENOSPC) leaves the disk in an unknown state, as a failed fsync does.
    try {
      this.pumpReadies();
    } catch (err) {
      this.fail(err);
    }
  }

  private pumpReadies(): void {
    if (this.persisting || this.stopped) return;
    this.proposeQueued();
    while (!this.stopped && this.raw.hasReady()) {
      const rd = this.raw.ready();
      // Records go to the file now; entries and a new term or vote must reach the disk (fsync)
      // before any message of this batch leaves. The fsync runs off the event loop, and what
      // arrives meanwhile gathers into the next batch.
      if (rd.mustSync || rd.hardState) this.wal.save(rd.hardState, rd.entries, rd.snapshot, { sync: false });
      if (!rd.mustSync) {
        this.afterPersist(rd);
        continue;
      }
      this.persisting = true;
      this.wal.flush().then(
        () => {
          this.persisting = false;
          if (this.stopped) return;
          try {
            this.afterPersist(rd);
          } catch (err) {
            this.fail(err);
            return;
          }
          this.pump();
        },
        (err: unknown) => this.fail(err),
      );
      return;
    }
  }

  /**
   * The disk failed: what it holds is unknown, so this member stops rather than diverge. It
   * stops before telling listeners, so nothing a listener does (or throws) lets it go on.
   */
  private fail(err: unknown): void {
    if (this.stopped) return;
    const e = err instanceof Error ? err : new Error(String(err));
    this.failure = e;
    this.stop();
    this.emit('failed', e);
  }

  /** Whether the member has stopped (stop() or a failure): its status is then frozen and stale. */
  isStopped(): boolean {
    return this.stopped;
  }

  /** The error that stopped the member on its own, if one did. */
  failedWith(): Error | undefined {
    return this.failure;
  }

  private afterPersist(rd: Ready): void {
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    for (const m of rd.messages) this.opts.transport.send(m);
    if (rd.snapshot) {
      this.opts.stateMachine.restore(rd.snapshot.data);
      this.applied = rd.snapshot.metadata.index;
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      if (r) r.index = rs.index;
    }
    if (rd.softState) {
      if (rd.softState.leader !== this.lastLeader) this.failUnansweredReads(rd.softState.leader);
      this.lastLeader = rd.softState.leader;
      this.emit('softState', rd.softState);
    }
    this.raw.advance(rd);
    this.resolveReads();
    this.maybeSnapshot();
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.applied) return;
    this.applied = e.index;
    const result = this.opts.stateMachine.apply(e);
    const waiter = this.proposals.get(e.index);
    if (waiter) {
      this.proposals.delete(e.index);
      if (waiter.term === e.term) waiter.resolve(result);
      else waiter.reject(new RaftError('PROPOSAL_DROPPED', `entry ${e.index} was replaced by a newer leader's entry`));
    }
    this.emit('applied', e, result);
  }

  /**
   * A read confirmation in flight to a leader that lost its place is never answered: fail it
   * now, so the caller asks the new leader instead of waiting for its timeout.
   */
  private failUnansweredReads(newLeader: MemberId): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== undefined) continue;
      this.reads.delete(ctx);
      r.reject(RaftError.notLeader(newLeader));
    }
  }

  private resolveReads(): void {
    for (const [ctx, r] of this.reads) {
      if (r.index !== undefined && this.applied >= r.index) {
        this.reads.delete(ctx);
        r.resolve(undefined);
      }
    }
  }

  private maybeSnapshot(): void {
    const every = this.opts.snapshotEvery ?? 10_000;
    const snapIndex = this.storage.snapshot().metadata.index;
    if (this.applied - snapIndex < every) return;
    const snap = this.storage.createSnapshot(this.applied, this.raw.confState(), this.opts.stateMachine.snapshot());
    this.wal.saveSnapshot(snap);
    this.storage.compact(Math.max(snapIndex, this.applied - (this.opts.keepEntries ?? 1000)));
  }

  /** Stops ticking and closes the WAL; pending requests fail with STOPPED. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    const err = this.stoppedError();
    for (const w of this.proposals.values()) w.reject(err);
    for (const w of this.reads.values()) w.reject(err);
    for (const q of this.queued) q.waiter.reject(err);
    this.proposals.clear();
    this.reads.clear();
    this.queued = [];
    try {
      this.wal.close();
    } catch {
      // Safe to drop: only records no fsync covered can be lost, and the driver flushes before it
      // sends or applies anything that depends on them (what is left is at most a commit index).
    }
  }
}
