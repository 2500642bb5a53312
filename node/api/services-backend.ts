import type { ConfigObject, NetworkObject, SecretObject, ServiceObject, ServiceSpec, TaskObject } from '../store/index.js';

// What the HTTP API asks of a manager for services, tasks, secrets and configs, in Docker's
// shapes. The daemon implements it over the replicated store; the API only routes and
// validates. Methods throw SwarmError (node/errors.ts); its status becomes the HTTP status.

/** Docker's filters: ?filters={"name":["web"],"label":["a=b"]}. */
export type Filters = Record<string, string[]>;

export interface ServiceStatus {
  RunningTasks: number;
  DesiredTasks: number;
  CompletedTasks: number;
}

export interface SecretCreate {
  Name: string;
  Labels?: Record<string, string>;
  /** base64 */
  Data: string;
}

export interface ConfigCreate {
  Name: string;
  Labels?: Record<string, string>;
  /** base64 */
  Data: string;
}

/**
 * A config's new spec (Docker's POST /configs/{id}/update body). Only Labels may change: Name must
 * be the stored one, and Data, when given, too (absent keeps it, as swarmkit reads a nil Data).
 */
export interface ConfigUpdate {
  Name: string;
  Labels: Record<string, string>;
  /** base64 */
  Data?: string;
}

/**
 * A network to create, as the API decoded it (Docker's POST /networks/create body): the shape is
 * checked, the name is valid and the driver is overlay; the backend checks the rest.
 */
export interface NetworkCreate {
  Name: string;
  Labels: Record<string, string>;
  Attachable: boolean;
  Internal: boolean;
  Ingress: boolean;
  /** At most one; each field may be absent (allocated from the cluster's pool). */
  IPAMConfig: { Subnet?: string; Gateway?: string }[];
}

export interface ServicesBackend {
  /** filters: id, name, label, mode (replicated|global). `status` adds ServiceStatus. */
  listServices(filters: Filters, status: boolean): Promise<(ServiceObject & { ServiceStatus?: ServiceStatus })[]>;
  /** By ID, ID prefix or name. */
  inspectService(ref: string): Promise<ServiceObject>;
  /**
   * The API has checked the spec's shape and dropped unknown fields; Name is never empty (the API
   * names an unnamed service as Docker does, adjective_surname). Secret and config references
   * carry both ID and name.
   */
  createService(spec: ServiceSpec): Promise<{ ID: string; Warnings: string[] }>;
  /** Optimistic concurrency: `version` must be the service's current Version.Index. rollback: "previous" reverts to PreviousSpec. */
  updateService(ref: string, version: number, spec: ServiceSpec, opts: { rollback: boolean }): Promise<{ Warnings: string[] }>;
  removeService(ref: string): Promise<void>;
  /** A canary deployment's next step now; a blue/green deployment's switch. CONFLICT when none runs. */
  promoteService(ref: string): Promise<void>;
  /** The service's tasks' container logs, merged, with the task and node they came from. */
  serviceLogs(ref: string, opts: { follow: boolean; tail: number | undefined; since: Date | undefined }, signal: AbortSignal): AsyncIterable<{ stream: 'stdout' | 'stderr'; time: string; line: string; taskId: string; nodeId: string }>;

  /** filters: id, name, service, node, label, desired-state (running|shutdown|accepted). */
  listTasks(filters: Filters): Promise<TaskObject[]>;
  inspectTask(id: string): Promise<TaskObject>;

  /** filters: id, name (prefix), label. Docker's `names` (exact) is applied by the API. The API strips Data and EncryptedData from answers. */
  listSecrets(filters: Filters): Promise<SecretObject[]>;
  inspectSecret(ref: string): Promise<SecretObject>;
  createSecret(spec: SecretCreate): Promise<{ ID: string }>;
  removeSecret(ref: string): Promise<void>;

  /** filters: id, name (prefix), label, driver, scope. The API turns them into Docker's network resources. */
  listNetworks(filters: Filters): Promise<NetworkObject[]>;
  /** By ID, name or ID prefix. */
  inspectNetwork(ref: string): Promise<NetworkObject>;
  /** Allocates the subnet and VNI. CONFLICT for a name or subnet taken, or a second ingress network. */
  createNetwork(spec: NetworkCreate): Promise<{ ID: string; Warning: string }>;
  /** CONFLICT while a service or task uses it (the ingress network: while a service publishes a port). */
  removeNetwork(ref: string): Promise<void>;

  /** filters: id, name (prefix), label; `names` as for secrets. */
  listConfigs(filters: Filters): Promise<ConfigObject[]>;
  inspectConfig(ref: string): Promise<ConfigObject>;
  createConfig(spec: ConfigCreate): Promise<{ ID: string }>;
  /**
   * Replaces the labels. `version` must be the config's current Version.Index (OUT_OF_SEQUENCE);
   * INVALID_ARGUMENT naming the field when Name or Data differ from the stored ones.
   */
  updateConfig(ref: string, version: number, spec: ConfigUpdate): Promise<void>;
  removeConfig(ref: string): Promise<void>;
}
