import type { MemberId } from './types.js';

export type RaftErrorCode =
  | 'NOT_LEADER' // a proposal or read reached a member that is not the leader
  | 'PROPOSAL_DROPPED' // leadership is being transferred, or a conf change is already pending
  | 'COMPACTED' // the requested index is older than the log's first entry
  | 'UNAVAILABLE' // the requested entries are not in storage
  | 'SNAPSHOT_OUT_OF_DATE'
  | 'TIMEOUT' // a proposal or read did not complete in time; its outcome is unknown
  | 'STOPPED' // the member was stopped
  | 'CORRUPT'; // storage returned something that breaks an invariant

/** An error of the consensus core, typed by code. */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** For NOT_LEADER: the leader this member knows of, or '' when none. */
  readonly leader: MemberId;

  constructor(code: RaftErrorCode, message: string, leader: MemberId = '') {
    super(message);
    this.name = 'RaftError';
    this.code = code;
    this.leader = leader;
  }

  static notLeader(leader: MemberId): RaftError {
    const where = leader === '' ? 'no leader is known yet' : `leader is ${leader}`;
    return new RaftError('NOT_LEADER', `not leader, ${where}`, leader);
  }
}
