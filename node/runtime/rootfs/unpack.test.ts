import { execFileSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { LAYER_MEDIA_TYPES, LayerStore } from './index.js';
import { T0, TAR, TGZ, makeTar, removeTempDir, sha256, snapshot, tempDir, writeBlob } from './testkit.js';

let dir: string;
let store: LayerStore;

beforeEach(async () => {
  dir = await tempDir('unpack');
  store = await LayerStore.open(join(dir, 'store'), { logger: silentLogger() });
});

afterEach(async () => {
  await removeTempDir(dir);
});

async function expectNothingKept(): Promise<void> {
  expect(await fsp.readdir(join(store.root, 'layers'))).toEqual([]);
  expect(await fsp.readdir(join(store.root, 'tmp'))).toEqual([]);
}

describe('LayerStore.ensureLayer', () => {
  it('keeps files, directories, symlinks, hardlinks, devices, owners, modes and mtimes; whiteouts become overlay ones', async () => {
    const tarBytes = await makeTar([
      { name: './', mode: 0o755 },
      { name: 'etc/' },
      { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
      { name: 'usr/bin/su', content: 'su', mode: 0o4755 }, // parents implied
      { name: 'usr/bin/su-again', type: 'link', linkname: 'usr/bin/su' },
      { name: 'tmp/', mode: 0o1777 },
      { name: 'home/user/', mode: 0o750, uid: 1000, gid: 1000 },
      { name: 'home/user/notes', content: 'mine', mode: 0o600, uid: 1000, gid: 1000 },
      { name: 'bin/sh', type: 'symlink', linkname: '/usr/bin/su', uid: 1000, gid: 1000 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'run/pipe', type: 'fifo', mode: 0o620 },
      { name: 'var/.wh.cache' },
      { name: 'opt/app/' },
      { name: 'opt/app/.wh..wh..opq' },
      { name: 'opt/app/main', content: 'new' },
      { name: '/abs/file', content: 'absolute names count from the layer root' },
    ]);
    const blob = await writeBlob(dir, 'layer.tar', tarBytes);
    const layer = await store.ensureLayer(blob.diffId, blob.path, TAR);

    expect(layer).toBe(join(store.root, 'layers', blob.diffId.slice('sha256:'.length)));
    expect(store.hasLayer(blob.diffId)).toBe(true);
    const view = await snapshot(layer);
    expect(view).toMatchObject({
      'etc/passwd': `file 644 0:0 ${Buffer.from('root:x:0:0::/root:/bin/sh\n').toString('base64')}`,
      'usr/bin': 'dir 755 0:0',
      'usr/bin/su': `file 4755 0:0 ${Buffer.from('su').toString('base64')}`,
      tmp: 'dir 1777 0:0',
      'home/user': 'dir 750 1000:1000',
      'home/user/notes': `file 600 1000:1000 ${Buffer.from('mine').toString('base64')}`,
      'bin/sh': 'symlink 777 1000:1000 -> /usr/bin/su',
      'dev/null': `special 666 0:0 ${(1 << 8) | 3}`,
      'var/cache': 'whiteout',
      'opt/app': 'dir 755 0:0 opaque',
      'abs/file': `file 644 0:0 ${Buffer.from('absolute names count from the layer root').toString('base64')}`,
    });
    const su = await fsp.stat(join(layer, 'usr/bin/su'));
    expect((await fsp.stat(join(layer, 'usr/bin/su-again'))).ino).toBe(su.ino);
    expect(su.mtime.getTime()).toBe(T0.getTime());
    expect((await fsp.stat(join(layer, 'etc'))).mtime.getTime()).toBe(T0.getTime()); // set after its children
    expect((await fsp.lstat(join(layer, 'bin/sh'))).mtime.getTime()).toBe(T0.getTime());
    const pipe = await fsp.lstat(join(layer, 'run/pipe'));
    expect(pipe.isFIFO() && (pipe.mode & 0o7777) === 0o620).toBe(true);
    expect(await fsp.readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('unpacks a layer once, for repeated and concurrent calls', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(s) });
    const s = await LayerStore.open(join(dir, 'logged'), { logger });
    const blob = await writeBlob(dir, 'l.tgz', await makeTar([{ name: 'f', content: 'x'.repeat(100_000) }]), true);

    const paths = await Promise.all(Array.from({ length: 5 }, () => s.ensureLayer(blob.diffId, blob.path, TGZ)));
    const again = await s.ensureLayer(blob.diffId, blob.path, TGZ);

    expect(new Set([...paths, again]).size).toBe(1);
    expect(lines.filter((l) => l.includes('"layer unpacked"'))).toHaveLength(1);
  });

  it('refuses a layer whose content does not match its diffID, naming both, and keeps nothing', async () => {
    const blob = await writeBlob(dir, 'l.tar', await makeTar([{ name: 'f', content: 'real' }]));
    const claimed = sha256(Buffer.from('something else'));

    const err: unknown = await store.ensureLayer(claimed, blob.path, TAR).catch((e: unknown) => e);

    expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(claimed);
    expect((err as Error).message).toContain(blob.diffId);
    expect(store.hasLayer(claimed)).toBe(false);
    await expectNothingKept();
  });

  it('takes gzip and plain tar (with tar(1) padding), and refuses zstd and unknown media types', async () => {
    const src = join(dir, 'src');
    await fsp.mkdir(join(src, 'sub'), { recursive: true });
    await fsp.writeFile(join(src, 'sub/hello'), 'hi');
    const gnu = join(dir, 'gnu.tar.gz');
    execFileSync('tar', ['-C', src, '-czf', gnu, '.']);
    const gnuDiffId = sha256(execFileSync('gzip', ['-dc', gnu]));

    const layer = await store.ensureLayer(gnuDiffId, gnu, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(await fsp.readFile(join(layer, 'sub/hello'), 'utf8')).toBe('hi');
    expect(LAYER_MEDIA_TYPES.gzip).toContain(TGZ);
    expect(LAYER_MEDIA_TYPES.tar).toContain(TAR);

    const zstd = 'application/vnd.oci.image.layer.v1.tar+zstd';
    await expect(store.ensureLayer(sha256(Buffer.from('z')), gnu, zstd)).rejects.toThrow(/unsupported layer compression/);
    const zstdBlob = join(dir, 'z.tar');
    await fsp.writeFile(zstdBlob, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    await expect(store.ensureLayer(sha256(Buffer.from('z')), zstdBlob, TAR)).rejects.toThrow(/unsupported layer compression zstd/);
    await expect(store.ensureLayer(sha256(Buffer.from('z')), gnu, 'text/plain')).rejects.toThrow(/unknown layer media type/);
    const garbage = join(dir, 'garbage.gz');
    await fsp.writeFile(garbage, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await expect(store.ensureLayer(sha256(Buffer.from('g')), garbage, TGZ)).rejects.toSatisfy((e: unknown) =>
      isSwarmError(e, 'INVALID_ARGUMENT'),
    );
    const whole = await makeTar([{ name: 'big', content: 'x'.repeat(10_000) }]);
    const truncated = await writeBlob(dir, 'truncated.tar', whole.subarray(0, 4096));
    const err: unknown = await store.ensureLayer(truncated.diffId, truncated.path, TAR).catch((e: unknown) => e);
    expect(isSwarmError(err, 'INVALID_ARGUMENT'), String(err)).toBe(true);
    expect(await fsp.readdir(join(store.root, 'tmp'))).toEqual([]);
  });

  it('refuses entries that leave the layer root, naming them, and writes nothing outside', async () => {
    const outside = join(dir, 'outside');
    await fsp.mkdir(outside);
    const cases: { entries: Parameters<typeof makeTar>[0]; bad: string }[] = [
      { entries: [{ name: '../evil', content: 'x' }], bad: '../evil' },
      { entries: [{ name: 'a/../../evil', content: 'x' }], bad: 'a/../../evil' },
      {
        entries: [
          { name: 'escape', type: 'symlink', linkname: outside },
          { name: 'escape/pwned', content: 'x' },
        ],
        bad: 'escape/pwned',
      },
      {
        entries: [
          { name: 'up', type: 'symlink', linkname: '../../../..' },
          { name: 'up/tmp/pwned', content: 'x' },
        ],
        bad: 'up/tmp/pwned',
      },
      { entries: [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }], bad: 'h' },
      { entries: [{ name: 'h2', type: 'link', linkname: 'not/here' }], bad: 'h2' },
    ];
    for (const [i, c] of cases.entries()) {
      const blob = await writeBlob(dir, `bad${i}.tar`, await makeTar(c.entries));
      const err: unknown = await store.ensureLayer(blob.diffId, blob.path, TAR).catch((e: unknown) => e);
      expect(isSwarmError(err, 'INVALID_ARGUMENT'), `case ${c.bad}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toContain(JSON.stringify(c.bad));
      expect(store.hasLayer(blob.diffId)).toBe(false);
    }
    expect(await fsp.readdir(outside)).toEqual([]);
    expect(await fsp.readdir(dir)).not.toContain('evil');
    await expectNothingKept();
  });
});
