import type { Command } from 'commander';
import type { NetworkResource } from '../../node/api/index.js';
import type { CliContext } from '../context.js';
import { forEachArg, UsageError } from '../errors.js';
import { filter, flag, ipv4Address, ipv4Cidr, label, oneOf, repeatable } from '../flags.js';
import { inspectJson, naturalCompare } from '../format.js';
import { renderTable } from '../table.js';
import { filtersOf, noTruncOf, truncId } from './task.js';

// swarm network create | ls | inspect | rm, as docker's for swarm-scope overlay networks.

function networkPath(ref: string): string {
  return `/networks/${encodeURIComponent(ref)}`;
}

interface CreateOptions {
  driver?: string;
  subnet?: string;
  gateway?: string;
  attachable?: boolean;
  internal?: boolean;
  ingress?: boolean;
  label?: [string, string][];
}

interface LsOptions {
  filter?: [string, string][];
  format: 'table' | 'json';
  quiet?: boolean;
  trunc?: boolean;
  noTrunc?: boolean;
}

function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** One object per network as `docker network ls --format json` prints them (keys in docker's order). */
function networkJsonLine(n: NetworkResource, noTrunc: boolean): string {
  return `${JSON.stringify({
    CreatedAt: n.Created,
    Driver: n.Driver,
    ID: noTrunc ? n.Id : truncId(n.Id),
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: labelsText(n.Labels),
    Name: n.Name,
    Scope: n.Scope,
  })}\n`;
}

export function registerNetworkCommands(program: Command, ctx: CliContext): void {
  const network = program.command('network').description('Manage overlay networks');

  network
    .command('create')
    .description('Create an overlay network and print its ID')
    .argument('<name>', 'the network name')
    .option('-d, --driver <driver>', 'network driver (only overlay)', 'overlay')
    .addOption(flag('--subnet <cidr>', 'IPv4 subnet, e.g. 10.0.9.0/24 (default: the next free one of the swarm\'s pool)', ipv4Cidr))
    .addOption(flag('--gateway <ip>', 'gateway of the subnet (default: its first address)', ipv4Address))
    .option('--attachable', 'let standalone containers join it')
    .option('--internal', 'no traffic leaves the network')
    .option('--ingress', 'the routing-mesh network (a swarm has one)')
    .addOption(repeatable('-l, --label <key=value>', 'a network label (repeatable)', label))
    .action(async (name: string, o: CreateOptions) => {
      if (o.gateway !== undefined && o.subnet === undefined) throw new UsageError('--gateway needs --subnet: give the subnet the gateway is in');
      const created = await ctx.client().post<{ Id: string }>('/networks/create', {
        Name: name,
        Driver: o.driver,
        Attachable: o.attachable === true,
        Internal: o.internal === true,
        Ingress: o.ingress === true,
        Labels: Object.fromEntries(o.label ?? []),
        CheckDuplicate: true,
        ...(o.subnet !== undefined ? { IPAM: { Driver: 'default', Config: [{ Subnet: o.subnet, ...(o.gateway !== undefined ? { Gateway: o.gateway } : {}) }] } } : {}),
      });
      ctx.out(`${created.Id}\n`);
    });

  network
    .command('ls')
    .alias('list')
    .description('List the networks')
    .addOption(repeatable('-f, --filter <key=value>', 'filter: driver, id, label, name, scope (repeatable)', filter))
    .addOption(flag('--format <format>', 'table or json (one object per line)', oneOf(['table', 'json'] as const)).default('table'))
    .option('--no-trunc', 'do not shorten IDs')
    .option('-q, --quiet', 'print network IDs only')
    .action(async (o: LsOptions) => {
      const filters = filtersOf(o.filter);
      const list = await ctx.client().get<NetworkResource[]>('/networks', Object.keys(filters).length > 0 ? { filters: JSON.stringify(filters) } : undefined);
      list.sort((a, b) => naturalCompare(a.Name, b.Name));
      const noTrunc = noTruncOf(o);
      const id = (n: NetworkResource): string => (noTrunc ? n.Id : truncId(n.Id));
      if (o.quiet) ctx.out(list.map((n) => `${id(n)}\n`).join(''));
      else if (o.format === 'json') ctx.out(list.map((n) => networkJsonLine(n, noTrunc)).join(''));
      else ctx.out(renderTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], list.map((n) => [id(n), n.Name, n.Driver, n.Scope])));
    });

  network
    .command('inspect')
    .description('Show the details of one or more networks')
    .argument('<network...>', 'network name, ID or ID prefix')
    .action(async (refs: string[]) => {
      const found: NetworkResource[] = [];
      const errors: unknown[] = [];
      for (const ref of refs) {
        try {
          found.push(await ctx.client().get<NetworkResource>(networkPath(ref)));
        } catch (err) {
          errors.push(err);
        }
      }
      ctx.out(inspectJson(found));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors);
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>', 'network name, ID or ID prefix')
    .action(async (refs: string[]) =>
      forEachArg(refs, async (ref) => {
        await ctx.client().delete(networkPath(ref));
        ctx.out(`${ref}\n`);
      }),
    );
}
