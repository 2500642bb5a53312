import type { Command } from 'commander';
import type { NodeObject, ServiceObject, SystemInfo, TaskObject } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { filter, repeatable } from '../flags.js';
import { capitalize, humanDuration } from '../format.js';
import { renderTable } from '../table.js';

// Task tables as `docker service ps`, `docker node ps` and `docker stack ps` print them, and
// `swarm node ps`.

/** Looks up service and node names for tables, once each (docker's idresolver). */
export class NameResolver {
  private readonly services = new Map<string, Promise<ServiceObject | undefined>>();
  private nodes: Promise<Map<string, string>> | undefined;

  constructor(private readonly ctx: CliContext) {}

  /** Services already read need not be read again. */
  remember(s: ServiceObject): void {
    this.services.set(s.ID, Promise.resolve(s));
  }

  service(id: string): Promise<ServiceObject | undefined> {
    let found = this.services.get(id);
    if (!found) {
      found = this.ctx
        .client()
        .get<ServiceObject>(`/services/${encodeURIComponent(id)}`)
        .catch(() => undefined);
      this.services.set(id, found);
    }
    return found;
  }

  /** The node's hostname, or its ID when it cannot be read. */
  async node(id: string | undefined): Promise<string> {
    if (id === undefined || id === '') return '';
    this.nodes ??= this.ctx
      .client()
      .get<NodeObject[]>('/nodes')
      .then((list) => new Map(list.map((n) => [n.ID, n.Description.Hostname])))
      .catch(() => new Map<string, string>());
    return (await this.nodes).get(id) ?? id;
  }
}

/** The 12-character form of a swarm object ID. */
export function truncId(id: string): string {
  return id.slice(0, 12);
}

/** An image without its digest, as docker shows it unless --no-trunc. */
export function shortImage(image: string): string {
  const at = image.indexOf('@');
  return at < 0 ? image : image.slice(0, at);
}

const MAX_ERR = 30;

function errorCell(err: string | undefined, noTrunc: boolean): string {
  if (!err) return '';
  const chars = [...err];
  return `"${!noTrunc && chars.length > MAX_ERR ? `${chars.slice(0, MAX_ERR - 1).join('')}…` : err}"`;
}

/** The host-mode ports a running task publishes (ingress ports are the service's, in `service ls`). */
function portsCell(t: TaskObject, service: ServiceObject | undefined): string {
  if (t.Status.State !== 'running') return '';
  return (service?.Spec.EndpointSpec?.Ports ?? [])
    .filter((p) => p.PublishMode === 'host' && p.PublishedPort)
    .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`)
    .join(', ');
}

export interface TaskTableOptions {
  noTrunc?: boolean;
  quiet?: boolean;
  now?: number;
}

/**
 * Docker's task table: sorted by name, then newest first; a task with the same name as the row
 * above (an earlier task of the slot) is shown as " \_ web.1".
 */
export async function taskTable(tasks: readonly TaskObject[], resolver: NameResolver, opts: TaskTableOptions = {}): Promise<string> {
  const noTrunc = opts.noTrunc === true;
  const now = opts.now ?? Date.now();
  const named = await Promise.all(
    tasks.map(async (t) => {
      const service = await resolver.service(t.ServiceID);
      const serviceName = service?.Spec.Name ?? t.ServiceID;
      return { t, service, name: `${serviceName}.${t.Slot ? t.Slot : (t.NodeID ?? '')}`, node: await resolver.node(t.NodeID) };
    }),
  );
  named.sort((a, b) => (a.name !== b.name ? (a.name < b.name ? -1 : 1) : a.t.CreatedAt > b.t.CreatedAt ? -1 : a.t.CreatedAt < b.t.CreatedAt ? 1 : 0));
  if (opts.quiet) return named.map(({ t }) => `${noTrunc ? t.ID : truncId(t.ID)}\n`).join('');
  let prev = '';
  const rows = named.map(({ t, service, name, node }) => {
    const shown = name === prev ? ` \\_ ${name}` : name;
    prev = name;
    const since = now - Date.parse(t.Status.Timestamp);
    return [
      noTrunc ? t.ID : truncId(t.ID),
      shown,
      noTrunc ? t.Spec.ContainerSpec.Image : shortImage(t.Spec.ContainerSpec.Image),
      node,
      capitalize(t.DesiredState),
      `${capitalize(t.Status.State)} ${humanDuration(Math.max(0, since)).toLowerCase()} ago`,
      errorCell(t.Status.Err, noTrunc),
      portsCell(t, service),
    ];
  });
  return renderTable(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR', 'PORTS'], rows);
}

/** -f key=value pairs as the API's filters. */
export function filtersOf(pairs: readonly [string, string][] | undefined, extra: Record<string, string[]> = {}): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(extra)) out[k] = [...v];
  for (const [k, v] of pairs ?? []) (out[k] ??= []).push(v);
  return out;
}

export interface TaskListOptions {
  filter?: [string, string][];
  noTrunc?: boolean;
  quiet?: boolean;
}

export function taskListOptions(cmd: Command): Command {
  return cmd
    .addOption(repeatable('-f, --filter <key=value>', 'filter: desired-state, id, label, name, node, service (repeatable)', filter))
    .option('--no-trunc', 'do not shorten IDs, images and errors')
    .option('-q, --quiet', 'print task IDs only');
}

/** The options commander gives --no-trunc (it reads it as the negation of --trunc). */
export function noTruncOf(opts: { trunc?: boolean; noTrunc?: boolean }): boolean {
  return opts.trunc === false || opts.noTrunc === true;
}

export function registerNodePs(node: Command, ctx: CliContext): void {
  taskListOptions(
    node
      .command('ps')
      .description('List the tasks on one or more nodes (this node by default)')
      .argument('[node...]', 'node ID, ID prefix or hostname ("self" is this node)'),
  ).action(async (refs: string[], opts: TaskListOptions & { trunc?: boolean }) => {
    const client = ctx.client();
    const ids: string[] = [];
    for (const ref of refs.length > 0 ? refs : ['self']) {
      if (ref === 'self') {
        const info = await client.get<SystemInfo>('/info');
        if (info.Swarm.NodeID === '') throw new CliError('this node is not part of a swarm', "run 'swarm init' to start a swarm, or 'swarm join' to join one");
        ids.push(info.Swarm.NodeID);
      } else {
        ids.push((await client.get<NodeObject>(`/nodes/${encodeURIComponent(ref)}`)).ID);
      }
    }
    const tasks = await client.get<TaskObject[]>('/tasks', { filters: JSON.stringify(filtersOf(opts.filter, { node: ids })) });
    ctx.out(await taskTable(tasks, new NameResolver(ctx), { noTrunc: noTruncOf(opts), quiet: opts.quiet === true }));
  });
}
