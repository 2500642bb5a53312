// The executor's public shapes: what a task asks for, and what a container reports back.

/** The parts of an OCI image config the executor uses (Docker's field names; durations in ns). */
export interface ImageDefaults {
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
  StopSignal?: string;
}

export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: an absolute host path; volume: a volume name (created under the state dir on first use). */
  source?: string;
  target: string;
  readOnly?: boolean;
  tmpfsSizeBytes?: number;
  tmpfsMode?: number;
}

export interface HealthcheckSpec {
  /** ['CMD', ...] | ['CMD-SHELL', '...'] | ['NONE']; empty inherits the image's test. */
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

export interface ContainerConfig {
  /** Unique on this executor, [a-zA-Z0-9_.-]. */
  id: string;
  /** Prepared by the caller (an overlay merged dir or any directory); never modified beyond mountpoints. */
  rootfs: string;
  image: ImageDefaults;
  /** Docker semantics: an entrypoint override drops the image Cmd unless a command is given too. */
  entrypoint?: string[];
  command?: string[];
  env?: string[];
  /** name, uid, name:group, uid:gid (names resolved from the rootfs /etc/passwd and /etc/group). */
  user?: string;
  workdir?: string;
  hostname?: string;
  hosts?: { name: string; ip: string }[];
  dns?: { nameservers: string[]; search?: string[]; options?: string[] };
  mounts?: MountSpec[];
  readOnlyRootfs?: boolean;
  /** Capability names with or without CAP_, any case; 'ALL' supported. */
  capAdd?: string[];
  capDrop?: string[];
  resources?: { memoryBytes?: number; nanoCpus?: number; pidsLimit?: number };
  /** Run tini as PID 1 (bind-mounted read-only at /sbin/docker-init), as `docker run --init`. */
  init?: boolean;
  /** A network namespace to join (e.g. /var/run/netns/NAME), owned by the caller. Default: a fresh
   * loopback-only namespace that lives and dies with the container. */
  netnsPath?: string;
  stopSignal?: string;
  /** Default 10000. */
  stopGracePeriodMs?: number;
  healthcheck?: HealthcheckSpec;
  labels?: Record<string, string>;
}

export type ContainerStatus = 'created' | 'running' | 'stopped' | 'removed';
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface ExitInfo {
  /** The process's exit code, 128+n when killed by signal n; -1 when unknowable (see README). */
  exitCode: number;
  signal?: string;
  oomKilled: boolean;
  finishedAt: string;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
}

/** What buildOciSpec needs resolved beforehand (by resolveProcess, which reads the rootfs). */
export interface ResolvedProcess {
  uid: number;
  gid: number;
  additionalGids: number[];
  args: string[];
  env: string[];
  cwd: string;
}

/** Host-side paths and facts the spec refers to. */
export interface SpecPaths {
  hostsFile: string;
  resolvConfFile: string;
  hostnameFile: string;
  /** Named volumes live at <volumesDir>/<name>/_data. */
  volumesDir: string;
  /** linux.cgroupsPath, e.g. /swarm/<id>. */
  cgroupsPath: string;
  /** A static tini on the host; required when cfg.init. */
  initPath?: string;
  /** The daemon's capability bounding set: what 'ALL' grants (default: every capability Linux defines). */
  hostCapabilities?: readonly string[];
  /** The memory controller accounts swap (memsw / memory.swap.max): the limit then covers swap too. */
  swapAccounting?: boolean;
}
