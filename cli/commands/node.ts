import type { Command } from 'commander';
import type { NodeAvailability, NodeObject, NodeRole, NodeSpec, SystemInfo } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { CliError, forEachArg, UsageError } from '../errors.js';
import { filter, flag, label, labelKey, oneOf, repeatable } from '../flags.js';
import { aligned, bytesSize, capitalize, inspectJson, naturalCompare } from '../format.js';
import { renderTable } from '../table.js';
import { registerNodePs } from './task.js';

// swarm node ls | inspect | promote | demote | update | rm.

const AVAILABILITIES = ['active', 'pause', 'drain'] as const;
const ROLES = ['worker', 'manager'] as const;

function nodePath(ref: string): string {
  return `/nodes/${encodeURIComponent(ref)}`;
}

/** "self" means this node, as in docker. */
async function resolveRef(ctx: CliContext, ref: string): Promise<string> {
  if (ref !== 'self') return ref;
  const info = await ctx.client().get<SystemInfo>('/info');
  if (info.Swarm.NodeID === '') {
    throw new CliError('this node is not part of a swarm', "run 'swarm init' to start a swarm, or 'swarm join' to join one");
  }
  return info.Swarm.NodeID;
}

function managerStatus(n: NodeObject): string {
  if (!n.ManagerStatus) return '';
  return n.ManagerStatus.Leader ? 'Leader' : capitalize(n.ManagerStatus.Reachability);
}

export function nodeTable(nodes: readonly NodeObject[], selfId: string): string {
  return renderTable(
    ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'],
    nodes.map((n) => [
      n.ID === selfId ? `${n.ID} *` : n.ID,
      n.Description.Hostname,
      capitalize(n.Status.State),
      capitalize(n.Spec.Availability),
      managerStatus(n),
      n.Description.Engine.EngineVersion,
    ]),
  );
}

/** One object per node as `docker node ls --format json` prints them (keys in docker's order). */
function nodeJsonLine(n: NodeObject, selfId: string): string {
  return `${JSON.stringify({
    Availability: capitalize(n.Spec.Availability),
    EngineVersion: n.Description.Engine.EngineVersion,
    Hostname: n.Description.Hostname,
    ID: n.ID,
    ManagerStatus: managerStatus(n),
    Self: n.ID === selfId,
    Status: capitalize(n.Status.State),
  })}\n`;
}

export function prettyNode(n: NodeObject): string {
  const out: string[] = [];
  const kv = (rows: [string, string][]): void => void out.push(aligned(rows, 24));
  kv([['ID', n.ID]]);
  if (n.Spec.Name) kv([['Name', n.Spec.Name]]);
  const labels = Object.entries(n.Spec.Labels);
  if (labels.length > 0) out.push('Labels:\n', ...labels.map(([k, v]) => ` - ${k}=${v}\n`));
  kv([
    ['Hostname', n.Description.Hostname],
    ['Joined at', n.CreatedAt],
  ]);
  out.push('Status:\n');
  kv([
    [' State', capitalize(n.Status.State)],
    ...(n.Status.Message ? [[' Message', n.Status.Message] as [string, string]] : []),
    [' Availability', capitalize(n.Spec.Availability)],
    [' Address', n.Status.Addr],
  ]);
  if (n.ManagerStatus) {
    out.push('Manager Status:\n');
    kv([
      [' Address', n.ManagerStatus.Addr],
      [' Raft Status', capitalize(n.ManagerStatus.Reachability)],
      [' Leader', n.ManagerStatus.Leader ? 'Yes' : 'No'],
    ]);
  }
  out.push('Platform:\n');
  kv([
    [' Operating System', n.Description.Platform.OS],
    [' Architecture', n.Description.Platform.Architecture],
  ]);
  out.push('Resources:\n');
  kv([
    [' CPUs', String(n.Description.Resources.NanoCPUs / 1e9)],
    [' Memory', bytesSize(n.Description.Resources.MemoryBytes)],
  ]);
  kv([['Engine Version', n.Description.Engine.EngineVersion]]);
  return out.join('');
}

interface LsOptions {
  filter?: [string, string][];
  format: 'table' | 'json';
  quiet?: boolean;
}

interface UpdateOptions {
  availability?: NodeAvailability;
  labelAdd?: [string, string][];
  labelRm?: string[];
  role?: NodeRole;
}

/** Read, change, write back with the version read: the server refuses if the node changed meanwhile. */
async function updateNode(ctx: CliContext, ref: string, change: (spec: NodeSpec) => boolean): Promise<boolean> {
  const client = ctx.client();
  const node = await client.get<NodeObject>(nodePath(ref));
  const spec = structuredClone(node.Spec);
  if (!change(spec)) return false;
  // By the ID read, so the write lands on the node that was read whatever the ref was.
  await client.post(`${nodePath(node.ID)}/update`, spec, { version: node.Version.Index });
  return true;
}

export function registerNodeCommands(program: Command, ctx: CliContext): void {
  const node = program.command('node').description('Manage the nodes of the swarm');

  node
    .command('ls')
    .alias('list')
    .description('List the nodes of the swarm')
    .addOption(repeatable('-f, --filter <key=value>', 'filter: id, label, membership, name, node.label, role (repeatable)', filter))
    .addOption(flag('--format <format>', 'table or json (one object per line)', oneOf(['table', 'json'] as const)).default('table'))
    .option('-q, --quiet', 'print node IDs only')
    .action(async (opts: LsOptions) => {
      const filters: Record<string, Record<string, boolean>> = {};
      for (const [k, v] of opts.filter ?? []) (filters[k] ??= {})[v] = true;
      const client = ctx.client();
      const [nodes, info] = await Promise.all([
        client.get<NodeObject[]>('/nodes', Object.keys(filters).length > 0 ? { filters: JSON.stringify(filters) } : undefined),
        client.get<SystemInfo>('/info'),
      ]);
      nodes.sort((a, b) => naturalCompare(a.Description.Hostname, b.Description.Hostname) || naturalCompare(a.ID, b.ID));
      const self = info.Swarm.NodeID;
      if (opts.quiet) ctx.out(nodes.map((n) => `${n.ID}\n`).join(''));
      else if (opts.format === 'json') ctx.out(nodes.map((n) => nodeJsonLine(n, self)).join(''));
      else ctx.out(nodeTable(nodes, self));
    });

  node
    .command('inspect')
    .description('Show the details of one or more nodes ("self" is this node)')
    .argument('<node...>', 'node ID, ID prefix or hostname')
    .option('--pretty', 'human-readable form')
    .addOption(flag('--format <format>', 'json: one object per line', oneOf(['json'] as const)))
    .action(async (refs: string[], opts: { pretty?: boolean; format?: 'json' }) => {
      if (opts.pretty && opts.format) throw new UsageError('--pretty and --format cannot be used together');
      const found: NodeObject[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<NodeObject>(nodePath(await resolveRef(ctx, ref))));
        } catch (err) {
          errors.push(err);
        }
      }
      // As docker: print what was found, then fail for what was not.
      if (opts.pretty) ctx.out(found.map(prettyNode).join('\n'));
      else if (opts.format === 'json') ctx.out(found.map((n) => `${JSON.stringify(n)}\n`).join(''));
      else ctx.out(inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });

  const changeRole = (role: NodeRole) => async (refs: string[]) =>
    forEachArg(refs, async (ref) => {
      const id = await resolveRef(ctx, ref);
      const changed = await updateNode(ctx, id, (spec) => {
        if (spec.Role === role) return false;
        spec.Role = role;
        return true;
      });
      if (!changed) ctx.out(`Node ${ref} is already a ${role}.\n`);
      else ctx.out(role === 'manager' ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`);
    });

  node.command('promote').description('Make one or more nodes managers').argument('<node...>', 'node ID, ID prefix or hostname').action(changeRole('manager'));
  node.command('demote').description('Make one or more managers workers').argument('<node...>', 'node ID, ID prefix or hostname').action(changeRole('worker'));

  node
    .command('update')
    .description("Change a node's availability, role or labels")
    .argument('<node>', 'node ID, ID prefix or hostname')
    .addOption(flag('--availability <availability>', 'active, pause or drain', oneOf(AVAILABILITIES)))
    .addOption(repeatable('--label-add <key=value>', 'add or change a node label (repeatable)', label))
    .addOption(repeatable('--label-rm <key>', 'remove a node label (repeatable)', labelKey))
    .addOption(flag('--role <role>', 'worker or manager', oneOf(ROLES)))
    .action(async (ref: string, opts: UpdateOptions) => {
      if (opts.availability === undefined && opts.role === undefined && !opts.labelAdd && !opts.labelRm) {
        throw new UsageError('nothing to update: give --availability, --role, --label-add or --label-rm');
      }
      const id = await resolveRef(ctx, ref);
      await updateNode(ctx, id, (spec) => {
        if (opts.availability !== undefined) spec.Availability = opts.availability;
        if (opts.role !== undefined) spec.Role = opts.role;
        for (const key of opts.labelRm ?? []) {
          if (!(key in spec.Labels)) throw new CliError(`key ${key} doesn't exist in node's labels`);
          delete spec.Labels[key];
        }
        for (const [k, v] of opts.labelAdd ?? []) spec.Labels[k] = v;
        return true;
      });
      ctx.out(`${ref}\n`);
    });

  node
    .command('rm')
    .alias('remove')
    .description('Remove one or more nodes from the swarm')
    .argument('<node...>', 'node ID, ID prefix or hostname')
    .option('-f, --force', 'remove the node even if it is not down')
    .action(async (refs: string[], opts: { force?: boolean }) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().delete(nodePath(await resolveRef(ctx, ref)), opts.force ? { force: 'true' } : undefined);
        ctx.out(`${ref}\n`);
      }),
    );

  registerNodePs(node, ctx);
}
