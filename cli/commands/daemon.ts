import type { Command } from 'commander';
import type { LogLevel } from '../../node/log.js';
import type { CliContext } from '../context.js';
import type { DaemonOptions, RunDaemon } from '../daemon-options.js';
import { DEFAULT_SOCKET } from '../client.js';
import { flag, hostname, hostPort, netnsPrefix, nonEmptyPath, oneOf, repeatable, socketPath } from '../flags.js';

// swarm daemon: check the flags, then hand over to node/daemon.ts.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const satisfies readonly LogLevel[];

async function loadRunDaemon(): Promise<RunDaemon> {
  // A specifier in a variable: tsc does not resolve it (the CLI builds without the daemon), and
  // client commands never load the daemon's dependencies (libp2p).
  const specifier = '../../node/daemon.js';
  const mod = (await import(specifier)) as { runDaemon: RunDaemon };
  return mod.runDaemon;
}

interface DaemonFlags {
  dataDir: string;
  listenAddr: string;
  advertiseAddr?: string;
  apiSocket: string;
  hostname?: string;
  logLevel?: LogLevel;
  runtime?: 'crun' | 'runc';
  insecureRegistry?: string[];
  overlay: boolean;
  netnsPrefix?: string;
}

export function registerDaemonCommand(program: Command, ctx: CliContext): void {
  program
    .command('daemon')
    .description('Run the swarm daemon on this host (one per host)')
    .addOption(flag('--data-dir <dir>', 'where the node keeps its state', nonEmptyPath).default('/var/lib/swarm'))
    .addOption(flag('--listen-addr <addr>', 'address for cluster traffic (HOST:PORT)', hostPort).default('0.0.0.0:2377'))
    .addOption(flag('--advertise-addr <addr>', 'address other nodes reach this one at (IP[:PORT])', hostPort))
    .addOption(flag('--api-socket <path>', 'unix socket of the API', socketPath).default(DEFAULT_SOCKET))
    .addOption(flag('--hostname <name>', 'node name (default: the OS hostname)', hostname))
    .addOption(flag('--log-level <level>', `${LOG_LEVELS.join(', ')} (default: warn)`, oneOf(LOG_LEVELS)))
    .addOption(flag('--runtime <runtime>', 'OCI runtime for containers: crun or runc (default: crun when installed)', oneOf(['crun', 'runc'] as const)))
    .addOption(repeatable('--insecure-registry <host:port>', 'a registry to reach over plain HTTP (repeatable)', hostPort))
    .option('--no-overlay', 'no overlay networks: tasks get a loopback-only network namespace (several daemons in one network namespace)')
    .addOption(flag('--netns-prefix <prefix>', 'names of task network namespaces start with this (default: swt-)', netnsPrefix))
    .action(async (flags: DaemonFlags) => {
      const options: DaemonOptions = {
        dataDir: flags.dataDir,
        listenAddr: flags.listenAddr,
        apiSocket: flags.apiSocket,
        // The global --log-level works here too: `swarm --log-level debug daemon`.
        logLevel: flags.logLevel ?? ctx.globals().logLevel ?? 'warn',
        ...(flags.advertiseAddr !== undefined ? { advertiseAddr: flags.advertiseAddr } : {}),
        ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
        ...(flags.runtime !== undefined ? { runtime: flags.runtime } : {}),
        ...(flags.insecureRegistry !== undefined ? { insecureRegistries: flags.insecureRegistry } : {}),
        ...(flags.overlay === false ? { overlay: false } : {}),
        ...(flags.netnsPrefix !== undefined ? { netnsPrefix: flags.netnsPrefix } : {}),
      };
      const run = ctx.overrides.runDaemon ?? (await loadRunDaemon());
      await run(options);
    });
}
