import { arch } from 'node:os';
import type { Command } from 'commander';
import type { SystemInfo, VersionInfo } from '../../node/api/index.js';
import { API_VERSION, describeEndpoint } from '../client.js';
import type { CliContext } from '../context.js';
import { flag, oneOf } from '../flags.js';
import { aligned, bytesSize, humanDuration } from '../format.js';
import { cliVersion } from '../version.js';

// swarm info | version.

/** Go's names for architectures, which docker prints. */
function goArch(a: string): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[a] ?? a;
}

/** The Swarm part of `swarm info`, as docker info prints it. */
function swarmSection(s: SystemInfo['Swarm']): string {
  const lines = [` Swarm: ${s.LocalNodeState}`];
  if (s.LocalNodeState !== 'inactive' && s.LocalNodeState !== 'locked') {
    lines.push(`  NodeID: ${s.NodeID}`);
    if (s.Error) lines.push(`  Error: ${s.Error}`);
    lines.push(`  Is Manager: ${s.ControlAvailable}`);
    const c = s.Cluster;
    if (c && s.ControlAvailable && !s.Error && s.LocalNodeState !== 'error') {
      const spec = c.Spec;
      lines.push(
        `  ClusterID: ${c.ID}`,
        `  Managers: ${s.Managers}`,
        `  Nodes: ${s.Nodes}`,
        '  Orchestration:',
        `   Task History Retention Limit: ${spec.Orchestration.TaskHistoryRetentionLimit}`,
        '  Raft:',
        `   Snapshot Interval: ${spec.Raft.SnapshotInterval}`,
        `   Number of Old Snapshots to Retain: ${spec.Raft.KeepOldSnapshots}`,
        `   Heartbeat Tick: ${spec.Raft.HeartbeatTick}`,
        `   Election Tick: ${spec.Raft.ElectionTick}`,
        '  Dispatcher:',
        `   Heartbeat Period: ${spec.Dispatcher.HeartbeatPeriod > 0 ? humanDuration(spec.Dispatcher.HeartbeatPeriod / 1e6) : 'automatic'}`,
        '  CA Configuration:',
        `   Expiry Duration: ${humanDuration(spec.CAConfig.NodeCertExpiry / 1e6)}`,
      );
    }
    lines.push(`  Node Address: ${s.NodeAddr}`);
    const managers = (s.RemoteManagers ?? []).map((m) => m.Addr).sort();
    if (managers.length > 0) lines.push('  Manager Addresses:', ...managers.map((a) => `   ${a}`));
  }
  return lines.map((l) => `${l}\n`).join('');
}

export function formatInfo(info: SystemInfo, host: string): string {
  return (
    'Client:\n' +
    ` Version: ${cliVersion()}\n` +
    ` Host: ${host}\n` +
    '\n' +
    'Server:\n' +
    ` Server Version: ${info.ServerVersion}\n` +
    swarmSection(info.Swarm) +
    ` Operating System: ${info.OperatingSystem}\n` +
    ` OSType: ${info.OSType}\n` +
    ` Architecture: ${info.Architecture}\n` +
    ` CPUs: ${info.NCPU}\n` +
    ` Total Memory: ${bytesSize(info.MemTotal)}\n` +
    ` Name: ${info.Name}\n` +
    ` ID: ${info.ID}\n`
  );
}

export function registerSystemCommands(program: Command, ctx: CliContext): void {
  program
    .command('info')
    .description('Show this node and its swarm')
    .addOption(flag('--format <format>', 'json: print the API\'s /info object', oneOf(['json'] as const)))
    .action(async (opts: { format?: 'json' }) => {
      const client = ctx.client();
      const info = await client.get<SystemInfo>('/info');
      ctx.out(opts.format === 'json' ? `${JSON.stringify(info)}\n` : formatInfo(info, describeEndpoint(client.endpoint)));
    });

  program
    .command('version')
    .description('Show the client and daemon versions')
    .action(async () => {
      ctx.out(
        'Client:\n' +
          aligned(
            [
              [' Version', cliVersion()],
              [' API version', API_VERSION],
              [' Node.js version', process.version],
              [' OS/Arch', `${process.platform}/${goArch(arch())}`],
            ],
            20,
          ),
      );
      // As docker, the client half is printed even when no daemon answers.
      const server = await ctx.client().get<VersionInfo>('/version');
      ctx.out(
        '\nServer:\n Engine:\n' +
          aligned(
            [
              ['  Version', server.Version],
              ['  API version', `${server.ApiVersion} (minimum version ${server.MinAPIVersion})`],
              ['  Runtime', server.GoVersion],
              ['  Git commit', server.GitCommit],
              ['  OS/Arch', `${server.Os}/${server.Arch}`],
              ['  Kernel Version', server.KernelVersion],
            ],
            20,
          ),
      );
    });
}
