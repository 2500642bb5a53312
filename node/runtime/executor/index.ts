// The container executor: OCI bundles from task specs, run by crun or runc, with logs, health
// checks and re-adoption after a daemon restart. See README.md for the design.
export { OciRuntime, lastRuntimeError, type DetectOptions, type RuntimeName, type RuntimeState } from './runtime.js';
export { Executor, type ExecutorOptions } from './executor.js';
export { cgroupDirs } from './proc.js';
export { Container, type ContainerEvents } from './container.js';
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  buildOciSpec,
  effectiveCapabilities,
  normalizeCapability,
  normalizeSignal,
  resolveArgs,
  resolveEnv,
  resolveHealthcheck,
  resolveProcess,
} from './spec.js';
export { resolveUser, resolveInRoot } from './user.js';
export type {
  ContainerConfig,
  ContainerStatus,
  ExitInfo,
  HealthStatus,
  HealthcheckSpec,
  ImageDefaults,
  LogEntry,
  MountSpec,
  ResolvedProcess,
  SpecPaths,
} from './types.js';
