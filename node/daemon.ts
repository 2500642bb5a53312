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
  /** Resolves with the error once the node cannot go on (e.g. its Raft storage failed). */
  fatal: Promise<Error>;
}

/** Exit status after a fatal error (EX_IOERR): the node stopped itself rather than serve stale or unpersisted state. */
export const EXIT_FATAL = 74;
/** A fatal stop waits this long for a clean shutdown (peers see closed connections at once), then exits anyway. */
const FATAL_STOP_MS = 5_000;

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const logger = createLogger(opts.logLevel, { component: 'daemon' });
  let onFatal!: (err: Error) => void;
  const fatal = new Promise<Error>((resolve) => (onFatal = resolve));
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
    onFatal: (err) => onFatal(err),
  });
  const api = await startApiServer({ socketPath: opts.apiSocket, backend: node, runtime, services: node.services, logger });
  logger.info({ socket: opts.apiSocket, dataDir: opts.dataDir }, 'swarm daemon ready');
  void fatal.then(() => logger.fatal({ exitCode: EXIT_FATAL }, 'stopping the daemon after a fatal error (logged above); restart it once the cause is fixed'));
  let stopping: Promise<void> | undefined;
  return {
    node,
    fatal,
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

/** Runs until SIGTERM or SIGINT; exits with EXIT_FATAL after a fatal error. */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const daemon = await startDaemon(opts);
  // Tests and supervisors wait for this line.
  process.stdout.write(`swarm daemon listening on ${opts.apiSocket}\n`);
  const failed = await new Promise<Error | undefined>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      void daemon.stop().then(() => resolve(undefined), () => resolve(undefined));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    void daemon.fatal.then(resolve);
  });
  if (failed === undefined) return;
  // Fail-stop: the cause is already logged (fatal) by the part that failed. A supervisor restarts
  // the daemon; the node then recovers from its data dir and catches up with the cluster.
  await Promise.race([daemon.stop().catch(() => {}), new Promise((r) => setTimeout(r, FATAL_STOP_MS))]);
  process.exit(EXIT_FATAL);
}
