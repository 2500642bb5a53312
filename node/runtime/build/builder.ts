import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, cpSync } from 'node:fs';
import { join, posix, resolve, relative, dirname } from 'node:path';

import { spawnSync } from 'node:child_process';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Executor } from '../executor/index.js';
import type { Descriptor, Image, ImageConfigFile, ImageStore } from '../images/index.js';
import { dirToLayer, diffToLayer, type LayerStore } from '../rootfs/index.js';
import { DockerfileError, expandVariables, parseDockerfile, type CommandForm, type Instruction } from './dockerfile.js';

export interface BuildOptions {
  /** The build context: a directory on this host. */
  contextDir: string;
  /** Relative to the context, default "Dockerfile". */
  dockerfile?: string;
  tags: string[];
  buildArgs?: Record<string, string>;
  noCache?: boolean;
  /** One line per step, as docker build prints them. */
  onOutput?: (line: string) => void;
}

const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';

interface CachedLayer {
  layer: Descriptor;
  diffId: string;
}

/** A layer produced by an instruction, or from the cache. */
interface BuildState {
  config: ImageConfigFile;
  layers: Descriptor[];
  /** Cache key of everything so far. */
  chain: string;
  vars: Map<string, string>;
}

function sha256(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A content hash of files (names, modes, contents) for COPY/ADD cache keys. */
function hashPaths(paths: string[], root: string): string {
  const h = createHash('sha256');
  const walk = (p: string): void => {
    const st = lstatSync(p);
    h.update(`${relative(root, p)}\0${st.mode}\0`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else if (st.isSymbolicLink()) h.update(readFileSync(p));
    else if (st.isFile()) h.update(readFileSync(p));
  };
  for (const p of paths) walk(p);
  return h.digest('hex');
}

/**
 * Builds images from a Dockerfile subset: each instruction that changes files adds a layer,
 * RUN executes in a container on the image so far (no network), unchanged steps reuse a cache.
 */
export class ImageBuilder {
  private readonly cacheFile: string;
  private cache: Record<string, CachedLayer>;

  constructor(
    private readonly deps: { images: ImageStore; layers: LayerStore; executor: Executor; workDir: string; logger: Logger },
  ) {
    mkdirSync(deps.workDir, { recursive: true });
    this.cacheFile = join(deps.workDir, 'build-cache.json');
    this.cache = existsSync(this.cacheFile) ? (JSON.parse(readFileSync(this.cacheFile, 'utf8')) as Record<string, CachedLayer>) : {};
  }

  async build(opts: BuildOptions): Promise<Image> {
    const out = opts.onOutput ?? (() => {});
    const dockerfilePath = resolve(opts.contextDir, opts.dockerfile ?? 'Dockerfile');
    if (!existsSync(dockerfilePath)) {
      throw new SwarmError('INVALID_ARGUMENT', `no Dockerfile at ${opts.dockerfile ?? 'Dockerfile'} in the build context`, 'pass -f PATH');
    }
    const instructions = parseDockerfile(readFileSync(dockerfilePath, 'utf8'));
    const steps = instructions.length;
    const args = new Map(Object.entries(opts.buildArgs ?? {}));
    const state: BuildState = {
      config: { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
      layers: [],
      chain: 'scratch',
      vars: new Map(),
    };
    for (const [i, ins] of instructions.entries()) {
      out(`Step ${i + 1}/${steps} : ${describe(ins)}`);
      await this.step(ins, state, args, opts, out);
    }
    state.config.created = new Date().toISOString();
    const image = await this.deps.images.commit({ config: state.config, layers: state.layers, names: opts.tags });
    writeFileSync(this.cacheFile, JSON.stringify(this.cache));
    out(`Successfully built ${image.id.slice(7, 19)}`);
    for (const t of opts.tags) out(`Successfully tagged ${t}`);
    return image;
  }

  private env(state: BuildState): Map<string, string> {
    const m = new Map(state.vars);
    for (const e of state.config.config.Env ?? []) {
      const at = e.indexOf('=');
      if (at > 0) m.set(e.slice(0, at), e.slice(at + 1));
    }
    return m;
  }

  private async step(ins: Instruction, state: BuildState, args: Map<string, string>, opts: BuildOptions, out: (l: string) => void): Promise<void> {
    const x = (s: string) => expandVariables(s, this.env(state));
    const cfg = state.config.config;
    const history = (createdBy: string, empty: boolean) => state.config.history!.push({ created: new Date().toISOString(), created_by: createdBy, ...(empty ? { empty_layer: true } : {}) });
    switch (ins.kind) {
      case 'ARG': {
        const v = args.get(ins.name) ?? ins.default;
        if (v !== undefined) state.vars.set(ins.name, v);
        return;
      }
      case 'FROM': {
        const ref = x(ins.image);
        if (ref === 'scratch') return;
        const base = this.deps.images.resolve(ref);
        if (!base) throw new DockerfileError(ins.line, `FROM: image not found: ${ref} (build it, load it or pull it first)`);
        state.config = JSON.parse(JSON.stringify(base.config)) as ImageConfigFile;
        state.config.history ??= [];
        state.layers = [...base.manifest.layers];
        state.chain = base.id;
        return;
      }
      case 'ENV': {
        const env = new Map((cfg.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)] as [string, string]));
        for (const [k, v] of ins.pairs) env.set(k, x(v));
        cfg.Env = [...env].map(([k, v]) => `${k}=${v}`);
        history(`ENV ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, true);
        state.chain = sha256(`${state.chain}\0ENV ${JSON.stringify(cfg.Env)}`);
        return;
      }
      case 'LABEL':
        cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(ins.pairs.map(([k, v]) => [x(k), x(v)])) };
        history(`LABEL ${JSON.stringify(cfg.Labels)}`, true);
        return;
      case 'WORKDIR':
        cfg.WorkingDir = posix.resolve(cfg.WorkingDir || '/', x(ins.path));
        history(`WORKDIR ${cfg.WorkingDir}`, true);
        // The directory exists in the image from here on, as Docker makes it.
        await this.addFilesLayer(state, `WORKDIR ${cfg.WorkingDir}`, (stage) => mkdirSync(join(stage, cfg.WorkingDir!), { recursive: true }), undefined, out, opts.noCache);
        return;
      case 'USER':
        cfg.User = x(ins.user);
        history(`USER ${cfg.User}`, true);
        return;
      case 'EXPOSE':
        cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...Object.fromEntries(ins.ports.map((p) => [x(p).includes('/') ? x(p) : `${x(p)}/tcp`, {}])) };
        history(`EXPOSE ${ins.ports.join(' ')}`, true);
        return;
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = ins.command.form === 'exec' ? ins.command.args : ['/bin/sh', '-c', ins.command.command];
        if (ins.kind === 'CMD') cfg.Cmd = argv;
        else {
          cfg.Entrypoint = argv;
          // A new ENTRYPOINT drops an inherited CMD, as in Docker.
          cfg.Cmd = null;
        }
        history(`${ins.kind} ${JSON.stringify(argv)}`, true);
        return;
      }
      case 'HEALTHCHECK': {
        const c = ins.check;
        cfg.Healthcheck = { Test: c.test, ...(c.intervalMs ? { Interval: c.intervalMs * 1e6 } : {}), ...(c.timeoutMs ? { Timeout: c.timeoutMs * 1e6 } : {}), ...(c.startPeriodMs ? { StartPeriod: c.startPeriodMs * 1e6 } : {}), ...(c.retries !== undefined ? { Retries: c.retries } : {}) };
        history(`HEALTHCHECK ${JSON.stringify(c.test)}`, true);
        return;
      }
      case 'COPY':
      case 'ADD':
        await this.copy(ins, state, opts, out, x);
        return;
      case 'RUN':
        await this.run(ins.line, ins.command, state, out, opts.noCache);
        return;
    }
  }

  private async copy(ins: Extract<Instruction, { kind: 'COPY' | 'ADD' }>, state: BuildState, opts: BuildOptions, out: (l: string) => void, x: (s: string) => string): Promise<void> {
    const ctx = resolve(opts.contextDir);
    const sources = ins.sources.map((s) => {
      const p = resolve(ctx, x(s));
      if (p !== ctx && !p.startsWith(`${ctx}/`)) throw new DockerfileError(ins.line, `${ins.kind}: ${s} is outside the build context`);
      if (!existsSync(p)) throw new DockerfileError(ins.line, `${ins.kind}: ${s} not found in the build context`);
      return p;
    });
    const workdir = state.config.config.WorkingDir || '/';
    const rawDest = x(ins.dest);
    const dest = posix.resolve(workdir, rawDest);
    const toDir = rawDest.endsWith('/') || sources.length > 1 || (sources.length === 1 && statSync(sources[0]!).isDirectory());
    let owner: { uid: number; gid: number } | undefined;
    if (ins.chown) {
      const m = /^(\d+)(?::(\d+))?$/.exec(x(ins.chown));
      if (!m) throw new DockerfileError(ins.line, `${ins.kind} --chown: use numeric uid[:gid] (names are not supported), got "${ins.chown}"`);
      owner = { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
    }
    const key = `${ins.kind} ${JSON.stringify(ins.sources)} ${dest} ${JSON.stringify(owner)} ${hashPaths(sources, ctx)}`;
    await this.addFilesLayer(state, key, (stage) => {
      for (const src of sources) {
        const isTar = ins.kind === 'ADD' && /\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz)$/.test(src) && statSync(src).isFile();
        const target = join(stage, toDir ? join(dest, isTar ? '' : posix.basename(src)) : dest);
        if (isTar) {
          mkdirSync(target, { recursive: true });
          // Local tarballs are unpacked by ADD, as Docker does.
          const r = spawnSync('tar', ['-xf', src, '-C', target], { encoding: 'utf8' });
          if (r.status !== 0) throw new DockerfileError(ins.line, `ADD: cannot unpack ${relative(ctx, src)}: ${r.stderr.trim()}`);
        } else if (statSync(src).isDirectory()) {
          mkdirSync(target, { recursive: true });
          cpSync(src, target, { recursive: true, verbatimSymlinks: true });
        } else {
          mkdirSync(dirname(target), { recursive: true });
          cpSync(src, target, { verbatimSymlinks: true });
        }
      }
    }, owner, out, opts.noCache);
  }

  /** A layer of files staged in a temp dir by `stage`, cached by `key` on top of the chain so far. */
  private async addFilesLayer(state: BuildState, key: string, stage: (dir: string) => void, owner: { uid: number; gid: number } | undefined, out: (l: string) => void, noCache?: boolean): Promise<void> {
    const cacheKey = sha256(`${state.chain}\0${key}`);
    if (!noCache && this.useCache(cacheKey, state, key, out)) return;
    const dir = join(this.deps.workDir, `stage-${randomBytes(6).toString('hex')}`);
    const tarPath = `${dir}.tar`;
    try {
      mkdirSync(dir, { recursive: true });
      stage(dir);
      const ws = createWriteStream(tarPath);
      const done = new Promise<void>((res, rej) => ws.on('finish', res).on('error', rej));
      const { diffId, size } = await dirToLayer(dir, ws, { ...(owner ?? {}), fixedMtime: new Date(0) });
      await done;
      await this.addLayer(state, cacheKey, tarPath, diffId, size, key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(tarPath, { force: true });
    }
  }

  private useCache(cacheKey: string, state: BuildState, createdBy: string, out: (l: string) => void): boolean {
    const hit = this.cache[cacheKey];
    if (!hit || !this.deps.images.blobs.has(hit.layer.digest)) return false;
    out(' ---> Using cache');
    state.layers.push(hit.layer);
    state.config.rootfs.diff_ids.push(hit.diffId);
    state.config.history!.push({ created: new Date().toISOString(), created_by: createdBy });
    state.chain = cacheKey;
    return true;
  }

  private async addLayer(state: BuildState, cacheKey: string, tarPath: string, diffId: string, size: number, createdBy: string): Promise<void> {
    // Uncompressed layers: their digest is the diffID.
    await this.deps.images.blobs.ingest(diffId, createReadStream(tarPath), size);
    const layer: Descriptor = { mediaType: LAYER_MEDIA_TYPE, digest: diffId, size };
    await this.deps.layers.ensureLayer(diffId, this.deps.images.blobs.path(diffId), LAYER_MEDIA_TYPE);
    this.cache[cacheKey] = { layer, diffId };
    state.layers.push(layer);
    state.config.rootfs.diff_ids.push(diffId);
    state.config.history!.push({ created: new Date().toISOString(), created_by: createdBy });
    state.chain = cacheKey;
  }

  private async run(line: number, command: CommandForm, state: BuildState, out: (l: string) => void, noCache?: boolean): Promise<void> {
    const argv = command.form === 'exec' ? command.args : ['/bin/sh', '-c', command.command];
    const env = [...this.env(state)].map(([k, v]) => `${k}=${v}`);
    const createdBy = `RUN ${JSON.stringify(argv)}`;
    const cacheKey = sha256(`${state.chain}\0${createdBy}\0${JSON.stringify(env)}\0${state.config.config.User ?? ''}\0${state.config.config.WorkingDir ?? ''}`);
    if (!noCache && this.useCache(cacheKey, state, createdBy, out)) return;
    const id = `build-${randomBytes(6).toString('hex')}`;
    // Every layer must be unpacked before it can be stacked.
    for (const [i, l] of state.layers.entries()) {
      await this.deps.layers.ensureLayer(state.config.rootfs.diff_ids[i]!, this.deps.images.blobs.path(l.digest), l.mediaType);
    }
    const { rootfs, upper } = await this.deps.layers.mount(id, state.config.rootfs.diff_ids);
    const tarPath = join(this.deps.workDir, `${id}.tar`);
    try {
      const c = state.config.config;
      const exit = await this.deps.executor.run(
        { id, rootfs, image: { Env: env, WorkingDir: c.WorkingDir ?? '/', User: c.User ?? '' }, entrypoint: [], command: argv, env, ...(c.User ? { user: c.User } : {}), ...(c.WorkingDir ? { workdir: c.WorkingDir } : {}) },
        { stdout: (b) => out(` ${b.toString().trimEnd()}`), stderr: (b) => out(` ${b.toString().trimEnd()}`), remove: true },
      );
      if (exit.exitCode !== 0) throw new DockerfileError(line, `RUN ${argv.join(' ')} exited with code ${exit.exitCode}`);
      const ws = createWriteStream(tarPath);
      const done = new Promise<void>((res, rej) => ws.on('finish', res).on('error', rej));
      const { diffId, size } = await diffToLayer(upper, ws, { fixedMtime: new Date(0), exclude: isRuntimeMountpoint });
      await done;
      await this.addLayer(state, cacheKey, tarPath, diffId, size, createdBy);
    } finally {
      await this.deps.layers.remove(id).catch(() => {});
      rmSync(tarPath, { force: true });
    }
  }
}

/** Files the OCI runtime creates as mountpoints during RUN (empty): not part of the image, as in Docker. */
const RUNTIME_MOUNTPOINTS = new Set(['etc/hosts', 'etc/resolv.conf', 'etc/hostname', 'sbin/docker-init']);

function isRuntimeMountpoint(rel: string, st: import('node:fs').Stats): boolean {
  return RUNTIME_MOUNTPOINTS.has(rel) && st.isFile() && st.size === 0;
}

function describe(ins: Instruction): string {
  switch (ins.kind) {
    case 'FROM':
      return `FROM ${ins.image}`;
    case 'RUN':
    case 'CMD':
    case 'ENTRYPOINT':
      return `${ins.kind} ${ins.command.form === 'exec' ? JSON.stringify(ins.command.args) : ins.command.command}`;
    case 'COPY':
    case 'ADD':
      return `${ins.kind} ${ins.sources.join(' ')} ${ins.dest}`;
    default:
      return ins.kind;
  }
}
