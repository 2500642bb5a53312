// Helpers for the rootfs tests: layer tarballs built in memory, temp roots that are unmounted and
// deleted even after a failure, and file tree snapshots for comparing views.
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { opaqueDirs } from './fsops.js';
import { mountPoints, unmount } from './mount.js';

export interface TarEntry {
  name: string;
  type?: tar.Header['type'];
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
}

export const T0 = new Date('2024-01-02T03:04:05Z');

/** An uncompressed tar of the entries, in order. */
export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = pipeline(pack as unknown as Readable, collector(chunks)); // streamx, stream-compatible
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'directory' : 'file');
    // a file entry without a body still needs one (empty) or the pack waits for it forever
    const content = e.content !== undefined ? Buffer.from(e.content) : type === 'file' ? Buffer.alloc(0) : undefined;
    const header: tar.Header = {
      name: e.name,
      type,
      size: content?.length ?? 0,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? T0,
      linkname: e.linkname ?? '',
      uname: '',
      gname: '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content !== undefined) pack.entry(header, content, cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export function collector(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
}

export function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** Writes a layer blob (gzipped if asked); returns its path and the diffID of the tar. */
export async function writeBlob(dir: string, name: string, tarBytes: Buffer, gzip = false): Promise<{ path: string; diffId: string }> {
  const path = join(dir, name);
  await fsp.writeFile(path, gzip ? gzipSync(tarBytes) : tarBytes);
  return { path, diffId: sha256(tarBytes) };
}

export const TAR = 'application/vnd.oci.image.layer.v1.tar';
export const TGZ = 'application/vnd.oci.image.layer.v1.tar+gzip';

export async function tempDir(label: string): Promise<string> {
  return fsp.realpath(await fsp.mkdtemp(join(tmpdir(), `swarm-rootfs-${label}-`)));
}

/** Unmounts everything under dir (deepest first), then deletes it. */
export async function removeTempDir(dir: string): Promise<void> {
  const under = mountPoints()
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of under) await unmount(m);
  await fsp.rm(dir, { recursive: true, force: true });
}

/**
 * rel path → "type mode uid:gid detail" for every node under dir (mtimes left out: a merged view
 * and its source differ there). Overlay whiteouts show as "whiteout", opaque dirs get " opaque".
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const dirs: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await fsp.readdir(rel === '' ? dir : join(dir, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, r);
      const st = await fsp.lstat(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out[r] = `dir ${meta}`;
        dirs.push(r);
        await walk(r);
      } else if (st.isFile()) {
        out[r] = `file ${meta} ${(await fsp.readFile(p)).toString('base64')}`;
      } else if (st.isSymbolicLink()) {
        out[r] = `symlink ${meta} -> ${await fsp.readlink(p)}`;
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        out[r] = 'whiteout';
      } else {
        out[r] = `special ${meta} ${st.rdev}`;
      }
    }
  };
  await walk('');
  for (const d of await opaqueDirs(dirs.map((r) => join(dir, r)))) out[d.slice(dir.length + 1)] += ' opaque';
  return out;
}

/** Polls until check() is truthy or the deadline passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The headers of an uncompressed tar, in order. */
export async function listTar(buf: Buffer): Promise<tar.Header[]> {
  const extract = tar.extract();
  const headers: tar.Header[] = [];
  const feeding = pipeline(Readable.from([buf]), extract as unknown as Writable); // streamx, stream-compatible
  for await (const entry of extract) {
    headers.push(entry.header);
    entry.resume();
  }
  await feeding;
  return headers;
}
