import { createHash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { SwarmError } from '../errors.js';
import type {
  ContainerCreateBody,
  ContainerInspect,
  ContainerSummary,
  ImageDeleteItem,
  ImageInspect,
  ImageSummary,
  LogLine,
  Progress,
  RegistryAuth,
  RuntimeBackend,
  WaitCondition,
} from './runtime-backend.js';

// An in-memory RuntimeBackend for tests of API clients (the API's routes, the CLI's commands). It
// speaks Docker's progress messages and error texts where clients show them, and runs "containers"
// by interpreting a tiny shell: `echo TEXT`, `echo TEXT >&2`, `exit N`, `true`, `false`, and
// `sleep ...` (runs until stopped or killed), joined by ";" or "&&" in `sh -c`. Not for production.

const hash = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface FakeLayer {
  size: number;
}

/** An image the fake registry serves; `failAfter` makes the pull fail after that many progress messages. */
export interface FakeRemoteImage {
  layers?: FakeLayer[];
  cmd?: string[];
  failAfter?: number;
}

interface FakeImage {
  id: string;
  tags: string[];
  digests: string[];
  created: number; // unix seconds
  size: number;
  layers: string[];
  cmd: string[];
  parent: string;
}

interface FakeContainer {
  id: string;
  name: string;
  created: Date;
  body: ContainerCreateBody;
  imageId: string;
  state: ContainerSummary['State'];
  exitCode: number;
  startedAt: string;
  finishedAt: string;
  logs: LogLine[];
  events: EventEmitter;
}

type Call = { method: keyof RuntimeBackend; args: unknown[] };

/** Stream, signal and callback arguments are recorded by kind, not cloned. */
function recordable(arg: unknown): unknown {
  if (typeof arg === 'function') return '[function]';
  if (arg instanceof AbortSignal) return '[signal]';
  if (typeof arg === 'object' && arg !== null && typeof (arg as { pipe?: unknown }).pipe === 'function') return '[stream]';
  return structuredClone(arg);
}

/** "alpine" is "alpine:latest"; digests and explicit tags stay. */
export function normalizeRef(ref: string): string {
  if (ref.includes('@')) return ref;
  return ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref : `${ref}:latest`;
}

function splitTag(ref: string): { repo: string; tag: string } {
  const n = normalizeRef(ref);
  const i = n.lastIndexOf(':');
  return { repo: n.slice(0, i), tag: n.slice(i + 1) };
}

/** Docker Hub's path for a short name ("library/alpine"), as "Pulling from" shows it. */
function remotePath(repo: string): string {
  const first = repo.split('/')[0] ?? '';
  if (repo.includes('/') && (/[.:]/.test(first) || first === 'localhost')) return repo.split('/').slice(1).join('/');
  return repo.includes('/') ? repo : `library/${repo}`;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGTERM: 15 };

export class FakeRuntimeBackend implements RuntimeBackend {
  readonly calls: Call[] = [];
  /** The next error any call throws (then cleared). */
  failNext: Error | undefined;
  /** What the fake registry serves, by normalized reference ("alpine:latest"). */
  readonly remote = new Map<string, FakeRemoteImage>();
  /** What POST /auth accepted. */
  readonly logins: RegistryAuth[] = [];
  /** Set before saveImages to cut the archive off midway with this error. */
  saveFailure: Error | undefined;
  /** The file names of the last build context. */
  lastBuildContext: string[] = [];
  /** Log streams open right now (follow streams end when their client goes away). */
  openLogStreams = 0;

  private readonly images = new Map<string, FakeImage>();
  private readonly containers = new Map<string, FakeContainer>();
  private readonly closedLogStream = new EventEmitter();
  private serial = 0;

  private record(method: keyof RuntimeBackend, ...args: unknown[]): void {
    this.calls.push({ method, args: args.map(recordable) });
    const err = this.failNext;
    if (err !== undefined) {
      this.failNext = undefined;
      throw err;
    }
  }

  /** Put an image in the local store; returns its id. */
  addImage(opts: { tags?: string[]; size?: number; createdAgoSeconds?: number; cmd?: string[]; layers?: number; parent?: string }): string {
    const n = ++this.serial;
    const id = `sha256:${hash(`image-${n}`)}`;
    const tags = (opts.tags ?? []).map(normalizeRef);
    for (const t of tags) this.untagEverywhere(t);
    this.images.set(id, {
      id,
      tags,
      digests: [],
      created: Math.floor(Date.now() / 1000) - (opts.createdAgoSeconds ?? 0),
      size: opts.size ?? 1000,
      layers: Array.from({ length: opts.layers ?? 1 }, (_, i) => `sha256:${hash(`layer-${n}-${i}`)}`),
      cmd: opts.cmd ?? ['sh'],
      parent: opts.parent ?? '',
    });
    return id;
  }

  private untagEverywhere(tag: string): void {
    for (const img of this.images.values()) img.tags = img.tags.filter((t) => t !== tag);
  }

  private findImage(ref: string): FakeImage | undefined {
    const n = normalizeRef(ref);
    for (const img of this.images.values()) if (img.tags.includes(n) || img.id === ref) return img;
    const hex = ref.replace(/^sha256:/, '');
    if (/^[0-9a-f]{4,64}$/.test(hex)) {
      const matches = [...this.images.values()].filter((i) => i.id.slice(7).startsWith(hex));
      if (matches.length === 1) return matches[0];
    }
    return undefined;
  }

  private image(ref: string): FakeImage {
    const img = this.findImage(ref);
    if (!img) throw new SwarmError('NOT_FOUND', `No such image: ${ref}`);
    return img;
  }

  private summary(img: FakeImage): ImageSummary {
    return {
      Id: img.id,
      ParentId: img.parent,
      RepoTags: [...img.tags],
      RepoDigests: [...img.digests],
      Created: img.created,
      Size: img.size,
      SharedSize: -1,
      Labels: null,
      Containers: [...this.containers.values()].filter((c) => c.imageId === img.id).length,
    };
  }

  async listImages(all: boolean): Promise<ImageSummary[]> {
    this.record('listImages', all);
    return [...this.images.values()].filter((i) => all || i.parent === '' || i.tags.length > 0).map((i) => this.summary(i));
  }

  async inspectImage(ref: string): Promise<ImageInspect> {
    this.record('inspectImage', ref);
    const img = this.image(ref);
    return {
      Id: img.id,
      RepoTags: [...img.tags],
      RepoDigests: [...img.digests],
      Created: new Date(img.created * 1000).toISOString(),
      Size: img.size,
      Architecture: 'amd64',
      Os: 'linux',
      Author: '',
      Config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: [...img.cmd], Entrypoint: null, WorkingDir: '', User: '', Labels: null },
      RootFS: { Type: 'layers', Layers: [...img.layers] },
    };
  }

  async pullImage(ref: string, auth: RegistryAuth | undefined, progress: Progress, signal?: AbortSignal): Promise<void> {
    this.record('pullImage', ref, auth, progress, signal);
    const n = normalizeRef(ref);
    const remote = this.remote.get(n);
    if (!remote) throw new SwarmError('NOT_FOUND', `pull access denied for ${splitTag(ref).repo}, repository does not exist or may require 'docker login'`);
    const { repo, tag } = splitTag(ref);
    let sent = 0;
    const emit: Progress = (e) => {
      if (signal?.aborted) throw new SwarmError('UNAVAILABLE', 'pull cancelled: the client went away');
      if (remote.failAfter !== undefined && sent >= remote.failAfter) throw new SwarmError('UNAVAILABLE', `error pulling ${n}: connection reset by the registry`);
      sent++;
      progress(e);
    };
    emit({ status: `Pulling from ${remotePath(repo)}`, id: tag });
    const digest = `sha256:${hash(`digest-${n}`)}`;
    const existing = this.findImage(n);
    if (existing?.digests.includes(`${repo}@${digest}`)) {
      emit({ status: `Digest: ${digest}` });
      emit({ status: `Status: Image is up to date for ${n}` });
      return;
    }
    const layers = remote.layers ?? [{ size: 3_000_000 }];
    const ids = layers.map((_, i) => hash(`remote-${n}-${i}`).slice(0, 12));
    layers.forEach((_, i) => emit({ status: 'Pulling fs layer', progressDetail: {}, id: ids[i] ?? '' }));
    layers.forEach((l, i) => {
      const id = ids[i] ?? '';
      emit({ status: 'Downloading', progressDetail: { current: Math.floor(l.size / 2), total: l.size }, id });
      emit({ status: 'Downloading', progressDetail: { current: l.size, total: l.size }, id });
      emit({ status: 'Verifying Checksum', progressDetail: {}, id });
      emit({ status: 'Download complete', progressDetail: {}, id });
    });
    layers.forEach((l, i) => {
      const id = ids[i] ?? '';
      emit({ status: 'Extracting', progressDetail: { current: l.size, total: l.size }, id });
      emit({ status: 'Pull complete', progressDetail: {}, id });
    });
    emit({ status: `Digest: ${digest}` });
    const newId = this.addImage({ tags: [n], size: layers.reduce((a, l) => a + l.size, 0), layers: layers.length, cmd: remote.cmd ?? ['sh'] });
    this.images.get(newId)?.digests.push(`${repo}@${digest}`);
    emit({ status: `Status: Downloaded newer image for ${n}` });
  }

  async pushImage(ref: string, auth: RegistryAuth | undefined, progress: Progress, signal?: AbortSignal): Promise<void> {
    this.record('pushImage', ref, auth, progress, signal);
    const n = normalizeRef(ref);
    const img = this.findImage(n);
    if (!img || !img.tags.includes(n)) throw new SwarmError('NOT_FOUND', `An image does not exist locally with the tag: ${splitTag(ref).repo}`);
    const { repo, tag } = splitTag(ref);
    progress({ status: `The push refers to repository [${repo}]` });
    const ids = img.layers.map((l) => l.slice(7, 19));
    const per = Math.max(1, Math.floor(img.size / Math.max(1, ids.length)));
    for (const id of ids) progress({ status: 'Preparing', progressDetail: {}, id });
    for (const id of ids) {
      progress({ status: 'Pushing', progressDetail: { current: Math.floor(per / 2), total: per }, id });
      progress({ status: 'Pushed', progressDetail: {}, id });
    }
    const digest = `sha256:${hash(`pushed-${n}`)}`;
    progress({ status: `${tag}: digest: ${digest} size: 528` });
    progress({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: 528 } });
    this.remote.set(n, { layers: ids.map(() => ({ size: per })), cmd: img.cmd });
  }

  async tagImage(source: string, repo: string, tag: string): Promise<void> {
    this.record('tagImage', source, repo, tag);
    const img = this.image(source);
    const target = `${repo}:${tag}`;
    this.untagEverywhere(target);
    img.tags.push(target);
  }

  async removeImage(ref: string, force: boolean): Promise<ImageDeleteItem[]> {
    this.record('removeImage', ref, force);
    const img = this.image(ref);
    const n = normalizeRef(ref);
    const byTag = img.tags.includes(n);
    if (byTag && img.tags.length > 1) {
      img.tags = img.tags.filter((t) => t !== n);
      return [{ Untagged: n }];
    }
    if (!byTag && img.tags.length > 1 && !force) {
      throw new SwarmError('CONFLICT', `conflict: unable to delete ${img.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
    }
    const user = [...this.containers.values()].find((c) => c.imageId === img.id);
    if (user && !force) {
      throw new SwarmError(
        'CONFLICT',
        `conflict: unable to remove repository reference "${ref}" (must force) - container ${user.id.slice(0, 12)} is using its referenced image ${img.id.slice(7, 19)}`,
      );
    }
    this.images.delete(img.id);
    return [...img.tags.map((t) => ({ Untagged: t })), { Deleted: img.id }];
  }

  async loadImages(archive: Readable, progress: Progress, signal?: AbortSignal): Promise<string[]> {
    this.record('loadImages', archive, progress, signal);
    const files = await readTar(archive);
    const manifest = files.get('manifest.json');
    if (manifest === undefined) throw new SwarmError('INVALID_ARGUMENT', 'invalid image archive: it has no manifest.json (is it a docker save or OCI archive?)');
    let entries: { RepoTags?: string[] | null; Layers?: string[] }[];
    try {
      entries = JSON.parse(manifest.toString('utf8')) as typeof entries;
    } catch {
      throw new SwarmError('INVALID_ARGUMENT', 'invalid image archive: manifest.json is not JSON');
    }
    const loaded: string[] = [];
    for (const e of entries) {
      const layers = e.Layers ?? [];
      for (const l of layers) {
        const size = files.get(l)?.length ?? 0;
        progress({ status: 'Loading layer', progressDetail: { current: size, total: size }, id: l.slice(0, 12) });
      }
      const tags = e.RepoTags ?? [];
      const id = this.addImage({ tags, size: layers.reduce((a, l) => a + (files.get(l)?.length ?? 0), 0), layers: layers.length });
      loaded.push(...(tags.length > 0 ? tags.map(normalizeRef) : [id]));
    }
    return loaded;
  }

  async saveImages(refs: string[], format: 'docker' | 'oci', out: Writable, signal?: AbortSignal): Promise<void> {
    this.record('saveImages', refs, format, out, signal);
    const imgs = refs.map((r) => this.image(r));
    const p = pack();
    const manifest = imgs.map((img) => ({
      Config: `${img.id.slice(7)}.json`,
      RepoTags: refs.filter((r) => img.tags.includes(normalizeRef(r))).map(normalizeRef),
      Layers: img.layers.map((l) => `${l.slice(7)}/layer.tar`),
    }));
    for (const img of imgs) {
      p.entry({ name: `${img.id.slice(7)}.json` }, JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: img.cmd } }));
      for (const l of img.layers) p.entry({ name: `${l.slice(7)}/layer.tar` }, Buffer.alloc(2048, 1));
    }
    if (format === 'oci') p.entry({ name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}');
    p.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
    p.finalize();
    let written = 0;
    for await (const chunk of p as AsyncIterable<Buffer>) {
      if (this.saveFailure && written > 0) {
        const err = this.saveFailure;
        this.saveFailure = undefined;
        throw err;
      }
      written += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
  }

  async pruneImages(all: boolean): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }> {
    this.record('pruneImages', all);
    const used = new Set([...this.containers.values()].map((c) => c.imageId));
    const deleted: ImageDeleteItem[] = [];
    let space = 0;
    for (const img of [...this.images.values()]) {
      if (used.has(img.id) || (!all && img.tags.length > 0)) continue;
      this.images.delete(img.id);
      deleted.push(...img.tags.map((t) => ({ Untagged: t })), { Deleted: img.id });
      space += img.size;
    }
    return { ImagesDeleted: deleted, SpaceReclaimed: space };
  }

  async buildImage(
    context: Readable,
    opts: { tags: string[]; dockerfile: string; buildArgs: Record<string, string>; noCache: boolean },
    progress: Progress,
    signal?: AbortSignal,
  ): Promise<string> {
    this.record('buildImage', context, opts, progress, signal);
    const files = await readTar(context);
    this.lastBuildContext = [...files.keys()].sort();
    const dockerfile = files.get(opts.dockerfile);
    if (dockerfile === undefined) throw new SwarmError('INVALID_ARGUMENT', `Cannot locate specified Dockerfile: ${opts.dockerfile}`);
    const steps = dockerfile
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    let parent = '';
    let cmd = ['sh'];
    for (const [i, step] of steps.entries()) {
      progress({ stream: `Step ${i + 1}/${steps.length} : ${step}\n` });
      const [instr = '', ...rest] = step.split(/\s+/);
      const arg = rest.join(' ');
      switch (instr.toUpperCase()) {
        case 'FROM': {
          const base = this.findImage(arg);
          if (!base) throw new SwarmError('NOT_FOUND', `pull access denied for ${splitTag(arg).repo}, repository does not exist or may require 'docker login'`);
          parent = base.id;
          break;
        }
        case 'RUN': {
          progress({ stream: ` ---> Running in ${hash(`run-${this.serial}-${i}`).slice(0, 12)}\n` });
          const code = arg === 'false' ? 1 : Number(/^exit (\d+)$/.exec(arg)?.[1] ?? 0);
          if (code !== 0) throw new SwarmError('INVALID_ARGUMENT', `The command '/bin/sh -c ${arg}' returned a non-zero code: ${code}`);
          break;
        }
        case 'COPY':
        case 'ADD': {
          const src = rest[0] ?? '';
          if (src !== '.' && ![...files.keys()].some((f) => f === src || f.startsWith(`${src}/`))) {
            throw new SwarmError('INVALID_ARGUMENT', `COPY failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`);
          }
          break;
        }
        case 'CMD':
          cmd = ['/bin/sh', '-c', arg];
          break;
        default:
          break;
      }
      progress({ stream: ` ---> ${hash(`step-${this.serial}-${i}`).slice(0, 12)}\n` });
    }
    return this.addImage({ tags: opts.tags, size: 1000 + files.size, cmd, parent });
  }

  async login(auth: RegistryAuth): Promise<{ Status: string }> {
    this.record('login', auth);
    if (auth.password === 'wrong') throw new SwarmError('PERMISSION_DENIED', `login to ${auth.serveraddress ?? 'the registry'} failed: unauthorized: incorrect username or password`);
    this.logins.push(structuredClone(auth));
    return { Status: 'Login Succeeded' };
  }

  // --- containers ---

  private container(ref: string): FakeContainer {
    const name = ref.replace(/^\//, '');
    const exact = this.containers.get(ref) ?? [...this.containers.values()].find((c) => c.name === name);
    if (exact) return exact;
    const prefix = [...this.containers.values()].filter((c) => c.id.startsWith(ref));
    if (prefix.length === 1 && prefix[0]) return prefix[0];
    throw new SwarmError('NOT_FOUND', `No such container: ${ref}`);
  }

  async createContainer(name: string | undefined, body: ContainerCreateBody): Promise<{ Id: string; Warnings: string[] }> {
    this.record('createContainer', name, body);
    let img = this.findImage(body.Image);
    if (!img && this.remote.has(normalizeRef(body.Image))) {
      // Pull-on-missing, as the daemon does.
      await this.pullImage(body.Image, undefined, () => undefined);
      img = this.findImage(body.Image);
    }
    if (!img) throw new SwarmError('NOT_FOUND', `No such image: ${body.Image}`);
    const n = ++this.serial;
    const id = hash(`container-${n}`);
    const cname = name ?? `fake_container_${n}`;
    const taken = [...this.containers.values()].find((c) => c.name === cname);
    if (taken) {
      throw new SwarmError(
        'CONFLICT',
        `Conflict. The container name "/${cname}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const events = new EventEmitter();
    events.setMaxListeners(0);
    this.containers.set(id, {
      id,
      name: cname,
      created: new Date(),
      body: structuredClone(body),
      imageId: img.id,
      state: 'created',
      exitCode: 0,
      startedAt: '0001-01-01T00:00:00Z',
      finishedAt: '0001-01-01T00:00:00Z',
      logs: [],
      events,
    });
    const warnings = body.HostConfig?.Memory !== undefined && body.HostConfig.Memory > 0 && body.HostConfig.Memory < 6 * 1024 * 1024 ? ['Minimum memory limit is 6MB'] : [];
    return { Id: id, Warnings: warnings };
  }

  /** Test hook: a running container writes a line. */
  emitLog(ref: string, stream: 'stdout' | 'stderr', line: string): void {
    const c = this.container(ref);
    c.logs.push({ stream, time: new Date().toISOString(), line });
    c.events.emit('change');
  }

  /** Test hook: a running container exits by itself. */
  exit(ref: string, code: number): void {
    this.finish(this.container(ref), code);
  }

  /** Resolves when the next log stream closes (its client went away, or it ended). */
  logStreamClosed(): Promise<void> {
    return once(this.closedLogStream, 'closed').then(() => undefined);
  }

  private finish(c: FakeContainer, code: number): void {
    if (c.state !== 'running') return;
    c.state = 'exited';
    c.exitCode = code;
    c.finishedAt = new Date().toISOString();
    c.events.emit('change');
    c.events.emit('exit', code);
    if (c.body.HostConfig?.AutoRemove) this.drop(c);
  }

  private drop(c: FakeContainer): void {
    this.containers.delete(c.id);
    c.events.emit('removed');
  }

  async startContainer(ref: string): Promise<void> {
    this.record('startContainer', ref);
    const c = this.container(ref);
    if (c.state === 'running') return;
    c.state = 'running';
    c.startedAt = new Date().toISOString();
    const img = this.images.get(c.imageId);
    const argv = [...(c.body.Entrypoint ?? []), ...(c.body.Cmd ?? (c.body.Entrypoint ? [] : (img?.cmd ?? ['sh'])))];
    const script = argv[0] === 'sh' && argv[1] === '-c' ? (argv[2] ?? '') : argv.join(' ');
    for (const cmd of script.split(/;|&&/).map((s) => s.trim())) {
      if (cmd === '' || cmd === 'sh' || cmd === 'true') continue;
      const [word = '', ...args] = cmd.split(/\s+/);
      if (word === 'echo') {
        const toErr = args.at(-1) === '>&2';
        this.emitLog(c.id, toErr ? 'stderr' : 'stdout', (toErr ? args.slice(0, -1) : args).join(' '));
      } else if (word === 'exit') {
        return this.finish(c, Number(args[0] ?? 0));
      } else if (word === 'false') {
        return this.finish(c, 1);
      } else if (word === 'sleep') {
        return; // runs until stopped or killed
      } else {
        this.emitLog(c.id, 'stderr', `sh: ${word}: not found`);
        return this.finish(c, 127);
      }
    }
    this.finish(c, 0);
  }

  async waitContainer(ref: string, opts: { condition?: WaitCondition; signal?: AbortSignal } = {}): Promise<{ StatusCode: number; Error?: { Message: string } }> {
    this.record('waitContainer', ref, opts.condition, opts.signal);
    const c = this.container(ref);
    const condition = opts.condition ?? 'not-running';
    if (condition === 'not-running' && c.state !== 'running') return { StatusCode: c.exitCode };
    if (condition === 'removed' && !this.containers.has(c.id)) return { StatusCode: c.exitCode };
    const [code] = (await once(c.events, condition === 'removed' ? 'removed' : 'exit', opts.signal ? { signal: opts.signal } : {})) as [number | undefined];
    return { StatusCode: code ?? c.exitCode };
  }

  async *containerLogs(
    ref: string,
    opts: { follow: boolean; tail: number | undefined; since: Date | undefined },
    signal: AbortSignal,
  ): AsyncIterable<LogLine> {
    this.record('containerLogs', ref, opts, signal);
    const c = this.container(ref);
    this.openLogStreams++;
    try {
      let lines = c.logs.filter((l) => opts.since === undefined || new Date(l.time) >= opts.since);
      if (opts.tail !== undefined) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
      yield* lines;
      let next = c.logs.length;
      while (opts.follow && c.state === 'running' && !signal.aborted) {
        try {
          await once(c.events, 'change', { signal });
        } catch {
          return; // aborted
        }
        while (next < c.logs.length) {
          const l = c.logs[next++];
          if (l) yield l;
        }
      }
    } finally {
      this.openLogStreams--;
      this.closedLogStream.emit('closed');
    }
  }

  async stopContainer(ref: string, timeoutSeconds: number | undefined): Promise<void> {
    this.record('stopContainer', ref, timeoutSeconds);
    this.finish(this.container(ref), 143);
  }

  async killContainer(ref: string, signal: string): Promise<void> {
    this.record('killContainer', ref, signal);
    const c = this.container(ref);
    if (c.state !== 'running') throw new SwarmError('CONFLICT', `Cannot kill container: ${ref}: container ${c.id} is not running`);
    const upper = signal.toUpperCase();
    const n = /^\d+$/.test(signal) ? Number(signal) : SIGNALS[upper.startsWith('SIG') ? upper : `SIG${upper}`];
    if (n === undefined) throw new SwarmError('INVALID_ARGUMENT', `Invalid signal: ${signal}`);
    this.finish(c, 128 + n);
  }

  async removeContainer(ref: string, force: boolean): Promise<void> {
    this.record('removeContainer', ref, force);
    const c = this.container(ref);
    if (c.state === 'running' && !force) {
      throw new SwarmError(
        'CONFLICT',
        `cannot remove container "/${c.name}": container is running: stop the container before removing or force remove`,
      );
    }
    this.finish(c, 137);
    this.drop(c);
  }

  private status(c: FakeContainer): string {
    const ago = (iso: string): string => `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} seconds`;
    if (c.state === 'running') return `Up ${ago(c.startedAt)}`;
    if (c.state === 'exited') return `Exited (${c.exitCode}) ${ago(c.finishedAt)} ago`;
    return 'Created';
  }

  async listContainers(all: boolean): Promise<ContainerSummary[]> {
    this.record('listContainers', all);
    return [...this.containers.values()]
      .filter((c) => all || c.state === 'running')
      .map((c) => ({
        Id: c.id,
        Names: [`/${c.name}`],
        Image: c.body.Image,
        ImageID: c.imageId,
        Command: [...(c.body.Entrypoint ?? []), ...(c.body.Cmd ?? [])].join(' '),
        Created: Math.floor(c.created.getTime() / 1000),
        State: c.state,
        Status: this.status(c),
        Labels: { ...c.body.Labels },
      }));
  }

  async inspectContainer(ref: string): Promise<ContainerInspect> {
    this.record('inspectContainer', ref);
    const c = this.container(ref);
    return {
      Id: c.id,
      Name: `/${c.name}`,
      Created: c.created.toISOString(),
      Image: c.imageId,
      Config: structuredClone(c.body),
      State: {
        Status: c.state,
        Running: c.state === 'running',
        Pid: c.state === 'running' ? 4242 : 0,
        ExitCode: c.exitCode,
        OOMKilled: false,
        StartedAt: c.startedAt,
        FinishedAt: c.finishedAt,
      },
    };
  }
}

/** Every regular file of a tar stream, by name (leading "./" dropped). */
async function readTar(archive: Readable): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      if (entry.header.type === 'file') files.set(entry.header.name.replace(/^\.\//, ''), Buffer.concat(chunks));
    }
  })();
  done.catch(() => undefined); // awaited below; a failed write must not leave it unhandled
  try {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      if (!ex.write(chunk)) await once(ex, 'drain');
    }
    ex.end(undefined); // streamx types demand an argument
    await done;
  } catch (err) {
    ex.destroy();
    throw new SwarmError('INVALID_ARGUMENT', `invalid tar archive: ${(err as Error).message}`);
  }
  return files;
}
