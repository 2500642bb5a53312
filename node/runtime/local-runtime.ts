import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type {
  ContainerCreateBody,
  ContainerPlacement,
  ContainerInspect,
  ContainerSummary,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  LogLine,
  Progress,
  RegistryAuth,
  RuntimeBackend,
} from '../api/index.js';
import { SwarmError } from '../errors.js';
import type { Logger } from '../log.js';
import { ImageBuilder } from './build/index.js';
import { Executor, OciRuntime, type Container, type ContainerConfig, type MountSpec, type RuntimeName } from './executor/index.js';
import { CredentialStore, familiarName, ImageStore, parseReference, verifyLogin, type Image } from './images/index.js';
import { LayerStore } from './rootfs/index.js';
import type { ImageSharing } from './share/index.js';

export interface LocalRuntimeOptions {
  /** Everything lives under it: images, layers, containers, build cache, credentials. */
  dir: string;
  logger: Logger;
  runtime?: RuntimeName;
  insecureRegistries?: string[];
}

const LABEL_NAME = 'swarm.container.name';
const LABEL_IMAGE = 'swarm.container.image';
const LABEL_CREATED = 'swarm.container.created';

function shortId(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A node's container runtime: images (with peer-to-peer sharing and registries), layers, the
 * executor and the builder, behind the API's RuntimeBackend.
 */
export class LocalRuntime implements RuntimeBackend {
  readonly images: ImageStore;
  readonly layers: LayerStore;
  readonly executor: Executor;
  readonly builder: ImageBuilder;
  private readonly credentials: CredentialStore;
  private sharing: { sharing: ImageSharing; peers: () => string[] } | undefined;

  private constructor(
    private readonly opts: LocalRuntimeOptions,
    parts: { images: ImageStore; layers: LayerStore; executor: Executor; credentials: CredentialStore },
  ) {
    this.images = parts.images;
    this.layers = parts.layers;
    this.executor = parts.executor;
    this.credentials = parts.credentials;
    this.builder = new ImageBuilder({ images: this.images, layers: this.layers, executor: this.executor, workDir: join(opts.dir, 'build'), logger: opts.logger });
  }

  /** Opens the stores, finds crun or runc (a clear error naming the packages when neither is there), re-adopts containers. */
  static async open(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
    mkdirSync(opts.dir, { recursive: true });
    const runtime = await OciRuntime.detect(opts.runtime);
    const credentials = CredentialStore.open(join(opts.dir, 'credentials.json'));
    const images = await ImageStore.open(join(opts.dir, 'images'), {
      logger: opts.logger,
      credentials,
      ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
    });
    const layers = await LayerStore.open(join(opts.dir, 'layers'), { logger: opts.logger });
    const executor = await Executor.open({ stateDir: join(opts.dir, 'containers'), runtime, logger: opts.logger });
    const rt = new LocalRuntime(opts, { images, layers, executor, credentials });
    await rt.recover();
    return rt;
  }

  /** After a restart: running containers are re-adopted; overlay mounts of gone ones are removed. */
  private async recover(): Promise<void> {
    const adopted = await this.executor.adopt();
    const live = new Set(this.executor.list().map((c) => c.id));
    for (const id of this.layers.mounted()) {
      if (!live.has(id)) await this.layers.remove(id).catch((err: unknown) => this.opts.logger.warn({ err, id }, 'could not clean a leftover mount'));
    }
    if (adopted.length > 0) this.opts.logger.info({ containers: adopted.length }, 're-adopted running containers');
  }

  /** Lets missing images come from other nodes before any registry. */
  enableSharing(sharing: ImageSharing, peers: () => string[]): void {
    this.sharing = { sharing, peers };
  }

  /**
   * The image for `ref`: local, else from a peer that has it, else from its registry.
   * Fails with "image not found: REF (asked: N peers, registry R)".
   */
  async ensureImage(ref: string, progress?: Progress): Promise<Image> {
    const local = this.images.resolve(ref);
    if (local) return local;
    let asked = 0;
    if (this.sharing) {
      const peers = this.sharing.peers();
      asked = peers.length;
      if (peers.length > 0) {
        const r = await this.sharing.sharing.fetch(ref, peers, (p) => progress?.({ status: `Fetching from a peer`, id: p.digest.slice(7, 19), progressDetail: { current: p.done, total: p.total } }));
        if (r.found) return this.images.get(ref);
      }
    }
    const registry = parseReference(ref).domain;
    try {
      return await this.images.pull(ref, { onProgress: (e) => progress?.({ status: e.status, id: e.digest.slice(7, 19), progressDetail: { current: e.done, total: e.total } }) });
    } catch (err) {
      if (err instanceof SwarmError && (err.code === 'NOT_FOUND' || err.code === 'UNAVAILABLE' || err.code === 'PERMISSION_DENIED')) {
        throw new SwarmError('NOT_FOUND', `image not found: ${ref} (asked: ${asked} peers, registry ${registry}: ${err.message})`, err.hint, { cause: err });
      }
      throw err;
    }
  }

  /** Unpacks the image's layers (once) and stacks them for a container. */
  async prepareRootfs(containerId: string, image: Image): Promise<string> {
    const diffIds = image.config.rootfs.diff_ids;
    for (const [i, l] of image.manifest.layers.entries()) {
      await this.layers.ensureLayer(diffIds[i]!, this.images.blobs.path(l.digest), l.mediaType);
    }
    return (await this.layers.mount(containerId, diffIds)).rootfs;
  }

  // ---------------------------------------------------------------- images

  private inUse = (imageId: string): boolean => this.executor.list().some((c) => c.config.labels?.[LABEL_IMAGE] === imageId && c.status() !== 'removed');

  async listImages(): Promise<ImageSummary[]> {
    return this.images.list().map((img) => ({
      Id: img.id,
      ParentId: '',
      RepoTags: img.names.filter((n) => !n.includes('@')).map((n) => familiarName(parseReference(n))),
      RepoDigests: img.names.map((n) => `${familiarName({ ...parseReference(n), tag: undefined, digest: undefined })}@${img.digest}`),
      Created: img.created ? Math.floor(Date.parse(img.created) / 1000) : 0,
      Size: img.size,
      SharedSize: -1,
      Labels: img.config.config.Labels ?? null,
      Containers: -1,
    }));
  }

  async inspectImage(ref: string): Promise<ImageInspect> {
    const img = this.images.get(ref);
    return {
      Id: img.id,
      RepoTags: img.names.filter((n) => !n.includes('@')).map((n) => familiarName(parseReference(n))),
      RepoDigests: img.names.map((n) => `${familiarName({ ...parseReference(n), tag: undefined, digest: undefined })}@${img.digest}`),
      Created: img.created,
      Size: img.size,
      Architecture: img.config.architecture,
      Os: img.config.os,
      Author: '',
      Config: img.config.config,
      RootFS: { Type: 'layers', Layers: img.config.rootfs.diff_ids },
    };
  }

  private rememberAuth(ref: string, auth: RegistryAuth | undefined): void {
    if (auth?.username && auth.password) this.credentials.login(auth.serveraddress || parseReference(ref).domain, auth.username, auth.password);
  }

  async pullImage(ref: string, auth: RegistryAuth | undefined, progress: Progress): Promise<void> {
    this.rememberAuth(ref, auth);
    const img = await this.images.pull(ref, { onProgress: (e) => progress({ status: e.status, id: e.digest.slice(7, 19), progressDetail: { current: e.done, total: e.total } }) });
    progress({ status: `Digest: ${img.digest}` });
    progress({ status: `Status: Downloaded newer image for ${familiarName(parseReference(ref))}` });
  }

  async pushImage(ref: string, auth: RegistryAuth | undefined, progress: Progress): Promise<void> {
    this.rememberAuth(ref, auth);
    await this.images.push(ref, { onProgress: (e) => progress({ status: e.status, id: e.digest.slice(7, 19), progressDetail: { current: e.done, total: e.total } }) });
  }

  async tagImage(source: string, repo: string, tag: string): Promise<void> {
    await this.images.tag(source, tag ? `${repo}:${tag}` : repo);
  }

  async removeImage(ref: string, force: boolean): Promise<ImageDeleteItem[]> {
    const r = await this.images.remove(ref, { force, inUse: this.inUse });
    return [...r.untagged.map((u) => ({ Untagged: familiarName(parseReference(u)) })), ...r.deleted.map((d) => ({ Deleted: d }))];
  }

  async loadImages(archive: Readable, progress: Progress): Promise<string[]> {
    const loaded = await this.images.load(archive);
    const names = [...new Set(loaded.flatMap((i) => (i.names.length > 0 ? i.names.map((n) => familiarName(parseReference(n))) : [i.id])))];
    for (const n of names) progress({ stream: `Loaded image: ${n}\n` });
    return names;
  }

  saveImages(refs: string[], format: 'docker' | 'oci', out: Writable): Promise<void> {
    return this.images.save(refs, format, out);
  }

  async pruneImages(all: boolean): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    const r = await this.images.prune({ inUse: this.inUse, all });
    // Unpacked layers no remaining image needs go too.
    const keep = new Set(this.images.list().flatMap((i) => i.config.rootfs.diff_ids));
    const freed = await this.layers.gc(keep);
    return { ImagesDeleted: r.deletedImages.map((d) => ({ Deleted: d })), SpaceReclaimed: r.reclaimedBytes + freed };
  }

  async buildImage(context: Readable, opts: { tags: string[]; dockerfile: string; buildArgs: Record<string, string>; noCache: boolean }, progress: Progress): Promise<string> {
    const dir = mkdtempSync(join(this.opts.dir, 'build-context-'));
    try {
      await extractTar(context, dir);
      const img = await this.builder.build({
        contextDir: dir,
        dockerfile: opts.dockerfile || 'Dockerfile',
        tags: opts.tags,
        buildArgs: opts.buildArgs,
        noCache: opts.noCache,
        onOutput: (line) => progress({ stream: `${line}\n` }),
      });
      return img.id;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async login(auth: RegistryAuth): Promise<{ Status: string }> {
    if (!auth.username || !auth.password) throw new SwarmError('INVALID_ARGUMENT', 'login: username and password are required');
    const registry = auth.serveraddress || 'docker.io';
    await verifyLogin(registry, { username: auth.username, password: auth.password }, { logger: this.opts.logger, ...(this.opts.insecureRegistries ? { insecureRegistries: this.opts.insecureRegistries } : {}) });
    this.credentials.login(registry, auth.username, auth.password);
    return { Status: 'Login Succeeded' };
  }

  // ---------------------------------------------------------------- containers

  private find(ref: string): Container {
    const c = this.executor.get(ref) ?? this.executor.list().find((x) => x.config.labels?.[LABEL_NAME] === ref || (ref.length >= 4 && x.id.startsWith(ref)));
    if (!c || c.status() === 'removed') throw new SwarmError('NOT_FOUND', `no such container: ${ref}`);
    return c;
  }

  async createContainer(name: string | undefined, body: ContainerCreateBody, placement: ContainerPlacement = {}): Promise<{ Id: string; Warnings: string[] }> {
    if (typeof body.Image !== 'string' || body.Image === '') throw new SwarmError('INVALID_ARGUMENT', 'Image: an image reference is required');
    if (name !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new SwarmError('INVALID_ARGUMENT', `invalid container name "${name}": use [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    if (name && this.executor.list().some((c) => c.config.labels?.[LABEL_NAME] === name && c.status() !== 'removed')) {
      throw new SwarmError('CONFLICT', `the container name "${name}" is already in use`, 'remove that container or choose another name');
    }
    const extraHosts = (body.HostConfig?.ExtraHosts ?? []).map(extraHost);
    const image = await this.ensureImage(body.Image);
    const id = shortId();
    const rootfs = await this.prepareRootfs(id, image);
    const hc = body.HostConfig ?? {};
    const mounts: MountSpec[] = [];
    for (const b of hc.Binds ?? []) {
      const [src, dst, mode] = b.split(':');
      if (!src || !dst) throw new SwarmError('INVALID_ARGUMENT', `HostConfig.Binds: "${b}" is not SRC:DST[:ro]`);
      mounts.push({ type: src.startsWith('/') ? 'bind' : 'volume', source: src, target: dst, readOnly: mode === 'ro' });
    }
    for (const m of hc.Mounts ?? []) {
      mounts.push({ type: m.Type, ...(m.Source ? { source: m.Source } : {}), target: m.Target, readOnly: m.ReadOnly === true, ...(m.TmpfsOptions?.SizeBytes ? { tmpfsSizeBytes: m.TmpfsOptions.SizeBytes } : {}) });
    }
    for (const [target, opts] of Object.entries(hc.Tmpfs ?? {})) {
      const size = /size=(\d+)([kmg]?)/i.exec(opts);
      const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(size?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
      mounts.push({ type: 'tmpfs', target, ...(size ? { tmpfsSizeBytes: Number(size[1]) * mult } : {}) });
    }
    const hcheck = body.Healthcheck;
    const cfg: ContainerConfig = {
      id,
      rootfs,
      image: image.config.config,
      ...(body.Entrypoint ? { entrypoint: body.Entrypoint } : {}),
      ...(body.Cmd ? { command: body.Cmd } : {}),
      ...(body.Env ? { env: body.Env } : {}),
      ...(body.User ? { user: body.User } : {}),
      ...(body.WorkingDir ? { workdir: body.WorkingDir } : {}),
      hostname: body.Hostname || id.slice(0, 12),
      mounts,
      readOnlyRootfs: hc.ReadonlyRootfs === true,
      ...(hc.CapAdd ? { capAdd: hc.CapAdd } : {}),
      ...(hc.CapDrop ? { capDrop: hc.CapDrop } : {}),
      resources: {
        ...(hc.Memory ? { memoryBytes: hc.Memory } : {}),
        ...(hc.NanoCpus ? { nanoCpus: hc.NanoCpus } : {}),
        ...(hc.PidsLimit ? { pidsLimit: hc.PidsLimit } : {}),
      },
      init: hc.Init === true,
      ...(placement.netnsPath ? { netnsPath: placement.netnsPath } : {}),
      ...(hc.Dns?.length ? { dns: { nameservers: hc.Dns, ...(hc.DnsSearch?.length ? { search: hc.DnsSearch } : {}), ...(hc.DnsOptions?.length ? { options: hc.DnsOptions } : {}) } } : {}),
      ...(extraHosts.length ? { hosts: extraHosts } : {}),
      ...(body.StopSignal ? { stopSignal: body.StopSignal } : {}),
      ...(typeof body.StopTimeout === 'number' ? { stopGracePeriodMs: body.StopTimeout * 1000 } : {}),
      ...(hcheck?.Test
        ? {
            healthcheck: {
              test: hcheck.Test,
              ...(hcheck.Interval ? { intervalMs: hcheck.Interval / 1e6 } : {}),
              ...(hcheck.Timeout ? { timeoutMs: hcheck.Timeout / 1e6 } : {}),
              ...(hcheck.Retries ? { retries: hcheck.Retries } : {}),
              ...(hcheck.StartPeriod ? { startPeriodMs: hcheck.StartPeriod / 1e6 } : {}),
            },
          }
        : {}),
      labels: { ...(body.Labels ?? {}), [LABEL_NAME]: name ?? '', [LABEL_IMAGE]: image.id, [LABEL_CREATED]: new Date().toISOString(), 'swarm.container.ref': body.Image, ...(hc.AutoRemove ? { 'swarm.container.autoremove': 'true' } : {}) },
    };
    try {
      const c = await this.executor.create(cfg);
      if (hc.AutoRemove) c.once('exit', () => void this.removeContainer(id, true).catch(() => {}));
    } catch (err) {
      await this.layers.remove(id).catch(() => {});
      throw err;
    }
    return { Id: id, Warnings: [] };
  }

  async startContainer(ref: string): Promise<void> {
    await this.find(ref).start();
  }

  async waitContainer(ref: string): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    const exit = await this.find(ref).wait();
    return { StatusCode: exit.exitCode };
  }

  containerLogs(ref: string, opts: { follow: boolean; tail: number | undefined; since: Date | undefined }, signal: AbortSignal): AsyncIterable<LogLine> {
    return this.find(ref).logs({ follow: opts.follow, ...(opts.tail !== undefined ? { tail: opts.tail } : {}), ...(opts.since ? { since: opts.since } : {}), signal });
  }

  async stopContainer(ref: string, timeoutSeconds: number | undefined): Promise<void> {
    const c = this.find(ref);
    if (c.status() === 'running') await c.shutdown(timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000);
  }

  async killContainer(ref: string, signal: string): Promise<void> {
    const c = this.find(ref);
    if (c.status() !== 'running') throw new SwarmError('CONFLICT', `container ${ref} is not running`);
    if (signal === 'KILL' || signal === 'SIGKILL' || signal === '9' || signal === '') await c.terminate();
    else await c.shutdown(0);
  }

  async removeContainer(ref: string, force: boolean): Promise<void> {
    const c = this.find(ref);
    if (c.status() === 'running') {
      if (!force) throw new SwarmError('CONFLICT', `container ${ref} is running: stop it first`, 'or use --force');
      await c.terminate();
    }
    await c.remove();
    await this.layers.remove(c.id);
  }

  private summary(c: Container): ContainerSummary {
    const l = c.config.labels ?? {};
    const st = c.status();
    const state: ContainerSummary['State'] = st === 'running' ? 'running' : st === 'created' ? 'created' : st === 'removed' ? 'dead' : 'exited';
    return {
      Id: c.id,
      Names: [`/${l[LABEL_NAME] || c.id.slice(0, 12)}`],
      Image: l['swarm.container.ref'] ?? '',
      ImageID: l[LABEL_IMAGE] ?? '',
      Command: [...(c.config.entrypoint ?? c.config.image.Entrypoint ?? []), ...(c.config.command ?? c.config.image.Cmd ?? [])].join(' '),
      Created: Math.floor(Date.parse(l[LABEL_CREATED] ?? '') / 1000) || 0,
      State: state,
      Status: state === 'running' ? 'Up' : state === 'created' ? 'Created' : 'Exited',
      Labels: l,
    };
  }

  async listContainers(all: boolean): Promise<ContainerSummary[]> {
    return this.executor
      .list()
      .filter((c) => c.status() !== 'removed' && (all || c.status() === 'running'))
      .map((c) => this.summary(c));
  }

  async inspectContainer(ref: string): Promise<ContainerInspect> {
    const c = this.find(ref);
    const s = this.summary(c);
    const h = c.health();
    return {
      Id: c.id,
      Name: s.Names[0]!,
      Created: c.config.labels?.[LABEL_CREATED] ?? '',
      Image: s.ImageID,
      Config: { Image: s.Image, Cmd: c.config.command ?? null, Entrypoint: c.config.entrypoint ?? null, Env: c.config.env ?? null, Labels: c.config.labels ?? null },
      State: {
        Status: s.State,
        Running: s.State === 'running',
        Pid: c.pid() ?? 0,
        ExitCode: c.lastExit()?.exitCode ?? 0,
        OOMKilled: c.lastExit()?.oomKilled ?? false,
        StartedAt: c.startedAt() ?? '',
        FinishedAt: c.lastExit()?.finishedAt ?? '',
        ...(h !== 'none' ? { Health: { Status: h } } : {}),
      },
    };
  }

  stop(): void {
    this.executor.close?.();
  }
}

/** Unpacks a tar stream (a build context) into dir with the system tar: it knows every format. */
function extractTar(input: Readable, dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('tar', ['-x', '-C', dir, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new SwarmError('INVALID_ARGUMENT', `the build context is not a valid tar archive: ${err.trim()}`))));
    input.on('error', reject);
    input.pipe(p.stdin);
  });
}

/** Docker's ExtraHosts entry "name:ip" (the ip may hold colons: IPv6). */
function extraHost(entry: string): { name: string; ip: string } {
  const i = entry.indexOf(':');
  if (i <= 0 || i === entry.length - 1) throw new SwarmError('INVALID_ARGUMENT', `HostConfig.ExtraHosts: "${entry}" is not NAME:IP`);
  return { name: entry.slice(0, i), ip: entry.slice(i + 1) };
}
