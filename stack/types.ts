// The compose model after loading: files merged, variables interpolated, short syntax turned
// into long syntax, env_file and tmpfs folded in, and only what a swarm honours kept (the rest is
// warned about by name). Durations, sizes and CPU counts stay as compose strings ("1m30s", "64M",
// "0.5"); conversion turns them into numbers. Key names are compose's, so the model prints as a
// compose file (`swarm stack config`) that loads back to the same model.

/** `x-` keys: free-form, kept where compose allows them at the top and in services. */
export type Extensions = { [key: `x-${string}`]: unknown };

export interface ComposeConfig extends Extensions {
  services: Record<string, ServiceConfig>;
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, SecretConfig>;
  configs: Record<string, ConfigConfig>;
}

export interface ServiceConfig extends Extensions {
  image: string;
  /** Shell-split when written as a string, as compose does. Becomes ContainerSpec.Args. */
  command?: string[];
  /** Becomes ContainerSpec.Command. */
  entrypoint?: string[];
  /** env_file entries, then `environment`; null: named without a value and not set where the file was loaded. */
  environment?: Record<string, string | null>;
  /** Container labels. */
  labels?: Record<string, string>;
  ports?: ServicePort[];
  /** Includes the `tmpfs:` entries, as type tmpfs. Bind sources are absolute. */
  volumes?: ServiceVolume[];
  secrets?: FileReference[];
  configs?: FileReference[];
  healthcheck?: HealthcheckConfig;
  depends_on?: Record<string, DependsOnConfig>;
  /** Always at least one: `default` when the file names none. */
  networks: Record<string, ServiceNetwork>;
  deploy?: DeployConfig;
  user?: string;
  working_dir?: string;
  hostname?: string;
  init?: boolean;
  read_only?: boolean;
  stop_signal?: string;
  stop_grace_period?: string;
  cap_add?: string[];
  cap_drop?: string[];
  dns?: string[];
  dns_search?: string[];
  dns_opt?: string[];
  /** "host=ip" entries. */
  extra_hosts?: string[];
}

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface ServicePort {
  target: number;
  published?: number;
  protocol: Protocol;
  mode: 'ingress' | 'host';
  name?: string;
}

export interface ServiceVolume {
  type: 'volume' | 'bind' | 'tmpfs';
  /** A top-level volume's key, an absolute host path (bind), or absent (anonymous volume, tmpfs). */
  source?: string;
  target: string;
  read_only?: boolean;
  tmpfs?: { size?: number; mode?: number };
}

export interface FileReference {
  /** The top-level secret's or config's key. */
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface HealthcheckConfig {
  /** ["NONE"] (disabled), ["CMD", ...] or ["CMD-SHELL", "..."]; absent: the image's test. */
  test?: string[];
  interval?: string;
  timeout?: string;
  start_period?: string;
  retries?: number;
}

export type DependsOnCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface DependsOnConfig {
  condition: DependsOnCondition;
  required: boolean;
}

export interface ServiceNetwork {
  aliases?: string[];
}

export interface DeployConfig {
  mode?: 'replicated' | 'global';
  replicas?: number;
  /** Service labels. */
  labels?: Record<string, string>;
  placement?: PlacementConfig;
  resources?: { limits?: ResourceConfig & { pids?: number }; reservations?: ResourceConfig };
  restart_policy?: RestartPolicyConfig;
  update_config?: UpdateConfigConfig;
  rollback_config?: UpdateConfigConfig;
  endpoint_mode?: 'vip' | 'dnsrr';
}

export interface PlacementConfig {
  constraints?: string[];
  preferences?: { spread: string }[];
  max_replicas_per_node?: number;
}

export interface ResourceConfig {
  cpus?: string;
  memory?: string;
}

export interface RestartPolicyConfig {
  condition?: 'none' | 'on-failure' | 'any';
  delay?: string;
  max_attempts?: number;
  window?: string;
}

export interface UpdateConfigConfig {
  parallelism?: number;
  delay?: string;
  failure_action?: 'continue' | 'pause' | 'rollback';
  monitor?: string;
  max_failure_ratio?: number;
  order?: 'stop-first' | 'start-first';
}

export interface NetworkConfig {
  /** The name as created; absent: STACK_key (or key, when external). */
  name?: string;
  driver?: string;
  attachable?: boolean;
  internal?: boolean;
  ipam?: { config: { subnet: string }[] };
  external?: boolean;
  labels?: Record<string, string>;
}

export interface VolumeConfig {
  name?: string;
  external?: boolean;
}

export interface SecretConfig {
  name?: string;
  /** Absolute. */
  file?: string;
  external?: boolean;
  labels?: Record<string, string>;
}

export interface ConfigConfig extends SecretConfig {
  /** Inline content (compose 2.23+). */
  content?: string;
}
