import type { Logger } from '../log.js';
import type { NetworkAttachment } from '../store/index.js';

/** A manager this node can reach, as the dispatcher reports it. */
export interface ManagerAddress {
  nodeId: string;
  peerId: string;
  addrs: string[];
}

/** The leader's answer to a heartbeat. */
export interface HeartbeatReply {
  periodMs: number;
  leaderId: string;
  managers: ManagerAddress[];
  /** The role the cluster wants this node to have (promote/demote). */
  role: 'manager' | 'worker';
  /** The cluster's certificate lifetime: a node holding a longer-lived certificate renews. */
  certTtlMs: number;
  /** The version of the leader's last assignment message: a node behind it syncs. */
  assignmentsVersion: number;
  /** This node's own addresses on networks (its routing-mesh address on ingress). */
  attachments?: NetworkAttachment[];
}

/** A non-leader manager's answer: ask the leader instead. */
export interface HeartbeatRedirect {
  redirect: { leaderId: string; peerId: string } | null;
}

export interface SessionDeps {
  nodeId: string;
  logger: Logger;
  /** Sends one heartbeat to a manager (by PeerId); rejects when unreachable. */
  send: (peerId: string, nodeId: string, timeoutMs: number) => Promise<HeartbeatReply | HeartbeatRedirect>;
  managers: () => ManagerAddress[];
  onReply: (reply: HeartbeatReply) => void;
}

/**
 * The node's session with the leader: heartbeats at the period the leader asks for, follows
 * redirects to a new leader, and moves on to the next known manager when one does not answer.
 */
export class NodeSession {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private target: string | undefined;
  private periodMs = 250;
  private nextManager = 0;
  private lastReply = 0;

  constructor(private readonly deps: SessionDeps) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Milliseconds since the leader last answered (Infinity before the first answer). */
  sinceLastReply(now = Date.now()): number {
    return this.lastReply === 0 ? Infinity : now - this.lastReply;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), delayMs);
  }

  private pickTarget(): string | undefined {
    if (this.target) return this.target;
    const managers = this.deps.managers();
    if (managers.length === 0) return undefined;
    const m = managers[this.nextManager++ % managers.length]!;
    return m.peerId;
  }

  private async beat(): Promise<void> {
    const target = this.pickTarget();
    if (!target) {
      this.schedule(this.periodMs);
      return;
    }
    const started = Date.now();
    try {
      const reply = await this.deps.send(target, this.deps.nodeId, Math.max(500, this.periodMs * 2));
      if (this.stopped) return;
      if ('redirect' in reply) {
        this.target = reply.redirect?.peerId;
        // A manager without a leader: try another soon rather than hammering this one.
        this.schedule(reply.redirect ? 0 : Math.min(this.periodMs, 200));
        return;
      }
      this.target = target;
      this.periodMs = reply.periodMs;
      this.lastReply = Date.now();
      this.deps.onReply(reply);
      this.schedule(Math.max(0, this.periodMs - (Date.now() - started)));
    } catch (err) {
      if (this.stopped) return;
      this.deps.logger.debug({ err, target }, 'heartbeat failed; trying another manager');
      this.target = undefined;
      this.schedule(Math.min(this.periodMs, 200));
    }
  }
}
