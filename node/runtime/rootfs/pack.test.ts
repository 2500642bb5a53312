import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { runFsOps, OPAQUE_XATTR } from './fsops.js';
import { LayerStore, diffToLayer, dirToLayer } from './index.js';
import { T0, TAR, collector, listTar, removeTempDir, sha256, snapshot, tempDir } from './testkit.js';

let dir: string;

beforeEach(async () => {
  dir = await tempDir('pack');
});

afterEach(async () => {
  await removeTempDir(dir);
});

async function sourceTree(): Promise<string> {
  const src = join(dir, 'src');
  await fsp.mkdir(join(src, 'bin'), { recursive: true });
  await fsp.mkdir(join(src, 'empty'));
  await fsp.writeFile(join(src, 'a.txt'), 'hello');
  await fsp.link(join(src, 'a.txt'), join(src, 'a2'));
  await fsp.writeFile(join(src, 'bin/run'), '#!/bin/sh\n');
  await fsp.chmod(join(src, 'bin/run'), 0o4750);
  await fsp.symlink('a.txt', join(src, 'link'));
  await fsp.chown(join(src, 'a.txt'), 1234, 4321);
  return src;
}

async function toBuffer(f: (out: ReturnType<typeof collector>) => Promise<{ diffId: string; size: number }>) {
  const chunks: Buffer[] = [];
  const r = await f(collector(chunks));
  return { ...r, bytes: Buffer.concat(chunks) };
}

describe('dirToLayer', () => {
  it('packs a directory under a prefix with the given owner, deterministically', async () => {
    const src = await sourceTree();
    const opts = { prefix: '/app/sub/', uid: 1000, gid: 1000, fixedMtime: T0 };
    const r = await toBuffer((out) => dirToLayer(src, out, opts));

    expect(r.diffId).toBe(sha256(r.bytes));
    expect(r.size).toBe(r.bytes.length);
    const headers = await listTar(r.bytes);
    expect(headers.map((h) => [h.name, h.type, h.mode.toString(8), `${h.uid}:${h.gid}`, h.linkname ?? ''])).toEqual([
      ['app/', 'directory', '755', '1000:1000', ''],
      ['app/sub/', 'directory', '755', '1000:1000', ''],
      ['app/sub/a.txt', 'file', '644', '1000:1000', ''],
      ['app/sub/a2', 'link', '644', '1000:1000', 'app/sub/a.txt'],
      ['app/sub/bin/', 'directory', '755', '1000:1000', ''],
      ['app/sub/bin/run', 'file', '4750', '1000:1000', ''],
      ['app/sub/empty/', 'directory', '755', '1000:1000', ''],
      ['app/sub/link', 'symlink', '777', '1000:1000', 'a.txt'],
    ]);
    expect(headers.every((h) => h.mtime.getTime() === T0.getTime())).toBe(true);

    await fsp.utimes(join(src, 'a.txt'), new Date(), new Date());
    expect((await toBuffer((out) => dirToLayer(src, out, opts))).bytes.equals(r.bytes)).toBe(true);
  });

  it('keeps owners when none is given, and the layer unpacks and mounts', async () => {
    const src = await sourceTree();
    const path = join(dir, 'copy.tar');
    const r = await dirToLayer(src, createWriteStream(path));
    const headers = await listTar(await fsp.readFile(path));
    expect(headers.find((h) => h.name === 'a.txt')).toMatchObject({ uid: 1234, gid: 4321 });
    expect(headers.find((h) => h.name === 'bin/')).toMatchObject({ uid: 0, gid: 0 });

    const store = await LayerStore.open(join(dir, 'store'), { logger: silentLogger() });
    await store.ensureLayer(r.diffId, path, TAR);
    const { rootfs } = await store.mount('copy', [r.diffId]);
    expect(await snapshot(rootfs)).toMatchObject({
      'a.txt': `file 644 1234:4321 ${Buffer.from('hello').toString('base64')}`,
      'bin/run': `file 4750 0:0 ${Buffer.from('#!/bin/sh\n').toString('base64')}`,
      link: 'symlink 777 0:0 -> a.txt',
      empty: 'dir 755 0:0',
    });
    expect((await fsp.stat(join(rootfs, 'a2'))).ino).toBe((await fsp.stat(join(rootfs, 'a.txt'))).ino);
  });

  it('refuses a prefix that leaves the root', async () => {
    const src = await sourceTree();
    await expect(dirToLayer(src, collector([]), { prefix: '../etc' })).rejects.toSatisfy((e: unknown) =>
      isSwarmError(e, 'INVALID_ARGUMENT'),
    );
  });
});

describe('diffToLayer', () => {
  it('turns overlay whiteouts and opaque dirs into OCI whiteout entries', async () => {
    const upper = join(dir, 'upper');
    await fsp.mkdir(join(upper, 'etc/opaque'), { recursive: true });
    await fsp.writeFile(join(upper, 'etc/a'), 'a');
    await fsp.writeFile(join(upper, 'etc/opaque/kept'), 'k');
    const node = { op: 'mknod', kind: 'char', major: 0, minor: 0, mode: 0, uid: 0, gid: 0, mtimeMs: T0.getTime() } as const;
    await runFsOps([
      { ...node, path: join(upper, 'etc/z-deleted') },
      { ...node, path: join(upper, 'gone') },
      { ...node, path: join(upper, 'etc/tty'), major: 5, minor: 0, mode: 0o666 },
      { op: 'setxattr', path: join(upper, 'etc/opaque'), name: OPAQUE_XATTR, value: Buffer.from('y') },
    ]);

    const r = await toBuffer((out) => diffToLayer(upper, out, { fixedMtime: T0 }));
    const headers = await listTar(r.bytes);
    expect(headers.map((h) => `${h.name} ${h.type}`)).toEqual([
      '.wh.gone file',
      'etc/ directory',
      'etc/.wh.z-deleted file',
      'etc/a file',
      'etc/opaque/ directory',
      'etc/opaque/.wh..wh..opq file',
      'etc/opaque/kept file',
      'etc/tty character-device',
    ]);
    expect(headers.find((h) => h.name === 'etc/tty')).toMatchObject({ devmajor: 5, devminor: 0, mode: 0o666 });
    expect(r.diffId).toBe(sha256(r.bytes));
  });
});
