// The HTTP API, shaped like Docker's Engine API: the only entry point other modules use.
export { startApiServer, type ApiServer, type ApiServerOptions } from './server.js';
export { API_VERSION, MIN_API_VERSION } from './router.js';
export type {
  InitRequest,
  JoinRequest,
  RaftView,
  SwarmBackend,
  SwarmInfo,
  SwarmInspect,
  SystemInfo,
  UpdateSwarmRequest,
  VersionInfo,
} from './backend.js';
/** The objects the API sends and takes, as clients see them. */
export type { ClusterSpec, NodeAvailability, NodeObject, NodeRole, NodeSpec, NodeState } from '../store/index.js';
export type {
  ConfigObject,
  ConfigReference,
  MountSpec,
  NetworkObject,
  PortConfig,
  SecretObject,
  SecretReference,
  ServiceObject,
  ServiceSpec,
  TaskObject,
  TaskState,
  UpdateConfig,
} from '../store/index.js';
export type { ConfigCreate, ConfigUpdate, Filters, NetworkCreate, SecretCreate, ServicesBackend, ServiceStatus } from './services-backend.js';
export type { NetworkResource } from './network-routes.js';
export type {
  ContainerCreateBody,
  ContainerPlacement,
  ContainerInspect,
  ContainerSummary,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  LogLine,
  Progress,
  ProgressEvent,
  RegistryAuth,
  RuntimeBackend,
  WaitCondition,
} from './runtime-backend.js';
/** For tests of API clients only. */
export { FakeSwarmBackend, FAKE_DEFAULT_SPEC, type FakeNode } from './fake-backend.js';
export { FakeRuntimeBackend, type FakeRemoteImage } from './fake-runtime.js';
export { FakeServicesBackend, type FakeLogLine } from './fake-services.js';
