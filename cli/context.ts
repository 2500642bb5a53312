import type { Readable } from 'node:stream';
import type { LogLevel } from '../node/log.js';
import { ApiClient, DEFAULT_SOCKET, parseHost, type Endpoint } from './client.js';
import type { StackLoader } from './commands/stack.js';
import type { ConvergeTiming } from './converge.js';
import type { RunDaemon } from './daemon-options.js';
import { UsageError, type Output } from './errors.js';
import { ValueError } from './format.js';

// What every command gets: where to write, and an API client for the daemon the global flags
// (or SWARM_HOST) point at.

export type Input = Readable & { isTTY?: boolean };

/** Where Ctrl-C arrives (process by default; tests pass an EventEmitter). */
export interface Interrupts {
  on(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  /** Defaults to process.stdin (image load, login --password-stdin, prompts). */
  stdin?: Input;
  /** Defaults to process. */
  interrupts?: Interrupts;
  /** Defaults to process.env; tests pass their own. */
  env?: Record<string, string | undefined>;
}

export interface CliOverrides {
  /** Replaces the dynamic import of node/daemon.js (tests). */
  runDaemon?: RunDaemon;
  /** Replaces the compose loader `stack deploy` imports from stack/index.js (tests). */
  stackLoader?: StackLoader;
  /** How service create/update/scale and stack deploy poll for convergence (tests make it fast). */
  convergence?: Partial<ConvergeTiming>;
}

export interface GlobalOptions {
  host?: Endpoint;
  logLevel?: LogLevel;
}

export interface CliContext {
  io: CliIo;
  overrides: CliOverrides;
  out(text: string): void;
  stdin(): Input;
  env(): Record<string, string | undefined>;
  interrupts(): Interrupts;
  globals(): GlobalOptions;
  /** The API client for the selected daemon (built on first use). */
  client(): ApiClient;
}

export function createContext(io: CliIo, overrides: CliOverrides, globals: () => GlobalOptions): CliContext {
  let client: ApiClient | undefined;
  return {
    io,
    overrides,
    out: (text) => void io.stdout.write(text),
    stdin: () => io.stdin ?? process.stdin,
    env: () => io.env ?? process.env,
    interrupts: () => io.interrupts ?? process,
    globals,
    client: () => {
      if (client) return client;
      const g = globals();
      let endpoint = g.host;
      if (endpoint === undefined) {
        const env = (io.env ?? process.env)['SWARM_HOST'];
        try {
          endpoint = env ? parseHost(env) : { socketPath: DEFAULT_SOCKET };
        } catch (err) {
          if (err instanceof ValueError) throw new UsageError(`invalid SWARM_HOST ${JSON.stringify(env)}: ${err.message}`);
          throw err;
        }
      }
      const debug = g.logLevel === 'debug' || g.logLevel === 'trace';
      client = new ApiClient(endpoint, debug ? { trace: (line) => void io.stderr.write(`debug: ${line}\n`) } : {});
      return client;
    },
  };
}
