// The composition root of a host's long-running process: builds the swarm node and the API,
// wires them, and stops them cleanly on SIGTERM/SIGINT. Nothing else lives here.
import { startApiServer } from './api/index.js';
import { SwarmNode } from './cluster/index.js';
import { createLogger, type LogLevel } from './log.js';

export interface DaemonOptions {
  dataDir: string;
  listenAddr: string;
  advertiseAddr?: string;
  apiSocket: string;
  logLevel: LogLevel;
  /** Overrides the OS hostname in node descriptions (several daemons on one machine). */
  hostname?: string;
}

export interface RunningDaemon {
  node: SwarmNode;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const logger = createLogger(opts.logLevel, { component: 'daemon' });
  const node = await SwarmNode.open({
    dataDir: opts.dataDir,
    listenAddr: opts.listenAddr,
    logger,
    ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
  });
  const api = await startApiServer({ socketPath: opts.apiSocket, backend: node, logger });
  logger.info({ socket: opts.apiSocket, dataDir: opts.dataDir }, 'swarm daemon ready');
  let stopping: Promise<void> | undefined;
  return {
    node,
    stop: () => {
      stopping ??= (async () => {
        await api.close();
        await node.stop();
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
