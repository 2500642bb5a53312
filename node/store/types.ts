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
  /** The node's own addresses on networks: its routing-mesh address on the ingress network. */
  Attachments?: NetworkAttachment[];
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

// ---------------------------------------------------------------- services and tasks
// Shaped like Docker's Engine API (ServiceSpec, Task); durations are nanoseconds as there.

export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface FileTarget {
  Name: string;
  UID: string;
  GID: string;
  Mode: number;
}

export interface SecretReference {
  File: FileTarget;
  SecretID: string;
  SecretName: string;
}

export interface ConfigReference {
  File: FileTarget;
  ConfigID: string;
  ConfigName: string;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface ContainerSpec {
  Image: string;
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Init?: boolean;
  ReadOnly?: boolean;
  Mounts?: MountSpec[];
  StopSignal?: string;
  StopGracePeriod?: number;
  Healthcheck?: HealthConfig;
  /** "IP hostname" lines for /etc/hosts, as Docker's ContainerSpec.Hosts. */
  Hosts?: string[];
  DNSConfig?: { Nameservers?: string[]; Search?: string[]; Options?: string[] };
  Secrets?: SecretReference[];
  Configs?: ConfigReference[];
  CapabilityAdd?: string[];
  CapabilityDrop?: string[];
}

export interface ResourceAmounts {
  NanoCPUs?: number;
  MemoryBytes?: number;
}

export interface RestartPolicy {
  Condition?: 'none' | 'on-failure' | 'any';
  Delay?: number;
  MaxAttempts?: number;
  Window?: number;
}

export interface Placement {
  /** "node.labels.zone == a", "node.role != manager", ... */
  Constraints?: string[];
  Preferences?: { Spread: { SpreadDescriptor: string } }[];
  /** 0 or absent: unlimited. */
  MaxReplicas?: number;
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: { Limits?: ResourceAmounts & { Pids?: number }; Reservations?: ResourceAmounts };
  RestartPolicy?: RestartPolicy;
  Placement?: Placement;
  Networks?: { Target: string; Aliases?: string[] }[];
  /** Bumped to force a rolling update with an unchanged spec. */
  ForceUpdate?: number;
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'continue' | 'pause' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

export interface PortConfig {
  Name?: string;
  Protocol?: 'tcp' | 'udp' | 'sctp';
  TargetPort: number;
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
}

export interface ServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: TaskSpec;
  Mode: { Replicated?: { Replicas: number }; Global?: Record<string, never> };
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: { Mode?: 'vip' | 'dnsrr'; Ports?: PortConfig[] };
  /**
   * Not in Docker's API (Swarm ignores compose's depends_on): services whose tasks must run
   * (and, for service_healthy, be healthy) before this one's tasks start. By service name.
   */
  DependsOn?: { Service: string; Condition: 'service_started' | 'service_healthy' }[];
  /** Not in Docker's API: how a spec change reaches the tasks; Docker's rolling update when absent. */
  Strategy?: DeploymentStrategy;
}

/**
 * canary: the new version takes a rising share of new connections through the VIP and the
 * routing mesh, step by step (each held StepInterval, or until `swarm service promote`), as
 * many slots updated as its share needs; blue-green: the new version runs at full scale beside
 * the old under `preview.NAME`, and `swarm service promote` switches the VIP to it at once.
 */
export interface DeploymentStrategy {
  Type: 'rolling' | 'canary' | 'blue-green';
  /** canary: percent of new connections at each step, rising; 100 is the last (added when missing). */
  Steps?: number[];
  /** canary: nanoseconds each step holds before the next; 0 or absent: until promoted. */
  StepInterval?: number;
}

/** A service's endpoint as allocated: its ports (published ports filled in) and one VIP per network ("10.0.1.2/24"). */
export interface ServiceEndpoint {
  Spec: { Mode?: 'vip' | 'dnsrr'; Ports?: PortConfig[] };
  Ports?: PortConfig[];
  VirtualIPs?: { NetworkID: string; Addr: string }[];
}

export interface ServiceObject extends StoredObject {
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint?: ServiceEndpoint;
  UpdateStatus?: { State: 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed'; StartedAt?: string; CompletedAt?: string; Message?: string };
  /** Not in Docker's API: where a canary or blue/green deployment is (reset when an update starts). */
  Deployment?: { Step: number; StepStartedAt: string; Promoted?: boolean };
}

/** SwarmKit's task states, in order: a task's state only moves forward. */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: { ContainerID: string; PID: number; ExitCode: number };
  /** Not in Docker's API: health of the task's container when it has a health check. */
  Health?: 'starting' | 'healthy' | 'unhealthy';
}

/** A relative share of new connections (absent: equal shares), and a blue/green preview (outside the VIP). */
export interface TaskTraffic {
  Weight: number;
  Preview?: boolean;
}

/** A task's (or a node's) place on one network: the network as it was, and its addresses ("10.0.1.5/24"). */
export interface NetworkAttachment {
  Network: NetworkObject;
  Addresses: string[];
  /** From the service's TaskTemplate.Networks: extra DNS names on this network. */
  Aliases?: string[];
}

export interface TaskObject extends StoredObject {
  Labels: Record<string, string>;
  Spec: TaskSpec;
  ServiceID: string;
  /** Replicated services: the slot (1..replicas) this task fills. */
  Slot?: number;
  /** Set by the scheduler; for global services set at creation. */
  NodeID?: string;
  Status: TaskStatus;
  DesiredState: TaskState;
  /** Not in Docker's API: the service's Version.Index whose spec this task runs (rolling updates). */
  SpecVersion: { Index: number };
  /** Not in Docker's API: a restarted task waits until then before it starts (restart delay). */
  NotBefore?: string;
  /** Set by the allocator when the task is created: one address per network the task joins. */
  NetworksAttachments?: NetworkAttachment[];
  /** Not in Docker's API: the task's share of its service's traffic during a canary or blue/green deployment. */
  Traffic?: TaskTraffic;
  /** The service's name and its endpoint (VIPs, ports) when the task was created, for the worker's DNS and balancing. */
  ServiceAnnotations?: { Name: string };
  Endpoint?: ServiceEndpoint;
}

export interface SecretSpec {
  Name: string;
  Labels: Record<string, string>;
  /** base64; never returned by the API, stored encrypted (see EncryptedData). */
  Data?: string;
}

export interface SecretObject extends StoredObject {
  Spec: Omit<SecretSpec, 'Data'>;
  /** The secret's bytes, AES-256-GCM with the cluster's data key, base64 (iv|tag|ciphertext). */
  EncryptedData: string;
}

// ---------------------------------------------------------------- networks

export interface NetworkSpec {
  Name: string;
  Labels: Record<string, string>;
  /** Always "overlay" here. */
  DriverConfiguration: { Name: 'overlay'; Options?: Record<string, string> };
  IPAMOptions?: { Driver?: { Name: string }; Configs?: { Subnet?: string; Gateway?: string }[] };
  Attachable?: boolean;
  /** No traffic leaves the network: no gateway NAT, no default route. */
  Internal?: boolean;
  /** The routing-mesh network (one per cluster, created by init). */
  Ingress?: boolean;
}

export interface NetworkObject extends StoredObject {
  Spec: NetworkSpec;
  /** Allocated with the network: its VNI, as Docker's overlay driver reports it. */
  DriverState: { Name: 'overlay'; Options: { 'com.docker.network.driver.overlay.vxlanid_list': string } };
  IPAM: { Driver: { Name: 'default' }; Configs: { Subnet: string; Gateway: string }[] };
  /** Not in Docker's API: the last address handed out, so freed ones are reused only after the rest. */
  LastAllocated?: string;
}

export interface ConfigObject extends StoredObject {
  Spec: { Name: string; Labels: Record<string, string>; Data: string /* base64 */ };
}

/** Every table of the store. */
export interface Tables {
  cluster: ClusterObject;
  nodes: NodeObject;
  services: ServiceObject;
  tasks: TaskObject;
  networks: NetworkObject;
  secrets: SecretObject;
  configs: ConfigObject;
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
