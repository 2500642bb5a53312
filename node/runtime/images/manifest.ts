import { SwarmError } from '../../errors.js';
import { isDigest } from './digest.js';
import { DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, INDEX_TYPES, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST } from './media-types.js';

// The JSON documents of an image, and their validation: everything read from a registry or an
// archive passes through here before the store relies on its shape.

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config: {
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, object>;
    Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
    StopSignal?: string;
    Volumes?: Record<string, object>;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

function invalid(what: string, why: string): SwarmError {
  return new SwarmError('INVALID_ARGUMENT', `${what}: ${why}`, 'the registry or archive holds a malformed or unsupported image');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw invalid(what, 'descriptor is not an object');
  const { mediaType, digest, size, annotations, platform } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  if (!isDigest(digest)) throw invalid(what, `descriptor digest ${JSON.stringify(digest)} is not a sha256 digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(what, `descriptor ${digest} has an invalid size`);
  const d: Descriptor = { mediaType, digest, size };
  if (isRecord(annotations)) d.annotations = Object.fromEntries(Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === 'string'));
  if (isRecord(platform) && typeof platform.os === 'string' && typeof platform.architecture === 'string') {
    d.platform = { architecture: platform.architecture, os: platform.os };
    if (typeof platform.variant === 'string') d.platform.variant = platform.variant;
  }
  return d;
}

/**
 * Parses a manifest or an index. `mediaType` is what the registry's Content-Type or the referring
 * descriptor said, used when the document itself omits it (OCI allows that).
 */
export function parseManifest(bytes: Uint8Array, mediaType: string | undefined, what: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid(what, 'manifest is not JSON');
  }
  if (!isRecord(doc)) throw invalid(what, 'manifest is not a JSON object');
  const type = typeof doc.mediaType === 'string' && doc.mediaType !== '' ? doc.mediaType : mediaType;
  if (doc.schemaVersion === 1 || type === DOCKER_SCHEMA1 || type === DOCKER_SCHEMA1_SIGNED) {
    throw new SwarmError('INVALID_ARGUMENT', `${what}: Docker schema 1 manifests are not supported`, 'push the image again with a current docker or skopeo');
  }
  if (doc.schemaVersion !== 2) throw invalid(what, `unsupported schemaVersion ${JSON.stringify(doc.schemaVersion)}`);
  const annotations = isRecord(doc.annotations) ? (doc.annotations as Record<string, string>) : undefined;
  if (Array.isArray(doc.manifests) || (type !== undefined && INDEX_TYPES.includes(type))) {
    if (!Array.isArray(doc.manifests)) throw invalid(what, 'index has no manifests');
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`));
    return { kind: 'index', index: { schemaVersion: 2, mediaType: type ?? OCI_INDEX, manifests, ...(annotations ? { annotations } : {}) } };
  }
  if (!isRecord(doc.config) || !Array.isArray(doc.layers)) throw invalid(what, 'manifest has no config or layers');
  const config = parseDescriptor(doc.config, `${what} config`);
  if (config.mediaType !== OCI_CONFIG && config.mediaType !== DOCKER_CONFIG) {
    throw new SwarmError('INVALID_ARGUMENT', `${what}: not a container image (config media type ${config.mediaType})`, 'only container images can be pulled and run');
  }
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`));
  // OCI lets a manifest omit its own mediaType: infer it from the config's flavour.
  const manifestType = type ?? (config.mediaType === DOCKER_CONFIG ? DOCKER_MANIFEST : OCI_MANIFEST);
  return { kind: 'manifest', manifest: { schemaVersion: 2, mediaType: manifestType, config, layers, ...(annotations ? { annotations } : {}) } };
}

/** Parses and checks an image config: platform, and one diff id per layer. */
export function parseConfig(bytes: Uint8Array, layerCount: number, what: string): ImageConfigFile {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid(what, 'image config is not JSON');
  }
  if (!isRecord(doc)) throw invalid(what, 'image config is not a JSON object');
  if (typeof doc.architecture !== 'string' || typeof doc.os !== 'string') throw invalid(what, 'image config has no os/architecture');
  const rootfs = doc.rootfs;
  if (!isRecord(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every(isDigest)) {
    throw invalid(what, 'image config has no valid rootfs.diff_ids');
  }
  if (rootfs.diff_ids.length !== layerCount) {
    throw invalid(what, `image config lists ${rootfs.diff_ids.length} diff ids for ${layerCount} layers`);
  }
  if (doc.config === undefined || doc.config === null) doc.config = {};
  if (!isRecord(doc.config)) throw invalid(what, 'image config "config" is not an object');
  return doc as unknown as ImageConfigFile;
}

/**
 * The manifest for `want` from an index: same os and architecture; among those, the requested
 * variant, else one without a variant (arm64's implied v8 included), else the first. Attestation
 * manifests (platform unknown/unknown) never match.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === want.os &&
      m.platform.architecture === want.architecture &&
      m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest',
  );
  if (want.variant !== undefined) {
    const exact = candidates.find((m) => m.platform?.variant === want.variant);
    if (exact) return exact;
  }
  return candidates.find((m) => m.platform?.variant === undefined || (want.architecture === 'arm64' && m.platform.variant === 'v8')) ?? candidates[0];
}

export function platformString(p: Platform | undefined): string {
  if (p === undefined) return 'unknown';
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** An image in the local store: one manifest, its config, and the names that point at it. */
export interface Image {
  /** The config digest, as `docker images` shows. */
  id: string;
  /** The manifest digest. */
  digest: string;
  /** Normalized references (`docker.io/library/busybox:latest`), sorted. */
  names: string[];
  manifest: ImageManifest;
  config: ImageConfigFile;
  /** Sum of the (compressed) layer sizes. */
  size: number;
  /** The config's `created`, or '' when it has none. */
  created: string;
}
