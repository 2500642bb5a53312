import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeSwarmBackend, startApiServer, type ApiServer } from '../node/api/index.js';
import { silentLogger } from '../node/log.js';
import { runCli, type CliOverrides } from './program.js';

// For the CLI's tests (and later commands'): a real API server on a temp socket backed by the
// in-memory FakeSwarmBackend, and a way to run `swarm ...` in-process against it.

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FakeDaemon {
  backend: FakeSwarmBackend;
  socket: string;
  /** Runs `swarm -H <socket> ...args`. */
  swarm(...args: string[]): Promise<CliRun>;
  close(): Promise<void>;
}

/** Runs the CLI with captured output; `env` replaces process.env. */
export async function runCaptured(args: string[], env: Record<string, string | undefined> = {}, overrides: CliOverrides = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env }, overrides);
  return { code, stdout, stderr };
}

export async function startFakeDaemon(backend = new FakeSwarmBackend()): Promise<FakeDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-cli-'));
  const socket = join(dir, 'swarm.sock');
  let server: ApiServer | undefined = await startApiServer({ socketPath: socket, backend, logger: silentLogger() });
  return {
    backend,
    socket,
    swarm: (...args) => runCaptured(['-H', socket, ...args]),
    close: async () => {
      await server?.close();
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
