import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, type Writable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ContentStore } from './content-store.js';
import { digestHex, isDigest, sha256Digest } from './digest.js';
import { type Descriptor, type Image, type Platform, parseConfig, parseManifest, platformString, selectPlatform } from './manifest.js';
import { INDEX_TYPES, OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST } from './media-types.js';
import { familiarName, formatReference, parseReference } from './reference.js';

// Image archives: `docker save` (manifest.json + repositories, legacy `<id>/layer.tar` or Docker
// 25's blobs/ layout) and OCI image-layout tarballs (oci-layout + index.json + blobs/). Reading
// streams every blob into the content store as it passes, verified by digest; writing emits one
// archive that both docker load and OCI tools accept.

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

const MAX_METADATA_BYTES = 8 << 20;
const EPOCH = new Date(0);

export interface ArchiveImage {
  manifestDigest: string;
  names: string[];
}

export interface ReadArchiveOptions {
  platform: Platform;
  logger: Logger;
  /** Called with each blob stored, so the caller can protect it from prune until registered. */
  onBlob: (digest: string) => void;
}

function bad(message: string, hint = 'give a tarball made by docker save, swarm image save, or an OCI image layout in a tar'): SwarmError {
  return new SwarmError('INVALID_ARGUMENT', message, hint);
}

/** Reads an archive (optionally gzip-compressed) into `blobs`; returns its images and their names. */
export async function readArchive(input: Readable, blobs: ContentStore, opts: ReadArchiveOptions): Promise<ArchiveImage[]> {
  const files = new Map<string, Buffer>();
  const stored = new Map<string, { digest: string; size: number }>();
  const links = new Map<string, string>();

  const extract = tar.extract();
  const source = await maybeGunzip(input);
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract as unknown as Writable);
  try {
    for await (const entry of extract) {
      const name = normalizeEntryName(entry.header.name);
      const type = entry.header.type ?? 'file';
      const size = entry.header.size ?? 0;
      const body = Readable.from(entry);
      if (type === 'symlink' || type === 'link') {
        const target = entry.header.linkname ?? '';
        links.set(name, type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), target)) : normalizeEntryName(target));
        await drain(body);
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        await drain(body);
        continue;
      }
      const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name);
      if (blob) {
        const digest = `sha256:${blob[1]}`;
        await blobs.ingest(digest, body, size);
        opts.onBlob(digest);
        stored.set(name, { digest, size });
      } else if (isMetadata(name) && size <= MAX_METADATA_BYTES) {
        files.set(name, await collect(body));
      } else {
        // A legacy `<id>/layer.tar`: its digest is learnt by storing it.
        const written = await blobs.write(body);
        opts.onBlob(written.digest);
        stored.set(name, written);
      }
    }
  } catch (err) {
    input.destroy();
    throw err instanceof SwarmError ? err : bad(`image archive is not a readable tar: ${(err as Error).message}`);
  }

  const resolveLinks = (path: string): string => {
    let p = path;
    for (let i = 0; i < 16 && links.has(p); i++) p = links.get(p)!;
    return p;
  };
  const readMember = async (path: string): Promise<{ bytes: Buffer; digest?: string } | undefined> => {
    const p = resolveLinks(normalizeEntryName(path));
    const f = files.get(p);
    if (f) return { bytes: f };
    const s = stored.get(p);
    if (s) return { bytes: await blobs.read(s.digest), digest: s.digest };
    return undefined;
  };

  const indexBytes = files.get('index.json');
  const manifestJson = files.get('manifest.json');
  if (!indexBytes && !manifestJson) throw bad('not an image archive: it has neither manifest.json (docker save) nor index.json (OCI image layout)');

  const images = new Map<string, Set<string>>();
  const byConfig = new Map<string, string>();
  const addNames = (manifestDigest: string, names: string[]): void => {
    let set = images.get(manifestDigest);
    if (!set) images.set(manifestDigest, (set = new Set()));
    for (const n of names) set.add(n);
  };

  if (indexBytes) {
    const parsed = parseManifest(indexBytes, OCI_INDEX, 'archive index.json');
    if (parsed.kind !== 'index') throw bad('archive index.json is not an OCI index');
    for (const desc of parsed.index.manifests) {
      const manifestDigest = await platformManifest(desc, blobs, opts.platform, 0);
      const manifest = parseManifest(await blobs.read(manifestDigest), undefined, `archive manifest ${manifestDigest}`);
      if (manifest.kind === 'manifest') byConfig.set(manifest.manifest.config.digest, manifestDigest);
      addNames(manifestDigest, namesFromAnnotations(desc.annotations, opts.logger));
    }
  }

  if (manifestJson) {
    let entries: unknown;
    try {
      entries = JSON.parse(manifestJson.toString('utf8'));
    } catch {
      throw bad('archive manifest.json is not JSON');
    }
    if (!Array.isArray(entries)) throw bad('archive manifest.json is not a list');
    for (const [i, e] of entries.entries()) {
      const entry = e as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
      if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
        throw bad(`archive manifest.json entry ${i} has no Config or Layers`);
      }
      const names = (Array.isArray(entry.RepoTags) ? entry.RepoTags : []).filter((t): t is string => typeof t === 'string').flatMap((t) => normalizeName(t, opts.logger));
      const config = await readMember(entry.Config);
      if (!config) throw bad(`archive manifest.json entry ${i}: config ${entry.Config} is not in the archive`);
      const configDigest = config.digest ?? sha256Digest(config.bytes);
      const existing = byConfig.get(configDigest);
      if (existing) {
        addNames(existing, names);
        continue;
      }
      const manifestDigest = await synthesizeManifest(config.bytes, configDigest, entry.Layers as string[], blobs, (p) => stored.get(resolveLinks(normalizeEntryName(p))), opts);
      byConfig.set(configDigest, manifestDigest);
      addNames(manifestDigest, names);
    }
  }
  return [...images].map(([manifestDigest, names]) => ({ manifestDigest, names: [...names] }));
}

/** The image manifest `desc` leads to, choosing `platform` in (nested) indexes. */
async function platformManifest(desc: Descriptor, blobs: ContentStore, platform: Platform, depth: number): Promise<string> {
  if (!blobs.has(desc.digest)) throw bad(`archive lacks blob ${desc.digest} (${desc.mediaType})`);
  if (!INDEX_TYPES.includes(desc.mediaType)) return desc.digest;
  if (depth > 2) throw bad('archive indexes are nested too deeply');
  const parsed = parseManifest(await blobs.read(desc.digest), desc.mediaType, `archive index ${desc.digest}`);
  if (parsed.kind !== 'index') return desc.digest;
  // Only the platforms whose blobs were saved are usable: prefer ours among those.
  const present = { ...parsed.index, manifests: parsed.index.manifests.filter((m) => blobs.has(m.digest)) };
  const chosen = selectPlatform(present, platform);
  if (!chosen) {
    throw bad(
      `archive image ${desc.digest} has no manifest for ${platformString(platform)}`,
      `it holds ${parsed.index.manifests.map((m) => platformString(m.platform)).join(', ') || 'no platforms'}`,
    );
  }
  return platformManifest(chosen, blobs, platform, depth + 1);
}

/** A legacy docker-save entry has no manifest: write an OCI one, checking layers against diff ids. */
async function synthesizeManifest(
  configBytes: Buffer,
  configDigest: string,
  layerPaths: string[],
  blobs: ContentStore,
  lookup: (path: string) => { digest: string; size: number } | undefined,
  opts: ReadArchiveOptions,
): Promise<string> {
  const config = parseConfig(configBytes, layerPaths.length, `archive config ${configDigest}`);
  await blobs.ingest(configDigest, configBytes);
  opts.onBlob(configDigest);
  const layers: Descriptor[] = [];
  for (const [i, path] of layerPaths.entries()) {
    const blob = lookup(path);
    if (!blob) throw bad(`archive layer ${path} is not in the archive`);
    const mediaType = await sniffLayerType(blobs.path(blob.digest));
    const diffId = await uncompressedDigest(blobs, blob.digest, mediaType);
    const want = config.rootfs.diff_ids[i]!;
    if (diffId !== undefined && diffId !== want) {
      throw new SwarmError('INVALID_ARGUMENT', `archive layer ${path} does not match its diff id: expected ${want}, got ${diffId}`, 'the archive is corrupt; save it again');
    }
    layers.push({ mediaType, digest: blob.digest, size: blob.size });
  }
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: configDigest, size: configBytes.length }, layers };
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = sha256Digest(bytes);
  await blobs.ingest(digest, bytes);
  opts.onBlob(digest);
  return digest;
}

async function sniffLayerType(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await fh.read(head, 0, 4, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return OCI_LAYER_GZIP;
    if (bytesRead === 4 && head.readUInt32LE(0) === 0xfd2fb528) return OCI_LAYER_ZSTD;
    return OCI_LAYER;
  } finally {
    await fh.close();
  }
}

/** sha256 of the uncompressed layer (its diff id); undefined for zstd, which Node 20 cannot read. */
async function uncompressedDigest(blobs: ContentStore, digest: string, mediaType: string): Promise<string | undefined> {
  if (mediaType === OCI_LAYER) return digest;
  if (mediaType !== OCI_LAYER_GZIP) return undefined;
  const hash = createHash('sha256');
  await pipelineAsync(createReadStream(blobs.path(digest)), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  });
  return `sha256:${hash.digest('hex')}`;
}

function namesFromAnnotations(annotations: Record<string, string> | undefined, logger: Logger): string[] {
  const full = annotations?.[ANNOTATION_IMAGE_NAME];
  if (full) return normalizeName(full, logger);
  const ref = annotations?.[ANNOTATION_REF_NAME];
  // A bare tag ("latest") names no repository: such an image loads untagged.
  if (ref && /[/:@]/.test(ref)) return normalizeName(ref, logger);
  return [];
}

function normalizeName(name: string, logger: Logger): string[] {
  try {
    return [formatReference(parseReference(name))];
  } catch (err) {
    logger.warn({ name, err: (err as Error).message }, 'image archive: ignoring an invalid name');
    return [];
  }
}

function normalizeEntryName(name: string): string {
  return posix.normalize(name).replace(/^(\.\/)+/, '').replace(/^\/+/, '').replace(/\/+$/, '');
}

function isMetadata(name: string): boolean {
  return name.endsWith('.json') || name === 'repositories' || name === 'oci-layout' || name.endsWith('/json') || name.endsWith('VERSION');
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function drain(stream: Readable): Promise<void> {
  for await (const _ of stream) {
    // Skipped content still has to pass through the tar parser.
  }
}

/** The input as it is, or gunzipped when it starts with the gzip magic. */
async function maybeGunzip(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  if (first.done) throw bad('image archive is empty');
  const head = first.value;
  const whole = Readable.from(
    (async function* () {
      yield head;
      for (;;) {
        const next = await it.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
  );
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return pipeline(whole, createGunzip(), () => {
      // Errors reach the consumer through the gunzip stream.
    });
  }
  return whole;
}

export interface ArchiveEntry {
  image: Image;
  /** Normalized names to record for it in the archive. */
  names: string[];
}

/**
 * Writes `entries` as one tar: `oci` is an OCI image layout; `docker` is the same plus Docker's
 * manifest.json and repositories (what Docker 25+ writes), so old and new `docker load` read it.
 * Entries are sorted and timestamps fixed, so the same images always give the same bytes.
 */
export async function writeArchive(entries: ArchiveEntry[], format: 'docker' | 'oci', blobs: ContentStore, out: Writable): Promise<void> {
  const pack = tar.pack();
  const done = pipelineAsync(Readable.from(pack), out);
  try {
    const blobDigests = new Set<string>();
    for (const { image } of entries) {
      blobDigests.add(image.digest);
      blobDigests.add(image.manifest.config.digest);
      for (const l of image.manifest.layers) blobDigests.add(l.digest);
    }
    await addFile(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    await addDir(pack, 'blobs/');
    await addDir(pack, 'blobs/sha256/');
    for (const digest of [...blobDigests].sort()) {
      if (!isDigest(digest)) continue;
      await addFile(pack, `blobs/sha256/${digestHex(digest)}`, blobs.open(digest), blobs.size(digest));
    }

    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: entries.flatMap(({ image, names }) => {
        const base = { mediaType: image.manifest.mediaType, digest: image.digest, size: blobs.size(image.digest) };
        if (names.length === 0) return [base];
        return names.map((name) => {
          const tag = parseReference(name).tag;
          return { ...base, annotations: { [ANNOTATION_IMAGE_NAME]: name, ...(tag !== undefined ? { [ANNOTATION_REF_NAME]: tag } : {}) } };
        });
      }),
    };
    await addFile(pack, 'index.json', Buffer.from(JSON.stringify(index)));

    if (format === 'docker') {
      const repositories: Record<string, Record<string, string>> = {};
      const manifest = entries.map(({ image, names }) => {
        const tagged = names.map(parseReference).filter((r) => r.tag !== undefined && r.digest === undefined);
        const top = image.manifest.layers.at(-1);
        for (const r of tagged) {
          const repo = familiarName({ ...r, tag: undefined });
          if (top) (repositories[repo] ??= {})[r.tag!] = digestHex(top.digest);
        }
        return {
          Config: `blobs/sha256/${digestHex(image.manifest.config.digest)}`,
          RepoTags: tagged.length > 0 ? tagged.map(familiarName) : null,
          Layers: image.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
        };
      });
      await addFile(pack, 'manifest.json', Buffer.from(JSON.stringify(manifest)));
      await addFile(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  }
  await done;
}

function addDir(pack: tar.Pack, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
  });
}

function addFile(pack: tar.Pack, name: string, content: Buffer | Readable, size?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const header = { name, type: 'file' as const, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0, size: Buffer.isBuffer(content) ? content.length : size };
    if (Buffer.isBuffer(content)) {
      pack.entry(header, content, (err) => (err ? reject(err) : resolve()));
      return;
    }
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    content.on('error', (err) => {
      entry.destroy(err);
      reject(err);
    });
    content.on('data', (chunk: Buffer) => {
      if (!entry.write(chunk)) {
        content.pause();
        entry.once('drain', () => content.resume());
      }
    });
    content.on('end', () => entry.end(undefined));
  });
}
