import { RaftError } from './errors.js';
import { RaftLog } from './log.js';
import { Progress, ProgressTracker } from './progress.js';
import type { Storage } from './storage.js';
import type {
  ConfChange,
  Entry,
  HardState,
  MemberId,
  Message,
  MessageType,
  ReadState,
  Role,
  Snapshot,
  SnapshotChunk,
  SoftState,
} from './types.js';
import { NONE } from './types.js';

export interface RaftConfig {
  id: MemberId;
  storage: Storage;
  /** Ticks without hearing from a leader before an election; randomized in [n, 2n). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** The seeded random source, [0, 1): the core's only randomness. */
  random: () => number;
  /** The last applied index when restarting (defaults to the snapshot's index). */
  applied?: number;
  /** Bytes of entries per append message. */
  maxSizePerMsg?: number;
  /** Append messages in flight per follower. */
  maxInflightMsgs?: number;
  /** Bytes of entries in flight per follower. */
  maxInflightBytes?: number;
  /** Bytes of committed entries per Ready. */
  maxApplyBytes?: number;
  /** Bytes of snapshot data per InstallSnapshot message. */
  snapshotChunkBytes?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  /** Followers forward proposals to the leader instead of rejecting them with NOT_LEADER. */
  proposalForwarding?: boolean;
}

type StepFn = (m: Message) => RaftError | undefined;

const TRANSFER = 'transfer';

function voteRespType(t: MessageType): MessageType {
  return t === 'vote' ? 'voteResp' : 'preVoteResp';
}

/** A read waiting for a quorum to confirm the leader is still the leader. */
interface PendingRead {
  index: number;
  request: Message;
  acks: Set<MemberId>;
}

/**
 * The Raft state machine, modelled on etcd's raft.go: no timers, no I/O. Callers feed it
 * tick() and step(); it accumulates messages, entries and state for RawNode to hand out.
 */
export class Raft {
  readonly id: MemberId;
  term = 0;
  vote: MemberId = NONE;
  lead: MemberId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  /** Leader: the index of the last conf change it appended; no new one until it is applied. */
  pendingConfIndex = 0;
  leadTransferee: MemberId = NONE;
  isLearner = false;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly forwarding: boolean;
  private readonly maxMsgSize: number;
  private readonly chunkBytes: number;
  private readonly random: () => number;

  private pendingReads = new Map<string, PendingRead>();
  private readQueue: string[] = [];
  /** Reads that arrived before this leader committed an entry of its term. */
  private deferredReads: Message[] = [];
  /** Follower: an InstallSnapshot being received. */
  private incomingSnapshot: { chunk: SnapshotChunk; parts: Uint8Array[]; received: number } | undefined;

  private stepRole: StepFn;
  private tickRole: () => void;

  constructor(c: RaftConfig) {
    if (c.id === NONE) throw new RaftError('CORRUPT', 'a member id must not be empty');
    if (c.heartbeatTick <= 0 || c.electionTick <= c.heartbeatTick) {
      throw new RaftError('CORRUPT', 'electionTick must be greater than heartbeatTick, both positive');
    }
    this.id = c.id;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum ?? true;
    this.preVote = c.preVote ?? true;
    this.forwarding = c.proposalForwarding ?? false;
    this.maxMsgSize = c.maxSizePerMsg ?? 1 << 20;
    this.chunkBytes = c.snapshotChunkBytes ?? 1 << 20;
    this.random = c.random;
    this.log = new RaftLog(c.storage, c.maxApplyBytes ?? 64 << 20);
    this.tracker = new ProgressTracker(c.maxInflightMsgs ?? 256, c.maxInflightBytes ?? 32 << 20);

    const { hardState, conf } = c.storage.initialState();
    for (const v of conf.voters) this.setProgress(v, false);
    for (const l of conf.learners) this.setProgress(l, true);
    this.isLearner = this.tracker.learners.has(this.id);
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (c.applied !== undefined && c.applied > 0) this.log.appliedTo(c.applied);
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new RaftError(
        'CORRUPT',
        `hard state commit ${hs.commit} is outside [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** A voter not waiting for a snapshot may campaign. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id) && !this.log.unstable.snapshot;
  }

  private send(m: Omit<Message, 'from'> & { from?: MemberId }): void {
    const msg = { ...m, from: this.id } as Message;
    // Responses to votes carry the term they answer; everything else our term.
    if (
      msg.type !== 'vote' &&
      msg.type !== 'preVote' &&
      msg.type !== 'voteResp' &&
      msg.type !== 'preVoteResp' &&
      msg.type !== 'propose' &&
      msg.type !== 'readIndex' &&
      msg.type !== 'transferLeader'
    ) {
      msg.term = this.term;
    }
    this.msgs.push(msg);
  }

  // ---------------------------------------------------------------- replication (leader)

  /** Sends an append (or snapshot) if the follower is not paused. */
  private maybeSendAppend(to: MemberId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.entriesFrom(pr.next, this.maxMsgSize);
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    const bytes = RaftLog.bytes(ents);
    this.send({ type: 'app', to, term: this.term, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    pr.sentEntries(ents.length > 0 ? ents[ents.length - 1]!.index : undefined, bytes);
    return true;
  }

  private sendAppend(to: MemberId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends the next chunk of the current snapshot, starting the transfer if needed. */
  private sendSnapshot(to: MemberId, pr: Progress): boolean {
    if (!pr.recentActive) return false; // don't push megabytes at a member that may be down
    const snap = this.log.snapshot();
    if (snap.metadata.index === 0) throw new RaftError('CORRUPT', 'need a snapshot but the log has none');
    if (pr.state !== 'snapshot' || pr.pendingSnapshot !== snap.metadata.index) pr.becomeSnapshot(snap.metadata.index);
    this.sendSnapshotChunk(to, pr, snap);
    return true;
  }

  private sendSnapshotChunk(to: MemberId, pr: Progress, snap: Snapshot): void {
    const total = snap.data.byteLength;
    const offset = Math.min(pr.snapshotOffset, total);
    const data = snap.data.subarray(offset, Math.min(total, offset + this.chunkBytes));
    this.send({ type: 'snap', to, term: this.term, snapshot: { metadata: snap.metadata, offset, total, data } });
  }

  private sendHeartbeat(to: MemberId, context?: string): void {
    const pr = this.tracker.progress.get(to);
    // Never tell a follower to commit past what it is known to have.
    const commit = Math.min(pr?.match ?? 0, this.log.committed);
    const m: Message = { type: 'heartbeat', from: this.id, to, term: this.term, commit };
    if (context !== undefined) m.context = context;
    this.send(m);
  }

  private forEachPeer(fn: (id: MemberId, pr: Progress) => void): void {
    for (const [id, pr] of this.tracker.progress) if (id !== this.id) fn(id, pr);
  }

  bcastAppend(): void {
    this.forEachPeer((id) => this.sendAppend(id));
  }

  private bcastHeartbeat(context?: string): void {
    this.forEachPeer((id, pr) => {
      // A member receiving a snapshot gets the next chunk again instead: retransmission.
      if (pr.state === 'snapshot' && context === undefined) {
        const snap = this.log.snapshot();
        if (pr.pendingSnapshot === snap.metadata.index) this.sendSnapshotChunk(id, pr, snap);
        else this.sendSnapshot(id, pr);
      }
      this.sendHeartbeat(id, context);
    });
  }

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.tracker.committedIndex(), this.term);
  }

  private appendEntries(ents: Entry[]): void {
    let li = this.log.lastIndex();
    for (const e of ents) {
      e.term = this.term;
      e.index = ++li;
    }
    this.log.append(ents);
    // The leader's own entries count toward the quorum; the driver persists them before sending.
    this.tracker.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
  }

  // ---------------------------------------------------------------- role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      const fresh = new Progress(last + 1, pr.isLearner, this.tracker.maxInflight, this.tracker.maxInflightBytes);
      if (id === this.id) fresh.match = last;
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.pendingReads.clear();
    this.readQueue = [];
    this.deferredReads = [];
  }

  becomeFollower(term: number, lead: MemberId): void {
    this.stepRole = this.stepFollower;
    this.tickRole = this.tickElection;
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new RaftError('CORRUPT', 'leader cannot become candidate');
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new RaftError('CORRUPT', 'leader cannot become pre-candidate');
    // PreVote does not change term or vote: a partitioned member cannot disrupt the cluster.
    this.stepRole = this.stepCandidate;
    this.tickRole = this.tickElection;
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  private becomeLeader(): void {
    if (this.role === 'follower') throw new RaftError('CORRUPT', 'follower cannot become leader');
    this.stepRole = this.stepLeader;
    this.tickRole = this.tickHeartbeat;
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // No conf change until this term's first entry is applied: avoids the single-server change bug.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntries([{ term: 0, index: 0, kind: 'normal', data: new Uint8Array(0) }]);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.tickRole();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step({ type: 'hup', from: this.id, to: this.id, term: 0 });
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step({ type: 'checkQuorum', from: this.id, to: this.id, term: 0 });
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step({ type: 'beat', from: this.id, to: this.id, term: 0 });
    }
  }

  // ---------------------------------------------------------------- elections

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const ents = this.log.slice(lo, this.log.committed + 1);
    return ents.some((e) => e.kind === 'conf');
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // A conf change that is committed but not applied may change who votes: wait for it.
    if (this.hasUnappliedConfChanges()) return;
    if (this.preVote && !transfer) this.campaign('preVote', false);
    else this.campaign('vote', transfer);
  }

  private campaign(kind: 'preVote' | 'vote', transfer: boolean): void {
    let term: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      term = this.term + 1; // the term we would use; not adopted yet
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === 'won') {
      // A single-voter cluster wins at once.
      if (kind === 'preVote') this.campaign('vote', false);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      const m: Message = { type: kind, from: this.id, to: id, term, index: lastIndex, logTerm: lastTerm };
      if (transfer) m.context = TRANSFER;
      this.send(m);
    }
  }

  // ---------------------------------------------------------------- step

  /** Processes one message; returns an error for a rejected local proposal or read. */
  step(m: Message): RaftError | undefined {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = m.context === TRANSFER;
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        // A member that recently heard from a leader ignores disruptive votes (leader lease).
        if (!force && inLease) return undefined;
      }
      if (m.type === 'preVote') {
        // Never change term on a pre-vote.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // The term is adopted only after winning the pre-vote.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader learns of the new term and steps down, which it could not if we were silent.
        this.send({ type: 'appResp', to: m.from, term: this.term });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, term: this.term, reject: true });
      }
      return undefined;
    }

    switch (m.type) {
      case 'hup':
        this.hup(false);
        return undefined;
      case 'vote':
      case 'preVote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === 'preVote' && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
          this.send({ type: voteRespType(m.type), to: m.from, term: m.term, reject: false });
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true });
        }
        return undefined;
      }
      default:
        return this.stepRole(m);
    }
  }

  private stepLeader(m: Message): RaftError | undefined {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat();
        return undefined;
      case 'checkQuorum':
        if (!this.tracker.quorumActive(this.id)) this.becomeFollower(this.term, NONE);
        this.forEachPeer((_id, pr) => {
          pr.recentActive = false;
        });
        return undefined;
      case 'propose':
        return this.propose(m);
      case 'readIndex':
        return this.leaderReadIndex(m);
      case 'transferLeader':
        this.startTransfer(m.from);
        return undefined;
      default:
        break;
    }

    const pr = this.tracker.progress.get(m.from);
    if (!pr) return undefined;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        break;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        // Appends may have been lost with the window full: free a slot so replication resumes
        // (the follower's rejection then moves it back to probing).
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context !== undefined) this.ackRead(m.context, m.from);
        break;
      case 'snapResp':
        pr.recentActive = true;
        // The follower says which byte it needs next (0 after a restart). An answer that does not
        // move the offset is a duplicate (e.g. of a retransmitted chunk): ignore it.
        if (pr.state === 'snapshot' && (m.index ?? 0) !== pr.snapshotOffset) {
          pr.snapshotOffset = m.index ?? 0;
          const snap = this.log.snapshot();
          if (pr.pendingSnapshot !== snap.metadata.index) this.sendSnapshot(m.from, pr);
          else if (pr.snapshotOffset < snap.data.byteLength) this.sendSnapshotChunk(m.from, pr, snap);
        }
        break;
      case 'unreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        break;
      default:
        break;
    }
    return undefined;
  }

  private propose(m: Message): RaftError | undefined {
    const ents = m.entries ?? [];
    if (ents.length === 0) return new RaftError('PROPOSAL_DROPPED', 'empty proposal');
    if (!this.tracker.progress.has(this.id)) {
      return new RaftError('PROPOSAL_DROPPED', 'this member was removed from the cluster');
    }
    if (this.leadTransferee !== NONE) {
      return new RaftError('PROPOSAL_DROPPED', `leadership is being transferred to ${this.leadTransferee}`);
    }
    for (const e of ents) {
      if (e.kind !== 'conf') continue;
      if (this.pendingConfIndex > this.log.applied) {
        return new RaftError('PROPOSAL_DROPPED', 'a membership change is already in progress');
      }
      const err = this.checkConfChange(e.change);
      if (err) return err;
      this.pendingConfIndex = this.log.lastIndex() + ents.indexOf(e) + 1;
    }
    this.appendEntries(ents.map((e) => ({ ...e })));
    this.bcastAppend();
    return undefined;
  }

  private checkConfChange(cc: ConfChange): RaftError | undefined {
    const isVoter = this.tracker.voters.has(cc.member);
    const isLearner = this.tracker.learners.has(cc.member);
    const bad = (why: string) => new RaftError('PROPOSAL_DROPPED', `membership change ${cc.type} ${cc.member}: ${why}`);
    switch (cc.type) {
      case 'addVoter':
        return isVoter ? bad('already a voter') : undefined;
      case 'addLearner':
        return isVoter ? bad('is a voter; remove it first') : isLearner ? bad('already a learner') : undefined;
      case 'promoteLearner':
        return isLearner ? undefined : bad('not a learner');
      case 'removeVoter':
        if (!isVoter && !isLearner) return bad('not a member');
        if (isVoter && this.tracker.voters.size === 1) return bad('cannot remove the last voter');
        return undefined;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    const index = m.index ?? 0;
    if (m.reject) {
      let hint = m.rejectHint ?? 0;
      if ((m.rejectTerm ?? 0) > 0) {
        // Skip every entry of ours from a term the follower does not have at that position.
        hint = this.log.findConflictByTerm(hint, m.rejectTerm ?? 0).index;
      }
      if (pr.maybeDecrTo(index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(index)) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === 'replicate') pr.inflights.freeLE(index);

      if (this.maybeCommit()) {
        this.releaseDeferredReads();
        this.bcastAppend();
      } else if (wasPaused) {
        this.sendAppend(m.from);
      }
      // Pipelining: keep the window full.
      while (this.maybeSendAppend(m.from, false)) {
        /* sent one more */
      }
      if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', to: m.from, term: this.term });
      }
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(index);
    }
  }

  private startTransfer(transferee: MemberId): void {
    const pr = this.tracker.progress.get(transferee);
    if (!pr || pr.isLearner) return;
    if (this.leadTransferee === transferee) return;
    if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    if (transferee === this.id) return;
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: transferee, term: this.term });
    else this.sendAppend(transferee);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---------------------------------------------------------------- reads

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private leaderReadIndex(m: Message): RaftError | undefined {
    const context = m.context ?? '';
    if (this.tracker.isSingleton()) {
      this.answerRead(m, this.log.committed, context);
      return undefined;
    }
    // Until an entry of this term is committed the leader's commit index may be stale.
    if (!this.committedEntryInCurrentTerm()) {
      this.deferredReads.push(m);
      return undefined;
    }
    if (this.pendingReads.has(context)) return undefined;
    this.pendingReads.set(context, { index: this.log.committed, request: m, acks: new Set([this.id]) });
    this.readQueue.push(context);
    this.bcastHeartbeat(context);
    return undefined;
  }

  private releaseDeferredReads(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const reads = this.deferredReads;
    this.deferredReads = [];
    for (const m of reads) this.leaderReadIndex(m);
  }

  private ackRead(context: string, from: MemberId): void {
    const pending = this.pendingReads.get(context);
    if (!pending) return;
    pending.acks.add(from);
    if (!this.tracker.hasQuorum(pending.acks)) return;
    // Confirming one read confirms every read queued before it.
    const at = this.readQueue.indexOf(context);
    const done = this.readQueue.splice(0, at + 1);
    for (const ctx of done) {
      const r = this.pendingReads.get(ctx)!;
      this.pendingReads.delete(ctx);
      this.answerRead(r.request, r.index, ctx);
    }
  }

  private answerRead(req: Message, index: number, context: string): void {
    if (req.from === this.id || req.from === NONE) this.readStates.push({ index, context });
    else this.send({ type: 'readIndexResp', to: req.from, term: this.term, index, context });
  }

  // ---------------------------------------------------------------- followers and candidates

  private stepCandidate(m: Message): RaftError | undefined {
    const myVoteResp: MessageType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'propose':
        return RaftError.notLeader(NONE);
      case 'readIndex':
        return RaftError.notLeader(NONE);
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return undefined;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshotChunk(m);
        return undefined;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myVoteResp) return undefined;
        this.tracker.recordVote(m.from, !m.reject);
        const { result } = this.tracker.tallyVotes();
        if (result === 'won') {
          if (this.role === 'preCandidate') this.campaign('vote', false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  private stepFollower(m: Message): RaftError | undefined {
    switch (m.type) {
      case 'propose':
        if (this.lead === NONE || !this.forwarding) return RaftError.notLeader(this.lead);
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return undefined;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        return undefined;
      case 'transferLeader':
        if (this.lead === NONE) return RaftError.notLeader(NONE);
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping PreVote and the lease.
        this.hup(true);
        return undefined;
      case 'readIndex':
        if (this.lead === NONE) return RaftError.notLeader(NONE);
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'readIndexResp':
        this.readStates.push({ index: m.index ?? 0, context: m.context ?? '' });
        return undefined;
      default:
        return undefined;
    }
  }

  private handleAppend(m: Message): void {
    const index = m.index ?? 0;
    if (index < this.log.committed) {
      this.send({ type: 'appResp', to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, m.entries ?? []);
    if (lastNew !== undefined) {
      this.send({ type: 'appResp', to: m.from, term: this.term, index: lastNew });
      return;
    }
    // Fast backtracking: point the leader at the last entry that can possibly match.
    const hint = this.log.findConflictByTerm(Math.min(index, this.log.lastIndex()), m.logTerm ?? 0);
    this.send({
      type: 'appResp',
      to: m.from,
      term: this.term,
      index,
      reject: true,
      rejectHint: hint.index,
      rejectTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    const resp: Message = { type: 'heartbeatResp', from: this.id, to: m.from, term: this.term };
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot;
    if (!chunk) return;
    const meta = chunk.metadata;
    // Already have it: answer as to an append, so the leader moves on.
    if (meta.index <= this.log.committed) {
      this.incomingSnapshot = undefined;
      this.send({ type: 'appResp', to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    let inc = this.incomingSnapshot;
    if (chunk.offset === 0 && (!inc || inc.chunk.metadata.index !== meta.index || inc.chunk.metadata.term !== meta.term)) {
      inc = { chunk, parts: [], received: 0 };
      this.incomingSnapshot = inc;
    }
    if (!inc || inc.chunk.metadata.index !== meta.index || inc.chunk.metadata.term !== meta.term || chunk.offset !== inc.received) {
      // Out of order or a transfer we lost (restart): tell the leader where to resume.
      const resumeAt = inc && inc.chunk.metadata.index === meta.index && inc.chunk.metadata.term === meta.term ? inc.received : 0;
      this.send({ type: 'snapResp', to: m.from, term: this.term, index: resumeAt });
      return;
    }
    inc.parts.push(chunk.data);
    inc.received += chunk.data.byteLength;
    if (inc.received < chunk.total) {
      this.send({ type: 'snapResp', to: m.from, term: this.term, index: inc.received });
      return;
    }
    const data = new Uint8Array(inc.received);
    let at = 0;
    for (const p of inc.parts) {
      data.set(p, at);
      at += p.byteLength;
    }
    this.incomingSnapshot = undefined;
    const snap: Snapshot = { metadata: meta, data };
    if (this.restore(snap)) {
      this.send({ type: 'appResp', to: m.from, term: this.term, index: this.log.lastIndex() });
    } else {
      this.send({ type: 'appResp', to: m.from, term: this.term, index: this.log.committed });
    }
  }

  /** Installs a snapshot from the leader; false when the log already covers it. */
  private restore(s: Snapshot): boolean {
    const meta = s.metadata;
    if (meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We have the entries: just fast-forward the commit index.
      this.log.commitTo(meta.index);
      return false;
    }
    this.log.restore(s);
    this.tracker.voters.clear();
    this.tracker.learners.clear();
    this.tracker.progress.clear();
    const last = this.log.lastIndex();
    for (const v of meta.conf.voters) this.setProgress(v, false);
    for (const l of meta.conf.learners) this.setProgress(l, true);
    for (const [id, pr] of this.tracker.progress) {
      pr.next = last + 1;
      if (id === this.id) pr.match = last;
    }
    this.isLearner = this.tracker.learners.has(this.id);
    return true;
  }

  // ---------------------------------------------------------------- membership

  private setProgress(id: MemberId, learner: boolean): void {
    const existing = this.tracker.progress.get(id);
    if (learner) {
      this.tracker.learners.add(id);
      this.tracker.voters.delete(id);
    } else {
      this.tracker.voters.add(id);
      this.tracker.learners.delete(id);
    }
    if (existing) {
      existing.isLearner = learner;
      return;
    }
    const pr = new Progress(this.log.lastIndex() + 1, learner, this.tracker.maxInflight, this.tracker.maxInflightBytes);
    // A new member counts as active, or CheckQuorum could depose the leader before it answers.
    pr.recentActive = true;
    this.tracker.progress.set(id, pr);
  }

  /** Applies a committed membership change (called as the application applies the entry). */
  applyConfChange(cc: ConfChange): void {
    switch (cc.type) {
      case 'addVoter':
      case 'promoteLearner':
        if (cc.type === 'promoteLearner' && !this.tracker.learners.has(cc.member)) break;
        this.setProgress(cc.member, false);
        break;
      case 'addLearner':
        if (this.tracker.voters.has(cc.member)) break;
        this.setProgress(cc.member, true);
        break;
      case 'removeVoter':
        this.tracker.voters.delete(cc.member);
        this.tracker.learners.delete(cc.member);
        this.tracker.progress.delete(cc.member);
        break;
    }
    this.isLearner = this.tracker.learners.has(this.id);
    if (this.role !== 'leader') return;
    if (!this.tracker.voters.has(this.id)) {
      // A leader removed (or demoted) steps down; the rest elect a new one.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.tracker.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    // The quorum changed: something may now be committed.
    if (this.maybeCommit()) this.bcastAppend();
    else if (cc.type === 'addVoter' || cc.type === 'addLearner') this.sendAppend(cc.member);
  }
}
