// The executor: prepares bundles, owns the containers of this node, and re-adopts them after a
// daemon restart. Layout under stateDir:
//   containers/<id>/  config.json meta.json hosts resolv.conf hostname stdout.fifo stderr.fifo
//                     pid exit runtime.log container.log[.N]
//   volumes/<name>/_data
//   runtime/<crun|runc>/   the runtime's own state (--root), so its list holds only our containers
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { Container, exitInfoOf, readExitFile, writeMeta, type ContainerContext, type ContainerMeta } from './container.js';
import { fifoPath } from './logs.js';
import { boundingCapabilities, isAlive, removeCgroups, swapAccounting } from './proc.js';
import { runProgram, type OciRuntime } from './runtime.js';
import { ALL_CAPABILITIES, buildOciSpec, hostsFileContent, hostnameOf, normalizeSignal, resolveHealthcheck, resolveProcess, resolvConfContent, validateId } from './spec.js';
import type { ContainerConfig, ExitInfo, SpecPaths } from './types.js';

export interface ExecutorOptions {
  /** Bundles, volumes, log files and the runtime's state live under it. */
  stateDir: string;
  runtime: OciRuntime;
  logger: Logger;
  /** Per log file; default 10 MiB. */
  logMaxBytes?: number;
  /** Files kept per container (the current one included); default 3. */
  logMaxFiles?: number;
  /** The cgroup parent for containers (cgroupsPath /<parent>/<id>); default 'swarm'. */
  cgroupParent?: string;
  /** A static tini for `init`; default: docker-init or tini-static from PATH. */
  initPath?: string;
  /** How often containers adopted after a restart (no longer our children) are checked; default 250 ms. */
  adoptPollMs?: number;
}

const STATIC_INITS = ['docker-init', 'tini-static'];

function findStaticInit(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/libexec/docker'];
  for (const name of STATIC_INITS) {
    for (const d of dirs) {
      if (!d) continue;
      const p = join(d, name);
      try {
        if (statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** One timer for every adopted container: a /proc read per pid per tick, nothing spawned. */
class PidPoller {
  private readonly watched = new Map<number, { startTime: string | undefined; onGone: () => void }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number) {}

  watch(pid: number, startTime: string | undefined, onGone: () => void): () => void {
    this.watched.set(pid, { startTime, onGone });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => this.unwatch(pid);
  }

  private unwatch(pid: number): void {
    this.watched.delete(pid);
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    for (const [pid, w] of [...this.watched]) {
      if (isAlive(pid, w.startTime)) continue;
      this.unwatch(pid);
      w.onGone();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }
}

export class Executor {
  readonly stateDir: string;
  readonly runtime: OciRuntime;
  private readonly logger: Logger;
  private readonly logMaxBytes: number;
  private readonly logMaxFiles: number;
  private readonly cgroupParent: string;
  private readonly initPath: string | undefined;
  private readonly swap: boolean;
  private readonly hostCaps: readonly string[] | undefined;
  private readonly hostResolvConf: string;
  private readonly poller: PidPoller;
  private readonly containers = new Map<string, Container>();
  private closed = false;

  private constructor(opts: ExecutorOptions, runtime: OciRuntime, stateDir: string) {
    this.stateDir = stateDir;
    this.runtime = runtime;
    this.logger = opts.logger;
    this.logMaxBytes = opts.logMaxBytes ?? 10 * 1024 * 1024;
    this.logMaxFiles = Math.max(1, opts.logMaxFiles ?? 3);
    this.cgroupParent = (opts.cgroupParent ?? 'swarm').replace(/^\/+|\/+$/g, '');
    this.initPath = opts.initPath ?? findStaticInit();
    this.swap = swapAccounting();
    this.hostCaps = boundingCapabilities(ALL_CAPABILITIES);
    this.hostResolvConf = safeRead('/etc/resolv.conf');
    this.poller = new PidPoller(opts.adoptPollMs ?? 250);
  }

  static async open(opts: ExecutorOptions): Promise<Executor> {
    const stateDir = resolve(opts.stateDir);
    if (opts.logMaxBytes !== undefined && !(opts.logMaxBytes >= 256)) throw new SwarmError('INVALID_ARGUMENT', `logMaxBytes must be at least 256 (got ${opts.logMaxBytes})`);
    if (opts.cgroupParent !== undefined && !/^[a-zA-Z0-9_.-]+(\/[a-zA-Z0-9_.-]+)*$/.test(opts.cgroupParent.replace(/^\/+|\/+$/g, ''))) {
      throw new SwarmError('INVALID_ARGUMENT', `invalid cgroup parent ${JSON.stringify(opts.cgroupParent)}`, 'use a path of [a-zA-Z0-9_.-] names');
    }
    const runtime = opts.runtime.withRoot(join(stateDir, 'runtime', opts.runtime.name));
    for (const d of ['containers', 'volumes', join('runtime', opts.runtime.name)]) mkdirSync(join(stateDir, d), { recursive: true, mode: 0o700 });
    return new Executor(opts, runtime, stateDir);
  }

  private dirOf(id: string): string {
    return join(this.stateDir, 'containers', id);
  }

  private cgroupsPathOf(id: string): string {
    return `/${this.cgroupParent}/${id}`;
  }

  private context(id: string): ContainerContext {
    return {
      runtime: this.runtime,
      logger: this.logger,
      dir: this.dirOf(id),
      logMaxBytes: this.logMaxBytes,
      logMaxFiles: this.logMaxFiles,
      watchPid: (pid, startTime, onGone) => this.poller.watch(pid, startTime, onGone),
      forget: (cid) => this.containers.delete(cid),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw new SwarmError('UNAVAILABLE', 'the executor is closed', 'open a new one');
  }

  /** Prepare: validates, writes the bundle (config.json), /etc/hosts, resolv.conf and hostname files, the log FIFOs. */
  async create(cfg: ContainerConfig): Promise<Container> {
    this.checkOpen();
    validateId(cfg.id);
    const dir = this.dirOf(cfg.id);
    if (this.containers.has(cfg.id) || existsSync(dir)) {
      throw new SwarmError('ALREADY_EXISTS', `container ${cfg.id} already exists`, 'remove it first, or pick another id');
    }
    let rootStat;
    try {
      rootStat = statSync(cfg.rootfs);
    } catch {
      rootStat = undefined;
    }
    if (!rootStat?.isDirectory() || !cfg.rootfs.startsWith('/')) {
      throw new SwarmError('INVALID_ARGUMENT', `rootfs ${cfg.rootfs} is not an existing absolute directory`, 'prepare the root filesystem before creating the container');
    }
    if (cfg.stopSignal || cfg.image.StopSignal) normalizeSignal(cfg.stopSignal || cfg.image.StopSignal!);
    resolveHealthcheck(cfg);
    for (const m of cfg.mounts ?? []) {
      if (m.type === 'bind' && m.source && !existsSync(m.source)) {
        throw new SwarmError('INVALID_ARGUMENT', `bind source path does not exist: ${m.source}`, 'create it on the host first');
      }
    }
    const resolved = resolveProcess(cfg);
    const paths: SpecPaths = {
      hostsFile: join(dir, 'hosts'),
      resolvConfFile: join(dir, 'resolv.conf'),
      hostnameFile: join(dir, 'hostname'),
      volumesDir: join(this.stateDir, 'volumes'),
      cgroupsPath: this.cgroupsPathOf(cfg.id),
      initPath: this.initPath,
      swapAccounting: this.swap,
      hostCapabilities: this.hostCaps,
    };
    const spec = buildOciSpec(cfg, resolved, paths) as { process: Record<string, unknown> };

    mkdirSync(dir, { mode: 0o700 });
    try {
      // meta.json first: whatever follows, a restart finds it and cleans up.
      const meta: ContainerMeta = { version: 1, config: cfg, runtime: this.runtime.name, cgroupsPath: paths.cgroupsPath, createdAt: new Date().toISOString(), process: spec.process };
      writeMeta(dir, meta);
      writeFileSync(join(dir, 'config.json'), JSON.stringify(spec));
      writeFileSync(paths.hostsFile, hostsFileContent(cfg));
      writeFileSync(paths.resolvConfFile, resolvConfContent(cfg, this.hostResolvConf));
      writeFileSync(paths.hostnameFile, hostnameOf(cfg) + '\n');
      for (const m of cfg.mounts ?? []) if (m.type === 'volume') mkdirSync(join(paths.volumesDir, m.source!, '_data'), { recursive: true });
      const mk = await runProgram('mkfifo', ['-m', '0600', fifoPath(dir, 'stdout'), fifoPath(dir, 'stderr')]);
      if (mk.code !== 0) throw new SwarmError('INTERNAL', `cannot create the log FIFOs in ${dir}: ${mk.stderr.trim()}`, 'check the state directory (a local filesystem is required)');
      const c = new Container(this.context(cfg.id), meta, 'created');
      this.containers.set(cfg.id, c);
      this.logger.debug({ container: cfg.id }, 'container created');
      return c;
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get(id: string): Container | undefined {
    return this.containers.get(id);
  }

  list(): Container[] {
    return [...this.containers.values()];
  }

  /**
   * After a daemon restart: containers still running (their shim or process alive) are re-adopted;
   * dead ones are reported to onExited (with what their shim recorded) and cleaned away (runtime
   * state, cgroups, bundle), as are runtime states nobody knows. Returns the adopted ones.
   */
  async adopt(opts: { onExited?: (id: string, exit: ExitInfo, config: ContainerConfig | undefined) => void } = {}): Promise<Container[]> {
    this.checkOpen();
    const adopted: Container[] = [];
    const base = join(this.stateDir, 'containers');
    for (const id of readdirSync(base)) {
      if (this.containers.has(id)) continue;
      const dir = join(base, id);
      let meta: ContainerMeta | undefined;
      try {
        meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as ContainerMeta;
      } catch {
        meta = undefined;
      }
      const alive = meta?.shim !== undefined && (isAlive(meta.shim.pid, meta.shim.startTime) || (meta.pid !== undefined && isAlive(meta.pid, meta.pidStartTime)));
      if (meta && alive) {
        const c = new Container(this.context(id), meta, 'running');
        this.containers.set(id, c);
        c.adoptRunning();
        adopted.push(c);
        this.logger.info({ container: id, pid: meta.pid }, 'container re-adopted');
        continue;
      }
      if (meta?.shim) {
        const rec = readExitFile(dir);
        const exit = exitInfoOf(meta, rec?.code ?? -1, rec?.oomKills ?? 0, false);
        this.logger.info({ container: id, exit }, 'container exited while the daemon was down');
        opts.onExited?.(id, exit, meta.config);
      }
      await this.cleanup(id, meta?.cgroupsPath ?? this.cgroupsPathOf(id));
      rmSync(dir, { recursive: true, force: true });
    }
    // Runtime states with no bundle of ours (a crash between create and bookkeeping): delete them.
    const rtRoot = this.runtime.root;
    if (rtRoot && existsSync(rtRoot)) {
      for (const id of readdirSync(rtRoot)) if (!this.containers.has(id)) await this.cleanup(id, this.cgroupsPathOf(id));
    }
    return adopted;
  }

  private async cleanup(id: string, cgroupsPath: string): Promise<void> {
    const rtState = this.runtime.stateDirOf(id);
    if (rtState && existsSync(rtState)) {
      await this.runtime.delete(id, true).catch((err: unknown) => this.logger.warn({ err, container: id }, 'runtime delete failed'));
      rmSync(rtState, { recursive: true, force: true });
    }
    const left = await removeCgroups(cgroupsPath);
    if (left.length > 0) this.logger.warn({ container: id, left }, 'leftover cgroups could not be removed');
  }

  /** Runs a one-off container to completion; output chunks go to the callbacks; removed afterwards unless remove is false. */
  async run(cfg: ContainerConfig, io: { stdout?: (b: Buffer) => void; stderr?: (b: Buffer) => void; remove?: boolean } = {}): Promise<ExitInfo> {
    const c = await this.create(cfg);
    c.onOutput = (stream, chunk) => (stream === 'stdout' ? io.stdout : io.stderr)?.(chunk);
    try {
      await c.start();
      return await c.wait();
    } finally {
      if (io.remove !== false) {
        if (c.status() === 'running') await c.terminate();
        await c.remove();
      }
    }
  }

  /** Stops watching and collecting (daemon shutdown); containers keep running for adopt() in the next daemon. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.containers.values()) c.detach();
    this.containers.clear();
    this.poller.stop();
  }
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
