import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { writeFileDurably } from '../../durable-file.js';
import { SwarmError, isSwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ANNOTATION_REF_NAME, readArchive, writeArchive } from './archive.js';
import { ContentStore } from './content-store.js';
import type { CredentialStore } from './credentials.js';
import { isDigest, sha256Digest } from './digest.js';
import { type Descriptor, type Image, type ImageConfigFile, type ImageManifest, type Platform, parseConfig, parseManifest, platformString, selectPlatform } from './manifest.js';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST } from './media-types.js';
import { type ImageReference, formatReference, parseReference, repositoryName } from './reference.js';
import { RegistryClient } from './registry-client.js';

// The node's images: an OCI image layout on disk (blobs/ + index.json). index.json lists one
// descriptor per name (annotation org.opencontainers.image.ref.name = the normalized reference) and
// one without a name for each untagged image, so any OCI tool can read the store as it is.

export interface ImageStoreOptions {
  logger: Logger;
  /** Registries (host[:port]) that may be reached over plain HTTP. */
  insecureRegistries?: string[];
  credentials?: CredentialStore;
  /** Platform chosen from multi-platform images; linux/amd64 by default. */
  platform?: Platform;
  /** Docker-style certs.d: `<certsDir>/<host:port>/*.crt` are extra CAs for that registry. */
  certsDir?: string;
}

export interface ProgressEvent {
  digest: string;
  done: number;
  total: number;
  /** pull: 'exists' | 'downloading' | 'complete'; push: 'exists' | 'uploading' | 'pushed'. */
  status: string;
}

export interface TransferOptions {
  onProgress?: (e: ProgressEvent) => void;
}

const LAYER_CONCURRENCY = 3;
/** Temp files of interrupted ingests older than this are removed by prune. */
const STALE_INGEST_MS = 60 * 60 * 1000;

interface IndexRecord {
  digest: string;
  names: Set<string>;
}

export class ImageStore {
  readonly blobs: ContentStore;
  readonly root: string;
  private readonly logger: Logger;
  private readonly opts: ImageStoreOptions;
  private readonly platform: Platform;
  /** manifest digest → image. */
  private readonly images = new Map<string, Image>();
  /** normalized name → manifest digest. */
  private readonly names = new Map<string, string>();
  /** Blobs that an operation in flight has stored but not yet registered: prune keeps them. */
  private readonly held = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string, opts: ImageStoreOptions) {
    this.root = root;
    this.opts = opts;
    this.logger = opts.logger;
    this.platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    this.blobs = new ContentStore(root);
  }

  static async open(root: string, opts: ImageStoreOptions): Promise<ImageStore> {
    mkdirSync(root, { recursive: true });
    const store = new ImageStore(root, opts);
    const layout = join(root, 'oci-layout');
    if (!existsSync(layout)) writeFileSync(layout, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await store.loadIndex();
    return store;
  }

  // ---- queries -------------------------------------------------------------------------------

  list(): Image[] {
    return [...this.images.values()].sort((a, b) => (b.created || '').localeCompare(a.created || '') || a.digest.localeCompare(b.digest));
  }

  /** By name (`busybox`, `x:1`, `repo@sha256:…`), by id or manifest digest, or by an id prefix of 12+ hex digits. */
  resolve(ref: string): Image | undefined {
    if (typeof ref !== 'string' || ref === '') return undefined;
    if (isDigest(ref)) return this.images.get(ref) ?? this.list().find((i) => i.id === ref);
    let parsed: ImageReference | undefined;
    try {
      parsed = parseReference(ref);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      const byName = this.names.get(formatReference(parsed));
      if (byName) return this.images.get(byName);
      if (parsed.digest !== undefined) {
        const repo = repositoryName(parsed);
        const candidates = [...this.images.values()].filter((i) => i.digest === parsed.digest);
        return candidates.find((i) => i.names.some((n) => n.startsWith(`${repo}:`) || n.startsWith(`${repo}@`))) ?? candidates[0];
      }
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref)?.[1];
    if (prefix) {
      const ids = new Set<string>();
      let found: Image | undefined;
      for (const img of this.images.values()) {
        if (img.id.slice(7).startsWith(prefix)) {
          ids.add(img.id);
          found ??= img;
        }
      }
      // An ambiguous prefix resolves to nothing rather than to a guess.
      if (ids.size === 1) return found;
    }
    return undefined;
  }

  get(ref: string): Image {
    const img = this.resolve(ref);
    if (!img) throw notFound(ref);
    return img;
  }

  // ---- names ---------------------------------------------------------------------------------

  async tag(source: string, target: string): Promise<void> {
    const t = parseReference(target);
    if (t.digest !== undefined) throw new SwarmError('INVALID_ARGUMENT', `cannot tag with a digest reference: ${target}`, 'give a name with a tag, e.g. myrepo/app:1');
    await this.exclusive(async () => {
      const img = this.get(source);
      this.setName(formatReference(t), img.digest);
      this.persist();
    });
  }

  async remove(ref: string, opts: { force?: boolean; inUse?: (imageId: string) => boolean } = {}): Promise<{ untagged: string[]; deleted: string[] }> {
    return this.exclusive(async () => {
      const img = this.get(ref);
      const inUse = opts.inUse?.(img.id) ?? false;
      const name = this.nameOf(ref);
      if (name !== undefined && img.names.length > 1) {
        // One of several names: only the name goes.
        this.dropName(name);
        this.persist();
        return { untagged: [name], deleted: [] };
      }
      if (name === undefined && img.names.length > 1 && !opts.force) {
        throw new SwarmError(
          'CONFLICT',
          `unable to delete image ${shortId(img.id)} (must be forced): it is referenced by ${img.names.length} names`,
          'remove the names one by one, or use --force',
        );
      }
      if (inUse && !opts.force) {
        throw new SwarmError('CONFLICT', `unable to remove ${ref}: image ${shortId(img.id)} is in use by a container`, 'remove the services or containers using it first, or use --force');
      }
      const untagged = [...img.names];
      for (const n of untagged) this.dropName(n);
      this.images.delete(img.digest);
      this.persist();
      const freed = this.deleteUnreferencedBlobs([img.digest, img.manifest.config.digest, ...img.manifest.layers.map((l) => l.digest)]);
      this.logger.info({ image: img.id, untagged, blobs: freed.digests.length }, 'image removed');
      return { untagged, deleted: [img.id, ...freed.digests.filter((d) => d !== img.id)] };
    });
  }

  // ---- adding images -------------------------------------------------------------------------

  /** Registers an image whose manifest, config and layers are already in `blobs`. */
  async register(manifestDigest: string, names: string[]): Promise<Image> {
    const normalized = names.map((n) => formatReference(parseReference(n)));
    return this.exclusive(async () => {
      const img = await this.readImage(manifestDigest, normalized);
      this.addImage(img, normalized);
      this.persist();
      return this.images.get(manifestDigest)!;
    });
  }

  /** Stores `config` and an OCI manifest over `layers` (already in blobs) and registers `names`. */
  async commit(input: { config: ImageConfigFile; layers: Descriptor[]; names: string[] }): Promise<Image> {
    const configBytes = Buffer.from(JSON.stringify(input.config));
    parseConfig(configBytes, input.layers.length, 'commit');
    for (const l of input.layers) {
      if (!this.blobs.has(l.digest)) throw new SwarmError('NOT_FOUND', `commit: layer blob not found: ${l.digest}`, 'ingest the layer into the store first');
    }
    const configDigest = sha256Digest(configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length },
      layers: input.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(manifestBytes);
    const release = this.hold([configDigest, manifestDigest, ...input.layers.map((l) => l.digest)]);
    try {
      await this.blobs.ingest(configDigest, configBytes);
      await this.blobs.ingest(manifestDigest, manifestBytes);
      return await this.register(manifestDigest, input.names);
    } finally {
      release();
    }
  }

  /**
   * Keeps `digests` from prune and rm until the returned function is called: for callers that
   * ingest blobs and register them afterwards (builds, peer-to-peer fetches).
   */
  hold(digests: string[]): () => void {
    for (const d of digests) this.held.set(d, (this.held.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const d of digests) {
        const n = (this.held.get(d) ?? 1) - 1;
        if (n <= 0) this.held.delete(d);
        else this.held.set(d, n);
      }
    };
  }

  // ---- registries ----------------------------------------------------------------------------

  async pull(ref: string, opts: TransferOptions = {}): Promise<Image> {
    const r = parseReference(ref);
    const client = this.client(r.domain);
    const releases: (() => void)[] = [];
    try {
      const reference = r.digest ?? r.tag!;
      const top = await client.getManifest(r.path, reference);
      if (!top) throw notFound(ref, `${r.domain} has no manifest ${r.path}:${reference}`);
      const topDigest = checkManifestDigest(top.bytes, r.digest, top.digest, ref);
      let manifestBytes = top.bytes;
      let manifestDigest = topDigest;
      let parsed = parseManifest(top.bytes, top.mediaType, `manifest of ${ref}`);
      for (let depth = 0; parsed.kind === 'index'; depth++) {
        if (depth > 2) throw new SwarmError('INVALID_ARGUMENT', `${ref}: image indexes are nested too deeply`);
        const chosen = selectPlatform(parsed.index, this.platform);
        if (!chosen) {
          const have = parsed.index.manifests.map((m) => platformString(m.platform)).filter((p) => p !== 'unknown/unknown');
          throw new SwarmError('NOT_FOUND', `no matching manifest for ${platformString(this.platform)} in the manifest list of ${ref}`, `the image is built for ${have.join(', ') || 'no known platform'}`);
        }
        const m = await client.getManifest(r.path, chosen.digest);
        if (!m) throw notFound(ref, `${r.domain} lists ${chosen.digest} for ${platformString(this.platform)} but does not have it`);
        manifestDigest = checkManifestDigest(m.bytes, chosen.digest, m.digest, ref);
        manifestBytes = m.bytes;
        parsed = parseManifest(m.bytes, m.mediaType ?? chosen.mediaType, `manifest of ${ref} (${platformString(this.platform)})`);
      }
      const manifest = parsed.manifest;

      const fetchBlob = async (d: Descriptor): Promise<void> => {
        releases.push(this.hold([d.digest]));
        if (this.blobs.has(d.digest)) {
          opts.onProgress?.({ digest: d.digest, done: d.size, total: d.size, status: 'exists' });
          return;
        }
        const body = await client.getBlob(r.path, d.digest);
        await this.blobs.ingest(d.digest, counted(body, (done) => opts.onProgress?.({ digest: d.digest, done, total: d.size, status: 'downloading' })), d.size);
        opts.onProgress?.({ digest: d.digest, done: d.size, total: d.size, status: 'complete' });
      };
      await fetchBlob(manifest.config);
      await parallel(manifest.layers, LAYER_CONCURRENCY, fetchBlob);
      releases.push(this.hold([manifestDigest]));
      await this.blobs.ingest(manifestDigest, manifestBytes);

      // By digest: the name is repo@digest (Docker's repo digest), never a tag.
      const name = r.digest !== undefined ? formatReference({ ...r, tag: undefined }) : formatReference(r);
      const img = await this.register(manifestDigest, [name]);
      this.logger.info({ ref: name, digest: manifestDigest, id: img.id }, 'image pulled');
      return img;
    } finally {
      for (const release of releases) release();
      await client.close();
    }
  }

  async push(ref: string, opts: TransferOptions = {}): Promise<void> {
    const img = this.get(ref);
    const name = this.nameOf(ref) ?? img.names[0];
    if (name === undefined) throw new SwarmError('INVALID_ARGUMENT', `image ${ref} has no name to push to`, 'tag it first: swarm image tag IMAGE REGISTRY/REPO:TAG');
    const r = parseReference(name);
    const client = this.client(r.domain);
    try {
      for (const d of [...img.manifest.layers, img.manifest.config]) {
        if (await client.hasBlob(r.path, d.digest, true)) {
          opts.onProgress?.({ digest: d.digest, done: d.size, total: d.size, status: 'exists' });
          continue;
        }
        opts.onProgress?.({ digest: d.digest, done: 0, total: d.size, status: 'uploading' });
        await client.uploadBlob(r.path, d.digest, this.blobs.size(d.digest), () =>
          counted(this.blobs.open(d.digest), (done) => opts.onProgress?.({ digest: d.digest, done, total: d.size, status: 'uploading' })),
        );
        opts.onProgress?.({ digest: d.digest, done: d.size, total: d.size, status: 'pushed' });
      }
      const bytes = await this.blobs.read(img.digest);
      const remoteDigest = await client.putManifest(r.path, r.tag ?? r.digest!, img.manifest.mediaType, bytes);
      if (remoteDigest !== undefined && remoteDigest !== img.digest) {
        this.logger.warn({ ref: name, local: img.digest, remote: remoteDigest }, 'registry computed another manifest digest');
      }
      opts.onProgress?.({ digest: img.digest, done: bytes.length, total: bytes.length, status: 'pushed' });
      this.logger.info({ ref: name, digest: img.digest }, 'image pushed');
    } finally {
      await client.close();
    }
  }

  // ---- archives ------------------------------------------------------------------------------

  async load(input: Readable): Promise<Image[]> {
    const releases: (() => void)[] = [];
    try {
      const found = await readArchive(input, this.blobs, {
        platform: this.platform,
        logger: this.logger,
        onBlob: (d) => releases.push(this.hold([d])),
      });
      const loaded: Image[] = [];
      for (const { manifestDigest, names } of found) loaded.push(await this.register(manifestDigest, names));
      this.logger.info({ images: loaded.map((i) => i.id) }, 'images loaded');
      return loaded;
    } finally {
      for (const release of releases) release();
    }
  }

  /** A name keeps only itself in the archive; an id or digest keeps all the image's names. */
  async save(refs: string[], format: 'docker' | 'oci', out: Writable): Promise<void> {
    if (format !== 'docker' && format !== 'oci') throw new SwarmError('INVALID_ARGUMENT', `unknown archive format "${String(format)}"`, 'use docker or oci');
    if (refs.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'save: no images given', 'name at least one image');
    const entries = new Map<string, { image: Image; names: Set<string> }>();
    for (const ref of refs) {
      const image = this.get(ref);
      const entry = entries.get(image.digest) ?? { image, names: new Set<string>() };
      entries.set(image.digest, entry);
      const name = this.nameOf(ref);
      for (const n of name !== undefined ? [name] : image.names) entry.names.add(n);
    }
    const release = this.hold([...entries.values()].flatMap(({ image }) => [image.digest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)]));
    try {
      await writeArchive(
        [...entries.values()].map((e) => ({ image: e.image, names: [...e.names].sort() })),
        format,
        this.blobs,
        out,
      );
    } finally {
      release();
    }
  }

  // ---- garbage -------------------------------------------------------------------------------

  async prune(opts: { inUse: (imageId: string) => boolean; all?: boolean }): Promise<{ deletedImages: string[]; deletedBlobs: string[]; reclaimedBytes: number }> {
    return this.exclusive(async () => {
      const deletedImages = new Set<string>();
      for (const img of [...this.images.values()]) {
        if ((img.names.length === 0 || opts.all) && !opts.inUse(img.id)) {
          for (const n of img.names) this.dropName(n);
          this.images.delete(img.digest);
          deletedImages.add(img.id);
        }
      }
      if (deletedImages.size > 0) this.persist();
      const freed = this.deleteUnreferencedBlobs(this.blobs.list());
      this.blobs.cleanIngests(STALE_INGEST_MS);
      this.logger.info({ images: deletedImages.size, blobs: freed.digests.length, bytes: freed.bytes }, 'images pruned');
      return { deletedImages: [...deletedImages], deletedBlobs: freed.digests, reclaimedBytes: freed.bytes };
    });
  }

  // ---- internals -----------------------------------------------------------------------------

  private client(domain: string): RegistryClient {
    return new RegistryClient(domain, {
      logger: this.logger,
      insecureRegistries: this.opts.insecureRegistries,
      credentials: this.opts.credentials,
      certsDir: this.opts.certsDir,
    });
  }

  /** Mutations one at a time, so index.json always matches memory. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The normalized name `ref` denotes when it is one of the store's names. */
  private nameOf(ref: string): string | undefined {
    try {
      const n = formatReference(parseReference(ref));
      return this.names.has(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }

  private setName(name: string, digest: string): void {
    const previous = this.names.get(name);
    if (previous === digest) return;
    if (previous !== undefined) this.dropName(name);
    this.names.set(name, digest);
    const img = this.images.get(digest)!;
    img.names = [...img.names, name].sort();
  }

  /** Removes a name; the image it pointed at stays, untagged if that was its last name. */
  private dropName(name: string): void {
    const digest = this.names.get(name);
    if (digest === undefined) return;
    this.names.delete(name);
    const img = this.images.get(digest);
    if (img) img.names = img.names.filter((n) => n !== name);
  }

  private addImage(img: Image, names: string[]): void {
    if (!this.images.has(img.digest)) this.images.set(img.digest, { ...img, names: [] });
    for (const n of names) this.setName(n, img.digest);
  }

  private async readImage(manifestDigest: string, names: string[]): Promise<Image> {
    const what = `image ${manifestDigest}`;
    const parsed = parseManifest(await this.blobs.read(manifestDigest), undefined, what);
    if (parsed.kind !== 'manifest') throw new SwarmError('INVALID_ARGUMENT', `${what} is an index, not an image manifest`, 'register the manifest of one platform');
    const manifest: ImageManifest = parsed.manifest;
    const config = parseConfig(await this.blobs.read(manifest.config.digest), manifest.layers.length, what);
    for (const l of manifest.layers) {
      if (!this.blobs.has(l.digest)) throw new SwarmError('NOT_FOUND', `${what}: layer blob not found: ${l.digest}`, 'fetch or load the image again');
    }
    return {
      id: manifest.config.digest,
      digest: manifestDigest,
      names: [...names].sort(),
      manifest,
      config,
      size: manifest.layers.reduce((sum, l) => sum + l.size, 0),
      created: typeof config.created === 'string' ? config.created : '',
    };
  }

  private deleteUnreferencedBlobs(candidates: string[]): { digests: string[]; bytes: number } {
    const referenced = new Set<string>(this.held.keys());
    for (const img of this.images.values()) {
      referenced.add(img.digest);
      referenced.add(img.manifest.config.digest);
      for (const l of img.manifest.layers) referenced.add(l.digest);
    }
    const digests: string[] = [];
    let bytes = 0;
    for (const d of new Set(candidates)) {
      if (referenced.has(d) || !this.blobs.has(d)) continue;
      bytes += this.blobs.size(d);
      this.blobs.delete(d);
      digests.push(d);
    }
    return { digests, bytes };
  }

  private async loadIndex(): Promise<void> {
    const file = join(this.root, 'index.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const parsed = parseManifest(Buffer.from(text), OCI_INDEX, file);
    if (parsed.kind !== 'index') throw new SwarmError('INTERNAL', `${file} is not an OCI index`, 'restore it, or move the image store away to start empty');
    const records = new Map<string, IndexRecord>();
    for (const d of parsed.index.manifests) {
      const rec = records.get(d.digest) ?? { digest: d.digest, names: new Set<string>() };
      records.set(d.digest, rec);
      const name = d.annotations?.[ANNOTATION_REF_NAME];
      if (name) rec.names.add(name);
    }
    for (const rec of records.values()) {
      try {
        this.addImage(await this.readImage(rec.digest, []), [...rec.names]);
      } catch (err) {
        if (!isSwarmError(err)) throw err;
        // One damaged image must not take the store down: it is dropped, the rest stays usable.
        this.logger.warn({ digest: rec.digest, names: [...rec.names], err: err.message }, 'image store: dropping an unreadable image');
      }
    }
  }

  /** index.json via temp file, fsync and rename: a crash leaves the old or the new list. */
  private persist(): void {
    const manifests: Descriptor[] = [];
    for (const img of [...this.images.values()].sort((a, b) => a.digest.localeCompare(b.digest))) {
      const base = { mediaType: img.manifest.mediaType, digest: img.digest, size: this.blobs.size(img.digest) };
      if (img.names.length === 0) manifests.push(base);
      for (const name of img.names) manifests.push({ ...base, annotations: { [ANNOTATION_REF_NAME]: name } });
    }
    writeFileDurably(join(this.root, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }, null, 1));
  }
}

function notFound(ref: string, detail?: string): SwarmError {
  return new SwarmError(
    'NOT_FOUND',
    `image not found: ${ref}`,
    detail ? `${detail}; check the name and tag` : 'check the name; swarm image ls lists local images, swarm image pull fetches one',
  );
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * The digest of fetched manifest bytes, checked against the digest asked for and the one the
 * registry claims: a mismatch means the registry (or something between) altered the manifest.
 */
function checkManifestDigest(bytes: Buffer, expected: string | undefined, claimed: string | undefined, ref: string): string {
  const actual = sha256Digest(bytes);
  const want = expected ?? (isDigest(claimed) ? claimed : undefined);
  if (want !== undefined && want !== actual) {
    throw new SwarmError('INVALID_ARGUMENT', `manifest of ${ref}: blob digest mismatch: expected ${want}, got ${actual}; discarded`, 'the registry sent different content than it announced; retry, or check the registry');
  }
  return actual;
}

/** Runs `fn` over `items`, `limit` at a time; after a failure starts no more, waits for the rest, throws it. */
async function parallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

/** `source` passed through unchanged, reporting the bytes so far; destroying it destroys the source. */
function counted(source: Readable, report: (done: number) => void): Readable {
  let done = 0;
  return Readable.from(
    (async function* () {
      for await (const chunk of source) {
        done += (chunk as Buffer).length;
        report(done);
        yield chunk as Buffer;
      }
    })(),
    { objectMode: false },
  );
}
