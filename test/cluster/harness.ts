// Runs real `swarm daemon` processes on loopback, each with its own data dir, API socket and
// port, and drives them through the real CLI. Everything lives under one temp dir per test run
// and is killed and removed in cleanup(), also when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { killLeftoverContainers, unmountUnder } from '../support/leftovers.js';

/** The checkout's root: two levels up from the source, three from its build in dist/. */
function findRoot(): string {
  for (let dir = import.meta.dirname; dir !== resolve(dir, '..'); dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${import.meta.dirname}`);
}

const ROOT = findRoot();
/** The built `swarm` command, which every harness runs. */
export const CLI = join(ROOT, 'dist/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end: exit code (-1 when killed or not started) and output; never rejects.
 * Asynchronous, so the pipes of daemons this process runs keep draining meanwhile.
 */
export function runCommand(cmd: string, args: string[], timeoutMs?: number): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(timeoutMs === undefined ? {} : { timeout: timeoutMs, killSignal: 'SIGKILL' as const }) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('error', (err) => (stderr += String(err)));
    p.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs the built `swarm` CLI against a daemon's API socket. */
export function runCli(socket: string, args: string[]): Promise<CliResult> {
  return runCommand(process.execPath, [CLI, '-H', socket, ...args]);
}

/** A request that got no whole answer within its deadline (it may still have taken effect). */
export class ApiTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

export interface ApiRequestOptions {
  /** The whole exchange's deadline: past it the request is abandoned with an ApiTimeoutError. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * One API request over a daemon's unix socket; the body parsed as JSON when it is JSON. With
 * options, each request gets a fresh connection: a daemon killed since the last one leaves no
 * stale pooled socket whose failure would look like a lost answer.
 */
export function apiRequest<T = unknown>(socketPath: string, method: string, path: string, body?: unknown, opts?: ApiRequestOptions): Promise<{ status: number; body: T }> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {};
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      rej(err instanceof Error ? err : new Error(String(err)));
    };
    const req = request({ socketPath, method, path, headers, ...(opts ? { agent: false, signal: opts.signal } : {}) }, (resp) => {
      let text = '';
      resp.on('data', (c: Buffer) => (text += c.toString()));
      resp.on('error', fail);
      resp.on('end', () => {
        clearTimeout(timer);
        let parsed: unknown = text;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          // not JSON (e.g. /_ping)
        }
        res({ status: resp.statusCode ?? 0, body: parsed as T });
      });
    });
    const timeoutMs = opts?.timeoutMs;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const err = new ApiTimeoutError(timeoutMs);
        req.destroy(err);
        fail(err);
      }, timeoutMs);
    }
    req.on('error', fail);
    req.end(data);
  });
}

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Polls `probe` until it returns a value other than undefined, or fails naming `what`. */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class DaemonProcess {
  proc: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly socket: string,
    readonly port: number,
    private readonly logLevel: string,
    private readonly extraArgs: string[] = [],
  ) {}

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the daemon and waits until its API answers. */
  async start(): Promise<void> {
    if (this.running()) throw new Error(`${this.name} is already running`);
    this.output = '';
    // SWARM_TEST_NODE_ARGS: extra node flags for the daemons, e.g. "--cpu-prof" when profiling.
    const nodeArgs = (process.env['SWARM_TEST_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
    const proc = spawn(
      process.execPath,
      [...nodeArgs, CLI, 'daemon', '--data-dir', this.dataDir, '--listen-addr', this.addr, '--advertise-addr', this.addr, '--api-socket', this.socket, '--hostname', this.name, '--log-level', this.logLevel, '--no-overlay', ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    await waitFor(
      () => {
        if (proc.exitCode !== null) throw new Error(`${this.name} exited with ${proc.exitCode}: ${this.output.slice(-2000)}`);
        return this.output.includes('swarm daemon listening') ? true : undefined;
      },
      `${this.name} to start`,
      15_000,
      20,
    );
  }

  /** SIGKILL: no chance to clean up, as a crash or power loss. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    await exited;
  }

  running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  logs(): string {
    return this.output;
  }
}

export class ClusterHarness {
  readonly dir: string;
  readonly nodes = new Map<string, DaemonProcess>();

  private constructor(
    dir: string,
    private readonly extraDaemonArgs: string[],
  ) {
    this.dir = dir;
  }

  /** `extraDaemonArgs` go to every daemon (e.g. --insecure-registry). */
  static create(label: string, opts: { extraDaemonArgs?: string[] } = {}): ClusterHarness {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the cluster tests`);
    return new ClusterHarness(mkdtempSync(join(tmpdir(), `swarm-${label}-`)), opts.extraDaemonArgs ?? []);
  }

  async add(name: string, logLevel = 'warn'): Promise<DaemonProcess> {
    const d = new DaemonProcess(name, join(this.dir, name, 'data'), join(this.dir, name, 'api.sock'), await freePort(), logLevel, this.extraDaemonArgs);
    this.nodes.set(name, d);
    await d.start();
    return d;
  }

  node(name: string): DaemonProcess {
    const d = this.nodes.get(name);
    if (!d) throw new Error(`no node ${name} in this harness`);
    return d;
  }

  /** Runs the real CLI against a node's API socket. */
  cli(name: string, ...args: string[]): Promise<CliResult> {
    return runCli(this.node(name).socket, args);
  }

  /** Runs the CLI and fails with its output when it exits non-zero. */
  async ok(name: string, ...args: string[]): Promise<string> {
    const r = await this.cli(name, ...args);
    if (r.code !== 0) throw new Error(`swarm ${args.join(' ')} on ${name} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A JSON API call over the node's unix socket. */
  api<T = unknown>(name: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return apiRequest<T>(this.node(name).socket, method, path, body);
  }

  async cleanup(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((d) => d.kill('SIGKILL')));
    // Killed daemons leave their containers running (a restart would re-adopt them): kill them,
    // then unmount what they mounted (overlays, secret tmpfs) before removing the files.
    killLeftoverContainers([...this.nodes.values()].map((d) => d.dataDir));
    unmountUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
