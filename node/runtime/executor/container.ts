// One container: a per-task controller (Prepare happened in Executor.create; here Start, Wait,
// Shutdown, Terminate, Remove, Exec, Logs, health) over a bundle directory in the state dir.
//
// The process tree of a running container is   shim (sh) ─ runtime `run` (foreground) ─ container.
// The shim is a detached session of its own: a daemon restart leaves it alone. It is the runtime's
// parent, so it learns the exit code and writes it to <dir>/exit, whether or not a daemon is there.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { HealthMonitor } from './health.js';
import { LogCollector, RotatingLog, readLogs, type StreamName } from './logs.js';
import { isAlive, oomKillCount, procStat, removeCgroups } from './proc.js';
import type { OciRuntime, RuntimeName } from './runtime.js';
import { lastRuntimeError } from './runtime.js';
import { DEFAULT_STOP_GRACE_MS, resolveHealthcheck, signalName, stopSignalOf } from './spec.js';
import type { ContainerConfig, ContainerStatus, ExitInfo, HealthStatus, LogEntry } from './types.js';

/** How long after its grace period (and the SIGKILL) a stopping container may go unseen to exit before that is logged. */
const EXIT_OVERDUE_MS = 10_000;

/**
 * The shim: $1 = container dir, $2 = 1 to hide the cgroup2 mount (crun on hybrid cgroups; the
 * shim then already runs in its own mount namespace), then the runtime's `run` argv. The FIFOs are
 * opened read-write for the container, so a writer always has a reader (no SIGPIPE, ever).
 */
const SHIM = [
  'd=$1; u=$2; shift 2',
  'if [ "$u" = 1 ]; then umount /sys/fs/cgroup/unified 2>>"$d/runtime.log"; fi',
  '"$@" </dev/null 1<>"$d/stdout.fifo" 2<>"$d/stderr.fifo"',
  'rc=$?',
  'k=0; while read -r n v; do if [ "$n" = oom_kill ]; then k=$v; break; fi; done </proc/vmstat',
  'echo "$rc $k" >"$d/exit"',
  'exit $rc',
].join('\n');

/** What survives a daemon restart, in <dir>/meta.json. */
export interface ContainerMeta {
  version: 1;
  config: ContainerConfig;
  runtime: RuntimeName;
  cgroupsPath: string;
  createdAt: string;
  /** The OCI process spec, reused for exec. */
  process: Record<string, unknown>;
  shim?: { pid: number; startTime: string };
  pid?: number;
  pidStartTime?: string;
  startedAt?: string;
  /** /proc/vmstat oom_kill when it started: an increase plus a SIGKILL death means an OOM kill. */
  oomBaseline?: number;
  health?: HealthStatus;
}

/** What a container needs from its executor. */
export interface ContainerContext {
  runtime: OciRuntime;
  logger: Logger;
  dir: string;
  logMaxBytes: number;
  logMaxFiles: number;
  watchPid(pid: number, startTime: string | undefined, onGone: () => void): () => void;
  forget(id: string): void;
}

export interface ContainerEvents {
  status: [ContainerStatus];
  health: [HealthStatus];
  exit: [ExitInfo];
}

export function writeMeta(dir: string, meta: ContainerMeta): void {
  const tmp = join(dir, 'meta.json.tmp');
  writeFileSync(tmp, JSON.stringify(meta));
  renameSync(tmp, join(dir, 'meta.json'));
}

/** Reads <dir>/exit as written by the shim: "<exit code> <oom_kill count>". */
export function readExitFile(dir: string): { code: number; oomKills: number } | undefined {
  try {
    const [a, b] = readFileSync(join(dir, 'exit'), 'utf8').trim().split(/\s+/);
    const code = Number(a);
    if (!Number.isInteger(code)) return undefined;
    return { code, oomKills: Number(b) || 0 };
  } catch {
    return undefined;
  }
}

/** Exit code → ExitInfo, with the OOM heuristic (see README: cgroup v1 drops the counter with the cgroup). */
export function exitInfoOf(meta: ContainerMeta, code: number, oomKillsAfter: number, killedByUs: boolean): ExitInfo {
  const signal = code > 128 && code < 128 + 65 ? signalName(code - 128) : undefined;
  const oomKilled =
    meta.config.resources?.memoryBytes !== undefined && signal === 'SIGKILL' && !killedByUs && meta.oomBaseline !== undefined && oomKillsAfter > meta.oomBaseline;
  return { exitCode: code, ...(signal ? { signal } : {}), oomKilled, finishedAt: new Date().toISOString() };
}

export class Container extends EventEmitter<ContainerEvents> {
  readonly id: string;
  readonly config: ContainerConfig;
  private readonly ctx: ContainerContext;
  private readonly log: Logger;
  private meta: ContainerMeta;
  private state: ContainerStatus;
  private exitInfo: ExitInfo | undefined;
  private waiters: ((e: ExitInfo) => void)[] = [];
  private collector: LogCollector | undefined;
  private monitor: HealthMonitor | undefined;
  private child: ChildProcess | undefined;
  private unwatch: (() => void) | undefined;
  private starting: Promise<void> | undefined;
  private finishing = false;
  private killedByUs = false;
  private detached = false;
  /** Log lines for followers, and their end. Internal: the public events are the contract's. */
  private readonly lines = new EventEmitter<{ line: [LogEntry]; end: [] }>();
  /** @internal Raw output for Executor.run's callbacks. */
  onOutput: ((stream: StreamName, chunk: Buffer) => void) | undefined;

  /** @internal Executor.create and Executor.adopt build containers. */
  constructor(ctx: ContainerContext, meta: ContainerMeta, state: ContainerStatus) {
    super();
    this.ctx = ctx;
    this.meta = meta;
    this.id = meta.config.id;
    this.config = meta.config;
    this.state = state;
    this.log = ctx.logger.child({ container: this.id });
    this.lines.setMaxListeners(0);
  }

  status(): ContainerStatus {
    return this.state;
  }

  pid(): number | undefined {
    return this.state === 'running' ? this.meta.pid : undefined;
  }

  /** The exit of the last run, once stopped (for inspect). */
  lastExit(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** When the process started (ISO time), once started. */
  startedAt(): string | undefined {
    return this.meta.startedAt;
  }

  health(): 'none' | HealthStatus {
    return this.monitor?.current() ?? this.meta.health ?? 'none';
  }

  private setStatus(s: ContainerStatus): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('status', s);
  }

  /** Starts the process; resolves once the runtime reports its pid (the process exists and is being started). */
  start(): Promise<void> {
    if (this.starting) return this.starting;
    if (this.state !== 'created') return Promise.reject(new SwarmError('CONFLICT', `container ${this.id} is ${this.state}`, 'only a created container can be started; create a new one'));
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { dir, runtime } = this.ctx;
    for (const f of ['pid', 'exit', 'runtime.log']) rmSync(join(dir, f), { force: true });
    this.attachCollector();
    this.meta.oomBaseline = oomKillCount();
    const pidFile = join(dir, 'pid');
    const run = runtime.runCommand(this.id, dir, pidFile, join(dir, 'runtime.log'));
    const argv = runtime.unsharePath
      ? [runtime.unsharePath, '-m', '--propagation', 'slave', 'sh', '-c', SHIM, 'swarm-shim', dir, '1', ...run]
      : ['sh', '-c', SHIM, 'swarm-shim', dir, '0', ...run];

    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const started = new Promise<number>((resolve, reject) => {
      const tryPid = (): boolean => {
        let pid: number;
        try {
          pid = Number(readFileSync(pidFile, 'utf8').trim());
        } catch {
          return false;
        }
        if (!(pid > 0)) return false;
        resolve(pid);
        return true;
      };
      // The runtime writes the pid file once the process exists: inotify tells us without polling.
      watcher = watch(dir, (_ev, name) => {
        if (name === 'pid') tryPid();
      });
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
      this.child = child;
      child.unref();
      child.once('error', (err) => reject(new SwarmError('UNAVAILABLE', `cannot start the container shim: ${err.message}`, 'check that sh (and unshare for crun) are installed', { cause: err })));
      child.once('exit', (code, signal) => {
        if (tryPid()) return; // started and already done: the exit handler below reports it
        const msg = lastRuntimeError(safeRead(join(dir, 'runtime.log'))) || `the runtime exited with ${code ?? signal}`;
        reject(new SwarmError(/not found|no such file|permission denied|executable/i.test(msg) ? 'INVALID_ARGUMENT' : 'INTERNAL', `container ${this.id} failed to start: ${msg}`, `check the command and the image (${runtime.name} log: ${join(dir, 'runtime.log')})`));
      });
      timer = setTimeout(() => reject(new SwarmError('TIMEOUT', `container ${this.id} did not start within 60 s`, `see ${join(dir, 'runtime.log')}`)), 60_000);
    });
    let pid: number;
    try {
      pid = await started;
    } catch (err) {
      watcher?.close();
      clearTimeout(timer);
      if (err instanceof SwarmError && err.code === 'TIMEOUT') this.child?.kill('SIGKILL');
      await this.collector?.release();
      // As Docker: 127 for a command that is not there, 126 for one that cannot be run.
      const msg = (err as Error).message;
      const exitCode = /permission denied/i.test(msg) ? 126 : /not found|no such file/i.test(msg) ? 127 : (readExitFile(dir)?.code || 127);
      this.exitInfo = { exitCode, oomKilled: false, finishedAt: new Date().toISOString() };
      this.setStatus('stopped');
      this.emit('exit', this.exitInfo);
      for (const w of this.waiters.splice(0)) w(this.exitInfo);
      throw err;
    }
    watcher?.close();
    clearTimeout(timer);
    await this.waitForExec(pid);
    const child = this.child!;
    this.meta.pid = pid;
    this.meta.pidStartTime = procStat(pid)?.startTime;
    const shimStart = child.pid !== undefined ? procStat(child.pid)?.startTime : undefined;
    if (child.pid !== undefined && shimStart !== undefined) this.meta.shim = { pid: child.pid, startTime: shimStart };
    this.meta.startedAt = new Date().toISOString();
    writeMeta(dir, this.meta);
    this.setStatus('running');
    this.startHealth();
    if (child.exitCode !== null || child.signalCode !== null) void this.finish(child.exitCode ?? undefined);
    else child.once('exit', (code) => void this.finish(code ?? undefined));
    this.log.debug({ pid }, 'container started');
  }

  /**
   * The runtime writes the pid file before its init execs the user's program (well under 1 ms
   * later, measured): wait for that exec, so "started" means the program runs. Bounded at 100 ms.
   */
  private async waitForExec(pid: number): Promise<void> {
    const { path, name } = this.ctx.runtime;
    const deadline = Date.now() + 100;
    while (Date.now() < deadline) {
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        return; // already gone
      }
      const a0 = argv[0] ?? '';
      if (a0 !== '' && a0 !== path && basename(a0) !== name) return;
      await new Promise((r) => setImmediate(r));
    }
  }

  /** @internal Resumes a container found running after a daemon restart. */
  adoptRunning(): void {
    this.attachCollector();
    const shim = this.meta.shim;
    const watchPid = shim && isAlive(shim.pid, shim.startTime) ? shim : this.meta.pid !== undefined ? { pid: this.meta.pid, startTime: this.meta.pidStartTime } : undefined;
    if (watchPid) this.unwatch = this.ctx.watchPid(watchPid.pid, watchPid.startTime, () => void this.finish(undefined));
    else void this.finish(undefined);
    this.startHealth(this.meta.health);
  }

  private attachCollector(): void {
    const c = new LogCollector(this.ctx.dir, new RotatingLog(this.ctx.dir, this.ctx.logMaxBytes, this.ctx.logMaxFiles), this.log);
    c.on('line', (e) => this.lines.emit('line', e));
    c.on('data', (s, b) => this.onOutput?.(s, b));
    c.attach();
    this.collector = c;
  }

  private startHealth(initial?: HealthStatus): void {
    const hc = resolveHealthcheck(this.config);
    if (!hc) return;
    const startedAt = this.meta.startedAt ? Date.parse(this.meta.startedAt) : Date.now();
    this.monitor = new HealthMonitor(
      hc,
      (timeoutMs) => this.exec(hc.args, { timeoutMs }),
      (s) => {
        this.meta.health = s;
        if (!this.detached && existsSync(this.ctx.dir)) writeMeta(this.ctx.dir, this.meta);
        this.log.debug({ health: s }, 'health changed');
        this.emit('health', s);
      },
      startedAt,
      initial ?? 'starting',
    );
    if (this.meta.health === undefined) {
      this.meta.health = 'starting';
      this.emit('health', 'starting');
    }
    this.monitor.start();
  }

  /** The process is gone: collect its exit, drain its output, report. `childCode` when we were the shim's parent. */
  private async finish(childCode: number | undefined): Promise<void> {
    if (this.finishing || this.detached) return;
    this.finishing = true;
    this.unwatch?.();
    this.monitor?.stop();
    const { dir, runtime } = this.ctx;
    const file = readExitFile(dir);
    const code = file?.code ?? childCode ?? -1;
    const info = exitInfoOf(this.meta, code, file?.oomKills ?? oomKillCount(), this.killedByUs);
    await this.collector?.release();
    // The foreground run deletes its container; state remains only if the runtime itself died.
    const rtState = runtime.stateDirOf(this.id);
    if (rtState && existsSync(rtState)) await runtime.delete(this.id, true).catch((err: unknown) => this.log.warn({ err }, 'runtime delete failed'));
    this.exitInfo = info;
    this.log.debug({ exit: info }, 'container exited');
    this.setStatus('stopped');
    this.emit('exit', info);
    this.lines.emit('end');
    for (const w of this.waiters.splice(0)) w(info);
  }

  wait(): Promise<ExitInfo> {
    if (this.exitInfo && (this.state === 'stopped' || this.state === 'removed')) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The stop signal, then SIGKILL after the grace period (default: the task's, else 10 s). */
  async shutdown(gracePeriodMs?: number): Promise<ExitInfo> {
    if (this.state === 'created' && !this.starting) return this.neverStarted();
    if (this.starting) await this.starting.catch(() => undefined);
    if (this.state !== 'running') return this.wait();
    const grace = gracePeriodMs ?? this.config.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_MS;
    this.signal(stopSignalOf(this.config));
    const timer = setTimeout(() => {
      this.killedByUs = true;
      this.signal('SIGKILL');
    }, grace);
    // Still not seen to exit well after the SIGKILL: something is stuck (its task stays "running"
    // in the store meanwhile), so say so with what the container looks like.
    const overdue = setTimeout(() => this.log.warn({ graceMs: grace, state: this.state, pid: this.meta.pid }, 'container not seen to exit after its stop and a SIGKILL'), grace + EXIT_OVERDUE_MS);
    try {
      return await this.wait();
    } finally {
      clearTimeout(timer);
      clearTimeout(overdue);
    }
  }

  /** SIGKILL now. */
  async terminate(): Promise<ExitInfo> {
    if (this.state === 'created' && !this.starting) return this.neverStarted();
    if (this.starting) await this.starting.catch(() => undefined);
    if (this.state !== 'running') return this.wait();
    this.killedByUs = true;
    this.signal('SIGKILL');
    return this.wait();
  }

  private neverStarted(): ExitInfo {
    this.exitInfo ??= { exitCode: 0, oomKilled: false, finishedAt: new Date().toISOString() };
    this.setStatus('stopped');
    this.lines.emit('end');
    for (const w of this.waiters.splice(0)) w(this.exitInfo);
    return this.exitInfo;
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.meta.pid;
    // Straight to the container's init by host pid: no runtime process to spawn. The pid is checked
    // against its start time so a recycled pid is never signalled.
    if (pid !== undefined && isAlive(pid, this.meta.pidStartTime)) {
      try {
        process.kill(pid, sig);
        return;
      } catch (err) {
        this.log.debug({ err }, 'signal failed');
      }
    }
    void this.ctx.runtime.kill(this.id, sig).catch((err: unknown) => this.log.debug({ err }, 'runtime kill failed'));
  }

  /** Deletes everything of the container: runtime state, leftover cgroups, bundle, logs. Refuses a running one. */
  async remove(): Promise<void> {
    if (this.state === 'removed') return;
    if (this.state === 'running' || (this.starting !== undefined && this.state === 'created')) {
      throw new SwarmError('CONFLICT', `container ${this.id} is running`, 'shut it down (or terminate it) before removing it');
    }
    this.monitor?.stop();
    this.collector?.close();
    const { runtime, dir } = this.ctx;
    const rtState = runtime.stateDirOf(this.id);
    if (rtState && existsSync(rtState)) await runtime.delete(this.id, true);
    const left = await removeCgroups(this.meta.cgroupsPath);
    if (left.length > 0) this.log.warn({ left }, 'cgroups could not be removed');
    rmSync(dir, { recursive: true, force: true });
    this.ctx.forget(this.id);
    this.setStatus('removed');
    this.lines.emit('end');
  }

  /** Runs a command inside the running container with its user, env and working directory. */
  async exec(cmd: string[], opts: { timeoutMs?: number } = {}): Promise<{ exitCode: number; output: string }> {
    if (this.state !== 'running') throw new SwarmError('CONFLICT', `container ${this.id} is not running`, 'start it first');
    if (cmd.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'exec needs a command');
    const tag = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const processFile = join(this.ctx.dir, `exec-${tag}.json`);
    const pidFile = join(this.ctx.dir, `exec-${tag}.pid`);
    writeFileSync(processFile, JSON.stringify({ ...this.meta.process, args: cmd, terminal: false }));
    try {
      const res = await this.ctx.runtime.exec(this.id, processFile, { pidFile, timeoutMs: opts.timeoutMs });
      if (res.timedOut) throw new SwarmError('TIMEOUT', `exec in ${this.id} timed out after ${opts.timeoutMs} ms`, 'raise the timeout or make the command faster');
      return { exitCode: res.code, output: res.output };
    } finally {
      rmSync(processFile, { force: true });
      rmSync(pidFile, { force: true });
    }
  }

  /** Log lines (oldest first); follow streams new lines until the container stops, is removed, or signal aborts. */
  async *logs(opts: { follow?: boolean; tail?: number; since?: Date; signal?: AbortSignal } = {}): AsyncIterable<LogEntry> {
    const following = opts.follow === true && (this.state === 'created' || this.state === 'running') && !this.detached;
    const queue: LogEntry[] = [];
    let ended = !following;
    let wake: (() => void) | undefined;
    const onLine = (e: LogEntry): void => {
      queue.push(e);
      wake?.();
    };
    const onEnd = (): void => {
      ended = true;
      wake?.();
    };
    const onAbort = (): void => onEnd();
    if (following) {
      // Subscribed in the same tick as the synchronous file read: no line is missed or doubled.
      this.lines.on('line', onLine);
      this.lines.on('end', onEnd);
      opts.signal?.addEventListener('abort', onAbort);
      if (opts.signal?.aborted) ended = true;
    }
    try {
      const existing = this.state === 'removed' ? [] : readLogs(this.ctx.dir, this.ctx.logMaxFiles, { tail: opts.tail, since: opts.since });
      for (const e of existing) yield e;
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (ended) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.lines.off('line', onLine);
      this.lines.off('end', onEnd);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** @internal Daemon shutdown: stop watching and reading; the container itself runs on. */
  detach(): void {
    this.detached = true;
    this.monitor?.stop();
    this.unwatch?.();
    this.child?.removeAllListeners('exit');
    this.collector?.close();
    this.lines.emit('end');
  }
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
