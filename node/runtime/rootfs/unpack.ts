// Applies one layer tarball to an empty directory so that the directory can serve as an overlayfs
// lower layer: OCI whiteouts become overlay whiteouts (char device 0:0) and opaque markers become
// the trusted.overlay.opaque xattr. Nothing is ever written outside the directory: names are
// normalised and rejected if they leave it, and no path is followed through a symlink.
import { createHash } from 'node:crypto';
import { constants as FS, createReadStream, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { posix, join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { SwarmError, isSwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { OPAQUE_XATTR, runFsOps, type FsOp, type NodeKind } from './fsops.js';
import { detectCompression } from './media.js';

export interface UnpackResult {
  /** sha256 of the uncompressed tar stream, every byte of it (padding included). */
  diffId: string;
  /** Bytes of the uncompressed tar stream. */
  size: number;
  entries: number;
}

/** Unpacks blobPath (compressed or not) into dest, an existing empty directory. */
export async function unpackLayer(
  blobPath: string,
  mediaType: string,
  dest: string,
  logger: Logger,
): Promise<UnpackResult> {
  const compression = await detectCompression(blobPath, mediaType);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const extract = tar.extract();
  const sink = extract as unknown as Writable; // streamx Writable: pipeline only needs the stream surface
  const source = createReadStream(blobPath);
  const feeding =
    compression === 'gzip' ? pipeline(source, createGunzip(), tap, sink) : pipeline(source, tap, sink);
  feeding.catch(() => {}); // awaited below; this keeps an early failure from counting as unhandled
  const x = new Extractor(dest, logger);
  try {
    // each entry is a streamx Readable: async iteration is all apply() uses
    for await (const entry of extract) await x.apply(entry.header, entry as unknown as Readable);
    await feeding;
    await x.finish();
  } catch (err) {
    extract.destroy(err instanceof Error ? err : new Error(String(err)));
    source.destroy();
    const feedErr = await feeding.then(
      () => undefined,
      (e: unknown) => e,
    );
    // a decompression or tar-format error is the cause; the loop only saw the stream die
    throw classify(isSwarmError(err) || feedErr === undefined ? err : feedErr, blobPath);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, size, entries: x.entries };
}

function classify(err: unknown, blobPath: string): SwarmError {
  if (isSwarmError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  // errno failures are ours (disk full, ...); anything else is a corrupt gzip or tar stream
  const ours = typeof e?.syscall === 'string';
  return new SwarmError(
    ours ? 'INTERNAL' : 'INVALID_ARGUMENT',
    `unpacking layer ${blobPath} failed: ${e?.message ?? String(err)}`,
    undefined,
    { cause: err },
  );
}

type Header = tar.Header;
/** A node to mknod; an overlay whiteout is a char device 0:0. */
interface Pending {
  kind: NodeKind;
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

const isWhiteout = (p: Pending): boolean => p.kind === 'char' && p.major === 0 && p.minor === 0;

async function lstatOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function drain(body: Readable): Promise<void> {
  for await (const _chunk of body) {
    // entries other than files carry no data; read to the end so the parser moves on
  }
}

function parentOf(rel: string): string {
  const d = posix.dirname(rel);
  return d === '.' ? '' : d;
}

function paxNumber(h: Header, key: string): number | undefined {
  const pax = h.pax as Record<string, string> | null | undefined;
  const v = pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

class Extractor {
  entries = 0;
  /** Directories of this layer known to be real directories (not symlinks): no lstat needed. */
  private readonly dirs = new Set<string>(['']);
  /** Nodes created in one helper batch at the end (mknod has no Node API). */
  private readonly pending = new Map<string, Pending>();
  private readonly opaque = new Set<string>();
  /** Directory mtimes, set last: creating children changes them. */
  private readonly dirTimes = new Map<string, number>();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** The entry's path relative to the layer root; absolute names count from the root, as tar -x does. */
  private relName(name: string, entry: string, what = 'entry'): string {
    const norm = posix.normalize(name.replace(/^\/+/, '') || '.');
    if (norm === '..' || norm.startsWith('../')) {
      throw new SwarmError('INVALID_ARGUMENT', `layer ${what} ${JSON.stringify(entry)} escapes the layer root`);
    }
    return norm === '.' || norm === './' ? '' : norm.replace(/\/+$/, '');
  }

  async apply(h: Header, body: Readable): Promise<void> {
    this.entries++;
    try {
      await this.applyEntry(h, body);
    } catch (err) {
      // a file system failure is ours; anything else (a truncated stream) is classified by the caller
      if (isSwarmError(err) || typeof (err as NodeJS.ErrnoException)?.syscall !== 'string') throw err;
      throw new SwarmError(
        'INTERNAL',
        `unpacking layer entry ${JSON.stringify(h.name)}: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
    }
  }

  private async applyEntry(h: Header, body: Readable): Promise<void> {
    const entry = h.name;
    const rel = this.relName(entry, entry);
    const uid = paxNumber(h, 'uid') ?? h.uid;
    const gid = paxNumber(h, 'gid') ?? h.gid;
    const paxMtime = paxNumber(h, 'mtime');
    const mtimeMs = paxMtime !== undefined ? Math.round(paxMtime * 1000) : h.mtime.getTime();
    const mtime = new Date(mtimeMs);
    const mode = h.mode & 0o7777;

    const isFile = h.type === 'file' || h.type === 'contiguous-file';
    if (!isFile) await drain(body);
    if (rel === '') {
      if (h.type !== 'directory') {
        throw new SwarmError('INVALID_ARGUMENT', `layer entry ${JSON.stringify(entry)} replaces the root with a ${h.type}`);
      }
      await fsp.chown(this.root, uid, gid);
      await fsp.chmod(this.root, mode);
      this.dirTimes.set('', mtimeMs);
      return;
    }
    const dir = parentOf(rel);
    const base = posix.basename(rel);
    if (base.startsWith('.wh.')) {
      if (isFile) await drain(body);
      return this.whiteout(entry, dir, base, mtimeMs);
    }

    const abs = this.abs(rel);
    switch (h.type) {
      case 'directory': {
        await this.ensureDir(dir, entry);
        this.replacePending(rel);
        const st = await lstatOrNull(abs);
        if (st !== null && !st.isDirectory()) await this.removeExisting(rel);
        if (st === null || !st.isDirectory()) await fsp.mkdir(abs);
        await fsp.lchown(abs, uid, gid);
        await fsp.chmod(abs, mode); // after chown, which clears setgid
        this.dirs.add(rel);
        this.dirTimes.set(rel, mtimeMs);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        await this.ensureDir(dir, entry);
        await this.removeExisting(rel); // never write through a symlink or into a hardlinked inode
        const fh = await fsp.open(abs, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL | FS.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
          }
          await fh.chown(uid, gid);
          await fh.chmod(mode); // after chown, which clears setuid/setgid
          await fh.utimes(mtime, mtime);
        } finally {
          await fh.close();
        }
        return;
      }
      case 'symlink': {
        await this.ensureDir(dir, entry);
        await this.removeExisting(rel);
        await fsp.symlink(h.linkname, abs);
        await fsp.lchown(abs, uid, gid);
        await fsp.lutimes(abs, mtime, mtime);
        return;
      }
      case 'link': {
        const target = this.relName(h.linkname, entry, 'hardlink');
        if (target === '') throw new SwarmError('INVALID_ARGUMENT', `layer hardlink ${JSON.stringify(entry)} points at the root`);
        if (this.pending.has(target)) await this.flush(false); // a hardlinked device node: create it now
        await this.verifyDir(parentOf(target), entry);
        const tst = await lstatOrNull(this.abs(target));
        if (tst === null || tst.isDirectory()) {
          throw new SwarmError(
            'INVALID_ARGUMENT',
            `layer hardlink ${JSON.stringify(entry)} points at ${JSON.stringify(h.linkname)}, which is not a file of this layer`,
          );
        }
        await this.ensureDir(dir, entry);
        if (target === rel) return;
        await this.removeExisting(rel);
        await fsp.link(this.abs(target), abs);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await this.ensureDir(dir, entry);
        await this.removeExisting(rel);
        const kind: NodeKind = h.type === 'fifo' ? 'fifo' : h.type === 'block-device' ? 'block' : 'char';
        this.pending.set(rel, { kind, major: h.devmajor ?? 0, minor: h.devminor ?? 0, mode, uid, gid, mtimeMs });
        return;
      }
      default:
        this.log.warn({ entry, type: h.type }, 'skipping layer entry of unsupported type');
    }
  }

  private async whiteout(entry: string, dir: string, base: string, mtimeMs: number): Promise<void> {
    await this.ensureDir(dir, entry);
    if (base === '.wh..wh..opq') {
      this.opaque.add(dir);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs bookkeeping (.wh..wh.plnk, ...): not content
    const name = base.slice('.wh.'.length);
    if (name === '' || name === '.' || name === '..') {
      throw new SwarmError('INVALID_ARGUMENT', `layer whiteout ${JSON.stringify(entry)} names no file`);
    }
    const rel = dir === '' ? name : `${dir}/${name}`;
    await this.removeExisting(rel);
    this.pending.set(rel, { kind: 'char', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtimeMs });
  }

  /** A whiteout replaced by a directory in the same layer: the lower one stays hidden. */
  private replacePending(rel: string): void {
    const p = this.pending.get(rel);
    if (p === undefined) return;
    this.pending.delete(rel);
    if (isWhiteout(p)) this.opaque.add(rel);
  }

  /** Makes rel a real directory of this layer, creating missing parents as tar does (0755, root). */
  private async ensureDir(rel: string, entry: string): Promise<void> {
    if (this.dirs.has(rel)) return;
    await this.ensureDir(parentOf(rel), entry);
    this.replacePending(rel);
    const abs = this.abs(rel);
    const st = await lstatOrNull(abs);
    if (st === null) {
      await fsp.mkdir(abs);
      await fsp.chmod(abs, 0o755); // not left to the umask
    } else if (st.isSymbolicLink()) {
      throw new SwarmError('INVALID_ARGUMENT', `layer entry ${JSON.stringify(entry)} goes through symlink ${JSON.stringify(rel)}`);
    } else if (!st.isDirectory()) {
      throw new SwarmError('INVALID_ARGUMENT', `layer entry ${JSON.stringify(entry)}: ${JSON.stringify(rel)} is not a directory`);
    }
    this.dirs.add(rel);
  }

  /** Like ensureDir, without creating anything (hardlink targets must already exist). */
  private async verifyDir(rel: string, entry: string): Promise<void> {
    if (this.dirs.has(rel)) return;
    await this.verifyDir(parentOf(rel), entry);
    const st = await lstatOrNull(this.abs(rel));
    if (st === null || !st.isDirectory()) {
      throw new SwarmError(
        'INVALID_ARGUMENT',
        `layer hardlink ${JSON.stringify(entry)}: ${JSON.stringify(rel)} is not a directory of this layer`,
      );
    }
    this.dirs.add(rel);
  }

  private async removeExisting(rel: string): Promise<void> {
    this.pending.delete(rel);
    const abs = this.abs(rel);
    const st = await lstatOrNull(abs);
    if (st === null) return;
    if (!st.isDirectory()) {
      await fsp.unlink(abs);
      return;
    }
    await fsp.rm(abs, { recursive: true, force: true });
    const under = (p: string): boolean => p === rel || p.startsWith(`${rel}/`);
    for (const d of this.dirs) if (under(d)) this.dirs.delete(d);
    for (const d of this.dirTimes.keys()) if (under(d)) this.dirTimes.delete(d);
    for (const d of this.opaque) if (under(d)) this.opaque.delete(d);
    for (const d of this.pending.keys()) if (under(d)) this.pending.delete(d);
  }

  private async flush(withOpaque: boolean): Promise<void> {
    const ops: FsOp[] = [];
    for (const [rel, p] of this.pending) ops.push({ op: 'mknod', path: this.abs(rel), ...p });
    this.pending.clear();
    if (withOpaque) {
      for (const rel of this.opaque) ops.push({ op: 'setxattr', path: this.abs(rel), name: OPAQUE_XATTR, value: Buffer.from('y') });
      this.opaque.clear();
    }
    await runFsOps(ops);
  }

  async finish(): Promise<void> {
    await this.flush(true);
    // all children exist now; utimes on a directory leaves its parent's mtime alone, so any order
    for (const [rel, ms] of this.dirTimes) {
      const t = new Date(ms);
      await fsp.utimes(this.abs(rel), t, t);
    }
    this.log.debug({ dir: this.root, entries: this.entries }, 'layer entries applied');
  }
}
