import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SwarmError } from '../../errors.js';
import { assertDigest, digestHex, isDigest } from './digest.js';

/**
 * Blobs by sha256 in an OCI image layout (`ROOT/blobs/sha256/<hex>`). Nothing enters unverified:
 * content goes to a temp file in `ROOT/ingest`, is hashed on the way, and is renamed into place only
 * when digest and size match, so a reader never sees a partial or wrong blob.
 */
export class ContentStore {
  readonly root: string;
  private readonly blobDir: string;
  private readonly ingestDir: string;

  constructor(root: string) {
    this.root = root;
    this.blobDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
    mkdirSync(this.blobDir, { recursive: true });
    mkdirSync(this.ingestDir, { recursive: true });
  }

  has(digest: string): boolean {
    if (!isDigest(digest)) return false;
    try {
      return statSync(join(this.blobDir, digestHex(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** Where the blob lives (whether or not it is there yet). */
  path(digest: string): string {
    assertDigest(digest, 'blob');
    return join(this.blobDir, digestHex(digest));
  }

  size(digest: string): number {
    try {
      return statSync(this.path(digest)).size;
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      throw this.mapMissing(err, digest);
    }
  }

  open(digest: string, offset = 0): Readable {
    // Checked up front so a missing blob fails here rather than as a stream error later.
    this.size(digest);
    return createReadStream(this.path(digest), { start: offset });
  }

  /**
   * Stores `data` as `expectedDigest`. A digest or size mismatch deletes the temp file and throws
   * INVALID_ARGUMENT naming both digests; an input longer than `expectedSize` is cut off early.
   */
  async ingest(expectedDigest: string, data: Readable | Uint8Array, expectedSize?: number): Promise<void> {
    try {
      assertDigest(expectedDigest, 'blob');
    } catch (err) {
      if (data instanceof Readable) data.destroy();
      throw err;
    }
    await this.writeVerified(data, { digest: expectedDigest, size: expectedSize });
  }

  /** Stores content whose digest is not known beforehand (a layer from a legacy archive, say). */
  async write(data: Readable | Uint8Array): Promise<{ digest: string; size: number }> {
    return this.writeVerified(data, undefined);
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  list(): string[] {
    return readdirSync(this.blobDir)
      .filter((name) => /^[a-f0-9]{64}$/.test(name))
      .map((hex) => `sha256:${hex}`);
  }

  /** Removes temp files of ingests that died (a crash mid-pull); recent ones may still be in use. */
  cleanIngests(olderThanMs: number): void {
    const cutoff = Date.now() - olderThanMs;
    for (const name of readdirSync(this.ingestDir)) {
      const file = join(this.ingestDir, name);
      try {
        if (statSync(file).mtimeMs < cutoff) rmSync(file, { force: true });
      } catch {
        // Finished and renamed meanwhile.
      }
    }
  }

  private async writeVerified(
    data: Readable | Uint8Array,
    expected: { digest: string; size: number | undefined } | undefined,
  ): Promise<{ digest: string; size: number }> {
    const tmp = join(this.ingestDir, `${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(tmp, 'wx', 0o644);
    let renamed = false;
    try {
      try {
        if (data instanceof Readable) {
          for await (const chunk of data) {
            const bytes: Uint8Array = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
            size += bytes.byteLength;
            if (expected?.size !== undefined && size > expected.size) {
              throw mismatch('INVALID_ARGUMENT', `blob size mismatch for ${expected.digest}: expected ${expected.size} bytes, got more; discarded`);
            }
            hash.update(bytes);
            await fh.write(bytes);
          }
        } else {
          size = data.byteLength;
          hash.update(data);
          await fh.write(data);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (expected !== undefined) {
        if (expected.size !== undefined && size !== expected.size) {
          throw mismatch('INVALID_ARGUMENT', `blob size mismatch for ${expected.digest}: expected ${expected.size} bytes, got ${size}; discarded`);
        }
        if (digest !== expected.digest) {
          throw mismatch('INVALID_ARGUMENT', `blob digest mismatch: expected ${expected.digest}, got ${digest}; discarded`);
        }
      }
      await rename(tmp, join(this.blobDir, digestHex(digest)));
      renamed = true;
      return { digest, size };
    } catch (err) {
      if (data instanceof Readable) data.destroy();
      throw err;
    } finally {
      if (!renamed) await rm(tmp, { force: true });
    }
  }

  private mapMissing(err: unknown, digest: string): unknown {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return new SwarmError('NOT_FOUND', `blob not found: ${digest}`, 'pull or load the image that contains it again');
    }
    return err;
  }
}

function mismatch(code: 'INVALID_ARGUMENT', message: string): SwarmError {
  return new SwarmError(code, message, 'the source sent corrupt or different content; retry, or check the registry or archive it came from');
}
