import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FakeRuntimeBackend, FakeServicesBackend, FakeSwarmBackend, startApiServer, type ApiServer } from '../node/api/index.js';
import { silentLogger } from '../node/log.js';
import type { Input, Interrupts } from './context.js';
import { runCli, type CliOverrides } from './program.js';

// For the CLI's tests (and later commands'): a real API server on a temp socket backed by the
// in-memory FakeSwarmBackend and FakeRuntimeBackend, and a way to run `swarm ...` in-process against it.

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CaptureOptions {
  env?: Record<string, string | undefined>;
  overrides?: CliOverrides;
  /** What stdin holds (default: nothing, and not a terminal). */
  stdin?: string | Buffer | Readable;
  stdinTTY?: boolean;
  stdoutTTY?: boolean;
  /** Where Ctrl-C comes from (default: never). */
  interrupts?: Interrupts;
}

export interface FakeDaemon {
  backend: FakeSwarmBackend;
  runtime: FakeRuntimeBackend;
  services: FakeServicesBackend;
  socket: string;
  /** Runs `swarm -H <socket> ...args`. */
  swarm(...args: string[]): Promise<CliRun>;
  /** The same with stdin, terminals or interrupts set up; stdoutBytes has the raw output. */
  swarmWith(options: CaptureOptions, ...args: string[]): Promise<CliRun & { stdoutBytes: Buffer }>;
  close(): Promise<void>;
}

/** Runs the CLI with captured output and the given stdin and terminals. */
export async function runCapturedWith(args: string[], options: CaptureOptions = {}): Promise<CliRun & { stdoutBytes: Buffer }> {
  const out: Buffer[] = [];
  let stderr = '';
  const source = options.stdin ?? '';
  const stdin: Input = source instanceof Readable ? source : Readable.from(source === '' ? [] : [Buffer.from(source)]);
  stdin.isTTY = options.stdinTTY === true;
  const code = await runCli(
    args,
    {
      stdout: { write: (s: string | Uint8Array) => out.push(Buffer.from(s)), isTTY: options.stdoutTTY === true },
      stderr: { write: (s: string | Uint8Array) => (stderr += typeof s === 'string' ? s : Buffer.from(s).toString()) },
      stdin,
      interrupts: options.interrupts ?? { on: () => undefined, off: () => undefined },
      env: options.env ?? {},
    },
    options.overrides ?? {},
  );
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stderr, stdoutBytes };
}

/** Runs the CLI with captured output; `env` replaces process.env. */
export async function runCaptured(args: string[], env: Record<string, string | undefined> = {}, overrides: CliOverrides = {}): Promise<CliRun> {
  const { code, stdout, stderr } = await runCapturedWith(args, { env, overrides });
  return { code, stdout, stderr };
}

/** Convergence waits poll without pause and need no stable window: tests take no wall-clock time. */
const FAST: CliOverrides = { convergence: { intervalMs: 0, stableMs: 0 } };

export interface FakeDaemonOptions {
  services?: FakeServicesBackend;
  /** For every run (a run's own overrides win). */
  overrides?: CliOverrides;
}

export async function startFakeDaemon(backend = new FakeSwarmBackend(), runtime = new FakeRuntimeBackend(), options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-cli-'));
  const socket = join(dir, 'swarm.sock');
  const services = options.services ?? new FakeServicesBackend({ nodeIds: [backend.nodeId] });
  let server: ApiServer | undefined = await startApiServer({ socketPath: socket, backend, runtime, services, logger: silentLogger() });
  const overrides = { ...FAST, ...options.overrides };
  return {
    backend,
    runtime,
    services,
    socket,
    swarm: (...args) => runCapturedWith(['-H', socket, ...args], { overrides }).then(({ code, stdout, stderr }) => ({ code, stdout, stderr })),
    swarmWith: (opts, ...args) => runCapturedWith(['-H', socket, ...args], { ...opts, overrides: { ...overrides, ...opts.overrides } }),
    close: async () => {
      await server?.close();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
