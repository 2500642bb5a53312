import type { Command } from 'commander';
import type {
  ConfigObject,
  ConfigReference,
  MountSpec,
  PortConfig,
  SecretObject,
  SecretReference,
  ServiceObject,
  ServiceSpec,
  ServiceStatus,
  TaskObject,
  UpdateConfig,
} from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { afterWrite, beforeWrite, waitForService } from '../converge.js';
import { CliError, forEachArg, UsageError } from '../errors.js';
import { argument, filter, flag, integer, label, labelKey, oneOf, repeatable } from '../flags.js';
import { aligned, bytesSize, inspectJson, naturalCompare, ramInBytes, ValueError } from '../format.js';
import { cpus, envVar, imageRef, memoryBytes, signalName, tailLines } from '../runtime-flags.js';
import { canarySteps, constraint, duration, fileRef, mount, network, placementPref, publish, ratio, scaleSpec, type FileRef } from '../service-flags.js';
import { renderTable } from '../table.js';
import { stopAtFirstOperand } from './run.js';
import { filtersOf, NameResolver, noTruncOf, shortImage, taskListOptions, taskTable, truncId, type TaskListOptions } from './task.js';

// swarm service create | ls | ps | inspect | scale | update | rm | logs, as docker's.

export type ServiceWithStatus = ServiceObject & { ServiceStatus?: ServiceStatus };

export function servicePath(ref: string): string {
  return `/services/${encodeURIComponent(ref)}`;
}

// --- options shared by create and update ------------------------------------------------------

interface CommonOptions {
  replicasMaxPerNode?: number;
  restartCondition?: 'any' | 'on-failure' | 'none';
  restartDelay?: number;
  restartMaxAttempts?: number;
  restartWindow?: number;
  limitCpu?: number;
  limitMemory?: number;
  limitPids?: number;
  reserveCpu?: number;
  reserveMemory?: number;
  updateParallelism?: number;
  updateDelay?: number;
  updateOrder?: 'start-first' | 'stop-first';
  updateFailureAction?: 'pause' | 'continue' | 'rollback';
  updateMonitor?: number;
  updateMaxFailureRatio?: number;
  rollbackParallelism?: number;
  rollbackDelay?: number;
  rollbackOrder?: 'start-first' | 'stop-first';
  rollbackFailureAction?: 'pause' | 'continue';
  rollbackMonitor?: number;
  rollbackMaxFailureRatio?: number;
  strategy?: 'rolling' | 'canary' | 'blue-green';
  canarySteps?: number[];
  canaryInterval?: number;
  healthCmd?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
  /** false with --no-healthcheck. */
  healthcheck?: boolean;
  endpointMode?: 'vip' | 'dnsrr';
  workdir?: string;
  user?: string;
  hostname?: string;
  stopSignal?: string;
  stopGracePeriod?: number;
  detach?: boolean;
  quiet?: boolean;
}

interface CreateOptions extends CommonOptions {
  name?: string;
  replicas?: number;
  mode?: 'replicated' | 'global';
  env?: [string, string | undefined][];
  label?: [string, string][];
  containerLabel?: [string, string][];
  constraint?: string[];
  placementPref?: string[];
  publish?: PortConfig[][];
  mount?: MountSpec[];
  secret?: FileRef[];
  config?: FileRef[];
  network?: { Target: string; Aliases?: string[] }[];
  entrypoint?: string;
  init?: boolean;
  readOnly?: boolean;
}

interface UpdateOptions extends CommonOptions {
  image?: string;
  replicas?: number;
  envAdd?: [string, string | undefined][];
  envRm?: string[];
  labelAdd?: [string, string][];
  labelRm?: string[];
  containerLabelAdd?: [string, string][];
  containerLabelRm?: string[];
  constraintAdd?: string[];
  constraintRm?: string[];
  publishAdd?: PortConfig[][];
  publishRm?: string[];
  mountAdd?: MountSpec[];
  mountRm?: string[];
  secretAdd?: FileRef[];
  secretRm?: string[];
  configAdd?: FileRef[];
  configRm?: string[];
  args?: string;
  force?: boolean;
  rollback?: boolean;
}

function commonOptions(cmd: Command): Command {
  return cmd
    .addOption(flag('--replicas-max-per-node <n>', 'at most this many tasks on one node (0: unlimited)', integer(0, 1_000_000)))
    .addOption(flag('--restart-condition <condition>', 'restart tasks: any, on-failure or none', oneOf(['any', 'on-failure', 'none'] as const)))
    .addOption(flag('--restart-delay <duration>', 'wait between restarts, e.g. 5s', duration))
    .addOption(flag('--restart-max-attempts <n>', 'give up after this many restarts', integer(0, 1_000_000)))
    .addOption(flag('--restart-window <duration>', 'the window in which restarts are counted, e.g. 1m', duration))
    .addOption(flag('--limit-cpu <cpus>', 'CPU limit per task, e.g. 0.5', cpus))
    .addOption(flag('--limit-memory <size>', 'memory limit per task, e.g. 64M', memoryBytes))
    .addOption(flag('--limit-pids <n>', 'process limit per task (0: unlimited)', integer(0, 4_194_304)))
    .addOption(flag('--reserve-cpu <cpus>', 'CPUs to reserve per task', cpus))
    .addOption(flag('--reserve-memory <size>', 'memory to reserve per task', ramInBytes))
    .addOption(flag('--update-parallelism <n>', 'tasks updated at once (0: all)', integer(0, 1_000_000)))
    .addOption(flag('--update-delay <duration>', 'wait between updates of task groups, e.g. 10s', duration))
    .addOption(flag('--update-order <order>', 'start-first or stop-first', oneOf(['start-first', 'stop-first'] as const)))
    .addOption(flag('--update-failure-action <action>', 'on a failed update: pause, continue or rollback', oneOf(['pause', 'continue', 'rollback'] as const)))
    .addOption(flag('--update-monitor <duration>', 'how long to watch each updated task for failure', duration))
    .addOption(flag('--update-max-failure-ratio <ratio>', 'failure rate tolerated during an update, 0 to 1', ratio))
    .addOption(flag('--rollback-parallelism <n>', 'tasks rolled back at once (0: all)', integer(0, 1_000_000)))
    .addOption(flag('--rollback-delay <duration>', 'wait between rollbacks of task groups', duration))
    .addOption(flag('--rollback-order <order>', 'start-first or stop-first', oneOf(['start-first', 'stop-first'] as const)))
    .addOption(flag('--rollback-failure-action <action>', 'on a failed rollback: pause or continue', oneOf(['pause', 'continue'] as const)))
    .addOption(flag('--rollback-monitor <duration>', 'how long to watch each rolled-back task for failure', duration))
    .addOption(flag('--rollback-max-failure-ratio <ratio>', 'failure rate tolerated during a rollback, 0 to 1', ratio))
    .addOption(flag('--strategy <type>', 'how updates reach the tasks: rolling (default), canary or blue-green', oneOf(['rolling', 'canary', 'blue-green'] as const)))
    .addOption(flag('--canary-steps <percents>', "canary: the new version's share of connections per step, e.g. 10,50,100", canarySteps))
    .addOption(flag('--canary-interval <duration>', 'canary: how long each step holds (default: until `swarm service promote`)', duration))
    .option('--health-cmd <command>', 'command run in the container to check health (through a shell)')
    .addOption(flag('--health-interval <duration>', 'between health checks', duration))
    .addOption(flag('--health-timeout <duration>', 'how long a check may take', duration))
    .addOption(flag('--health-retries <n>', 'failed checks before unhealthy', integer(0, 1_000_000)))
    .addOption(flag('--health-start-period <duration>', 'grace period after start', duration))
    .option('--no-healthcheck', "disable the image's health check")
    .addOption(flag('--endpoint-mode <mode>', 'vip or dnsrr', oneOf(['vip', 'dnsrr'] as const)))
    .option('-w, --workdir <dir>', 'working directory in the container')
    .option('-u, --user <user>', 'user[:group] to run as')
    .option('--hostname <name>', "the containers' host name")
    .addOption(flag('--stop-signal <signal>', 'signal that stops the containers', signalName))
    .addOption(flag('--stop-grace-period <duration>', 'wait before killing a container being stopped', duration))
    .option('-d, --detach', 'exit at once instead of waiting for the service to converge')
    .option('-q, --quiet', 'show no progress');
}

/** Sets in `spec` what the shared flags give; leaves the rest as it is. */
function applyCommon(spec: ServiceSpec, o: CommonOptions): void {
  const task = spec.TaskTemplate;
  const c = task.ContainerSpec;
  if (o.replicasMaxPerNode !== undefined) {
    if (spec.Mode.Global) throw new UsageError('--replicas-max-per-node can only be used with replicated mode');
    task.Placement = { ...task.Placement, MaxReplicas: o.replicasMaxPerNode };
  }
  const restart = {
    ...(o.restartCondition !== undefined ? { Condition: o.restartCondition } : {}),
    ...(o.restartDelay !== undefined ? { Delay: o.restartDelay } : {}),
    ...(o.restartMaxAttempts !== undefined ? { MaxAttempts: o.restartMaxAttempts } : {}),
    ...(o.restartWindow !== undefined ? { Window: o.restartWindow } : {}),
  };
  if (Object.keys(restart).length > 0) task.RestartPolicy = { ...task.RestartPolicy, ...restart };
  const limits = {
    ...(o.limitCpu !== undefined ? { NanoCPUs: o.limitCpu } : {}),
    ...(o.limitMemory !== undefined ? { MemoryBytes: o.limitMemory } : {}),
    ...(o.limitPids !== undefined ? { Pids: o.limitPids } : {}),
  };
  const reservations = {
    ...(o.reserveCpu !== undefined ? { NanoCPUs: o.reserveCpu } : {}),
    ...(o.reserveMemory !== undefined ? { MemoryBytes: o.reserveMemory } : {}),
  };
  if (Object.keys(limits).length > 0) task.Resources = { ...task.Resources, Limits: { ...task.Resources?.Limits, ...limits } };
  if (Object.keys(reservations).length > 0) task.Resources = { ...task.Resources, Reservations: { ...task.Resources?.Reservations, ...reservations } };
  const update: UpdateConfig = {
    ...(o.updateParallelism !== undefined ? { Parallelism: o.updateParallelism } : {}),
    ...(o.updateDelay !== undefined ? { Delay: o.updateDelay } : {}),
    ...(o.updateFailureAction !== undefined ? { FailureAction: o.updateFailureAction } : {}),
    ...(o.updateMonitor !== undefined ? { Monitor: o.updateMonitor } : {}),
    ...(o.updateMaxFailureRatio !== undefined ? { MaxFailureRatio: o.updateMaxFailureRatio } : {}),
    ...(o.updateOrder !== undefined ? { Order: o.updateOrder } : {}),
  };
  if (Object.keys(update).length > 0) spec.UpdateConfig = { ...spec.UpdateConfig, ...update };
  const rollback: UpdateConfig = {
    ...(o.rollbackParallelism !== undefined ? { Parallelism: o.rollbackParallelism } : {}),
    ...(o.rollbackDelay !== undefined ? { Delay: o.rollbackDelay } : {}),
    ...(o.rollbackFailureAction !== undefined ? { FailureAction: o.rollbackFailureAction } : {}),
    ...(o.rollbackMonitor !== undefined ? { Monitor: o.rollbackMonitor } : {}),
    ...(o.rollbackMaxFailureRatio !== undefined ? { MaxFailureRatio: o.rollbackMaxFailureRatio } : {}),
    ...(o.rollbackOrder !== undefined ? { Order: o.rollbackOrder } : {}),
  };
  if (Object.keys(rollback).length > 0) spec.RollbackConfig = { ...spec.RollbackConfig, ...rollback };
  if (o.strategy !== undefined || o.canarySteps !== undefined || o.canaryInterval !== undefined) {
    const type = o.strategy ?? spec.Strategy?.Type ?? 'rolling';
    if (type !== 'canary' && (o.canarySteps !== undefined || o.canaryInterval !== undefined)) throw new UsageError('--canary-steps and --canary-interval need --strategy canary');
    spec.Strategy =
      type === 'canary'
        ? {
            Type: type,
            ...((o.canarySteps ?? spec.Strategy?.Steps) ? { Steps: o.canarySteps ?? spec.Strategy!.Steps! } : {}),
            ...((o.canaryInterval ?? spec.Strategy?.StepInterval) !== undefined ? { StepInterval: (o.canaryInterval ?? spec.Strategy!.StepInterval)! } : {}),
          }
        : { Type: type };
  }
  const health = {
    ...(o.healthCmd !== undefined ? { Test: ['CMD-SHELL', o.healthCmd] } : {}),
    ...(o.healthInterval !== undefined ? { Interval: o.healthInterval } : {}),
    ...(o.healthTimeout !== undefined ? { Timeout: o.healthTimeout } : {}),
    ...(o.healthRetries !== undefined ? { Retries: o.healthRetries } : {}),
    ...(o.healthStartPeriod !== undefined ? { StartPeriod: o.healthStartPeriod } : {}),
  };
  if (o.healthcheck === false) {
    if (Object.keys(health).length > 0) throw new UsageError('--no-healthcheck conflicts with the --health-* options');
    c.Healthcheck = { Test: ['NONE'] };
  } else if (Object.keys(health).length > 0) {
    c.Healthcheck = { ...(c.Healthcheck?.Test?.[0] === 'NONE' ? {} : c.Healthcheck), ...health };
  }
  if (o.endpointMode !== undefined) spec.EndpointSpec = { ...spec.EndpointSpec, Mode: o.endpointMode };
  if (o.workdir !== undefined) c.Dir = o.workdir;
  if (o.user !== undefined) c.User = o.user;
  if (o.hostname !== undefined) c.Hostname = o.hostname;
  if (o.stopSignal !== undefined) c.StopSignal = o.stopSignal;
  if (o.stopGracePeriod !== undefined) c.StopGracePeriod = o.stopGracePeriod;
}

/** KEY=VALUE, KEY alone taking its value from this environment (dropped when unset there), as docker. */
function envList(vars: readonly [string, string | undefined][], env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [k, v] of vars) {
    const value = v ?? env[k];
    if (value !== undefined) out.push(`${k}=${value}`);
  }
  return out;
}

/** Secret and config references by name, with the IDs looked up as docker does. */
async function resolveFileRefs(ctx: CliContext, secrets: readonly FileRef[], configs: readonly FileRef[]): Promise<{ secrets: SecretReference[]; configs: ConfigReference[] }> {
  const client = ctx.client();
  const lookup = async (kind: 'secret' | 'config', refs: readonly FileRef[]): Promise<Map<string, string>> => {
    if (refs.length === 0) return new Map();
    const names = [...new Set(refs.map((r) => r.source))];
    const found = await client.get<(SecretObject | ConfigObject)[]>(`/${kind}s`, { filters: JSON.stringify({ names }) });
    const ids = new Map(found.map((o) => [o.Spec.Name, o.ID]));
    const missing = names.filter((n) => !ids.has(n));
    if (missing.length > 0) throw new CliError(`${kind} not found: ${missing.join(', ')}`, `create it first with 'swarm ${kind} create ${missing[0]} FILE'`);
    return ids;
  };
  const secretIds = await lookup('secret', secrets);
  const configIds = await lookup('config', configs);
  const file = (r: FileRef): { Name: string; UID: string; GID: string; Mode: number } => ({ Name: r.target, UID: r.uid, GID: r.gid, Mode: r.mode });
  return {
    secrets: secrets.map((r) => ({ File: file(r), SecretID: secretIds.get(r.source) ?? '', SecretName: r.source })),
    configs: configs.map((r) => ({ File: file(r), ConfigID: configIds.get(r.source) ?? '', ConfigName: r.source })),
  };
}

/** Builds the ServiceSpec of `service create` (secret and config IDs filled in later). */
export function createSpec(image: string, args: readonly string[], o: CreateOptions, env: Record<string, string | undefined>): ServiceSpec {
  const global = o.mode === 'global';
  if (global && o.replicas !== undefined) throw new UsageError('--replicas can only be used with replicated mode');
  const containerLabels = Object.fromEntries(o.containerLabel ?? []);
  const vars = envList(o.env ?? [], env);
  const ports = (o.publish ?? []).flat();
  const placement = {
    ...(o.constraint ? { Constraints: o.constraint } : {}),
    ...(o.placementPref ? { Preferences: o.placementPref.map((d) => ({ Spread: { SpreadDescriptor: d } })) } : {}),
  };
  const spec: ServiceSpec = {
    Name: o.name ?? '',
    Labels: Object.fromEntries(o.label ?? []),
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        ...(Object.keys(containerLabels).length > 0 ? { Labels: containerLabels } : {}),
        ...(o.entrypoint !== undefined ? { Command: o.entrypoint.split(/\s+/).filter((w) => w !== '') } : {}),
        ...(args.length > 0 ? { Args: [...args] } : {}),
        ...(vars.length > 0 ? { Env: vars } : {}),
        ...(o.mount ? { Mounts: o.mount } : {}),
        ...(o.init ? { Init: true } : {}),
        ...(o.readOnly ? { ReadOnly: true } : {}),
      },
      ...(Object.keys(placement).length > 0 ? { Placement: placement } : {}),
      ...(o.network ? { Networks: o.network } : {}),
    },
    Mode: global ? { Global: {} } : { Replicated: { Replicas: o.replicas ?? 1 } },
    ...(ports.length > 0 ? { EndpointSpec: { Ports: ports } } : {}),
  };
  applyCommon(spec, o);
  return spec;
}

/** Applies `service update`'s flags to a copy of the current spec. */
export function updateSpec(current: ServiceSpec, o: UpdateOptions, env: Record<string, string | undefined>): ServiceSpec {
  const spec = structuredClone(current);
  const task = spec.TaskTemplate;
  const c = task.ContainerSpec;
  if (o.image !== undefined) c.Image = o.image;
  if (o.args !== undefined) c.Args = o.args.split(/\s+/).filter((w) => w !== '');
  if (o.replicas !== undefined) {
    if (!spec.Mode.Replicated) throw new UsageError('--replicas can only be used with replicated mode');
    spec.Mode = { Replicated: { Replicas: o.replicas } };
  }
  if (o.envRm || o.envAdd) {
    const keyOf = (e: string): string => e.split('=')[0] ?? e;
    const removed = new Set([...(o.envRm ?? []), ...(o.envAdd ?? []).map(([k]) => k)]);
    const env2 = (c.Env ?? []).filter((e) => !removed.has(keyOf(e)));
    env2.push(...envList(o.envAdd ?? [], env));
    c.Env = env2;
  }
  for (const k of o.labelRm ?? []) delete spec.Labels[k];
  for (const [k, v] of o.labelAdd ?? []) spec.Labels[k] = v;
  if (o.containerLabelRm || o.containerLabelAdd) {
    const labels = { ...c.Labels };
    for (const k of o.containerLabelRm ?? []) delete labels[k];
    for (const [k, v] of o.containerLabelAdd ?? []) labels[k] = v;
    c.Labels = labels;
  }
  if (o.constraintRm || o.constraintAdd) {
    const norm = (s: string): string => s.replace(/\s+/g, '');
    const rm = new Set((o.constraintRm ?? []).map(norm));
    const list = (task.Placement?.Constraints ?? []).filter((x) => !rm.has(norm(x)));
    for (const x of o.constraintAdd ?? []) if (!list.some((y) => norm(y) === norm(x))) list.push(x);
    task.Placement = { ...task.Placement, Constraints: list };
  }
  if (o.publishRm || o.publishAdd) {
    const rm = (o.publishRm ?? []).map((p) => {
      const [port = '', proto = 'tcp'] = (p.includes(':') ? p.split(':').at(-1) ?? '' : p).split('/');
      return `${port}/${proto}`;
    });
    const ports = (spec.EndpointSpec?.Ports ?? []).filter((p) => !rm.includes(`${p.TargetPort}/${p.Protocol ?? 'tcp'}`));
    for (const add of (o.publishAdd ?? []).flat()) {
      const i = ports.findIndex((p) => p.TargetPort === add.TargetPort && (p.Protocol ?? 'tcp') === add.Protocol);
      if (i >= 0) ports[i] = add;
      else ports.push(add);
    }
    spec.EndpointSpec = { ...spec.EndpointSpec, Ports: ports };
  }
  if (o.mountRm || o.mountAdd) {
    const rm = new Set([...(o.mountRm ?? []), ...(o.mountAdd ?? []).map((m) => m.Target)]);
    c.Mounts = [...(c.Mounts ?? []).filter((m) => !rm.has(m.Target)), ...(o.mountAdd ?? [])];
  }
  if (o.secretRm) c.Secrets = (c.Secrets ?? []).filter((s) => !o.secretRm?.includes(s.SecretName));
  if (o.configRm) c.Configs = (c.Configs ?? []).filter((s) => !o.configRm?.includes(s.ConfigName));
  if (o.force) task.ForceUpdate = (task.ForceUpdate ?? 0) + 1;
  applyCommon(spec, o);
  return spec;
}

// --- tables and views ----------------------------------------------------------------------------

/** Ingress ports as docker's service ls shows them: "*:8080->80/tcp". */
function portsCell(s: ServiceObject): string {
  const ports = s.Endpoint?.Ports ?? s.Spec.EndpointSpec?.Ports ?? [];
  return ports
    .filter((p) => (p.PublishMode ?? 'ingress') === 'ingress' && p.PublishedPort)
    .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`)
    .join(', ');
}

function replicasCell(s: ServiceWithStatus): string {
  const running = s.ServiceStatus?.RunningTasks ?? 0;
  if (s.Spec.Mode.Global) return `${running}/${s.ServiceStatus?.DesiredTasks ?? 0} (global)`;
  const desired = s.ServiceStatus?.DesiredTasks ?? s.Spec.Mode.Replicated?.Replicas ?? 0;
  const max = s.Spec.TaskTemplate.Placement?.MaxReplicas;
  return max ? `${running}/${desired} (max ${max} per node)` : `${running}/${desired}`;
}

export function serviceTable(services: readonly ServiceWithStatus[]): string {
  const sorted = [...services].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name));
  return renderTable(
    ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
    sorted.map((s) => [truncId(s.ID), s.Spec.Name, s.Spec.Mode.Global ? 'global' : 'replicated', replicasCell(s), shortImage(s.Spec.TaskTemplate.ContainerSpec.Image), portsCell(s)]),
  );
}

/** Go's time.Duration.String(): "5s", "1m30s", "500ms", "1h0m0s". */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${Number((ns / 1e3).toFixed(3))}µs`;
  if (ns < 1e9) return `${Number((ns / 1e6).toFixed(6))}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const s = Number(((ns % 60e9) / 1e9).toFixed(9));
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

function prettyUpdateConfig(title: string, u: UpdateConfig | undefined, out: string[]): void {
  if (!u) return;
  const rows: [string, string][] = [];
  if (u.Parallelism !== undefined) rows.push([' Parallelism', String(u.Parallelism)]);
  if (u.Delay) rows.push([' Delay', goDuration(u.Delay)]);
  if (u.FailureAction) rows.push([' On failure', u.FailureAction]);
  if (u.Monitor) rows.push([' Monitoring Period', goDuration(u.Monitor)]);
  if (u.MaxFailureRatio !== undefined) rows.push([' Max failure ratio', String(u.MaxFailureRatio)]);
  if (u.Order) rows.push([' Update order', u.Order]);
  if (rows.length === 0) return;
  out.push(`${title}:\n`, aligned(rows, 24));
}

/** `service inspect --pretty`, after docker's layout. */
export function prettyService(s: ServiceWithStatus): string {
  const out: string[] = [];
  const kv = (rows: [string, string][]): void => void out.push(aligned(rows, 24));
  const spec = s.Spec;
  const task = spec.TaskTemplate;
  const c = task.ContainerSpec;
  kv([
    ['ID', s.ID],
    ['Name', spec.Name],
  ]);
  const labels = Object.entries(spec.Labels);
  if (labels.length > 0) out.push('Labels:\n', ...labels.map(([k, v]) => ` ${k}=${v}\n`));
  if (spec.Mode.Global) kv([['Service Mode', 'Global']]);
  else kv([['Service Mode', 'Replicated'], [' Replicas', String(spec.Mode.Replicated?.Replicas ?? 1)]]);
  if (s.UpdateStatus) {
    out.push('UpdateStatus:\n');
    kv([[' State', s.UpdateStatus.State], ...(s.UpdateStatus.StartedAt ? [[' Started', s.UpdateStatus.StartedAt] as [string, string]] : []), [' Message', s.UpdateStatus.Message ?? '']]);
  }
  const p = task.Placement;
  if (p && (p.Constraints?.length || p.Preferences?.length || p.MaxReplicas)) {
    out.push('Placement:\n');
    if (p.Constraints?.length) kv([[' Constraints', `[${p.Constraints.join(' ')}]`]]);
    if (p.Preferences?.length) out.push(' Preferences:\n', ...p.Preferences.map((x) => `   Spread: ${x.Spread.SpreadDescriptor}\n`));
    if (p.MaxReplicas) kv([[' Max Replicas Per Node', String(p.MaxReplicas)]]);
  }
  prettyUpdateConfig('UpdateConfig', spec.UpdateConfig, out);
  prettyUpdateConfig('RollbackConfig', spec.RollbackConfig, out);
  out.push('ContainerSpec:\n');
  kv([
    [' Image', c.Image],
    ...(c.Command?.length ? [[' Command', c.Command.join(' ')] as [string, string]] : []),
    ...(c.Args?.length ? [[' Args', c.Args.join(' ')] as [string, string]] : []),
    ...(c.Env?.length ? [[' Env', c.Env.join(' ')] as [string, string]] : []),
    ...(c.Dir ? [[' Dir', c.Dir] as [string, string]] : []),
    ...(c.User ? [[' User', c.User] as [string, string]] : []),
    ...(c.Init ? [[' Init', 'true'] as [string, string]] : []),
  ]);
  if (c.Mounts?.length) {
    out.push('Mounts:\n');
    for (const m of c.Mounts) {
      kv([[' Target', m.Target]]);
      kv([['  Source', m.Source ?? ''], ['  ReadOnly', String(m.ReadOnly ?? false)], ['  Type', m.Type]]);
    }
  }
  if (c.Secrets?.length) {
    out.push('Secrets:\n');
    for (const r of c.Secrets) kv([[' Target', r.File.Name], ['  Source', r.SecretName]]);
  }
  if (c.Configs?.length) {
    out.push('Configs:\n');
    for (const r of c.Configs) kv([[' Target', r.File.Name], ['  Source', r.ConfigName]]);
  }
  const r = task.Resources;
  if (r?.Limits || r?.Reservations) {
    out.push('Resources:\n');
    for (const [title, amounts] of [
      [' Reservations', r.Reservations],
      [' Limits', r.Limits],
    ] as const) {
      if (!amounts) continue;
      out.push(`${title}:\n`);
      kv([
        ...(amounts.NanoCPUs ? [['  CPU', String(amounts.NanoCPUs / 1e9)] as [string, string]] : []),
        ...(amounts.MemoryBytes ? [['  Memory', bytesSize(amounts.MemoryBytes)] as [string, string]] : []),
      ]);
    }
  }
  if (task.Networks?.length) kv([['Networks', task.Networks.map((n) => n.Target).join(' ')]]);
  kv([['Endpoint Mode', spec.EndpointSpec?.Mode ?? 'vip']]);
  const ports = spec.EndpointSpec?.Ports ?? [];
  if (ports.length > 0) {
    out.push('Ports:\n');
    for (const port of ports) {
      out.push(
        ` PublishedPort = ${port.PublishedPort ?? 0}\n`,
        `  Protocol = ${port.Protocol ?? 'tcp'}\n`,
        `  TargetPort = ${port.TargetPort}\n`,
        `  PublishMode = ${port.PublishMode ?? 'ingress'}\n`,
      );
    }
  }
  return out.join('');
}

// --- logs --------------------------------------------------------------------------------------

/** Docker's log details ("k=v,k=v", query-escaped) as a map. */
function parseDetails(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    const decode = (s: string): string => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return s;
      }
    };
    out[decode(pair.slice(0, i))] = decode(pair.slice(i + 1));
  }
  return out;
}

interface LogsOptions {
  follow?: boolean;
  tail: string;
  timestamps?: boolean;
  since?: string;
  raw?: boolean;
  noTaskIds?: boolean;
  trunc?: boolean;
}

/** Parses "2m", "1h30m" (ago) or an RFC 3339 time into Docker's since (unix seconds). */
function sinceValue(value: string): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const t = Date.parse(value);
  if (!Number.isNaN(t)) return (t / 1000).toFixed(3);
  try {
    const ns = duration(value);
    return ((Date.now() - ns / 1e6) / 1000).toFixed(3);
  } catch {
    throw new ValueError('expected a duration such as 10m, a unix time, or a time such as 2025-01-01T00:00:00Z');
  }
}

async function serviceLogs(ctx: CliContext, ref: string, o: LogsOptions): Promise<void> {
  const client = ctx.client();
  const service = await client.get<ServiceObject>(servicePath(ref));
  const res = await client.open('GET', `${servicePath(service.ID)}/logs`, {
    query: {
      stdout: '1',
      stderr: '1',
      // The details carry the task and node of each line, for the prefix (docker asks for them unless --raw).
      details: o.raw ? undefined : '1',
      follow: o.follow ? '1' : undefined,
      tail: o.tail,
      timestamps: o.timestamps ? '1' : undefined,
      since: o.since,
    },
  });
  const tasks = new Map<string, Promise<TaskObject | undefined>>();
  const resolver = new NameResolver(ctx);
  const replicas = service.Spec.Mode.Replicated?.Replicas ?? 0;
  const width = String(Math.max(1, replicas)).length;
  const noTrunc = o.trunc === false;

  const prefixOf = async (attrs: Record<string, string>): Promise<string> => {
    const taskId = attrs['com.docker.swarm.task.id'] ?? '';
    const nodeId = attrs['com.docker.swarm.node.id'] ?? '';
    let task = tasks.get(taskId);
    if (!task) {
      task = client.get<TaskObject>(`/tasks/${encodeURIComponent(taskId)}`).catch(() => undefined);
      tasks.set(taskId, task);
    }
    const t = await task;
    const slot = t?.Slot ? String(t.Slot) : (t?.NodeID ?? nodeId);
    let name = `${service.Spec.Name}.${slot}`;
    if (!o.noTaskIds) name += `.${noTrunc ? taskId : truncId(taskId)}`;
    const pad = t?.Slot ? ' '.repeat(Math.max(0, width - slot.length)) : '';
    return `${name}@${await resolver.node(nodeId)}${pad}    | `;
  };

  const write = async (stream: number, payload: Buffer): Promise<void> => {
    const target = stream === 2 ? ctx.io.stderr : ctx.io.stdout;
    for (const line of payload.toString('utf8').split(/(?<=\n)/)) {
      if (line === '') continue;
      if (o.raw) {
        target.write(line);
        continue;
      }
      let rest = line;
      let ts = '';
      if (o.timestamps) {
        const sp = rest.indexOf(' ');
        ts = rest.slice(0, sp + 1);
        rest = rest.slice(sp + 1);
      }
      const sp = rest.indexOf(' ');
      const attrs = parseDetails(sp < 0 ? rest : rest.slice(0, sp));
      rest = sp < 0 ? '' : rest.slice(sp + 1);
      target.write(`${ts}${await prefixOf(attrs)}${rest}`);
    }
  };

  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of res as AsyncIterable<Buffer>) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      await write(buf[0] ?? 1, buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
  }
}

// --- the commands --------------------------------------------------------------------------------

/** Prints warnings, then waits for convergence unless detached. */
async function finishWrite(ctx: CliContext, id: string, known: { before: Set<string>; previousStatus?: ServiceObject['UpdateStatus'] }, o: { detach?: boolean; quiet?: boolean }, rollback = false): Promise<void> {
  if (o.detach) return;
  await waitForService(ctx, await afterWrite(ctx, id, known, rollback), { quiet: o.quiet === true });
}

function printWarnings(ctx: CliContext, warnings: readonly string[] | null | undefined): void {
  for (const w of warnings ?? []) ctx.io.stderr.write(`${w}\n`);
}

export function registerServiceCommands(program: Command, ctx: CliContext): void {
  const service = program.command('service').description('Manage the services of the swarm');

  commonOptions(
    stopAtFirstOperand(service.command('create'))
      .description('Create a service')
      .usage('[options] IMAGE [COMMAND [ARG...]]')
      .addArgument(argument('<image>', 'the image the tasks run', imageRef))
      .argument('[command...]', "the command and its arguments (default: the image's)")
      .option('--name <name>', 'the service name')
      .addOption(flag('--replicas <n>', 'number of tasks (replicated mode)', integer(0, 1_000_000)))
      .addOption(flag('--mode <mode>', 'replicated or global (one task per node)', oneOf(['replicated', 'global'] as const)))
      .addOption(repeatable('-e, --env <key=value>', 'set a variable (repeatable)', envVar))
      .addOption(repeatable('--label <key=value>', 'a service label (repeatable)', label))
      .addOption(repeatable('--container-label <key=value>', 'a container label (repeatable)', label))
      .addOption(repeatable('--constraint <expr>', 'placement constraint, e.g. node.role==manager (repeatable)', constraint))
      .addOption(repeatable('--placement-pref <pref>', 'spread tasks, e.g. spread=node.labels.zone (repeatable)', placementPref))
      .addOption(repeatable('-p, --publish <port>', 'publish a port: 8080:80 or published=8080,target=80[,mode=host][,protocol=udp] (repeatable)', publish))
      .addOption(repeatable('--mount <mount>', 'type=bind|volume|tmpfs,source=...,target=...[,readonly] (repeatable)', mount))
      .addOption(repeatable('--secret <secret>', 'NAME or source=NAME,target=...,uid=,gid=,mode= (repeatable)', fileRef))
      .addOption(repeatable('--config <config>', 'NAME or source=NAME,target=...,uid=,gid=,mode= (repeatable)', fileRef))
      .addOption(repeatable('--network <network>', 'NAME or name=NAME,alias=ALIAS (repeatable)', network))
      .option('--entrypoint <command>', "replace the image's entrypoint")
      .option('--init', 'run an init process as PID 1')
      .option('--read-only', 'mount the root filesystem read-only')
      .option('--with-registry-auth', 'accepted for docker compatibility (nodes pull with their own credentials)'),
  ).action(async (image: string, command: string[], o: CreateOptions) => {
    const spec = createSpec(image, command, o, ctx.env());
    const refs = await resolveFileRefs(ctx, o.secret ?? [], o.config ?? []);
    if (refs.secrets.length > 0) spec.TaskTemplate.ContainerSpec.Secrets = refs.secrets;
    if (refs.configs.length > 0) spec.TaskTemplate.ContainerSpec.Configs = refs.configs;
    const created = await ctx.client().post<{ ID: string; Warnings: string[] | null }>('/services/create', spec);
    printWarnings(ctx, created.Warnings);
    ctx.out(`${created.ID}\n`);
    if (!o.detach) await waitForService(ctx, { id: created.ID, version: 0, before: new Set() }, { quiet: o.quiet === true });
  });

  service
    .command('ls')
    .alias('list')
    .description('List the services')
    .addOption(repeatable('-f, --filter <key=value>', 'filter: id, label, mode, name (repeatable)', filter))
    .option('-q, --quiet', 'print service IDs only')
    .action(async (o: { filter?: [string, string][]; quiet?: boolean }) => {
      const filters = filtersOf(o.filter);
      const list = await ctx.client().get<ServiceWithStatus[]>('/services', { status: 'true', ...(Object.keys(filters).length > 0 ? { filters: JSON.stringify(filters) } : {}) });
      if (o.quiet) ctx.out([...list].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name)).map((s) => `${s.ID}\n`).join(''));
      else ctx.out(serviceTable(list));
    });

  taskListOptions(service.command('ps').description('List the tasks of one or more services').argument('<service...>', 'service name or ID')).action(
    async (refs: string[], o: TaskListOptions & { trunc?: boolean }) => {
      const client = ctx.client();
      const resolver = new NameResolver(ctx);
      const ids: string[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          const s = await client.get<ServiceObject>(servicePath(ref));
          resolver.remember(s);
          ids.push(s.ID);
        } catch (err) {
          errors.push(err);
        }
      }
      if (ids.length > 0) {
        const tasks = await client.get<TaskObject[]>('/tasks', { filters: JSON.stringify(filtersOf(o.filter, { service: ids })) });
        ctx.out(await taskTable(tasks, resolver, { noTrunc: noTruncOf(o), quiet: o.quiet === true }));
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    },
  );

  service
    .command('inspect')
    .description('Show the details of one or more services')
    .argument('<service...>', 'service name or ID')
    .option('--pretty', 'human-readable form')
    .action(async (refs: string[], o: { pretty?: boolean }) => {
      const found: ServiceObject[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<ServiceObject>(servicePath(ref)));
        } catch (err) {
          errors.push(err);
        }
      }
      ctx.out(o.pretty ? found.map(prettyService).join('\n') : inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });

  service
    .command('scale')
    .description('Set the number of tasks of one or more replicated services')
    .addArgument(argument('<service=replicas...>', 'e.g. web=3', scaleSpec))
    .option('-d, --detach', 'exit at once instead of waiting for the services to converge')
    .action(async (pairs: [string, number][], o: { detach?: boolean }) => {
      const client = ctx.client();
      const waits: (() => Promise<void>)[] = [];
      await forEachArg(pairs, async ([ref, replicas]) => {
        const s = await client.get<ServiceObject>(servicePath(ref));
        if (!s.Spec.Mode.Replicated) throw new CliError(`${ref}: scale can only be used with replicated mode`);
        const spec = structuredClone(s.Spec);
        spec.Mode = { Replicated: { Replicas: replicas } };
        const known = await beforeWrite(ctx, s);
        const res = await client.post<{ Warnings: string[] | null }>(`${servicePath(s.ID)}/update`, spec, { version: s.Version.Index });
        printWarnings(ctx, res?.Warnings);
        ctx.out(`${ref} scaled to ${replicas}\n`);
        waits.push(() => finishWrite(ctx, s.ID, known, o));
      });
      await forEachArg(waits, (wait) => wait());
    });

  commonOptions(
    service
      .command('update')
      .description("Change a service's spec (read, change, write back with the version read)")
      .argument('<service>', 'service name or ID')
      .addOption(flag('--image <image>', 'the image the tasks run', imageRef))
      .option('--args <command>', 'the command arguments (split on spaces)')
      .addOption(flag('--replicas <n>', 'number of tasks', integer(0, 1_000_000)))
      .addOption(repeatable('-e, --env-add <key=value>', 'add or change a variable (repeatable)', envVar))
      .addOption(repeatable('--env-rm <key>', 'remove a variable (repeatable)', labelKey))
      .addOption(repeatable('--label-add <key=value>', 'add or change a service label (repeatable)', label))
      .addOption(repeatable('--label-rm <key>', 'remove a service label (repeatable)', labelKey))
      .addOption(repeatable('--container-label-add <key=value>', 'add or change a container label (repeatable)', label))
      .addOption(repeatable('--container-label-rm <key>', 'remove a container label (repeatable)', labelKey))
      .addOption(repeatable('--constraint-add <expr>', 'add a placement constraint (repeatable)', constraint))
      .addOption(repeatable('--constraint-rm <expr>', 'remove a placement constraint (repeatable)', constraint))
      .addOption(repeatable('--publish-add <port>', 'publish a port (repeatable)', publish))
      .addOption(repeatable('--publish-rm <target[/protocol]>', 'stop publishing the port with this target (repeatable)', (v: string) => v))
      .addOption(repeatable('--mount-add <mount>', 'add or replace a mount (repeatable)', mount))
      .addOption(repeatable('--mount-rm <target>', 'remove the mount at this target (repeatable)', (v: string) => v))
      .addOption(repeatable('--secret-add <secret>', 'give the tasks a secret (repeatable)', fileRef))
      .addOption(repeatable('--secret-rm <name>', 'take a secret away (repeatable)', (v: string) => v))
      .addOption(repeatable('--config-add <config>', 'give the tasks a config (repeatable)', fileRef))
      .addOption(repeatable('--config-rm <name>', 'take a config away (repeatable)', (v: string) => v))
      .option('--force', 'replace the tasks even if nothing changed')
      .option('--rollback', 'go back to the previous spec'),
  ).action(async (ref: string, o: UpdateOptions) => {
    const client = ctx.client();
    if (o.rollback) {
      const others = Object.entries(o).filter(([k, v]) => v !== undefined && !['rollback', 'detach', 'quiet', 'healthcheck'].includes(k));
      if (others.length > 0 || o.healthcheck === false) throw new UsageError('other flags may not be combined with --rollback');
    }
    const s = await client.get<ServiceObject>(servicePath(ref));
    let spec = s.Spec;
    if (!o.rollback) {
      spec = updateSpec(s.Spec, o, ctx.env());
      const refs = await resolveFileRefs(ctx, o.secretAdd ?? [], o.configAdd ?? []);
      const c = spec.TaskTemplate.ContainerSpec;
      if (refs.secrets.length > 0) c.Secrets = [...(c.Secrets ?? []).filter((x) => !refs.secrets.some((y) => y.SecretName === x.SecretName)), ...refs.secrets];
      if (refs.configs.length > 0) c.Configs = [...(c.Configs ?? []).filter((x) => !refs.configs.some((y) => y.ConfigName === x.ConfigName)), ...refs.configs];
    }
    const known = await beforeWrite(ctx, s);
    const res = await client.post<{ Warnings: string[] | null }>(`${servicePath(s.ID)}/update`, spec, { version: s.Version.Index, ...(o.rollback ? { rollback: 'previous' } : {}) });
    printWarnings(ctx, res?.Warnings);
    ctx.out(`${ref}\n`);
    await finishWrite(ctx, s.ID, known, o, o.rollback === true);
  });

  service
    .command('promote')
    .description('Move a canary deployment to its next step now, or switch a blue/green deployment to the new version')
    .argument('<service>', 'service name or ID')
    .action(async (ref: string) => {
      await ctx.client().post(`${servicePath(ref)}/promote`, undefined);
      ctx.out(`${ref}\n`);
    });

  service
    .command('rollback')
    .description("Go back to a service's previous spec (as `service update --rollback`)")
    .argument('<service>', 'service name or ID')
    .option('-d, --detach', 'exit at once instead of waiting for the rollback to converge')
    .option('-q, --quiet', 'show no progress')
    .action(async (ref: string, o: { detach?: boolean; quiet?: boolean }) => {
      const client = ctx.client();
      const s = await client.get<ServiceObject>(servicePath(ref));
      const known = await beforeWrite(ctx, s);
      const res = await client.post<{ Warnings: string[] | null }>(`${servicePath(s.ID)}/update`, s.Spec, { version: s.Version.Index, rollback: 'previous' });
      printWarnings(ctx, res?.Warnings);
      ctx.out(`${ref}\n`);
      await finishWrite(ctx, s.ID, known, o, true);
    });

  service
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>', 'service name or ID')
    .action(async (refs: string[]) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().delete(servicePath(ref));
        ctx.out(`${ref}\n`);
      }),
    );

  service
    .command('logs')
    .description("Print the output of a service's tasks, each line prefixed with its task and node")
    .argument('<service>', 'service name or ID')
    .option('-f, --follow', 'keep printing new output')
    .addOption(flag('-n, --tail <lines>', 'only the last N lines of each task ("all" for everything)', tailLines).default('all'))
    .option('-t, --timestamps', 'prefix each line with its time')
    .addOption(flag('--since <time>', 'only output since then: 10m, or a time such as 2025-01-01T00:00:00Z', sinceValue))
    .option('--raw', 'print the lines only, without the task and node prefix')
    .option('--no-task-ids', 'leave the task ID out of the prefix')
    .option('--no-trunc', 'do not shorten the task ID')
    .action(async (ref: string, o: LogsOptions & { taskIds?: boolean }) => serviceLogs(ctx, ref, { ...o, noTaskIds: o.taskIds === false }));
}
