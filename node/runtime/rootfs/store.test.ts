import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { LayerStore, diffToLayer } from './index.js';
import { isMountPoint, mountPoints } from './mount.js';
import { T0, TAR, listTar, makeTar, removeTempDir, sha256, snapshot, tempDir, writeBlob, type TarEntry } from './testkit.js';

let dir: string;
let store: LayerStore;

beforeEach(async () => {
  dir = await tempDir('store');
  store = await LayerStore.open(join(dir, 'store'), { logger: silentLogger() });
});

afterEach(async () => {
  await removeTempDir(dir);
});

let n = 0;
async function layer(entries: TarEntry[], s: LayerStore = store): Promise<string> {
  const blob = await writeBlob(dir, `layer${n++}.tar`, await makeTar(entries));
  await s.ensureLayer(blob.diffId, blob.path, TAR);
  return blob.diffId;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** base, then a layer deleting and replacing things, then one on top. */
async function threeLayers(): Promise<string[]> {
  const base = await layer([
    { name: 'bin/' },
    { name: 'bin/tool', content: 'v1', mode: 0o755 },
    { name: 'etc/' },
    { name: 'etc/config', content: 'base' },
    { name: 'etc/removed', content: 'gone soon' },
    { name: 'data/' },
    { name: 'data/a', content: 'a' },
    { name: 'data/sub/c', content: 'c' },
    { name: 'tmp/', mode: 0o1777 },
    { name: 'usr/bin/passwd', content: 'pw', mode: 0o4755 },
    { name: 'home/u/', uid: 1000, gid: 1000, mode: 0o700 },
    { name: 'home/u/f', content: 'f', uid: 1000, gid: 1000 },
  ]);
  const middle = await layer([
    { name: 'etc/.wh.removed' },
    { name: 'bin/tool', content: 'v2', mode: 0o755 },
    { name: 'data/' },
    { name: 'data/.wh..wh..opq' },
    { name: 'data/new', content: 'new' },
  ]);
  const top = await layer([
    { name: 'etc/config', content: 'top' },
    { name: 'bin/link', type: 'symlink', linkname: 'tool' },
    { name: 'bin/tool2', content: 't2' },
    { name: 'bin/hard', type: 'link', linkname: 'bin/tool2' },
  ]);
  return [base, middle, top];
}

describe('LayerStore.mount', () => {
  it('stacks layers: whiteouts and opaque dirs hide lower files, upper layers win, writes go to upper', async () => {
    const layers = await threeLayers();
    const { rootfs, upper } = await store.mount('c1', layers);

    expect(rootfs).toBe(join(store.root, 'mounts/c1/merged'));
    const view = await snapshot(rootfs);
    expect(view).toMatchObject({
      'bin/tool': `file 755 0:0 ${b64('v2')}`,
      'bin/link': 'symlink 777 0:0 -> tool',
      'etc/config': `file 644 0:0 ${b64('top')}`,
      'data/new': `file 644 0:0 ${b64('new')}`,
      tmp: 'dir 1777 0:0',
      'usr/bin/passwd': `file 4755 0:0 ${b64('pw')}`,
      'home/u': 'dir 700 1000:1000',
      'home/u/f': `file 644 1000:1000 ${b64('f')}`,
    });
    expect(view).not.toHaveProperty('etc/removed');
    expect(Object.keys(view).filter((k) => k.startsWith('data/'))).toEqual(['data/new']);
    expect((await fsp.stat(join(rootfs, 'bin/hard'))).ino).toBe((await fsp.stat(join(rootfs, 'bin/tool2'))).ino);

    // idempotent: the same paths, one mount
    expect(await store.mount('c1', layers)).toEqual({ rootfs, upper });
    expect(mountPoints().filter((m) => m === rootfs)).toHaveLength(1);
    await expect(store.mount('c1', layers.slice(1))).rejects.toSatisfy((e: unknown) => isSwarmError(e, 'CONFLICT'));

    await fsp.writeFile(join(rootfs, 'etc/new'), 'written in the container');
    expect(await fsp.readFile(join(upper, 'etc/new'), 'utf8')).toBe('written in the container');
    await fsp.rm(join(rootfs, 'etc/config'));
    expect((await snapshot(upper))['etc/config']).toBe('whiteout');
    expect(await fsp.readFile(join(store.root, 'layers', layers[2]!.slice(7), 'etc/config'), 'utf8')).toBe('top');
  });

  it('round-trips a container\'s changes: diffToLayer of its upper dir, stacked on its layers, gives the same view', async () => {
    const layers = await threeLayers();
    const c1 = await store.mount('c1', layers);
    const r = c1.rootfs;
    await fsp.writeFile(join(r, 'etc/new'), 'new file');
    await fsp.link(join(r, 'etc/new'), join(r, 'etc/new-link'));
    await fsp.rm(join(r, 'etc/config')); // whiteout
    await fsp.rm(join(r, 'bin/tool2'));
    await fsp.writeFile(join(r, 'bin/tool'), 'v3'); // copy-up of a changed file
    await fsp.chmod(join(r, 'tmp'), 0o1770); // copy-up of a directory's metadata only
    await fsp.rm(join(r, 'data'), { recursive: true }); // then recreated: opaque
    await fsp.mkdir(join(r, 'data'));
    await fsp.writeFile(join(r, 'data/fresh'), 'fresh');
    execFileSync('mv', [join(r, 'home/u'), join(r, 'home/v')]); // a lower dir renamed: copied (redirect_dir=off)
    await fsp.symlink('../etc/new', join(r, 'bin/to-new'));
    await fsp.lchown(join(r, 'bin/to-new'), 1000, 1000);
    const before = await snapshot(r);
    expect(before).toHaveProperty('home/v/f');
    expect(before).not.toHaveProperty('data/new');

    const layerPath = join(dir, 'diff.tar');
    const result = await diffToLayer(c1.upper, createWriteStream(layerPath), { fixedMtime: T0 });
    const bytes = await fsp.readFile(layerPath);
    expect(result).toEqual({ diffId: sha256(bytes), size: bytes.length });

    const headers = await listTar(bytes);
    const names = headers.map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.config', 'bin/.wh.tool2', 'data/.wh..wh..opq', 'home/.wh.u']));
    expect(names.indexOf('data/.wh..wh..opq')).toBe(names.indexOf('data/') + 1);
    expect(names.indexOf('bin/.wh.tool2')).toBeLessThan(names.indexOf('bin/tool')); // whiteouts before siblings
    expect(headers.find((h) => h.name === 'etc/new-link')).toMatchObject({ type: 'link', linkname: 'etc/new' });
    expect(headers.every((h) => h.mtime.getTime() === T0.getTime())).toBe(true);
    // deterministic
    const again = await diffToLayer(c1.upper, createWriteStream(join(dir, 'diff2.tar')), { fixedMtime: T0 });
    expect(again.diffId).toBe(result.diffId);

    await store.ensureLayer(result.diffId, layerPath, TAR);
    const c2 = await store.mount('c2', [...layers, result.diffId]);
    expect(await snapshot(c2.rootfs)).toEqual(before);
  });

  it('mounts an empty root for zero layers (FROM scratch)', async () => {
    const { rootfs, upper } = await store.mount('scratch', []);
    expect(await fsp.readdir(rootfs)).toEqual([]);
    await fsp.writeFile(join(rootfs, 'hello'), 'x');
    expect(await fsp.readdir(upper)).toEqual(['hello']);
    expect(await fsp.readdir(join(store.root, 'empty'))).toEqual([]);
  });

  it('stacks 70 layers through short links, and refuses stacks that do not fit in one page', async () => {
    const layers: string[] = [];
    for (let i = 0; i < 70; i++) layers.push(await layer([{ name: `f${i}`, content: String(i) }, { name: 'top', content: String(i) }]));
    const { rootfs } = await store.mount('tall', layers);
    expect(await fsp.readFile(join(rootfs, 'top'), 'utf8')).toBe('69');
    expect((await fsp.readdir(rootfs)).length).toBe(71);

    const tooMany = Array.from({ length: 300 }, (_, i) => sha256(Buffer.from(String(i))));
    const err: unknown = await store.mount('taller', tooMany).catch((e: unknown) => e);
    expect(isSwarmError(err, 'INVALID_ARGUMENT') && /300 layers; overlay can stack at most 2\d\d/.test(err.message)).toBe(true);
    await expect(store.mount('missing', [sha256(Buffer.from('nope'))])).rejects.toSatisfy((e: unknown) => isSwarmError(e, 'NOT_FOUND'));
  });

  it('unmounts a busy rootfs lazily, and remove deletes its upper and work dirs', async () => {
    const lines: string[] = [];
    const logged = await LayerStore.open(join(dir, 'logged'), { logger: pino({ level: 'warn' }, { write: (l: string) => lines.push(l) }) });
    const base = await layer([{ name: 'f', content: 'x' }], logged);
    const { rootfs } = await logged.mount('busy', [base]);
    const fh = await fsp.open(join(rootfs, 'f'), 'r');
    try {
      await logged.unmount('busy');
      expect(lines.filter((l) => l.includes('detached lazily'))).toHaveLength(1);
      expect(isMountPoint(rootfs)).toBe(false);
      expect(logged.mounted()).toEqual(['busy']); // unmounted, not removed
      await logged.mount('busy', [base]); // and mountable again
      expect(isMountPoint(rootfs)).toBe(true);
    } finally {
      await fh.close();
    }
    await logged.remove('busy');
    expect(logged.mounted()).toEqual([]);
    expect(isMountPoint(rootfs)).toBe(false);
    await logged.remove('busy'); // nothing left: no error
  });

  it('gc deletes layers neither kept nor mounted, and reports the bytes freed', async () => {
    const a = await layer([{ name: 'a', content: 'a'.repeat(100_000) }]);
    const b = await layer([{ name: 'b', content: 'b'.repeat(50_000) }]);
    const c = await layer([{ name: 'c', content: 'c'.repeat(30_000) }]);
    await store.mount('g', [a]);

    const freed = await store.gc(new Set([b]));
    expect(freed).toBeGreaterThanOrEqual(30_000);
    expect(freed).toBeLessThan(100_000);
    expect([store.hasLayer(a), store.hasLayer(b), store.hasLayer(c)]).toEqual([true, true, false]);
    expect(await fsp.readdir(join(store.root, 'l'))).toHaveLength(2);

    await store.remove('g');
    expect(await store.gc(new Set())).toBeGreaterThanOrEqual(150_000);
    expect(await fsp.readdir(join(store.root, 'layers'))).toEqual([]);
    expect(await fsp.readdir(join(store.root, 'l'))).toEqual([]);
    expect(await fsp.readdir(join(store.root, 'tmp'))).toEqual([]);
    expect(await store.gc(new Set())).toBe(0);
  });

  it('after a restart, a new store lists leftover mounts, keeps their layers and cleans them up', async () => {
    const a = await layer([{ name: 'a', content: 'a' }]);
    const first = await store.mount('r1', [a]);
    await store.mount('r2', []);
    await fsp.mkdir(join(store.root, 'tmp', 'half-unpacked-layer')); // as a crash mid-unpack leaves it

    const restarted = await LayerStore.open(join(dir, 'store'), { logger: silentLogger() });
    expect(restarted.mounted()).toEqual(['r1', 'r2']);
    expect(await fsp.readdir(join(store.root, 'tmp'))).toEqual([]);
    expect(await restarted.gc(new Set())).toBe(0); // r1's layer is still stacked
    expect(await restarted.mount('r1', [a])).toEqual(first);

    for (const id of restarted.mounted()) await restarted.remove(id);
    expect(restarted.mounted()).toEqual([]);
    expect(mountPoints().filter((m) => m.startsWith(store.root))).toEqual([]);
    expect(await restarted.gc(new Set())).toBeGreaterThan(0);
  });

  it('rejects container ids that are not one path component', async () => {
    for (const id of ['', '../x', 'a/b', 'a,b', 'a:b']) {
      await expect(store.mount(id, [])).rejects.toSatisfy((e: unknown) => isSwarmError(e, 'INVALID_ARGUMENT'));
    }
  });
});
