// The keys compose files may hold, sorted by what a swarm does with them. Every key the compose
// specification defines is either honoured or ignored with a warning; anything else is an error
// (schema.test.ts checks these lists against the official schema).

export const TOP_LEVEL_KEYS = ['version', 'name', 'services', 'networks', 'volumes', 'secrets', 'configs'] as const;
/** Valid compose that a stack does not use. */
export const TOP_LEVEL_UNSUPPORTED = ['include', 'models'] as const;

export const SERVICE_KEYS = [
  'image',
  'command',
  'entrypoint',
  'environment',
  'env_file',
  'labels',
  'ports',
  'volumes',
  'tmpfs',
  'secrets',
  'configs',
  'healthcheck',
  'depends_on',
  'networks',
  'deploy',
  'user',
  'working_dir',
  'hostname',
  'init',
  'read_only',
  'stop_signal',
  'stop_grace_period',
  'cap_add',
  'cap_drop',
  'dns',
  'dns_search',
  'dns_opt',
  'extra_hosts',
] as const;

/** Compose service keys a swarm service cannot honour: warned about by name, as docker does. */
export const SERVICE_UNSUPPORTED = [
  'annotations',
  'attach',
  'blkio_config',
  'build',
  'cgroup',
  'cgroup_parent',
  'container_name',
  'cpu_count',
  'cpu_percent',
  'cpu_period',
  'cpu_quota',
  'cpu_rt_period',
  'cpu_rt_runtime',
  'cpu_shares',
  'cpus',
  'cpuset',
  'credential_spec',
  'develop',
  'device_cgroup_rules',
  'devices',
  'domainname',
  'expose',
  'extends',
  'external_links',
  'gpus',
  'group_add',
  'ipc',
  'isolation',
  'label_file',
  'links',
  'logging',
  'mac_address',
  'mem_limit',
  'mem_reservation',
  'mem_swappiness',
  'memswap_limit',
  'models',
  'network_mode',
  'oom_kill_disable',
  'oom_score_adj',
  'pid',
  'pids_limit',
  'platform',
  'post_start',
  'pre_stop',
  'privileged',
  'profiles',
  'provider',
  'pull_policy',
  'pull_refresh_after',
  'restart',
  'runtime',
  'scale',
  'security_opt',
  'shm_size',
  'stdin_open',
  'storage_opt',
  'sysctls',
  'tty',
  'ulimits',
  'use_api_socket',
  'userns_mode',
  'uts',
  'volumes_from',
] as const;

export const DEPLOY_KEYS = ['mode', 'replicas', 'labels', 'placement', 'resources', 'restart_policy', 'update_config', 'rollback_config', 'endpoint_mode'] as const;
export const PLACEMENT_KEYS = ['constraints', 'preferences', 'max_replicas_per_node'] as const;
export const RESOURCES_KEYS = ['limits', 'reservations'] as const;
export const LIMITS_KEYS = ['cpus', 'memory', 'pids'] as const;
export const RESERVATIONS_KEYS = ['cpus', 'memory'] as const;
export const RESERVATIONS_UNSUPPORTED = ['generic_resources', 'devices'] as const;
export const RESTART_POLICY_KEYS = ['condition', 'delay', 'max_attempts', 'window'] as const;
export const UPDATE_CONFIG_KEYS = ['parallelism', 'delay', 'failure_action', 'monitor', 'max_failure_ratio', 'order'] as const;
export const HEALTHCHECK_KEYS = ['test', 'disable', 'interval', 'timeout', 'start_period', 'retries'] as const;
export const HEALTHCHECK_UNSUPPORTED = ['start_interval'] as const;
export const PORT_KEYS = ['target', 'published', 'protocol', 'mode', 'name'] as const;
export const PORT_UNSUPPORTED = ['host_ip', 'app_protocol'] as const;
export const VOLUME_MOUNT_KEYS = ['type', 'source', 'target', 'read_only', 'tmpfs'] as const;
export const VOLUME_MOUNT_UNSUPPORTED = ['bind', 'volume', 'image', 'consistency'] as const;
export const FILE_REFERENCE_KEYS = ['source', 'target', 'uid', 'gid', 'mode'] as const;
export const SERVICE_NETWORK_KEYS = ['aliases'] as const;
export const SERVICE_NETWORK_UNSUPPORTED = ['interface_name', 'ipv4_address', 'ipv6_address', 'link_local_ips', 'mac_address', 'driver_opts', 'priority', 'gw_priority'] as const;
export const DEPENDS_ON_KEYS = ['condition', 'required', 'restart'] as const;

export const NETWORK_KEYS = ['name', 'driver', 'attachable', 'internal', 'ipam', 'external', 'labels'] as const;
export const NETWORK_UNSUPPORTED = ['driver_opts', 'enable_ipv4', 'enable_ipv6'] as const;
export const IPAM_KEYS = ['config'] as const;
export const IPAM_UNSUPPORTED = ['driver', 'options'] as const;
export const IPAM_CONFIG_KEYS = ['subnet'] as const;
export const IPAM_CONFIG_UNSUPPORTED = ['ip_range', 'gateway', 'aux_addresses'] as const;
export const VOLUME_KEYS = ['name', 'external'] as const;
export const VOLUME_UNSUPPORTED = ['driver', 'driver_opts', 'labels'] as const;
export const SECRET_KEYS = ['name', 'file', 'external', 'labels', 'environment'] as const;
export const SECRET_UNSUPPORTED = ['driver', 'driver_opts', 'template_driver'] as const;
export const CONFIG_KEYS = ['name', 'file', 'content', 'external', 'labels', 'environment'] as const;
export const CONFIG_UNSUPPORTED = ['template_driver'] as const;
