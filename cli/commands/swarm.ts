import type { Command } from 'commander';
import type { InitRequest, JoinRequest, NodeObject, SwarmInspect, SystemInfo } from '../../node/api/index.js';
import type { ApiClient } from '../client.js';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { ValueError } from '../format.js';
import { argument, cidrPrefixLength, flag, hostPort, integer, ipv4Cidr, oneOf, positiveDuration, repeatable } from '../flags.js';

// swarm init | join | join-token | leave: creating, joining and leaving a swarm.

const DEFAULT_LISTEN_ADDR = '0.0.0.0:2377';

/** Where other nodes reach this manager: its ManagerStatus.Addr, as docker prints it. */
async function managerAddr(client: ApiClient, nodeId: string, info: SystemInfo, listenAddr = DEFAULT_LISTEN_ADDR): Promise<string> {
  try {
    const node = await client.get<NodeObject>(`/nodes/${encodeURIComponent(nodeId)}`);
    if (node.ManagerStatus?.Addr) return node.ManagerStatus.Addr;
  } catch {
    // fall back to what /info knows
  }
  const port = /:(\d+)$/.exec(listenAddr)?.[1] ?? '2377';
  return `${info.Swarm.NodeAddr}:${port}`;
}

async function joinCommand(ctx: CliContext, role: 'worker' | 'manager', nodeId: string, info: SystemInfo, swarm: SwarmInspect): Promise<string> {
  const token = role === 'worker' ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager;
  const addr = await managerAddr(ctx.client(), nodeId, info);
  return `To add a ${role} to this swarm, run the following command:\n\n    swarm join --token ${token} ${addr}\n\n`;
}

interface InitOptions {
  advertiseAddr?: string;
  listenAddr: string;
  forceNewCluster?: boolean;
  defaultAddrPool?: string[];
  defaultAddrPoolMaskLength: number;
  dispatcherHeartbeat?: number;
}

interface JoinOptions {
  token: string;
  advertiseAddr?: string;
  listenAddr: string;
}

function joinToken(value: string): string {
  const v = value.trim();
  if (!/^SWMTKN-1-[^-\s]+-[^-\s]+$/.test(v)) {
    throw new ValueError("expected a join token of the form SWMTKN-1-<fingerprint>-<secret>, as 'swarm join-token' prints it");
  }
  return v;
}

export function registerSwarmCommands(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('Initialize a swarm: this node becomes its first manager')
    .addOption(flag('--advertise-addr <addr>', 'address other nodes reach this one at (IP[:PORT] or interface)', hostPort))
    .addOption(flag('--listen-addr <addr>', `address to listen on for cluster traffic (default: the daemon's --listen-addr, ${DEFAULT_LISTEN_ADDR})`, hostPort))
    .option('--force-new-cluster', 'force a new cluster from this node\'s state (after losing quorum)')
    .addOption(repeatable('--default-addr-pool <cidr>', 'default address pool for overlay networks (repeatable)', ipv4Cidr))
    .addOption(flag('--default-addr-pool-mask-length <bits>', 'size of the subnets taken from the pools', integer(1, 32)).default(24))
    .addOption(flag('--dispatcher-heartbeat <duration>', 'how often nodes report they are alive (e.g. 5s, 500ms)', positiveDuration))
    .action(async (opts: InitOptions) => {
      const pools = opts.defaultAddrPool ?? [];
      const mask = opts.defaultAddrPoolMaskLength;
      for (const pool of pools) {
        if (cidrPrefixLength(pool) > mask) {
          throw new UsageError(
            `invalid value ${mask} for --default-addr-pool-mask-length: subnets of /${mask} do not fit in --default-addr-pool ${pool}`,
          );
        }
      }
      const req: InitRequest = {
        ListenAddr: opts.listenAddr ?? '',
        AdvertiseAddr: opts.advertiseAddr ?? '',
        ForceNewCluster: opts.forceNewCluster === true,
        DefaultAddrPool: pools,
        SubnetSize: mask,
        Spec: opts.dispatcherHeartbeat === undefined ? {} : { Dispatcher: { HeartbeatPeriod: opts.dispatcherHeartbeat } },
      };
      const client = ctx.client();
      const nodeId = await client.post<string>('/swarm/init', req);
      ctx.out(`Swarm initialized: current node (${nodeId}) is now a manager.\n\n`);
      const [swarm, info] = await Promise.all([client.get<SwarmInspect>('/swarm'), client.get<SystemInfo>('/info')]);
      ctx.out(await joinCommand(ctx, 'worker', nodeId, info, swarm));
      ctx.out("To add a manager to this swarm, run 'swarm join-token manager' and follow the instructions.\n\n");
    });

  program
    .command('join')
    .description('Join a swarm as a worker or a manager (the token decides)')
    .addArgument(argument('<host:port>', 'address of a manager of the swarm', hostPort))
    .addOption(flag('--token <token>', 'the join token (from `swarm join-token worker|manager` on a manager)', joinToken).makeOptionMandatory())
    .addOption(flag('--advertise-addr <addr>', 'address other nodes reach this one at (IP[:PORT] or interface)', hostPort))
    .addOption(flag('--listen-addr <addr>', `address to listen on for cluster traffic (default: the daemon's --listen-addr, ${DEFAULT_LISTEN_ADDR})`, hostPort))
    .action(async (remote: string, opts: JoinOptions) => {
      const req: JoinRequest = { ListenAddr: opts.listenAddr ?? '', AdvertiseAddr: opts.advertiseAddr ?? '', RemoteAddrs: [remote], JoinToken: opts.token };
      const client = ctx.client();
      await client.post('/swarm/join', req);
      const info = await client.get<SystemInfo>('/info');
      ctx.out(`This node joined a swarm as a ${info.Swarm.ControlAvailable ? 'manager' : 'worker'}.\n`);
    });

  program
    .command('join-token')
    .description('Show (or rotate) the token that joins nodes as workers or managers')
    .addArgument(argument('<role>', 'worker or manager', oneOf(['worker', 'manager'] as const)))
    .option('--rotate', 'replace the token: the old one stops working')
    .option('-q, --quiet', 'print the token only')
    .action(async (role: 'worker' | 'manager', opts: { rotate?: boolean; quiet?: boolean }) => {
      const client = ctx.client();
      if (opts.rotate) {
        const sw = await client.get<SwarmInspect>('/swarm');
        await client.post('/swarm/update', sw.Spec, {
          version: sw.Version.Index,
          rotateWorkerToken: role === 'worker',
          rotateManagerToken: role === 'manager',
        });
        if (!opts.quiet) ctx.out(`Successfully rotated ${role} join token.\n\n`);
      }
      const [swarm, info] = await Promise.all([client.get<SwarmInspect>('/swarm'), client.get<SystemInfo>('/info')]);
      if (opts.quiet) {
        ctx.out(`${role === 'worker' ? swarm.JoinTokens.Worker : swarm.JoinTokens.Manager}\n`);
        return;
      }
      ctx.out(await joinCommand(ctx, role, info.Swarm.NodeID, info, swarm));
    });

  program
    .command('leave')
    .description('Leave the swarm')
    .option('-f, --force', 'leave even as a manager (the last manager erases the swarm)')
    .action(async (opts: { force?: boolean }) => {
      await ctx.client().post('/swarm/leave', undefined, opts.force ? { force: 'true' } : undefined);
      ctx.out('Node left the swarm.\n');
    });
}
