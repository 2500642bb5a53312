import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { silentLogger } from '../../log.js';
import { LayerStore, dirToLayer } from './index.js';
import { TAR, removeTempDir, tempDir } from './testkit.js';

const BUSYBOX = '/bin/busybox';

/** A chroot has no dynamic loader or libc: the binary must be static (Debian's busybox-static). */
function staticBusybox(): string {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  const elf = readFileSync(BUSYBOX);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) throw new Error(`${BUSYBOX} is not a 64-bit ELF`);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) {
      throw new Error(`${BUSYBOX} is dynamically linked: apt-get install busybox-static`);
    }
  }
  return BUSYBOX;
}

let dir: string;

beforeEach(async () => {
  dir = await tempDir('busybox');
});

afterEach(async () => {
  await removeTempDir(dir);
});

it('a busybox layer made by dirToLayer runs a shell in a chroot of its mount', async () => {
  const busybox = staticBusybox();
  const src = join(dir, 'rootfs');
  await fsp.mkdir(join(src, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'root']) await fsp.mkdir(join(src, d));
  await fsp.copyFile(busybox, join(src, 'bin/busybox'));
  await fsp.chmod(join(src, 'bin/busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  expect(applets).toContain('sh');
  for (const a of applets) await fsp.symlink('busybox', join(src, 'bin', a));

  const blob = join(dir, 'busybox.tar');
  const { diffId } = await dirToLayer(src, createWriteStream(blob));
  const store = await LayerStore.open(join(dir, 'store'), { logger: silentLogger() });
  await store.ensureLayer(diffId, blob, TAR);
  const { rootfs } = await store.mount('bb', [diffId]);

  expect(execFileSync('chroot', [rootfs, '/bin/sh', '-c', 'echo ok'], { encoding: 'utf8', timeout: 10_000 })).toBe('ok\n');
  expect(execFileSync('chroot', [rootfs, '/bin/sh', '-c', 'ls /bin | wc -l'], { encoding: 'utf8', timeout: 10_000 }).trim()).toBe(
    String(applets.length + 1),
  );
});
