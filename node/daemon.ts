// The composition root of a host's long-running process: builds the swarm node and the API,
// wires them, and stops them cleanly on SIGTERM/SIGINT. Nothing else lives here.
import { join } from 'node:path';
import { startApiServer } from './api/index.js';
import { SwarmNode } from './cluster/index.js';
import { createLogger, type LogLevel } from './log.js';
import { LocalRuntime } from './runtime/index.js';

export interface DaemonOptions {
  dataDir: string;
  listenAddr: string;
  advertiseAddr?: string;
  apiSocket: string;
  logLevel: LogLevel;
  /** Overrides the OS hostname in node descriptions (several daemons on one machine). */
  hostname?: string;
  /** The OCI runtime for containers (default: crun when on PATH, else runc). */
  runtime?: 'crun' | 'runc';
  /** Registries (HOST[:PORT]) reached over plain HTTP or with unverified TLS. */
  insecureRegistries?: string[];
  /** false: no overlay; tasks get a loopback-only namespace (several daemons in one network namespace). */
  overlay?: boolean;
  /** Names of task network namespaces start with this (default "swt-"). */
  netnsPrefix?: string;
}

export interface RunningDaemon {
  node: SwarmNode;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const logger = createLogger(opts.logLevel, { component: 'daemon' });
  // Fails at startup, naming the packages to install, when the host has no OCI runtime.
  const runtime = await LocalRuntime.open({
    dir: join(opts.dataDir, 'runtime'),
    logger,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
  });
  const node = await SwarmNode.open({
    dataDir: opts.dataDir,
    listenAddr: opts.listenAddr,
    logger,
    runtime,
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
    overlay: opts.overlay === false ? false : { netnsPrefix: opts.netnsPrefix ?? 'swt-' },
  });
  const api = await startApiServer({ socketPath: opts.apiSocket, backend: node, runtime, services: node.services, logger });
  logger.info({ socket: opts.apiSocket, dataDir: opts.dataDir }, 'swarm daemon ready');
  let stopping: Promise<void> | undefined;
  return {
    node,
    stop: () => {
      stopping ??= (async () => {
        await api.close();
        await node.stop();
        // Containers keep running: the next daemon re-adopts them.
        runtime.stop();
      })();
      return stopping;
    },
  };
}

/** Runs until SIGTERM or SIGINT. */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const daemon = await startDaemon(opts);
  // Tests and supervisors wait for this line.
  process.stdout.write(`swarm daemon listening on ${opts.apiSocket}\n`);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      void daemon.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
