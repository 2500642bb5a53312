import { RaftError } from './errors.js';
import { Raft, type RaftConfig } from './raft.js';
import type { ConfChange, ConfState, Entry, HardState, MemberId, Message, Ready, Role, SoftState } from './types.js';

export interface Status {
  id: MemberId;
  term: number;
  vote: MemberId;
  commit: number;
  applied: number;
  lastIndex: number;
  leader: MemberId;
  role: Role;
  conf: ConfState;
  /** Leader only: each member's matched index. */
  progress?: Record<MemberId, { match: number; next: number; state: string }>;
}

/**
 * The driver-facing handle on the core, as etcd's RawNode: feed it ticks, messages and
 * proposals; take a Ready, persist, send, apply, then advance().
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.raft.softState();
    this.prevHard = this.raft.hardState();
  }

  /**
   * Starts a brand-new cluster: the initial members become conf-change entries 1..n, committed,
   * so that members joining later learn the membership from the log. Only on an empty log.
   */
  bootstrap(voters: MemberId[]): void {
    const r = this.raft;
    if (r.log.lastIndex() !== 0) throw new RaftError('CORRUPT', 'bootstrap needs an empty log');
    if (voters.length === 0) throw new RaftError('CORRUPT', 'bootstrap needs at least one voter');
    r.becomeFollower(1, '');
    const ents: Entry[] = voters.map((member, i) => ({
      term: 1,
      index: i + 1,
      kind: 'conf',
      change: { type: 'addVoter', member },
    }));
    r.log.append(ents);
    r.log.committed = ents.length;
    // Applied now rather than on advance: the member must know its peers before its first tick.
    for (const e of ents) if (e.kind === 'conf') r.applyConfChange(e.change);
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests, or a transfer done by hand). */
  campaign(): void {
    this.raft.step({ type: 'hup', from: this.raft.id, to: this.raft.id, term: 0 });
  }

  /**
   * Proposes data; throws RaftError NOT_LEADER (with the leader) or PROPOSAL_DROPPED. Returns
   * the entry's index when this member is the leader, 0 when the proposal was forwarded.
   */
  propose(data: Uint8Array): number {
    this.stepLocal({ type: 'propose', entries: [{ term: 0, index: 0, kind: 'normal', data }] });
    return this.localIndex();
  }

  /** As propose(); returns the index of the last entry of the batch. */
  proposeBatch(items: Uint8Array[]): number {
    if (items.length === 0) return 0;
    this.stepLocal({ type: 'propose', entries: items.map((data) => ({ term: 0, index: 0, kind: 'normal' as const, data })) });
    return this.localIndex();
  }

  proposeConfChange(change: ConfChange): number {
    this.stepLocal({ type: 'propose', entries: [{ term: 0, index: 0, kind: 'conf', change }] });
    return this.localIndex();
  }

  private localIndex(): number {
    return this.raft.role === 'leader' ? this.raft.log.lastIndex() : 0;
  }

  /** The current term (for matching a proposal's index to its entry). */
  term(): number {
    return this.raft.term;
  }

  /** Asks for a linearizable read point; the answer comes as a ReadState with this context. */
  readIndex(context: string): void {
    this.stepLocal({ type: 'readIndex', context });
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeadership(transferee: MemberId): void {
    const r = this.raft;
    // The message names the transferee as its sender, as etcd does.
    if (r.role === 'leader') r.step({ type: 'transferLeader', from: transferee, to: r.id, term: 0 });
    else this.stepLocal({ type: 'transferLeader' }, transferee);
  }

  /**
   * The transport saw the leader's connection close: forget the leader (as etcd's
   * MsgForgetLeader), so this follower stops honouring its lease and can vote for, or become, a
   * new leader at once instead of after an election timeout. A live leader's next heartbeat
   * simply restores it.
   */
  forgetLeader(): void {
    const r = this.raft;
    if (r.role === 'follower') r.lead = '';
  }

  reportUnreachable(member: MemberId): void {
    this.raft.step({ type: 'unreachable', from: member, to: this.raft.id, term: 0 });
  }

  private stepLocal(m: Omit<Message, 'from' | 'to' | 'term'>, from = this.raft.id): void {
    const err = this.raft.step({ ...m, from, to: this.raft.id, term: 0 } as Message);
    if (err) throw err;
  }

  /** Feeds a message from the network. Local-only types are refused. */
  step(m: Message): void {
    if (m.type === 'hup' || m.type === 'beat' || m.type === 'checkQuorum' || m.type === 'unreachable') {
      throw new RaftError('CORRUPT', `message type ${m.type} is local-only and cannot come from the network`);
    }
    // A message from a member we do not know may still matter (e.g. a leader that added us).
    this.raft.step(m);
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.unstableEntries().length > 0 || r.log.unstable.snapshot) return true;
    if (r.log.hasNextCommittedEnts()) return true;
    const soft = r.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) return true;
    return !sameHard(r.hardState(), this.prevHard);
  }

  /** The next batch. Call advance() with it before asking for another. */
  ready(): Ready {
    const r = this.raft;
    const rd: Ready = {
      entries: r.log.unstableEntries().slice(),
      committedEntries: r.log.nextCommittedEnts(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    r.msgs = [];
    r.readStates = [];
    const soft = r.softState();
    if (soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role) rd.softState = soft;
    const hard = r.hardState();
    if (!sameHard(hard, this.prevHard)) rd.hardState = hard;
    if (r.log.unstable.snapshot) rd.snapshot = r.log.unstable.snapshot;
    rd.mustSync =
      rd.entries.length > 0 || rd.snapshot !== undefined || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
    return rd;
  }

  /** The batch was persisted, sent and applied. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      r.log.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      r.log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.kind === 'conf' && e.index > r.log.applied) {
          r.log.appliedTo(e.index);
          r.applyConfChange(e.change);
        }
      }
      r.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
  }

  status(): Status {
    const r = this.raft;
    const s: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      leader: r.lead,
      role: r.role,
      conf: r.tracker.confState(),
    };
    if (r.role === 'leader') {
      s.progress = {};
      for (const [id, pr] of r.tracker.progress) s.progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    return s;
  }

  /** The membership this member currently applies. */
  confState(): ConfState {
    return this.raft.tracker.confState();
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
