// The cluster object model, shaped like Docker's Engine API objects (field names included) so
// the API can return them as they are. Every stored object has ID and Version.Index: the Raft
// index of the entry that last changed it.

import type { SwarmErrorCode } from '../errors.js';

export interface Version {
  Index: number;
}

export interface StoredObject {
  ID: string;
  Version: Version;
  /** RFC 3339 timestamps, set by the leader when it proposes the change. */
  CreatedAt: string;
  UpdatedAt: string;
}

export type NodeRole = 'manager' | 'worker';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';
export type Reachability = 'unknown' | 'unreachable' | 'reachable';

export interface NodeSpec {
  Name?: string;
  Labels: Record<string, string>;
  Role: NodeRole;
  Availability: NodeAvailability;
}

export interface NodeDescription {
  Hostname: string;
  Platform: { Architecture: string; OS: string };
  Resources: { NanoCPUs: number; MemoryBytes: number };
  Engine: { EngineVersion: string; Labels: Record<string, string> };
}

export interface NodeObject extends StoredObject {
  Spec: NodeSpec;
  Description: NodeDescription;
  Status: { State: NodeState; Message?: string; Addr: string };
  /** Present for managers. Leader and Reachability are filled in from Raft when read. */
  ManagerStatus?: { Leader?: boolean; Reachability: Reachability; Addr: string };
  /** Not in Docker's API: how other nodes reach this one. */
  Swarm: { PeerId: string; Multiaddrs: string[] };
}

export interface ClusterSpec {
  Name: string;
  Labels: Record<string, string>;
  Orchestration: { TaskHistoryRetentionLimit: number };
  Raft: { SnapshotInterval: number; KeepOldSnapshots: number; ElectionTick: number; HeartbeatTick: number };
  /** Nanoseconds, as Docker; 0 means "derived from the node count". */
  Dispatcher: { HeartbeatPeriod: number };
  /** Nanoseconds. */
  CAConfig: { NodeCertExpiry: number };
}

export interface ClusterObject extends StoredObject {
  Spec: ClusterSpec;
  JoinTokens: { Worker: string; Manager: string };
  /** PEM-free: the CA's public key (base64) and its fingerprint as tokens carry it. */
  TLSInfo: { TrustRoot: string; CertIssuerPublicKey: string; CertIssuerSubject: string };
  DefaultAddrPool: string[];
  SubnetSize: number;
  RootRotationInProgress: boolean;
  /** Not in Docker's API (the API strips it): the CA with its private key, so every manager can issue certificates. */
  CAKey: string;
}

/** Every table of the store; later issues fill services, tasks, networks, secrets, configs. */
export interface Tables {
  cluster: ClusterObject;
  nodes: NodeObject;
  services: StoredObject & Record<string, unknown>;
  tasks: StoredObject & Record<string, unknown>;
  networks: StoredObject & Record<string, unknown>;
  secrets: StoredObject & Record<string, unknown>;
  configs: StoredObject & Record<string, unknown>;
}

export type TableName = keyof Tables;
export const TABLE_NAMES: readonly TableName[] = ['cluster', 'nodes', 'services', 'tasks', 'networks', 'secrets', 'configs'];

/** The fields of an object the store owns on the way in: it sets them, whatever is given. */
export interface ObjectHead {
  ID: string;
  Version?: Version;
  CreatedAt?: string;
  UpdatedAt?: string;
}

/**
 * An object as a create or update carries it. Both members are needed: the first admits
 * interface-typed objects (a NodeObject read from the store and changed), the second admits
 * object literals with fields of any name.
 */
export type ObjectInput = ObjectHead | (ObjectHead & Record<string, unknown>);

/**
 * One change inside a transaction. `expectVersion` makes an update or delete conditional:
 * applied only if the stored object still has that Version.Index ("update out of sequence").
 * The store sets Version to the entry's Raft index, and CreatedAt/UpdatedAt to the proposal's
 * time; values the object carries for them are ignored.
 */
export type StoreAction =
  | { op: 'create'; table: TableName; object: ObjectInput }
  | { op: 'update'; table: TableName; object: ObjectInput; expectVersion?: number }
  | { op: 'delete'; table: TableName; id: string; expectVersion?: number };

/** A change as watchers see it, in commit order. */
export interface StoreEvent {
  table: TableName;
  op: 'create' | 'update' | 'delete';
  /** The object after the change (for delete: as it was). */
  object: StoredObject;
  previous?: StoredObject;
  /** The Raft index of the transaction. */
  index: number;
}

/** What one Raft entry carries: a transaction and the time its proposer chose for it. */
export interface Proposal {
  actions: StoreAction[];
  /** RFC 3339; becomes UpdatedAt (and CreatedAt on create) of every object written. */
  proposedAt: string;
}

/**
 * The outcome of applying a proposal: the same on every member. `index` is the entry's Raft
 * index, so a member that forwarded the write can wait until it has applied it too.
 */
export type ApplyResult =
  | { ok: true; index: number; objects: StoredObject[] }
  | { ok: false; index: number; code: SwarmErrorCode; message: string };
