import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MemberId, Message } from '../../raft/index.js';
import { RaftNode } from '../../raft/driver/index.js';
import { WalIoError } from '../../raft/storage/index.js';
import type { RaftView } from '../api/index.js';
import { LIVENESS_TOPIC, encodeDigest, type LivenessDigest } from '../agent/index.js';
import { SwarmError } from '../errors.js';
import type { Logger } from '../log.js';
import { ASSIGNMENTS_TOPIC, AssignmentPublisher, Dispatcher } from '../manager/dispatcher/index.js';
import { MembershipReconciler } from '../manager/membership/index.js';
import { TaskController } from '../manager/index.js';
import type { P2PHost } from '../p2p/index.js';
import { ClusterStore, ReplicatedStore, type ApplyResult } from '../store/index.js';
import type { KnownManager } from './local-state.js';

/**
 * Raft timing. A leader that dies closes its connections, and the followers start an election
 * at once, in turn (see onPeerDisconnected): a new leader in well under a second, where Swarm's defaults
 * take 10-20 s. A leader that goes silent without closing (a partition) is replaced after 1-2 s
 * without heartbeats. Heartbeats every 500 ms and coarse ticks keep an idle manager cheap.
 */
export const RAFT_TICK_MS = 100;
export const RAFT_ELECTION_TICK = 10;
export const RAFT_HEARTBEAT_TICK = 5;
/**
 * When the leader's connection closes, every follower sees it at once. Campaigning at once too,
 * two of them would split the vote (each a candidate voting for itself) and wait a whole election
 * timeout, 1-2 s, before trying again: that was one kill in four. So they go in turn instead,
 * ranked by node ID among the voters left, this far apart: one campaign round (PreVote, vote) takes
 * a few milliseconds. A small jitter on top keeps ties away when views of the voters differ.
 */
export const CAMPAIGN_STAGGER_MS = 100;
const CAMPAIGN_JITTER_MS = 20;

/**
 * How long this member waits before campaigning once the leader's connection closed: its rank
 * among the voters other than that leader, in node ID order, times CAMPAIGN_STAGGER_MS, plus
 * jitter. `random` is in [0, 1).
 */
export function campaignDelayMs(self: string, deadLeader: string, voters: readonly string[], random: number): number {
  const rank = [...voters]
    .filter((v) => v !== deadLeader)
    .sort()
    .indexOf(self);
  return Math.max(0, rank) * CAMPAIGN_STAGGER_MS + Math.floor(random * CAMPAIGN_JITTER_MS);
}

export interface ManagerRoleOptions {
  nodeId: string;
  dataDir: string;
  host: P2PHost;
  logger: Logger;
  /** Voters of a brand-new cluster (swarm init); omitted when joining or restarting. */
  bootstrap?: MemberId[];
  /** Managers known before the store has them (a joining manager's first contacts). */
  knownManagers: () => KnownManager[];
  tickMs?: number;
  /**
   * Raft storage failed (e.g. ENOSPC): the member has stopped and must not serve. The daemon
   * exits (fail-stop) so a supervisor restarts it; the restarted member recovers from its WAL
   * and catches up from the leader.
   */
  onStorageFailure?: (err: Error) => void;
}

/**
 * Everything a manager runs: its Raft member over libp2p, the replicated store, and while it
 * leads, the dispatcher and the membership reconciler.
 */
export class ManagerRole {
  readonly store: ClusterStore;
  readonly raft: RaftNode;
  readonly replicated: ReplicatedStore;
  readonly dispatcher: Dispatcher;
  readonly assignments: AssignmentPublisher;
  private readonly tasks: TaskController;
  /** Receives the assignment messages this manager publishes (set by the node, which runs tasks too). */
  onLocalAssignments: ((bytes: Uint8Array) => void) | undefined;
  /** This node's own liveness digests (gossip does not deliver to its sender). */
  onLocalLiveness: ((digest: LivenessDigest) => void) | undefined;
  private readonly reconciler: MembershipReconciler;
  private readonly opts: ManagerRoleOptions;
  private leading = false;
  private readonly onDisconnect = (peerId: string) => this.onPeerDisconnected(peerId);
  private campaignTimer: NodeJS.Timeout | undefined;

  private constructor(opts: ManagerRoleOptions, store: ClusterStore, raft: RaftNode) {
    this.opts = opts;
    this.store = store;
    this.raft = raft;
    this.replicated = new ReplicatedStore({
      raft,
      store,
      forward: async (leaderId, proposal) => {
        const peer = this.peerOf(leaderId);
        if (!peer) throw new Error(`no address known for the leader ${leaderId}`);
        return (await opts.host.request(peer, 'store.propose', proposal, { timeoutMs: 10_000 })) as ApplyResult;
      },
    });
    this.dispatcher = new Dispatcher({
      selfId: opts.nodeId,
      store,
      replicated: this.replicated,
      logger: opts.logger,
      // Voting managers are judged on Raft traffic: a heartbeat each way every RAFT_HEARTBEAT_TICK.
      trafficPeriodMs: (id) => (this.voters().has(id) ? 2 * RAFT_HEARTBEAT_TICK * RAFT_TICK_MS : undefined),
      publish: (digest) => {
        opts.host.publish(LIVENESS_TOPIC, encodeDigest(digest)).catch((err: unknown) => opts.logger.debug({ err }, 'liveness gossip not sent'));
        this.onLocalLiveness?.(digest);
      },
    });
    this.reconciler = new MembershipReconciler(store, raft, opts.logger);
    this.tasks = new TaskController(store, this.replicated, opts.logger);
    this.assignments = new AssignmentPublisher(
      store,
      (bytes) => {
        // Gossip does not come back to its sender: this node's own tasks are handed over here.
        this.onLocalAssignments?.(bytes);
        return opts.host.publish(ASSIGNMENTS_TOPIC, bytes);
      },
      opts.logger,
    );
    raft.on('softState', (s) => {
      opts.logger.debug({ role: s.role, leader: s.leader }, 'raft role');
      this.onRoleChange(s.role === 'leader');
    });
    opts.host.on('peer:disconnected', this.onDisconnect);
    raft.on('failed', (err) => this.onRaftFailed(err));
  }

  static async start(opts: ManagerRoleOptions): Promise<ManagerRole> {
    const store = new ClusterStore();
    // The transport is needed before the role exists; messages before that have nowhere to go.
    const ref: { role?: ManagerRole } = {};
    const raft = await RaftNode.open({
      id: opts.nodeId,
      dataDir: join(opts.dataDir, 'raft'),
      transport: { send: (m) => ref.role?.sendRaft(m) },
      stateMachine: store,
      ...(opts.bootstrap ? { bootstrap: opts.bootstrap } : {}),
      tickMs: opts.tickMs ?? RAFT_TICK_MS,
      electionTick: RAFT_ELECTION_TICK,
      heartbeatTick: RAFT_HEARTBEAT_TICK,
      snapshotEvery: 1000,
      keepEntries: 500,
      requestTimeoutMs: 5000,
    });
    ref.role = new ManagerRole(opts, store, raft);
    return ref.role;
  }

  private voterCache: { at: number; voters: Set<string> } = { at: 0, voters: new Set() };

  /** The current voters, re-read at most every tick (the dispatcher asks once per node). */
  voters(): Set<string> {
    const now = Date.now();
    if (now - this.voterCache.at >= RAFT_TICK_MS) this.voterCache = { at: now, voters: new Set(this.raft.status().conf.voters) };
    return this.voterCache.voters;
  }

  /** The libp2p PeerId of a member: from the store, else from what we knew before joining. */
  peerOf(nodeId: string): string | undefined {
    return this.store.get('nodes', nodeId)?.Swarm.PeerId ?? this.opts.knownManagers().find((m) => m.nodeId === nodeId)?.peerId;
  }

  private sendRaft(m: Message): void {
    const peer = this.peerOf(m.to);
    if (peer) this.opts.host.notify(peer, 'raft', m);
  }

  /** A Raft message from another manager (its certificate already checked by the host). */
  receiveRaft(m: Message): void {
    this.raft.step(m);
    // Raft traffic already proves a manager alive: the leader needs no extra heartbeat for it.
    if (this.leading) this.dispatcher.heartbeat(m.from);
  }

  isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  leaderId(): string {
    return this.raft.status().leader;
  }

  /**
   * This member's own view, read locally (no ReadIndex round trip): it answers when cut off from
   * the quorum too. The store's index and snapshot are read in one synchronous step, so they agree.
   */
  raftView(): RaftView {
    // A stopped member's status is frozen: reporting it would show a follower that is not following.
    if (this.raft.isStopped()) {
      const why = this.raft.failedWith();
      throw new SwarmError('UNAVAILABLE', `this manager's raft member has stopped${why ? `: ${why.message}` : ''}`, 'restart the daemon', { cause: why });
    }
    const st = this.raft.status();
    const applied = this.store.lastIndex();
    const snapshot = this.store.snapshot();
    return {
      NodeID: this.opts.nodeId,
      Role: st.role,
      Term: st.term,
      Leader: st.leader,
      CommitIndex: st.commit,
      AppliedIndex: applied,
      StoreDigest: createHash('sha256').update(snapshot).digest('hex'),
    };
  }

  /**
   * The Raft member stopped on a failed write: it acknowledged nothing it could not persist, but
   * its store stops here. Leader-only work stops with it, and the owner is told to fail-stop.
   */
  private onRaftFailed(err: Error): void {
    const io = err instanceof WalIoError ? err : undefined;
    this.opts.logger.fatal(
      { err, code: io?.code ?? 'RAFT_FAILED', errno: io?.errno, path: io?.path },
      `raft storage failed${io ? ` (${io.errno ?? 'error'} on ${io.path})` : ''}: this manager stopped and must be restarted once the disk is fixed`,
    );
    this.onRoleChange(false);
    this.opts.onStorageFailure?.(err);
  }

  /** The leader's connection closed: most likely it died. Elect a new one now. */
  private onPeerDisconnected(peerId: string): void {
    const st = this.raft.status();
    if (st.role !== 'follower' || !st.leader || this.peerOf(st.leader) !== peerId) {
      this.opts.logger.debug({ peerId, role: st.role, leader: st.leader }, 'a peer disconnected: not the leader this member follows');
      return;
    }
    this.raft.forgetLeader();
    if (this.campaignTimer) clearTimeout(this.campaignTimer);
    const delay = campaignDelayMs(this.opts.nodeId, st.leader, st.conf.voters, Math.random());
    this.opts.logger.debug({ leader: st.leader, term: st.term, delayMs: delay }, "the leader's connection closed: campaigning");
    this.campaignTimer = setTimeout(() => {
      this.campaignTimer = undefined;
      const now = this.raft.status();
      // Someone else won meanwhile, or the old leader came back: nothing to do.
      this.opts.logger.debug({ role: now.role, leader: now.leader, term: now.term }, now.role === 'follower' && !now.leader ? 'campaign' : 'no campaign: a leader is known');
      if (now.role === 'follower' && !now.leader) this.raft.campaign();
    }, delay);
  }

  private onRoleChange(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.opts.logger.info({ term: this.raft.status().term }, 'this manager is the leader');
      this.dispatcher.start();
      this.assignments.start();
      this.tasks.start();
      // Voting managers we have no connection to (the leader that just died) get one period, not
      // the new leader's grace: every live voter is connected, Raft traffic flows between them.
      // Workers may not have found this leader yet, so they keep the grace.
      const connected = new Set(this.opts.host.connectedPeers());
      for (const id of this.voters()) {
        const peer = this.peerOf(id);
        if (id !== this.opts.nodeId && peer && !connected.has(peer)) this.dispatcher.disconnected(id);
      }
      this.reconciler.start();
    } else {
      this.dispatcher.stop();
      this.reconciler.stop();
      this.assignments.stop();
      this.tasks.stop();
    }
  }

  /** Waits until some member leads (after init or a restart). */
  async waitForLeader(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leader = this.raft.status().leader;
      if (leader) return leader;
      if (Date.now() > deadline) throw new Error('no leader was elected in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    this.opts.host.off('peer:disconnected', this.onDisconnect);
    if (this.campaignTimer) clearTimeout(this.campaignTimer);
    this.dispatcher.stop();
    this.reconciler.stop();
    this.assignments.stop();
    this.tasks.stop();
    this.raft.stop();
  }

  /** Stops and deletes this manager's Raft state (after a demotion or leave). */
  destroy(): void {
    this.stop();
    rmSync(join(this.opts.dataDir, 'raft'), { recursive: true, force: true });
  }
}
