import type { ClusterSpec, NodeObject, NodeSpec } from '../store/index.js';

// What the HTTP API asks of the node. The daemon implements it; the API only routes and
// shapes. Methods throw SwarmError (node/errors.ts); its status becomes the HTTP status.

/**
 * Request bodies arrive as Docker's daemon decodes them: absent (or null) fields are zero values
 * ('', 0, false, [], {}), and a zero means "the default": ListenAddr '' is 0.0.0.0:2377,
 * SubnetSize 0 is 24, DefaultAddrPool [] is 10.0.0.0/8. The API has already checked the types.
 */
export interface InitRequest {
  ListenAddr: string;
  AdvertiseAddr: string;
  ForceNewCluster: boolean;
  DefaultAddrPool: string[];
  SubnetSize: number;
  /** Partial: missing sections take defaults; inside a section that is present, 0 / '' means the default too. */
  Spec: Partial<ClusterSpec>;
}

export interface JoinRequest {
  ListenAddr: string;
  AdvertiseAddr: string;
  RemoteAddrs: string[];
  JoinToken: string;
}

export interface UpdateSwarmRequest {
  version: number;
  /**
   * Complete, absent fields zeroed. Docker merges it onto the current spec, reading a zero
   * number or an empty Name or Labels as "keep the current value" (MergeSwarmSpecToGRPC).
   */
  spec: ClusterSpec;
  rotateWorkerToken: boolean;
  rotateManagerToken: boolean;
}

/** Docker's Swarm object (GET /swarm): the cluster as a manager sees it. */
export interface SwarmInspect {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: ClusterSpec;
  JoinTokens: { Worker: string; Manager: string };
  /**
   * CertIssuerSubject and CertIssuerPublicKey are Go []byte in Docker's types: they must be base64
   * on the wire, or the docker CLI fails with "illegal base64 data" (swarm join-token, swarm update).
   */
  TLSInfo: { TrustRoot: string; CertIssuerSubject: string; CertIssuerPublicKey: string };
  RootRotationInProgress: boolean;
  DefaultAddrPool: string[];
  SubnetSize: number;
}

/** The Swarm block of GET /info. */
export interface SwarmInfo {
  NodeID: string;
  NodeAddr: string;
  LocalNodeState: 'inactive' | 'pending' | 'active' | 'error' | 'locked';
  ControlAvailable: boolean;
  Error: string;
  RemoteManagers: { NodeID: string; Addr: string }[] | null;
  Nodes: number;
  Managers: number;
  /** Not in Docker's API: this node's certificate. */
  NodeCertificate?: { Role: string; Serial: string; IssuedAt: string; ExpiresAt: string };
  Cluster?: { ID: string; Version: { Index: number }; CreatedAt: string; UpdatedAt: string; Spec: ClusterSpec };
}

export interface SystemInfo {
  ID: string;
  Name: string;
  ServerVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  Swarm: SwarmInfo;
}

export interface VersionInfo {
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  Os: string;
  Arch: string;
  GoVersion: string;
  GitCommit: string;
  KernelVersion: string;
}

/**
 * Not in Docker's API (GET /swarm/raft): this manager's own Raft view, read locally without a
 * quorum round trip, so that it answers on a manager cut off from the others too.
 */
export interface RaftView {
  NodeID: string;
  /** As the Raft core spells it (raft/core/types.ts Role); a learner is a follower. */
  Role: 'follower' | 'preCandidate' | 'candidate' | 'leader';
  Term: number;
  /** The node ID of the leader this member believes in; '' for none. */
  Leader: string;
  CommitIndex: number;
  /** The Raft index the cluster store has applied (ClusterStore.lastIndex()). */
  AppliedIndex: number;
  /** sha256 (hex) of the store's snapshot() bytes, taken together with AppliedIndex. */
  StoreDigest: string;
}

export interface SwarmBackend {
  systemInfo(): Promise<SystemInfo>;
  version(): VersionInfo;
  /** Whether this node is a manager of an active swarm (the Swarm header of /_ping). */
  swarmState(): 'inactive' | 'active/manager' | 'active/worker';
  inspectSwarm(): Promise<SwarmInspect>;
  initSwarm(req: InitRequest): Promise<string>;
  joinSwarm(req: JoinRequest): Promise<void>;
  leaveSwarm(force: boolean): Promise<void>;
  updateSwarm(req: UpdateSwarmRequest): Promise<void>;
  listNodes(filters: Record<string, string[]>): Promise<NodeObject[]>;
  /** By ID, ID prefix or hostname. */
  inspectNode(ref: string): Promise<NodeObject>;
  updateNode(ref: string, version: number, spec: NodeSpec): Promise<void>;
  removeNode(ref: string, force: boolean): Promise<void>;
  /** Every node's liveness as this node learned it by gossip. */
  peerLiveness(): { version: number; nodes: { nodeId: string; peerId: string; role: string; state: string }[] };
  /** This manager's Raft view, local and synchronous; NOT_A_MANAGER on a worker or outside a swarm. */
  raftStatus(): RaftView;
}
