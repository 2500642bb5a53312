import { SwarmError, isSwarmError, type SwarmErrorCode } from '../errors.js';
import type { ClusterStore } from './cluster-store.js';
import { decodeProposal, encodeProposal } from './proposal.js';
import type { ApplyResult, StoreAction, StoredObject } from './types.js';

/** What the store needs of the local Raft member; RaftNode is one. */
export interface RaftLike {
  propose(data: Uint8Array): Promise<unknown>;
  readBarrier(): Promise<void>;
  status(): { leader: string; role: string; id: string };
}

export interface ReplicatedStoreOptions {
  raft: RaftLike;
  store: ClusterStore;
  /**
   * Sends an encoded proposal to the leader, whose handler calls proposeLocal(). Rejections
   * with code NOT_LEADER (or PROPOSAL_DROPPED) mean the write was not applied and may be retried.
   */
  forward: (leaderId: string, proposal: Uint8Array) => Promise<ApplyResult>;
  clock?: () => Date;
  /** How long a write or read waits for a leader to be known: about two election timeouts. */
  leaderWaitMs?: number;
  /** How long a forwarded write waits for this member to apply it before returning anyway. */
  applyWaitMs?: number;
  /**
   * A bound on each proposal, forward and read, beyond Raft's own request timeout (which should
   * be shorter): whatever happens below, an API request gets an answer.
   */
  requestTimeoutMs?: number;
  pollMs?: number;
}

const NO_QUORUM_HINT = 'restore a majority of managers, or run `swarm init --force-new-cluster` on a surviving manager';
const NO_LEADER_HINT = 'make sure more than half of the managers are running and can reach each other';
/** Codes (from Raft, possibly across an RPC) that promise the write was not applied. */
const LEADER_CHANGED = new Set(['NOT_LEADER', 'PROPOSAL_DROPPED']);

/**
 * Writes and fresh reads for the daemon. A write goes to Raft on the leader, or is forwarded to
 * the leader from a follower; either way it returns once committed and applied on this member,
 * so the local ClusterStore shows it at once (read-your-writes).
 */
export class ReplicatedStore {
  private readonly raft: RaftLike;
  private readonly store: ClusterStore;
  private readonly forward: ReplicatedStoreOptions['forward'];
  private readonly clock: () => Date;
  private readonly leaderWaitMs: number;
  private readonly applyWaitMs: number;
  private readonly requestTimeoutMs: number;
  private readonly pollMs: number;

  constructor(opts: ReplicatedStoreOptions) {
    this.raft = opts.raft;
    this.store = opts.store;
    this.forward = opts.forward;
    this.clock = opts.clock ?? (() => new Date());
    this.leaderWaitMs = opts.leaderWaitMs ?? 2000;
    this.applyWaitMs = opts.applyWaitMs ?? 5000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.pollMs = opts.pollMs ?? 10;
  }

  /**
   * Commits the actions as one transaction; resolves with the objects written (for a delete:
   * as they were), in action order. Throws SwarmError: the transaction's own failure
   * (NOT_FOUND, ALREADY_EXISTS, OUT_OF_SEQUENCE, ...), NO_LEADER, NO_QUORUM or TIMEOUT (the
   * outcome is then unknown), UNAVAILABLE.
   */
  async commit(actions: StoreAction[]): Promise<StoredObject[]> {
    const proposal = encodeProposal({ actions, proposedAt: this.clock().toISOString() });
    // Checked here too, so a bad write fails before it travels to the leader.
    decodeProposal(proposal);
    let avoid: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const leader = await this.waitForLeader(avoid);
      const local = leader === this.raft.status().id;
      let result: ApplyResult;
      try {
        result = local ? await this.proposeLocal(proposal) : await this.forwardTo(leader, proposal);
      } catch (err) {
        // Not applied, and the leader has changed under us: once more, at the new leader.
        if (attempt === 0 && LEADER_CHANGED.has(codeOf(err) ?? '')) {
          avoid = leader;
          continue;
        }
        throw local ? fromRaft(err) : fromLeader(err, leader);
      }
      if (!result.ok) throw new SwarmError(result.code, result.message);
      return result.objects;
    }
  }

  /**
   * Proposes an encoded proposal on this member, which must lead (the leader's handler of
   * forwarded writes calls this). Resolves with the transaction's outcome. Rejects with
   * SwarmError INVALID_ARGUMENT, NO_QUORUM, TIMEOUT or UNAVAILABLE, and passes Raft's NOT_LEADER and
   * PROPOSAL_DROPPED through unchanged so that the forwarding member retries.
   */
  async proposeLocal(proposal: Uint8Array): Promise<ApplyResult> {
    decodeProposal(proposal);
    let result: unknown;
    try {
      result = await this.bounded(this.raft.propose(proposal), 'the write was not confirmed', true);
    } catch (err) {
      if (LEADER_CHANGED.has(codeOf(err) ?? '')) throw err;
      throw fromRaft(err);
    }
    if (!isApplyResult(result)) throw new SwarmError('INTERNAL', 'the state machine returned no result for a proposal');
    return result;
  }

  /** Resolves once this member has applied every write committed before the call (linearizable). */
  async readFresh(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bounded(this.raft.readBarrier(), 'the read could not be confirmed', false);
        return;
      } catch (err) {
        // No leader known yet, or the leader changed while confirming: wait for one, ask again.
        if (attempt < 3 && codeOf(err) === 'NOT_LEADER') {
          await this.waitForLeader();
          continue;
        }
        throw fromRaft(err, 'read');
      }
    }
  }

  private async forwardTo(leader: string, proposal: Uint8Array): Promise<ApplyResult> {
    const result = await this.bounded(this.forward(leader, proposal), `the leader ${leader} did not answer`, true);
    if (!isApplyResult(result)) throw new SwarmError('INTERNAL', `the leader ${leader} answered a write with something other than a result`);
    await this.appliedHere(result.index);
    return result;
  }

  /** Fails with TIMEOUT if `work` has not settled within requestTimeoutMs. */
  private bounded<T>(work: Promise<T>, what: string, write: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const outcome = write ? '; the write may or may not have been applied' : '';
        reject(new SwarmError('TIMEOUT', `${what} within ${this.requestTimeoutMs} ms${outcome}`));
      }, this.requestTimeoutMs);
      work.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  /**
   * Waits until this member has applied the entry, so that reads here show the write. Gives up
   * quietly after applyWaitMs: the write is committed either way.
   */
  private appliedHere(index: number): Promise<void> {
    if (this.store.lastIndex() >= index) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, this.applyWaitMs);
      const off = this.store.onApplied((i) => {
        if (i >= index) done();
      });
    });
  }

  /**
   * The leader's id, polling Raft until one is known. With `avoid` (a member that just said it
   * no longer leads) waits for another one, but falls back to it if it leads again in time.
   */
  private async waitForLeader(avoid?: string): Promise<string> {
    const deadline = Date.now() + this.leaderWaitMs;
    for (;;) {
      const leader = this.raft.status().leader;
      if (leader !== '' && leader !== avoid) return leader;
      if (Date.now() >= deadline) {
        if (leader !== '') return leader;
        throw new SwarmError('NO_LEADER', `no leader was elected within ${this.leaderWaitMs} ms`, NO_LEADER_HINT);
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }
}

function codeOf(err: unknown): string | undefined {
  // Errors from the leader may have crossed an RPC: match on the code, not the class.
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** An error of the local Raft member, in the words users see. */
function fromRaft(err: unknown, op: 'write' | 'read' = 'write'): SwarmError {
  if (isSwarmError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  switch (codeOf(err)) {
    case 'TIMEOUT': {
      const what = op === 'write' ? 'the write could not be committed' : 'the read could not be confirmed';
      return new SwarmError('NO_QUORUM', `no quorum: ${what}`, NO_QUORUM_HINT, { cause: err });
    }
    case 'NOT_LEADER':
    case 'PROPOSAL_DROPPED':
      return new SwarmError('UNAVAILABLE', `leadership changed during the request: ${message}`, 'try again', { cause: err });
    case 'STOPPED':
      return new SwarmError('UNAVAILABLE', `this manager is stopping: ${message}`, undefined, { cause: err });
    default:
      return new SwarmError('INTERNAL', message, undefined, { cause: err });
  }
}

/**
 * An error from forwarding to the leader. Its SwarmErrors may arrive as plain objects with a
 * code (after an RPC): rebuilt as SwarmErrors. Anything else means the leader was not reached,
 * or did not answer, so the outcome is unknown.
 */
function fromLeader(err: unknown, leader: string): SwarmError {
  if (isSwarmError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err);
  if (code === 'NOT_LEADER' || code === 'PROPOSAL_DROPPED') return fromRaft(err);
  if (code !== undefined && isSwarmErrorCode(code)) {
    const hint = typeof err === 'object' && err !== null && 'hint' in err && typeof err.hint === 'string' ? err.hint : undefined;
    return new SwarmError(code, message, hint, { cause: err });
  }
  return new SwarmError('UNAVAILABLE', `could not reach the leader ${leader}: ${message}; the write may or may not have been applied`, undefined, {
    cause: err,
  });
}

function isSwarmErrorCode(code: string): code is SwarmErrorCode {
  // SwarmError knows its codes (each has an HTTP status); errors.ts exports no list of them.
  return new SwarmError(code as SwarmErrorCode, '').status !== undefined;
}

function isApplyResult(v: unknown): v is ApplyResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { ok?: unknown; index?: unknown; objects?: unknown; code?: unknown };
  if (typeof r.index !== 'number') return false;
  return r.ok === true ? Array.isArray(r.objects) : r.ok === false && typeof r.code === 'string';
}
