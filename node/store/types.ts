// The cluster object model, shaped like Docker's Engine API objects (field names included) so
// the API can return them as they are. Every stored object has ID and Version.Index: the Raft
// index of the entry that last changed it.

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

/**
 * One change inside a transaction. `expectVersion` makes an update or delete conditional:
 * applied only if the stored object still has that Version.Index ("update out of sequence").
 * Objects carry no Version on the way in: the store sets it to the entry's Raft index.
 */
export type StoreAction =
  | { op: 'create'; table: TableName; object: Omit<StoredObject, 'Version'> & Record<string, unknown> }
  | { op: 'update'; table: TableName; object: Omit<StoredObject, 'Version'> & Record<string, unknown>; expectVersion?: number }
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
