import { readFileSync } from 'node:fs';
import type { ConfigReference, ContainerSpec, DeploymentStrategy, HealthConfig, MountSpec, PortConfig, SecretReference, ServiceSpec, TaskSpec, UpdateConfig } from '../node/store/index.js';
import { ComposeError, fsReason, type ComposeIssue } from './errors.js';
import type { LoadedCompose } from './load.js';
import type { ConfigConfig, ServiceConfig, UpdateConfigConfig } from './types.js';
import { parseBytes, parseCpus, parseDuration } from './units.js';

// Conversion of a loaded compose model into what a deploy creates, as `docker stack deploy` does:
// every object is named STACK_<key> (unless the file names it, or it is external) and carries the
// label com.docker.stack.namespace=STACK. Networks, secrets and configs are referenced by name;
// the deployer looks up or creates them and fills in their IDs.

export const NAMESPACE_LABEL = 'com.docker.stack.namespace';

export interface StackNetwork {
  Name: string;
  Labels: Record<string, string>;
  Driver: string;
  Attachable: boolean;
  Internal: boolean;
  Subnet?: string;
  External: boolean;
}

export interface StackSecret {
  Name: string;
  Labels: Record<string, string>;
  /** base64 of the file's bytes; absent for external secrets. */
  Data?: string;
  External: boolean;
}

export type StackConfigObject = StackSecret;

export interface StackObjects {
  services: ServiceSpec[];
  networks: StackNetwork[];
  secrets: StackSecret[];
  configs: StackConfigObject[];
}

/** Swarm service names are DNS labels: the stack name must leave room for the service's. */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$/;
const MAX_NAME = 63;

const DEFAULT_FILE_MODE = 0o444;

function durationOf(s: string | undefined): number | undefined {
  return s === undefined ? undefined : parseDuration(s);
}

/** Drops undefined fields, so specs compare and serialize as Docker's do. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function withNamespace(stack: string, labels: Record<string, string> | undefined): Record<string, string> {
  return { ...labels, [NAMESPACE_LABEL]: stack };
}

export function convertStack(loaded: LoadedCompose, stackName: string): StackObjects {
  const issues: ComposeIssue[] = [];
  if (!SERVICE_NAME.test(stackName)) {
    issues.push({ path: 'stack name', message: `invalid stack name ${JSON.stringify(stackName)}: use letters and digits, with "-" or "_" between them` });
    throw new ComposeError(issues);
  }
  const { config } = loaded;
  const scoped = (key: string): string => `${stackName}_${key}`;
  /** The name a top-level resource is created (or found, if external) under. */
  const nameOf = (key: string, r: { name?: string; external?: boolean } | undefined): string => r?.name ?? (r?.external ? key : scoped(key));

  const usedNetworks = new Set<string>();
  for (const s of Object.values(config.services)) for (const n of Object.keys(s.networks)) usedNetworks.add(n);
  const networks: StackNetwork[] = [...usedNetworks].sort().map((key) => {
    const n = config.networks[key] ?? {};
    const out: StackNetwork = {
      Name: nameOf(key, n),
      Labels: n.external ? {} : withNamespace(stackName, n.labels),
      Driver: n.driver ?? 'overlay',
      Attachable: n.attachable ?? false,
      Internal: n.internal ?? false,
      External: n.external ?? false,
    };
    const subnet = n.ipam?.config[0]?.subnet;
    if (subnet !== undefined) out.Subnet = subnet;
    return out;
  });

  const fileObjects = (kind: 'secrets' | 'configs'): StackSecret[] =>
    Object.entries(config[kind]).map(([key, o]: [string, ConfigConfig]) => {
      const out: StackSecret = { Name: nameOf(key, o), Labels: o.external ? {} : withNamespace(stackName, o.labels), External: o.external ?? false };
      if (o.external) return out;
      if (o.content !== undefined) out.Data = Buffer.from(o.content).toString('base64');
      else if (o.file !== undefined) {
        try {
          out.Data = readFileSync(o.file).toString('base64');
        } catch (err) {
          issues.push({ path: `${kind}.${key}.file`, message: `cannot read ${o.file}: ${fsReason(err)}` });
        }
      }
      return out;
    });
  const secrets = fileObjects('secrets');
  const configs = fileObjects('configs');

  const services: ServiceSpec[] = [];
  for (const [key, s] of Object.entries(config.services)) {
    const name = scoped(key);
    if (name.length > MAX_NAME || !SERVICE_NAME.test(name)) {
      issues.push({
        path: `services.${key}`,
        message: name.length > MAX_NAME ? `service name ${name} is longer than ${MAX_NAME} characters` : `service name ${name} is not valid in a swarm: use letters and digits, with "-" or "_" between them`,
      });
      continue;
    }
    const spec = convertService(key, s, stackName, { scoped, nameOf }, config);
    const strategy = deployStrategy(s[DEPLOY_EXTENSION], `services.${key}.${DEPLOY_EXTENSION}`, issues);
    if (strategy) spec.Strategy = strategy;
    services.push(spec);
  }
  if (issues.length > 0) throw new ComposeError(issues);
  return { services, networks, secrets, configs };
}

/**
 * Our extension for deployments beyond Docker's rolling update, per service:
 *
 *   x-swarm-deploy:
 *     strategy: canary          # rolling (default) | canary | blue-green
 *     steps: [10, 50, 100]      # canary: the new version's share of connections per step, rising
 *     step_interval: 30s        # canary: how long each step holds; absent: until `swarm service promote`
 */
export const DEPLOY_EXTENSION = 'x-swarm-deploy';

function deployStrategy(raw: unknown, path: string, issues: ComposeIssue[]): DeploymentStrategy | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push({ path, message: 'must be a mapping (strategy:, steps:, step_interval:)' });
    return undefined;
  }
  const r = raw as Record<string, unknown>;
  const before = issues.length;
  for (const k of Object.keys(r)) if (!['strategy', 'steps', 'step_interval'].includes(k)) issues.push({ path: `${path}.${k}`, message: 'unknown key (strategy, steps, step_interval)' });
  const type = r['strategy'] ?? 'rolling';
  if (type !== 'rolling' && type !== 'canary' && type !== 'blue-green') issues.push({ path: `${path}.strategy`, message: `must be rolling, canary or blue-green, got ${JSON.stringify(type)}` });
  let steps: number[] | undefined;
  if (r['steps'] !== undefined) {
    const list = r['steps'];
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 100)) {
      issues.push({ path: `${path}.steps`, message: 'must be a list of whole percentages from 1 to 100' });
    } else if (list.some((x, i) => i > 0 && (x as number) <= (list[i - 1] as number))) {
      issues.push({ path: `${path}.steps`, message: 'must rise, e.g. [10, 50, 100]' });
    } else {
      steps = list as number[];
    }
  }
  let interval: number | undefined;
  if (r['step_interval'] !== undefined) {
    try {
      interval = parseDuration(String(r['step_interval']));
    } catch (err) {
      issues.push({ path: `${path}.step_interval`, message: err instanceof Error ? err.message : String(err) });
    }
  }
  if (type !== 'canary' && (steps !== undefined || interval !== undefined)) issues.push({ path, message: `steps and step_interval are for strategy canary, not ${String(type)}` });
  if (issues.length > before) return undefined;
  if (type === 'canary') return { Type: 'canary', ...(steps ? { Steps: steps } : {}), ...(interval !== undefined ? { StepInterval: interval } : {}) };
  return { Type: type as DeploymentStrategy['Type'] };
}

interface Naming {
  scoped(key: string): string;
  nameOf(key: string, r: { name?: string; external?: boolean } | undefined): string;
}

function convertService(key: string, s: ServiceConfig, stack: string, naming: Naming, config: LoadedCompose['config']): ServiceSpec {
  const d = s.deploy ?? {};
  const container: ContainerSpec = compact({
    Image: s.image,
    Labels: withNamespace(stack, s.labels),
    Command: s.entrypoint,
    Args: s.command,
    Hostname: s.hostname,
    Env: env(s.environment),
    Dir: s.working_dir,
    User: s.user,
    Init: s.init,
    ReadOnly: s.read_only,
    Mounts: s.volumes?.map((v): MountSpec => {
      const m: MountSpec = { Type: v.type, Target: v.target };
      if (v.type === 'volume' && v.source !== undefined) m.Source = naming.nameOf(v.source, config.volumes[v.source]);
      if (v.type === 'bind') m.Source = v.source;
      if (v.read_only) m.ReadOnly = true;
      if (v.tmpfs) m.TmpfsOptions = compact({ SizeBytes: v.tmpfs.size, Mode: v.tmpfs.mode });
      return m;
    }),
    StopSignal: s.stop_signal,
    StopGracePeriod: durationOf(s.stop_grace_period),
    Healthcheck: s.healthcheck
      ? compact<HealthConfig>({
          Test: s.healthcheck.test,
          Interval: durationOf(s.healthcheck.interval),
          Timeout: durationOf(s.healthcheck.timeout),
          Retries: s.healthcheck.retries,
          StartPeriod: durationOf(s.healthcheck.start_period),
        })
      : undefined,
    // Docker writes extra hosts as /etc/hosts lines: "IP HOST".
    Hosts: s.extra_hosts?.map((e) => {
      const eq = e.indexOf('=');
      return `${e.slice(eq + 1)} ${e.slice(0, eq)}`;
    }),
    DNSConfig: s.dns || s.dns_search || s.dns_opt ? compact({ Nameservers: s.dns, Search: s.dns_search, Options: s.dns_opt }) : undefined,
    Secrets: s.secrets?.map(
      (r): SecretReference => ({
        File: { Name: r.target ?? r.source, UID: r.uid ?? '0', GID: r.gid ?? '0', Mode: r.mode ?? DEFAULT_FILE_MODE },
        SecretID: '',
        SecretName: naming.nameOf(r.source, config.secrets[r.source]),
      }),
    ),
    Configs: s.configs?.map(
      (r): ConfigReference => ({
        File: { Name: r.target ?? r.source, UID: r.uid ?? '0', GID: r.gid ?? '0', Mode: r.mode ?? DEFAULT_FILE_MODE },
        ConfigID: '',
        ConfigName: naming.nameOf(r.source, config.configs[r.source]),
      }),
    ),
    CapabilityAdd: s.cap_add,
    CapabilityDrop: s.cap_drop,
  });

  const task: TaskSpec = { ContainerSpec: container };
  const r = d.resources;
  if (r) {
    const amounts = (a: { cpus?: string; memory?: string } | undefined): { NanoCPUs?: number; MemoryBytes?: number } | undefined =>
      a ? compact({ NanoCPUs: a.cpus === undefined ? undefined : parseCpus(a.cpus), MemoryBytes: a.memory === undefined ? undefined : parseBytes(a.memory) }) : undefined;
    const limits = amounts(r.limits);
    if (limits && r.limits?.pids !== undefined) Object.assign(limits, { Pids: r.limits.pids });
    task.Resources = compact({ Limits: limits, Reservations: amounts(r.reservations) });
  }
  if (d.restart_policy) {
    const rp = d.restart_policy;
    task.RestartPolicy = compact({ Condition: rp.condition, Delay: durationOf(rp.delay), MaxAttempts: rp.max_attempts, Window: durationOf(rp.window) });
  }
  if (d.placement) {
    const p = d.placement;
    task.Placement = compact({
      Constraints: p.constraints,
      Preferences: p.preferences?.map((x) => ({ Spread: { SpreadDescriptor: x.spread } })),
      MaxReplicas: p.max_replicas_per_node,
    });
  }
  // As docker: the service's own name is an alias on every network; sorted by network.
  task.Networks = Object.entries(s.networks)
    .map(([net, n]) => ({ Target: naming.nameOf(net, config.networks[net]), Aliases: [...(n.aliases ?? []), key] }))
    .sort((a, b) => (a.Target < b.Target ? -1 : a.Target > b.Target ? 1 : 0));

  const spec: ServiceSpec = {
    Name: naming.scoped(key),
    Labels: withNamespace(stack, d.labels),
    TaskTemplate: task,
    Mode: d.mode === 'global' ? { Global: {} } : { Replicated: { Replicas: d.replicas ?? 1 } },
    EndpointSpec: {
      Mode: d.endpoint_mode ?? 'vip',
      Ports: (s.ports ?? []).map((p): PortConfig => compact({ Name: p.name, Protocol: p.protocol, TargetPort: p.target, PublishedPort: p.published, PublishMode: p.mode })),
    },
  };
  if (d.update_config) spec.UpdateConfig = updateConfig(d.update_config);
  if (d.rollback_config) spec.RollbackConfig = updateConfig(d.rollback_config);
  const deps = Object.entries(s.depends_on ?? {})
    .filter((e): e is [string, { condition: 'service_started' | 'service_healthy'; required: boolean }] => e[1].condition !== 'service_completed_successfully')
    .map(([dep, x]) => ({ Service: naming.scoped(dep), Condition: x.condition }));
  if (deps.length > 0) spec.DependsOn = deps;
  return spec;
}

/** "K=V", sorted as docker sorts them; variables named without a value and set nowhere are left out. */
function env(e: Record<string, string | null> | undefined): string[] | undefined {
  const list = Object.entries(e ?? {})
    .filter((x): x is [string, string] => x[1] !== null)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return list.length > 0 ? list : undefined;
}

function updateConfig(u: UpdateConfigConfig): UpdateConfig {
  // Docker's default parallelism for a stack is 1, not the API's 0 (all at once).
  return compact({
    Parallelism: u.parallelism ?? 1,
    Delay: durationOf(u.delay),
    FailureAction: u.failure_action,
    Monitor: durationOf(u.monitor),
    MaxFailureRatio: u.max_failure_ratio,
    Order: u.order,
  });
}
