// The vocabulary of the consensus core. Everything here is plain data: it crosses the WAL and the wire.

/** A Raft member id. In the cluster this is the node id; in tests any short string. */
export type MemberId = string;
/** "No member": no vote cast, no leader known. */
export const NONE: MemberId = '';

export type ConfChangeType = 'addVoter' | 'removeVoter' | 'addLearner' | 'promoteLearner';

/** One membership change: Raft changes membership one server at a time. */
export interface ConfChange {
  type: ConfChangeType;
  member: MemberId;
  /** Opaque to Raft: the application stores e.g. the member's address here. */
  context?: Uint8Array;
}

/** The set of members at some point of the log. */
export interface ConfState {
  voters: MemberId[];
  learners: MemberId[];
}

export type Entry =
  | { term: number; index: number; kind: 'normal'; data: Uint8Array }
  | { term: number; index: number; kind: 'conf'; change: ConfChange };

/** What must be durable before any message of the same batch is sent. */
export interface HardState {
  term: number;
  vote: MemberId;
  commit: number;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  conf: ConfState;
}

/** The application's state at `metadata.index`, opaque to Raft. */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/** One piece of an InstallSnapshot transfer. */
export interface SnapshotChunk {
  metadata: SnapshotMetadata;
  /** Byte offset of `data` within the whole snapshot. */
  offset: number;
  /** Total size of the snapshot data. */
  total: number;
  data: Uint8Array;
}

export type MessageType =
  // local only: never sent over the wire
  | 'hup' // start an election
  | 'beat' // leader: send heartbeats
  | 'propose' // append entries (local, or forwarded to the leader)
  | 'checkQuorum'
  | 'unreachable' // the transport could not reach `from`
  // wire
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'snap'
  | 'snapResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'transferLeader'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp';

export interface Message {
  type: MessageType;
  from: MemberId;
  to: MemberId;
  term: number;
  /** app: term of the entry before `entries`; vote: term of the candidate's last entry. */
  logTerm?: number;
  /** app: index of the entry before `entries`; appResp: the matched or rejected index; vote: candidate's last index. */
  index?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** appResp on reject: the follower's hint for the next probe (fast backtracking). */
  rejectHint?: number;
  /** appResp on reject: term of the follower's entry at rejectHint. */
  rejectTerm?: number;
  snapshot?: SnapshotChunk;
  /** readIndex request context, or 'transfer' on a vote forced by leadership transfer. */
  context?: string;
}

/** A linearizable read may be served once the applied index reaches `index`. */
export interface ReadState {
  index: number;
  context: string;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: MemberId;
  role: Role;
}

/**
 * A batch handed to the driver. The driver must, in order:
 * 1. persist `snapshot`, `entries` and `hardState` (fsync),
 * 2. then send `messages`,
 * 3. apply `committedEntries` (and install `snapshot` into the state machine),
 * 4. call `advance(ready)`.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** False when nothing in this batch needs an fsync (e.g. only messages). */
  mustSync: boolean;
}
