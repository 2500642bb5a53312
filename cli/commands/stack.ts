import type { Command } from 'commander';
import type { ConfigObject, NetworkResource, SecretObject, ServiceObject, ServiceSpec, TaskObject } from '../../node/api/index.js';
import { convertStack, loadCompose, NAMESPACE_LABEL, type StackNetwork } from '../../stack/index.js';
import { ApiError } from '../client.js';
import type { CliContext } from '../context.js';
import { afterWrite, beforeWrite, DEFAULT_TIMING, waitForService, type WaitTarget } from '../converge.js';
import { CliError, ExitStatus, forEachArg, UsageError } from '../errors.js';
import { repeatable } from '../flags.js';
import { naturalCompare } from '../format.js';
import { renderTable } from '../table.js';
import { servicePath, serviceTable, type ServiceWithStatus } from './service.js';
import { filtersOf, NameResolver, noTruncOf, taskListOptions, taskTable, type TaskListOptions } from './task.js';

// swarm stack deploy | ls | ps | services | rm, as docker's: a stack is the services, networks,
// secrets and configs labelled com.docker.stack.namespace=NAME. The compose file is read and
// converted by the stack module (stack/index.ts), reached through StackLoader so tests can pass
// their own (CliOverrides.stackLoader).

export interface StackFileObject {
  Name: string;
  Labels: Record<string, string>;
  /** base64 (as the API takes it), or the raw bytes; absent for external ones. */
  Data?: string | Uint8Array;
  External: boolean;
}

/** What convertStack gives: services named and labelled for the stack, networks referenced by name. */
export interface ConvertedStack {
  services: ServiceSpec[];
  networks: StackNetwork[];
  secrets: StackFileObject[];
  configs: StackFileObject[];
}

/** loadCompose's result, passed back to convertStack as it is. */
export interface LoadedCompose {
  config: unknown;
  warnings: string[];
  workingDir: string;
}

/** The stack module's entry points (stack/index.ts). Both may throw ComposeError (`issues`). */
export interface StackLoader {
  loadCompose(opts: { files: string[]; env?: Record<string, string | undefined>; workingDir?: string }): LoadedCompose | Promise<LoadedCompose>;
  convertStack(loaded: LoadedCompose, stackName: string): ConvertedStack | Promise<ConvertedStack>;
}

/** The stack module itself, unless a test put its own in the context. */
function stackLoader(ctx: CliContext): StackLoader {
  return ctx.overrides.stackLoader ?? { loadCompose, convertStack };
}

/** A ComposeError (anything with `issues`): one "Error: path: reason" line per problem, as `stack config` prints them. */
function isComposeError(err: unknown): err is { issues: { path?: unknown; message?: unknown }[] } {
  return typeof err === 'object' && err !== null && 'issues' in err && Array.isArray(err.issues);
}

const STACK_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9_-]*[a-zA-Z0-9])?$/;

function stackName(name: string): string {
  if (!STACK_NAME.test(name)) throw new UsageError(`invalid stack name ${JSON.stringify(name)}: use letters, digits, "_" and "-", starting and ending with a letter or digit`);
  return name;
}

function nsFilter(name: string): string {
  return JSON.stringify({ label: [`${NAMESPACE_LABEL}=${name}`] });
}

/** How long `stack rm` retries removing a network its services' tasks still hold (they are stopping: grace period and report). */
const NETWORK_RM_WAIT_MS = 30_000;

async function stackNetworks(ctx: CliContext, name: string): Promise<NetworkResource[]> {
  return ctx.client().get<NetworkResource[]>('/networks', { filters: nsFilter(name) });
}

/**
 * Removes a network, trying again while tasks hold it (409 "in use by task"): right after its
 * services are removed, their tasks keep their addresses on it until they have stopped. A
 * service that still uses it is an answer at once.
 */
async function removeNetwork(ctx: CliContext, id: string): Promise<void> {
  const interval = Math.max(ctx.overrides.convergence?.intervalMs ?? DEFAULT_TIMING.intervalMs, 10);
  const deadline = Date.now() + NETWORK_RM_WAIT_MS;
  for (;;) {
    try {
      await ctx.client().delete(`/networks/${encodeURIComponent(id)}`);
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409 && err.message.includes('in use by task')) || Date.now() >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }
}

function base64(data: string | Uint8Array): string {
  return typeof data === 'string' ? data : Buffer.from(data).toString('base64');
}

interface DeployOptions {
  composeFile: string[];
  prune?: boolean;
  /** Undefined: detached, as docker's default. */
  detach?: boolean;
  quiet?: boolean;
}

async function deploy(ctx: CliContext, name: string, o: DeployOptions): Promise<void> {
  const client = ctx.client();
  const out = (line: string): void => ctx.out(`${line}\n`);
  const loader = stackLoader(ctx);
  let stack: ConvertedStack;
  try {
    const loaded = await loader.loadCompose({ files: o.composeFile, env: ctx.env() });
    for (const w of loaded.warnings) ctx.io.stderr.write(`Warning: ${w}\n`);
    stack = await loader.convertStack(loaded, name);
  } catch (err) {
    if (!isComposeError(err)) throw err;
    for (const i of err.issues) ctx.io.stderr.write(`Error: ${typeof i.path === 'string' && i.path !== '' ? `${i.path}: ` : ''}${String(i.message)}\n`);
    throw new ExitStatus(1);
  }
  const ns = (labels: Record<string, string> | undefined): Record<string, string> => ({ ...labels, [NAMESPACE_LABEL]: name });

  // What must exist already is checked before anything changes.
  const existingByName = async (kind: 'secret' | 'config', names: string[]): Promise<Map<string, string>> => {
    if (names.length === 0) return new Map();
    const list = await client.get<(SecretObject | ConfigObject)[]>(`/${kind}s`, { filters: JSON.stringify({ names }) });
    return new Map(list.map((x) => [x.Spec.Name, x.ID]));
  };
  const known = {
    secret: await existingByName('secret', stack.secrets.map((s) => s.Name)),
    config: await existingByName('config', stack.configs.map((c) => c.Name)),
  };
  for (const [kind, list] of [['secret', stack.secrets], ['config', stack.configs]] as const) {
    for (const x of list) {
      if (x.External && !known[kind].has(x.Name)) {
        throw new CliError(`${kind} ${x.Name} is declared as external, but could not be found`, `create it first with 'swarm ${kind} create ${x.Name} FILE'`);
      }
      if (!x.External && !known[kind].has(x.Name) && x.Data === undefined) throw new CliError(`${kind} ${x.Name} has no data: give it a file, or declare it external`);
    }
  }

  // Networks are found by name (a declared `name:` may not carry the stack's label).
  const present = new Set(stack.networks.length > 0 ? (await client.get<NetworkResource[]>('/networks')).map((n) => n.Name) : []);
  for (const n of stack.networks) {
    if (n.External && !present.has(n.Name)) {
      throw new CliError(`network ${n.Name} is declared as external, but could not be found`, `create it first with 'swarm network create --driver overlay ${n.Name}'`);
    }
  }

  const existing = await client.get<ServiceObject[]>('/services', { filters: nsFilter(name) });
  if (o.prune) {
    const wanted = new Set(stack.services.map((s) => s.Name));
    for (const s of existing.filter((x) => !wanted.has(x.Spec.Name)).sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name))) {
      out(`Removing service ${s.Spec.Name}`);
      await client.delete(servicePath(s.ID));
    }
  }

  for (const n of stack.networks) {
    if (n.External || present.has(n.Name)) continue;
    out(`Creating network ${n.Name}`);
    try {
      await client.post('/networks/create', {
        Name: n.Name,
        Driver: n.Driver,
        Labels: ns(n.Labels),
        Attachable: n.Attachable,
        Internal: n.Internal,
        CheckDuplicate: true,
        ...(n.Subnet ? { IPAM: { Driver: 'default', Config: [{ Subnet: n.Subnet }] } } : {}),
      });
    } catch (err) {
      if (err instanceof ApiError) throw new CliError(`network ${n.Name}: ${err.message}`, err.hint);
      throw err;
    }
    present.add(n.Name);
  }

  for (const [kind, list] of [['secret', stack.secrets], ['config', stack.configs]] as const) {
    for (const x of list) {
      if (x.External || known[kind].has(x.Name) || x.Data === undefined) continue;
      out(`Creating ${kind} ${x.Name}`);
      const created = await client.post<{ ID: string }>(`/${kind}s/create`, { Name: x.Name, Labels: ns(x.Labels), Data: base64(x.Data) });
      known[kind].set(x.Name, created.ID);
    }
  }
  // References by names the stack does not declare (docker allows none, but a converter may).
  const refNames = (kind: 'secret' | 'config'): string[] =>
    stack.services.flatMap((s) => (kind === 'secret' ? (s.TaskTemplate.ContainerSpec.Secrets ?? []).map((r) => r.SecretName) : (s.TaskTemplate.ContainerSpec.Configs ?? []).map((r) => r.ConfigName)));
  for (const kind of ['secret', 'config'] as const) {
    const missing = [...new Set(refNames(kind))].filter((n) => !known[kind].has(n));
    for (const [k, v] of await existingByName(kind, missing)) known[kind].set(k, v);
  }

  const waits: { name: string; target: () => Promise<WaitTarget> }[] = [];
  for (const original of stack.services) {
    const spec = structuredClone(original);
    spec.Labels = ns(spec.Labels);
    const c = spec.TaskTemplate.ContainerSpec;
    c.Labels = ns(c.Labels);
    for (const r of c.Secrets ?? []) {
      const id = known.secret.get(r.SecretName);
      if (id === undefined) throw new CliError(`service ${spec.Name}: secret not found: ${r.SecretName}`);
      r.SecretID = id;
    }
    for (const r of c.Configs ?? []) {
      const id = known.config.get(r.ConfigName);
      if (id === undefined) throw new CliError(`service ${spec.Name}: config not found: ${r.ConfigName}`);
      r.ConfigID = id;
    }
    const current = existing.find((s) => s.Spec.Name === spec.Name);
    try {
      if (current) {
        out(`Updating service ${spec.Name} (id: ${current.ID})`);
        // As docker: keep the force counter, or every deploy would look like a forced update.
        if (current.Spec.TaskTemplate.ForceUpdate !== undefined) spec.TaskTemplate.ForceUpdate = current.Spec.TaskTemplate.ForceUpdate;
        const before = await beforeWrite(ctx, current);
        const res = await client.post<{ Warnings: string[] | null } | undefined>(`${servicePath(current.ID)}/update`, spec, { version: current.Version.Index });
        for (const w of res?.Warnings ?? []) ctx.io.stderr.write(`${w}\n`);
        waits.push({ name: spec.Name, target: () => afterWrite(ctx, current.ID, before) });
      } else {
        out(`Creating service ${spec.Name}`);
        const res = await client.post<{ ID: string; Warnings: string[] | null }>('/services/create', spec);
        for (const w of res.Warnings ?? []) ctx.io.stderr.write(`${w}\n`);
        waits.push({ name: spec.Name, target: async () => ({ id: res.ID, version: 0, before: new Set<string>() }) });
      }
    } catch (err) {
      if (err instanceof ApiError) throw new CliError(`service ${spec.Name}: ${err.message}`, err.hint);
      throw err;
    }
  }

  if (o.detach !== false) return;
  await forEachArg(waits, async (w) => {
    out(w.name);
    try {
      await waitForService(ctx, await w.target(), { quiet: o.quiet === true });
    } catch (err) {
      if (err instanceof Error && !(err instanceof ApiError)) throw new CliError(`service ${w.name}: ${err.message}`, 'hint' in err && typeof err.hint === 'string' ? err.hint : undefined);
      throw err;
    }
  });
}

async function stackServices(ctx: CliContext, name: string, status = false): Promise<ServiceWithStatus[]> {
  return ctx.client().get<ServiceWithStatus[]>('/services', { filters: nsFilter(name), ...(status ? { status: 'true' } : {}) });
}

async function remove(ctx: CliContext, name: string): Promise<void> {
  const client = ctx.client();
  const byName = <T extends { Spec: { Name: string } }>(list: T[]): T[] => [...list].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name));
  const services = byName(await stackServices(ctx, name));
  const secrets = byName(await client.get<SecretObject[]>('/secrets', { filters: nsFilter(name) }));
  const configs = byName(await client.get<ConfigObject[]>('/configs', { filters: nsFilter(name) }));
  const networks = (await stackNetworks(ctx, name)).sort((a, b) => naturalCompare(a.Name, b.Name));
  if (services.length + secrets.length + configs.length + networks.length === 0) {
    ctx.io.stderr.write(`Nothing found in stack: ${name}\n`);
    return;
  }
  const errors: unknown[] = [];
  const each = async (what: string, label: string, remove: () => Promise<unknown>): Promise<void> => {
    ctx.out(`Removing ${what} ${label}\n`);
    try {
      await remove();
    } catch (err) {
      errors.push(err);
    }
  };
  for (const s of services) await each('service', s.Spec.Name, () => client.delete(servicePath(s.ID)));
  for (const s of secrets) await each('secret', s.Spec.Name, () => client.delete(`/secrets/${encodeURIComponent(s.ID)}`));
  for (const c of configs) await each('config', c.Spec.Name, () => client.delete(`/configs/${encodeURIComponent(c.ID)}`));
  // After the services: their tasks hold addresses on the networks until they have stopped.
  for (const n of networks) await each('network', n.Name, () => removeNetwork(ctx, n.Id));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors);
}

export function registerStackCommands(program: Command, ctx: CliContext): Command {
  const stack = program.command('stack').description('Manage stacks (services deployed together from a compose file)');

  stack
    .command('deploy')
    .alias('up')
    .description('Deploy a new stack or update an existing one from compose files')
    .argument('<stack>', 'the stack name')
    .addOption(repeatable('-c, --compose-file <file>', 'a compose file, "-" for stdin (repeatable: later files override earlier ones)', (v: string) => v))
    .option('--prune', 'remove the services of the stack that the files no longer have')
    .option('-d, --detach', 'exit at once (the default)')
    .option('--no-detach', 'wait until every service converged (also --detach=false)')
    .option('-q, --quiet', 'show no progress while waiting')
    .action(async (name: string, o: Partial<DeployOptions>) => {
      stackName(name);
      if (!o.composeFile || o.composeFile.length === 0) throw new UsageError('give at least one compose file with -c FILE');
      await deploy(ctx, name, { ...o, composeFile: o.composeFile });
    });

  stack
    .command('ls')
    .alias('list')
    .description('List the stacks')
    .action(async () => {
      const services = await ctx.client().get<ServiceObject[]>('/services');
      const counts = new Map<string, number>();
      for (const s of services) {
        const ns = s.Spec.Labels[NAMESPACE_LABEL];
        if (ns !== undefined) counts.set(ns, (counts.get(ns) ?? 0) + 1);
      }
      const names = [...counts.keys()].sort(naturalCompare);
      ctx.out(renderTable(['NAME', 'SERVICES'], names.map((n) => [n, String(counts.get(n))])));
    });

  taskListOptions(stack.command('ps').description('List the tasks of a stack').argument('<stack>', 'the stack name')).action(
    async (name: string, o: TaskListOptions & { trunc?: boolean }) => {
      const services = await stackServices(ctx, stackName(name));
      if (services.length === 0) throw new CliError(`nothing found in stack: ${name}`);
      const resolver = new NameResolver(ctx);
      for (const s of services) resolver.remember(s);
      const tasks = await ctx.client().get<TaskObject[]>('/tasks', { filters: JSON.stringify(filtersOf(o.filter, { service: services.map((s) => s.ID) })) });
      ctx.out(await taskTable(tasks, resolver, { noTrunc: noTruncOf(o), quiet: o.quiet === true }));
    },
  );

  stack
    .command('services')
    .description('List the services of a stack')
    .argument('<stack>', 'the stack name')
    .option('-q, --quiet', 'print service IDs only')
    .action(async (name: string, o: { quiet?: boolean }) => {
      const services = await stackServices(ctx, stackName(name), true);
      if (services.length === 0) {
        ctx.io.stderr.write(`Nothing found in stack: ${name}\n`);
        return;
      }
      if (o.quiet) ctx.out([...services].sort((a, b) => naturalCompare(a.Spec.Name, b.Spec.Name)).map((s) => `${s.ID}\n`).join(''));
      else ctx.out(serviceTable(services));
    });

  stack
    .command('rm')
    .alias('remove')
    .alias('down')
    .description("Remove one or more stacks: their services, then their secrets, configs and networks")
    .argument('<stack...>', 'the stack names')
    .action(async (names: string[]) => forEachArg(names, (name) => remove(ctx, stackName(name))));

  return stack;
}
