import { Readable } from 'node:stream';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';

// Peer-to-peer image sharing: a node that lacks an image asks the others, and fetches the
// manifest, config and layer blobs by digest over libp2p, verified on the way in. An image built
// or loaded on one node runs on every node with no registry.

export interface BlobDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** What sharing needs of the local image store (ImageStore satisfies it). */
export interface LocalImages {
  resolve(ref: string): { digest: string; manifest: { config: BlobDescriptor; layers: BlobDescriptor[] } } | undefined;
  blobs: {
    has(digest: string): boolean;
    size(digest: string): number;
    open(digest: string, offset?: number): Readable;
    ingest(expectedDigest: string, data: Readable | Uint8Array, expectedSize?: number): Promise<void>;
  };
  register(manifestDigest: string, names: string[]): Promise<unknown>;
  /** Keeps blobs from garbage collection between their arrival and register(). */
  hold?(digests: string[]): () => void;
}

/** What sharing needs of the node's libp2p host. */
export interface PeerRpc {
  request(peerId: string, method: string, payload: unknown, opts?: { timeoutMs?: number }): Promise<unknown>;
  handle(method: string, access: 'member', handler: (payload: unknown) => Promise<unknown> | unknown): void;
}

export interface FetchProgress {
  digest: string;
  done: number;
  total: number;
  peer: string;
}

/** Bytes per request: large enough to amortise a round trip, far below the frame limit. */
export const CHUNK_BYTES = 1 << 20;
/** Chunk requests in flight per blob. */
const PIPELINE = 4;
const REQUEST_TIMEOUT_MS = 15_000;

interface LookupReply {
  manifestDigest: string;
  manifestSize: number;
  config: BlobDescriptor;
  layers: BlobDescriptor[];
}

function isDigest(v: unknown): v is string {
  return typeof v === 'string' && /^sha256:[a-f0-9]{64}$/.test(v);
}

async function readRange(stream: Readable, length: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let got = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    parts.push(b);
    got += b.length;
    if (got >= length) break;
  }
  stream.destroy();
  return new Uint8Array(Buffer.concat(parts).subarray(0, length));
}

export class ImageSharing {
  constructor(
    private readonly images: LocalImages,
    private readonly rpc: PeerRpc,
    private readonly logger: Logger,
  ) {}

  /** Serves this node's images and blobs to other members. */
  registerHandlers(): void {
    this.rpc.handle('images.lookup', 'member', (payload) => {
      const ref = (payload as { ref?: unknown } | null)?.ref;
      if (typeof ref !== 'string' || ref.length > 512) throw new SwarmError('INVALID_ARGUMENT', 'images.lookup: ref must be a string');
      const img = this.images.resolve(ref);
      if (!img) return null;
      const all = [img.manifest.config, ...img.manifest.layers];
      // Only offer what we can serve whole.
      if (!this.images.blobs.has(img.digest) || all.some((d) => !this.images.blobs.has(d.digest))) return null;
      const reply: LookupReply = { manifestDigest: img.digest, manifestSize: this.images.blobs.size(img.digest), config: img.manifest.config, layers: img.manifest.layers };
      return reply;
    });
    this.rpc.handle('blobs.read', 'member', async (payload) => {
      const p = payload as { digest?: unknown; offset?: unknown; length?: unknown } | null;
      if (!p || !isDigest(p.digest) || typeof p.offset !== 'number' || typeof p.length !== 'number' || p.offset < 0 || p.length <= 0 || p.length > CHUNK_BYTES) {
        throw new SwarmError('INVALID_ARGUMENT', 'blobs.read: digest, offset >= 0 and 0 < length <= 1 MiB are required');
      }
      if (!this.images.blobs.has(p.digest)) throw new SwarmError('NOT_FOUND', `blob ${p.digest} is not on this node`);
      const size = this.images.blobs.size(p.digest);
      if (p.offset >= size) return new Uint8Array(0);
      return readRange(this.images.blobs.open(p.digest, p.offset), Math.min(p.length, size - p.offset));
    });
  }

  /**
   * Fetches `ref` from the first peers that have it. Returns the peers asked and whether one
   * had it; throws when a peer had it but the transfer failed on every peer that has it.
   */
  async fetch(ref: string, peers: string[], onProgress?: (p: FetchProgress) => void): Promise<{ found: boolean; asked: number }> {
    const holders: { peer: string; reply: LookupReply }[] = [];
    await Promise.all(
      peers.map(async (peer) => {
        try {
          const reply = (await this.rpc.request(peer, 'images.lookup', { ref }, { timeoutMs: 5000 })) as LookupReply | null;
          if (reply && isDigest(reply.manifestDigest)) holders.push({ peer, reply });
        } catch (err) {
          this.logger.debug({ err, peer, ref }, 'image lookup failed');
        }
      }),
    );
    if (holders.length === 0) return { found: false, asked: peers.length };
    // Peers may hold different images under the same name: follow the most common digest.
    const counts = new Map<string, number>();
    for (const h of holders) counts.set(h.reply.manifestDigest, (counts.get(h.reply.manifestDigest) ?? 0) + 1);
    const digest = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const sources = holders.filter((h) => h.reply.manifestDigest === digest);
    const { reply } = sources[0]!;
    const blobs: BlobDescriptor[] = [
      { mediaType: 'manifest', digest: reply.manifestDigest, size: reply.manifestSize },
      reply.config,
      ...reply.layers,
    ];
    const missing = blobs.filter((b) => !this.images.blobs.has(b.digest));
    const release = this.images.hold?.(blobs.map((b) => b.digest));
    try {
      // Layers spread over the holders, each blob from one peer at a time.
      await Promise.all(missing.map((b, i) => this.fetchBlob(b, sources.map((s) => s.peer), i, onProgress)));
      await this.images.register(digest, [ref]);
    } finally {
      release?.();
    }
    return { found: true, asked: peers.length };
  }

  /** One blob, verified by digest; a failing peer is replaced by the next, resuming at its offset. */
  private async fetchBlob(blob: BlobDescriptor, peers: string[], start: number, onProgress?: (p: FetchProgress) => void): Promise<void> {
    let attempt = 0;
    const rpc = this.rpc;
    const logger = this.logger;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      let offset = 0;
      while (offset < blob.size) {
        const peer = peers[(start + attempt) % peers.length]!;
        try {
          // A few requests in flight hide the round trip.
          const wanted: number[] = [];
          for (let o = offset; o < blob.size && wanted.length < PIPELINE; o += CHUNK_BYTES) wanted.push(o);
          const parts = await Promise.all(
            wanted.map((o) => rpc.request(peer, 'blobs.read', { digest: blob.digest, offset: o, length: Math.min(CHUNK_BYTES, blob.size - o) }, { timeoutMs: REQUEST_TIMEOUT_MS }) as Promise<Uint8Array>),
          );
          for (const part of parts) {
            if (!(part instanceof Uint8Array) || part.byteLength === 0) throw new Error(`peer ${peer} returned no data for ${blob.digest} at ${offset}`);
            offset += part.byteLength;
            onProgress?.({ digest: blob.digest, done: offset, total: blob.size, peer });
            yield part;
          }
        } catch (err) {
          attempt++;
          logger.debug({ err, peer, digest: blob.digest, offset }, 'blob fetch failed; trying another peer');
          if (attempt >= peers.length * 2) throw new SwarmError('UNAVAILABLE', `could not fetch ${blob.digest} from ${peers.length} peers: ${(err as Error).message}`);
        }
      }
    }
    await this.images.blobs.ingest(blob.digest, Readable.from(chunks()), blob.size);
  }
}
