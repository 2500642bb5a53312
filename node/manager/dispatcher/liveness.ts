// Which nodes are alive, decided from heartbeats alone. Pure: the caller passes the time in.

export type Liveness = 'ready' | 'down';

export interface LivenessChange {
  nodeId: string;
  state: Liveness;
  /** Why, in words for `node inspect`. */
  message: string;
}

/** Heartbeats the leader accepts per second at most; the period grows with the node count. */
export const MAX_HEARTBEATS_PER_SECOND = 100;
export const MIN_HEARTBEAT_PERIOD_MS = 250;
/** Heartbeats a node may miss before it is marked down. */
export const MISSED_HEARTBEATS_FOR_DOWN = 3;
/**
 * But never less silence than this. Under heavy packet loss (30 %) TCP's retransmission backoff
 * stalls a connection for a second or more; marking a node down then replaces all its healthy
 * tasks, and marking it ready a moment later stops them again. A node that dies closes its
 * connection and goes down after one period (suspectGraceMs), so this costs only nodes that go
 * silent (cut off) a little time.
 */
export const MIN_SILENCE_FOR_DOWN_MS = 2_000;

/**
 * The heartbeat period for a cluster of `nodes`: as short as MIN_HEARTBEAT_PERIOD_MS, but long
 * enough that the leader handles at most MAX_HEARTBEATS_PER_SECOND (as Nomad bounds it).
 * An explicit period (from `--dispatcher-heartbeat`) wins.
 */
export function heartbeatPeriodMs(nodes: number, configuredMs = 0): number {
  if (configuredMs > 0) return configuredMs;
  return Math.max(MIN_HEARTBEAT_PERIOD_MS, Math.ceil((nodes * 1000) / MAX_HEARTBEATS_PER_SECOND));
}

interface Session {
  lastSeen: number;
  /** A node whose connection closed is suspect: it gets one period, not three. */
  suspectSince: number | undefined;
  state: Liveness;
}

/** The leader's view of node liveness. */
export class LivenessTracker {
  private readonly sessions = new Map<string, Session>();

  /**
   * Starts tracking (e.g. on becoming leader): every known node gets a full grace period, and
   * `extraGraceMs` more, so a new leader does not mark everyone down before they found it.
   */
  reset(nodes: Iterable<{ nodeId: string; state: Liveness }>, now: number, extraGraceMs = 0): void {
    this.sessions.clear();
    for (const n of nodes) this.sessions.set(n.nodeId, { lastSeen: now + extraGraceMs, suspectSince: undefined, state: n.state });
  }

  forget(nodeId: string): void {
    this.sessions.delete(nodeId);
  }

  /** A heartbeat arrived; returns a change when the node comes back. */
  heartbeat(nodeId: string, now: number): LivenessChange | undefined {
    const s = this.sessions.get(nodeId);
    if (!s) {
      this.sessions.set(nodeId, { lastSeen: now, suspectSince: undefined, state: 'ready' });
      return { nodeId, state: 'ready', message: '' };
    }
    s.lastSeen = now;
    s.suspectSince = undefined;
    if (s.state === 'ready') return undefined;
    s.state = 'ready';
    return { nodeId, state: 'ready', message: '' };
  }

  /**
   * The node's connection closed: it must heartbeat again within one period. That is fresher news
   * than a new leader's extra grace, which is for nodes still finding the leader: it ends here.
   */
  disconnected(nodeId: string, now: number): void {
    const s = this.sessions.get(nodeId);
    if (!s) return;
    if (s.suspectSince === undefined) s.suspectSince = now;
    if (s.lastSeen > now) s.lastSeen = now;
  }

  /**
   * Nodes that missed their heartbeats by `now`. `periodOf` gives each node's heartbeat period;
   * a node whose connection closed gets `suspectGraceMs` to heartbeat again.
   */
  expire(now: number, periodOf: (nodeId: string) => number, suspectGraceMs: number): LivenessChange[] {
    const changes: LivenessChange[] = [];
    for (const [nodeId, s] of this.sessions) {
      if (s.state === 'down') continue;
      const periodMs = periodOf(nodeId);
      const silentFor = now - s.lastSeen;
      const silentTooLong = silentFor >= Math.max(periodMs * MISSED_HEARTBEATS_FOR_DOWN, MIN_SILENCE_FOR_DOWN_MS);
      const suspectExpired = s.suspectSince !== undefined && now - Math.max(s.suspectSince, s.lastSeen) >= suspectGraceMs;
      if (silentTooLong || suspectExpired) {
        s.state = 'down';
        const why = silentTooLong ? `no heartbeat for ${silentFor} ms` : 'connection closed and no heartbeat since';
        changes.push({ nodeId, state: 'down', message: `heartbeat failure: ${why}` });
      }
    }
    return changes;
  }

  state(nodeId: string): Liveness | undefined {
    return this.sessions.get(nodeId)?.state;
  }
}
