// Layer tarballs from directories: an overlay upper dir (a container's changes, for commit and
// build) or a plain directory (build's COPY/ADD). Output is deterministic: entries sorted, names
// relative without "./", uname/gname empty, mtimes fixed when asked.
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { SwarmError } from '../../errors.js';
import { opaqueDirs } from './fsops.js';

export interface LayerTar {
  /** sha256 of the (uncompressed) tar written to out. */
  diffId: string;
  /** Bytes written to out. */
  size: number;
}

interface Node {
  rel: string;
  abs: string;
  st: Stats;
}

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Every node under root, parents before children. With whiteoutsFirst, overlay whiteouts come
 * before their siblings in each directory, as the OCI layer spec asks of generators.
 */
async function collect(root: string, whiteoutsFirst: boolean): Promise<Node[]> {
  const out: Node[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = (await fsp.readdir(rel === '' ? root : join(root, rel))).sort(byName);
    const nodes: Node[] = [];
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, childRel);
      nodes.push({ rel: childRel, abs, st: await fsp.lstat(abs) });
    }
    if (whiteoutsFirst) nodes.sort((a, b) => Number(isWhiteout(b.st)) - Number(isWhiteout(a.st))); // stable
    for (const n of nodes) {
      out.push(n);
      if (n.st.isDirectory()) await visit(n.rel);
    }
  };
  await visit('');
  return out;
}

/** A tar-stream pack piped through a digest to out. */
class TarOut {
  private readonly pack = tar.pack();
  private readonly hash = createHash('sha256');
  private size = 0;
  private readonly done: Promise<void>;
  private readonly failed: Promise<never>;

  constructor(out: Writable) {
    const tap = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.size += chunk.length;
        cb(null, chunk);
      },
    });
    this.done = pipeline(this.pack as unknown as Readable, tap, out); // streamx Readable: pipeline uses the stream surface only
    this.done.catch(() => {}); // awaited in finish(); entries watch `failed`
    this.failed = this.done.then(() => {
      throw new SwarmError('INTERNAL', 'layer tar output ended before the archive was complete');
    });
    this.failed.catch(() => {});
  }

  async add(header: tar.Header, contentPath?: string): Promise<void> {
    let sink: ReturnType<tar.Pack['entry']> | undefined;
    const entryDone = new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      // a file entry without content (a whiteout marker) still needs its empty body written
      if (contentPath === undefined && header.type === 'file') this.pack.entry(header, Buffer.alloc(0), cb);
      else sink = this.pack.entry(header, cb);
    });
    const work =
      contentPath === undefined
        ? entryDone
        : Promise.all([pipeline(createReadStream(contentPath), sink as unknown as Writable), entryDone]);
    await Promise.race([work, this.failed]);
  }

  async finish(): Promise<LayerTar> {
    this.pack.finalize();
    await this.done;
    return { diffId: `sha256:${this.hash.digest('hex')}`, size: this.size };
  }

  abort(err: unknown): void {
    this.pack.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

interface EmitOptions {
  prefix: string;
  uid?: number;
  gid?: number;
  fixedMtime?: Date;
}

function header(name: string, st: Stats | null, o: EmitOptions, over: Partial<tar.Header>): tar.Header {
  const uid = o.uid ?? st?.uid ?? 0;
  const gid = o.gid ?? st?.gid ?? 0;
  const h: tar.Header = {
    name,
    size: 0,
    mode: st === null ? 0o755 : st.mode & 0o7777,
    mtime: o.fixedMtime ?? st?.mtime ?? new Date(0),
    type: 'file',
    linkname: '',
    uid,
    gid,
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    ...over,
  };
  // ustar holds ids up to 0o777777; larger ones (user namespaces) go in a pax record
  const MAX_USTAR_ID = 0o777777;
  if (uid > MAX_USTAR_ID || gid > MAX_USTAR_ID) {
    h.pax = { uid: String(uid), gid: String(gid) };
    h.uid = Math.min(uid, MAX_USTAR_ID);
    h.gid = Math.min(gid, MAX_USTAR_ID);
  }
  return h;
}

/** Linux's dev_t encoding (glibc gnu_dev_major/minor). */
async function deviceNumbers(abs: string): Promise<{ devmajor: number; devminor: number }> {
  const rdev = (await fsp.lstat(abs, { bigint: true })).rdev;
  const major = ((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff00000000000n) >> 32n);
  const minor = (rdev & 0xffn) | ((rdev & 0xffffff00000n) >> 12n);
  return { devmajor: Number(major), devminor: Number(minor) };
}

async function emit(tarOut: TarOut, nodes: Node[], o: EmitOptions, overlay: { opaque: Set<string> } | null): Promise<void> {
  const inodes = new Map<string, string>(); // dev:ino of files with several links → first name
  const name = (rel: string): string => (o.prefix === '' ? rel : `${o.prefix}/${rel}`);
  for (const n of nodes) {
    const { st } = n;
    if (overlay !== null && isWhiteout(st)) {
      const dir = posix.dirname(n.rel);
      const wh = `${dir === '.' ? '' : `${dir}/`}.wh.${posix.basename(n.rel)}`;
      await tarOut.add(header(name(wh), st, { ...o, uid: 0, gid: 0 }, { mode: 0o644 }));
    } else if (st.isDirectory()) {
      await tarOut.add(header(`${name(n.rel)}/`, st, o, { type: 'directory' }));
      if (overlay?.opaque.has(n.abs)) {
        await tarOut.add(header(name(`${n.rel}/.wh..wh..opq`), st, { ...o, uid: 0, gid: 0 }, { mode: 0o644 }));
      }
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first !== undefined) {
        await tarOut.add(header(name(n.rel), st, o, { type: 'link', linkname: name(first) }));
      } else {
        if (st.nlink > 1) inodes.set(key, n.rel);
        await tarOut.add(header(name(n.rel), st, o, { size: st.size }), n.abs);
      }
    } else if (st.isSymbolicLink()) {
      await tarOut.add(header(name(n.rel), st, o, { type: 'symlink', linkname: await fsp.readlink(n.abs) }));
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'character-device' : 'block-device';
      await tarOut.add(header(name(n.rel), st, o, { type, ...(await deviceNumbers(n.abs)) }));
    } else if (st.isFIFO()) {
      await tarOut.add(header(name(n.rel), st, o, { type: 'fifo' }));
    }
    // sockets are left out, as docker does: they only mean something to a running process
  }
}

async function writeLayer(out: Writable, body: (t: TarOut) => Promise<void>): Promise<LayerTar> {
  const t = new TarOut(out);
  try {
    await body(t);
    return await t.finish();
  } catch (err) {
    t.abort(err);
    throw err;
  }
}

/**
 * The changes in an overlay upper dir as an uncompressed layer tarball: whiteouts (char 0:0)
 * become `.wh.NAME`, opaque directories get `.wh..wh..opq`. Mount with redirect_dir=off and
 * metacopy=off (LayerStore does) so the upper dir holds whole files and real directories.
 */
export async function diffToLayer(upperDir: string, out: Writable, opts: { fixedMtime?: Date; exclude?: (relPath: string, st: import('node:fs').Stats) => boolean } = {}): Promise<LayerTar> {
  // `exclude` drops entries the runtime made, not the build (e.g. empty /etc/hosts mountpoints).
  const nodes = (await collect(upperDir, true)).filter((n) => !opts.exclude?.(n.rel, n.st));
  const opaque = await opaqueDirs(nodes.filter((n) => n.st.isDirectory()).map((n) => n.abs));
  const o: EmitOptions = { prefix: '', ...(opts.fixedMtime ? { fixedMtime: opts.fixedMtime } : {}) };
  return writeLayer(out, (t) => emit(t, nodes, o, { opaque }));
}

/**
 * A directory's contents as an uncompressed layer tarball, placed under prefix (its parent
 * directories included, 0755), owned by uid/gid when given, else as on disk.
 */
export async function dirToLayer(
  srcDir: string,
  out: Writable,
  opts: { prefix?: string; uid?: number; gid?: number; fixedMtime?: Date } = {},
): Promise<LayerTar> {
  const prefix = posix.normalize((opts.prefix ?? '').replace(/^\/+/, '') || '.').replace(/\/+$/, '');
  if (prefix === '..' || prefix.startsWith('../')) {
    throw new SwarmError('INVALID_ARGUMENT', `layer prefix ${JSON.stringify(opts.prefix)} leaves the root`);
  }
  const o: EmitOptions = { prefix: prefix === '.' ? '' : prefix };
  if (opts.uid !== undefined) o.uid = opts.uid;
  if (opts.gid !== undefined) o.gid = opts.gid;
  if (opts.fixedMtime !== undefined) o.fixedMtime = opts.fixedMtime;
  const nodes = await collect(srcDir, false);
  return writeLayer(out, async (t) => {
    const parts = o.prefix === '' ? [] : o.prefix.split('/');
    for (let i = 1; i <= parts.length; i++) {
      await t.add(header(`${parts.slice(0, i).join('/')}/`, null, o, { type: 'directory', mode: 0o755 }));
    }
    await emit(t, nodes, o, null);
  });
}
