import type { ConfChange, MemberId } from '../../../raft/index.js';
import type { Logger } from '../../log.js';
import type { ClusterStore } from '../../store/index.js';
import { removalBlocker } from './quorum.js';

/** What the reconciler needs of the local Raft member. */
export interface RaftMembership {
  status(): {
    id: MemberId;
    role: string;
    commit: number;
    conf: { voters: MemberId[]; learners: MemberId[] };
    progress?: Record<MemberId, { match: number }>;
  };
  proposeConfChange(change: ConfChange): Promise<unknown>;
  transferLeadership(to: MemberId): void;
}

/** A learner this close to the leader's commit index is promoted to voter. */
const CAUGHT_UP_SLACK = 16;

/**
 * Leader-only: makes the Raft membership follow the nodes table. A node whose Spec.Role is
 * manager becomes a learner, then a voter once caught up; a demoted or removed manager leaves
 * the voters (the leader hands over leadership first when it is the one leaving). One change
 * at a time, and never one that would lose quorum.
 */
export class MembershipReconciler {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;

  constructor(
    private readonly store: ClusterStore,
    private readonly raft: RaftMembership,
    private readonly logger: Logger,
  ) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.reconcile(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The next membership change to make, or undefined when Raft matches the store. */
  nextChange(): { change?: ConfChange; transferTo?: MemberId; blocked?: string } | undefined {
    const st = this.raft.status();
    if (st.role !== 'leader') return undefined;
    const desired = new Set(this.store.list('nodes').filter((n) => n.Spec.Role === 'manager').map((n) => n.ID));
    const reachable = new Set(this.store.list('nodes').filter((n) => n.Status.State === 'ready').map((n) => n.ID));
    reachable.add(st.id);
    const { voters, learners } = st.conf;

    for (const member of [...learners, ...voters]) {
      if (desired.has(member)) continue;
      if (member === st.id) {
        // Hand over first: a leader that removes itself leaves the cluster leaderless for a while.
        const successor = voters
          .filter((v) => v !== st.id && desired.has(v) && reachable.has(v))
          .sort((a, b) => (st.progress?.[b]?.match ?? 0) - (st.progress?.[a]?.match ?? 0))[0];
        return successor ? { transferTo: successor } : { blocked: 'no reachable manager can take over leadership' };
      }
      const blocker = removalBlocker({ voters }, reachable, member);
      if (blocker) return { blocked: `cannot remove ${member} from the managers: ${blocker}` };
      return { change: { type: 'removeVoter', member } };
    }
    for (const member of desired) {
      if (!voters.includes(member) && !learners.includes(member)) return { change: { type: 'addLearner', member } };
    }
    for (const member of learners) {
      const match = st.progress?.[member]?.match ?? 0;
      if (match > 0 && match + CAUGHT_UP_SLACK >= st.commit) return { change: { type: 'promoteLearner', member } };
    }
    return undefined;
  }

  async reconcile(): Promise<void> {
    if (this.inFlight) return;
    const next = this.nextChange();
    if (!next) return;
    if (next.blocked) {
      this.logger.debug({ reason: next.blocked }, 'membership change waits');
      return;
    }
    if (next.transferTo) {
      this.logger.info({ to: next.transferTo }, 'transferring leadership before leaving the managers');
      this.raft.transferLeadership(next.transferTo);
      return;
    }
    if (!next.change) return;
    this.inFlight = true;
    try {
      this.logger.info({ change: next.change.type, member: next.change.member }, 'changing raft membership');
      await this.raft.proposeConfChange(next.change);
    } catch (err) {
      this.logger.debug({ err }, 'membership change not applied yet');
    } finally {
      this.inFlight = false;
    }
  }
}
