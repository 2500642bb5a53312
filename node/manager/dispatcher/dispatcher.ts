import type { LivenessDigest } from '../../agent/index.js';
import type { Logger } from '../../log.js';
import type { ClusterStore, ReplicatedStore } from '../../store/index.js';
import type { NodeObject } from '../../store/index.js';
import { heartbeatPeriodMs, LivenessTracker, MIN_HEARTBEAT_PERIOD_MS, type LivenessChange } from './liveness.js';

/**
 * A new leader waits this much longer than three heartbeat periods before it marks a node down:
 * workers first time out on the old leader, then find the new one. Without it, a leader change
 * made healthy workers "down" and their tasks were replaced (found by the chaos suite).
 */
export const NEW_LEADER_GRACE_MS = 2_000;

export interface DispatcherDeps {
  /** The leader's own node: alive as long as this dispatcher runs. */
  selfId: string;
  store: ClusterStore;
  replicated: ReplicatedStore;
  logger: Logger;
  now?: () => number;
  /** Spreads node liveness to every node (by gossip). */
  publish?: (digest: LivenessDigest) => void;
  /**
   * Nodes whose liveness comes from other traffic (voting managers: Raft) and the period of
   * that traffic; they are judged on it instead of the heartbeat period.
   */
  trafficPeriodMs?: (nodeId: string) => number | undefined;
}

/** A full liveness digest goes out at least this often, for nodes that missed a change. */
const DIGEST_REFRESH_MS = 10_000;

/**
 * The leader's side of node sessions: takes heartbeats, marks nodes DOWN when they stop, READY
 * when they return, and writes those changes to the store. Runs only while this node leads.
 */
export class Dispatcher {
  private readonly tracker = new LivenessTracker();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Changes not yet committed, by node: a later change supersedes an earlier one. */
  private readonly pending = new Map<string, LivenessChange>();
  private flushing = false;
  private lastDigest = 0;

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The heartbeat period nodes should use now. */
  periodMs(): number {
    const cluster = this.deps.store.list('cluster')[0];
    const configuredNs = cluster?.Spec.Dispatcher.HeartbeatPeriod ?? 0;
    return heartbeatPeriodMs(this.deps.store.count('nodes'), Math.round(configuredNs / 1e6));
  }

  start(): void {
    const nodes = this.deps.store.list('nodes').map((n) => ({ nodeId: n.ID, state: n.Status.State === 'down' ? ('down' as const) : ('ready' as const) }));
    this.tracker.reset(nodes, this.now(), NEW_LEADER_GRACE_MS);
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private schedule(): void {
    // Check twice a period, so a node is marked down at most half a period late.
    this.timer = setTimeout(() => {
      this.check();
      if (this.timer) this.schedule();
    }, Math.max(50, Math.floor(this.periodMs() / 2)));
    this.timer.unref();
  }

  heartbeat(nodeId: string): void {
    const change = this.tracker.heartbeat(nodeId, this.now());
    const node = this.deps.store.get('nodes', nodeId);
    // Also repair a store that says otherwise (e.g. written by an earlier leader).
    if (change || (node && node.Status.State !== 'ready')) this.enqueue({ nodeId, state: 'ready', message: '' });
  }

  disconnected(nodeId: string): void {
    this.tracker.disconnected(nodeId, this.now());
  }

  forget(nodeId: string): void {
    this.tracker.forget(nodeId);
  }

  /** Marks down the nodes that stopped heartbeating (runs on a timer; public for tests). */
  check(): void {
    this.heartbeat(this.deps.selfId);
    const period = this.periodMs();
    const periodOf = (id: string) => Math.max(period, this.deps.trafficPeriodMs?.(id) ?? 0);
    for (const c of this.tracker.expire(this.now(), periodOf, MIN_HEARTBEAT_PERIOD_MS)) {
      this.deps.logger.warn({ node: c.nodeId, reason: c.message }, 'node is down');
      this.enqueue(c);
    }
    if (this.now() - this.lastDigest >= DIGEST_REFRESH_MS) this.publishDigest();
  }

  /** The liveness of every node as the store has it, to every node. */
  private publishDigest(): void {
    if (!this.deps.publish) return;
    this.lastDigest = this.now();
    const nodes = this.deps.store.list('nodes').map((n) => ({ nodeId: n.ID, peerId: n.Swarm.PeerId, role: n.Spec.Role, state: n.Status.State }));
    this.deps.publish({ version: this.deps.store.lastIndex(), nodes });
  }

  private enqueue(change: LivenessChange): void {
    this.pending.set(change.nodeId, change);
    void this.flush();
  }

  /** Writes pending state changes, all in one transaction. */
  private async flush(): Promise<void> {
    if (this.flushing || this.pending.size === 0) return;
    this.flushing = true;
    const batch = [...this.pending.values()];
    this.pending.clear();
    try {
      const actions = [];
      for (const c of batch) {
        const node = this.deps.store.get('nodes', c.nodeId);
        if (!node) continue;
        const state = c.state;
        if (node.Status.State === state && (node.Status.Message ?? '') === c.message) continue;
        const updated: NodeObject = { ...node, Status: { ...node.Status, State: state, Message: c.message } };
        actions.push({ op: 'update' as const, table: 'nodes' as const, object: updated, expectVersion: node.Version.Index });
      }
      if (actions.length > 0) {
        this.deps.logger.debug({ changes: actions.map((a) => `${a.object.ID}:${(a.object as NodeObject).Status.State}`) }, "writing node states");
        await this.deps.replicated.commit(actions);
        this.publishDigest();
      }
    } catch (err) {
      // Out of sequence or lost leadership: the next heartbeat or expiry retries.
      this.deps.logger.debug({ err }, 'node state write failed');
      for (const c of batch) if (!this.pending.has(c.nodeId)) this.pending.set(c.nodeId, c);
      setTimeout(() => void this.flush(), 100).unref();
    } finally {
      this.flushing = false;
    }
    if (this.pending.size > 0) void this.flush();
  }
}
