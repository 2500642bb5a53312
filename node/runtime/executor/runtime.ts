// The OCI runtime binary (crun preferred, runc as fallback) and thin wrappers over its commands.
import { execFile, spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SwarmError } from '../../errors.js';

export type RuntimeName = 'crun' | 'runc';
const NAMES: readonly RuntimeName[] = ['crun', 'runc'];

export interface RuntimeState {
  id: string;
  pid: number;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused' | string;
  bundle: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (never through a shell); rejects only when it cannot be started. */
export function runProgram(file: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new SwarmError('UNAVAILABLE', `cannot run ${file}: ${err.message}`, 'check that it is installed and executable', { cause: err }));
        return;
      }
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

function findOnPath(name: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * crun refuses "hybrid" cgroups when the cgroup2 mount at /sys/fs/cgroup/unified has controllers:
 * its create/run must then run in a private mount namespace where that mount is gone.
 */
function crunNeedsHiddenUnified(): boolean {
  try {
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

export interface DetectOptions {
  /** Where to look instead of process.env.PATH (tests point this at a directory without runtimes). */
  PATH?: string;
  /** The runtime's state directory (--root); default: the runtime's own (/run/crun, /run/runc). */
  root?: string;
}

export class OciRuntime {
  readonly name: RuntimeName;
  readonly path: string;
  readonly version: string;
  /** --root for every command, when set. */
  readonly root: string | undefined;
  /** unshare(1) when create/run must hide /sys/fs/cgroup/unified (crun on hybrid cgroups). */
  readonly unsharePath: string | undefined;

  private constructor(name: RuntimeName, path: string, version: string, root: string | undefined, unsharePath: string | undefined) {
    this.name = name;
    this.path = path;
    this.version = version;
    this.root = root;
    this.unsharePath = unsharePath;
  }

  /** Finds crun (preferred) or runc on PATH, or the one asked for; a clear error naming packages otherwise. */
  static async detect(preferred?: RuntimeName, opts: DetectOptions = {}): Promise<OciRuntime> {
    const pathVar = opts.PATH ?? process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    if (preferred !== undefined && !NAMES.includes(preferred)) {
      throw new SwarmError('INVALID_ARGUMENT', `unknown OCI runtime ${JSON.stringify(preferred)}`, 'choose --runtime crun or --runtime runc');
    }
    const candidates = preferred ? [preferred] : NAMES;
    for (const name of candidates) {
      const path = findOnPath(name, pathVar);
      if (!path) continue;
      const res = await runProgram(path, ['--version'], { timeoutMs: 10_000 });
      if (res.code !== 0) {
        throw new SwarmError('UNAVAILABLE', `OCI runtime ${path} does not work: ${(res.stderr || res.stdout).trim()}`, `reinstall it: apt-get install --reinstall ${name}`);
      }
      const version = /version\s+(\S+)/.exec(res.stdout)?.[1] ?? 'unknown';
      let unsharePath: string | undefined;
      if (name === 'crun' && crunNeedsHiddenUnified()) {
        unsharePath = findOnPath('unshare', pathVar) ?? findOnPath('unshare', '/usr/bin:/bin');
        if (!unsharePath) {
          throw new SwarmError('UNAVAILABLE', 'crun needs unshare(1) on this host (hybrid cgroups) and it was not found', 'install it: apt-get install util-linux, or choose --runtime runc');
        }
      }
      return new OciRuntime(name, path, version, opts.root, unsharePath);
    }
    if (preferred) {
      const other = NAMES.find((n) => n !== preferred)!;
      throw new SwarmError('UNAVAILABLE', `OCI runtime ${preferred} not found on PATH`, `install it: apt-get install ${preferred} (or choose --runtime ${other})`);
    }
    throw new SwarmError('UNAVAILABLE', 'no OCI runtime found (looked for crun, runc on PATH)', 'install one: apt-get install crun (or runc)');
  }

  /** The same runtime with its state kept under `root` (one per executor: its list holds only its containers). */
  withRoot(root: string): OciRuntime {
    return new OciRuntime(this.name, this.path, this.version, root, this.unsharePath);
  }

  private globalArgs(logFile?: string): string[] {
    const g: string[] = [];
    if (this.root) g.push('--root', this.root);
    if (logFile) g.push('--log', logFile, '--log-format', 'json');
    return g;
  }

  /** The directory where the runtime keeps a container's state, when --root is ours. */
  stateDirOf(id: string): string | undefined {
    return this.root ? join(this.root, id) : undefined;
  }

  /**
   * argv for a foreground `run` (the caller becomes the container's parent and learns its exit
   * code), wrapped so that the mount namespace trick applies when needed. Used by the shim.
   */
  runCommand(id: string, bundle: string, pidFile: string, logFile: string): string[] {
    return [this.path, ...this.globalArgs(logFile), 'run', '--bundle', bundle, '--pid-file', pidFile, id];
  }

  /** `create` leaves the container waiting for `start` (its stdio is the caller's: redirect it). */
  async create(id: string, bundle: string, opts: { pidFile?: string; logFile?: string } = {}): Promise<void> {
    const args = [...this.globalArgs(opts.logFile), 'create', '--bundle', bundle, ...(opts.pidFile ? ['--pid-file', opts.pidFile] : []), id];
    const res = this.unsharePath
      ? await runProgram(this.unsharePath, ['-m', '--propagation', 'slave', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$@"', 'sh', this.path, ...args])
      : await runProgram(this.path, args);
    this.check(res, 'create', id);
  }

  async start(id: string): Promise<void> {
    this.check(await runProgram(this.path, [...this.globalArgs(), 'start', id]), 'start', id);
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const res = await runProgram(this.path, [...this.globalArgs(), 'state', id]);
    if (res.code !== 0) {
      if (/does not exist|not found|no such/i.test(res.stderr)) return undefined;
      this.check(res, 'state', id);
    }
    return JSON.parse(res.stdout) as RuntimeState;
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    this.check(await runProgram(this.path, [...this.globalArgs(), 'kill', ...(all ? ['--all'] : []), id, signal.replace(/^SIG/, '')]), 'kill', id);
  }

  /** `force` kills a running container first; a missing container is not an error. */
  async delete(id: string, force = false): Promise<void> {
    const res = await runProgram(this.path, [...this.globalArgs(), 'delete', ...(force ? ['--force'] : []), id]);
    if (res.code !== 0 && !/does not exist|not found|no such/i.test(res.stderr)) this.check(res, 'delete', id);
  }

  /**
   * Runs a process inside a running container; `processFile` is a full OCI process spec (user, env,
   * cwd, caps). stdout and stderr are merged in arrival order (kept up to maxOutput bytes, the tail).
   * On timeout the process is SIGKILLed through its host pid, and the runtime's exec then reaps it
   * and returns. Killing the runtime's exec instead would leave the process running, reparented
   * outside the container (to the host's init), and its zombie would hold the container's pid
   * namespace open at exit. The runtime itself is killed only if it does not return after that.
   */
  exec(id: string, processFile: string, opts: { pidFile: string; timeoutMs?: number; maxOutput?: number }): Promise<{ code: number; output: string; timedOut: boolean }> {
    const maxOutput = opts.maxOutput ?? 1024 * 1024;
    return new Promise((resolve, reject) => {
      const child = spawn(this.path, [...this.globalArgs(), 'exec', '--process', processFile, '--pid-file', opts.pidFile, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      const chunks: Buffer[] = [];
      let size = 0;
      const collect = (b: Buffer): void => {
        chunks.push(b);
        size += b.length;
        while (size - chunks[0]!.length >= maxOutput && chunks.length > 1) size -= chunks.shift()!.length;
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      let timedOut = false;
      let timer: NodeJS.Timeout | undefined;
      let attempts = 0;
      const killProcess = (): void => {
        let pid = 0;
        try {
          pid = Number(readFileSync(opts.pidFile, 'utf8').trim());
        } catch {
          // not written yet: the runtime is still setting the process up
        }
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        // Try again shortly (no pid yet, or it did not die); after ~2 s give up on the runtime too.
        if (++attempts > 40) child.kill('SIGKILL');
        else timer = setTimeout(killProcess, 50);
      };
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          killProcess();
        }, opts.timeoutMs);
      }
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new SwarmError('UNAVAILABLE', `cannot run ${this.path}: ${err.message}`, 'check that it is installed and executable', { cause: err }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        let out = Buffer.concat(chunks);
        if (out.length > maxOutput) out = out.subarray(out.length - maxOutput);
        resolve({ code: code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1), output: out.toString('utf8'), timedOut });
      });
    });
  }

  async list(): Promise<RuntimeState[]> {
    const res = await runProgram(this.path, [...this.globalArgs(), 'list', '--format', 'json']);
    this.check(res, 'list', '');
    const text = res.stdout.trim();
    if (text === '' || text === 'null') return [];
    return JSON.parse(text) as RuntimeState[];
  }

  private check(res: RunResult, what: string, id: string): void {
    if (res.code === 0) return;
    const msg = lastRuntimeError(res.stderr) || `exit code ${res.code}`;
    throw new SwarmError('INTERNAL', `${this.name} ${what} ${id} failed: ${msg}`, `see \`${this.name} ${what} ${id}\` on this host`);
  }
}

/** The last message of a runtime's stderr or JSON log (crun and runc both log {"msg": ...}). */
export function lastRuntimeError(text: string): string {
  let last = '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    if (t.startsWith('{')) {
      try {
        const j = JSON.parse(t) as { msg?: unknown; level?: unknown };
        if (typeof j.msg === 'string' && (j.level === undefined || j.level === 'error' || j.level === 'fatal')) last = j.msg;
        continue;
      } catch {
        // not JSON: keep the line
      }
    }
    last = t;
  }
  return last;
}
