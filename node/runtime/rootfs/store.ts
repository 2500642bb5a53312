// Unpacked layers and per-container overlay mounts under one root directory:
//
//   layers/<hex>        one directory per layer (keyed by diffID), an overlay lower dir
//   l/<hex[0:12]>       short symlinks to them, so ~250 layers fit in one page of mount options
//   mounts/<id>/        merged, upper, work and layers.json (what the mount stacks, for gc)
//   tmp/                unpacks in progress and layers being deleted (cleared on open)
//   empty/              the lower dir of a FROM-scratch container
//
// Everything lives on one file system, so an unpacked layer is renamed into place (a layer dir
// either is complete or does not exist) and overlay's upper and work dirs share a file system.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { SwarmError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { MAX_MOUNT_DATA, isMountPoint, mountOverlay, unmount } from './mount.js';
import { unpackLayer } from './unpack.js';

const DIFF_ID = /^sha256:([0-9a-f]{64})$/;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/; // a path component free of overlay's , and :
const SHORT = 12;

function hexOf(diffId: string): string {
  const m = DIFF_ID.exec(diffId);
  if (m === null) throw new SwarmError('INVALID_ARGUMENT', `invalid layer diffID ${JSON.stringify(diffId)}: want sha256:<64 hex>`);
  return m[1]!;
}

function checkContainerId(id: string): void {
  if (!CONTAINER_ID.test(id)) throw new SwarmError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id)}`);
}

/** Bytes on disk (allocated blocks) under dir, each inode once. */
async function diskUsage(dir: string): Promise<number> {
  const seen = new Set<string>();
  let bytes = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p);
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      bytes += st.blocks * 512;
    }
    if (st.isDirectory()) for (const name of await fsp.readdir(p)) await walk(join(p, name));
  };
  await walk(dir);
  return bytes;
}

export interface MountPaths {
  /** The merged view: the container's root file system. */
  rootfs: string;
  /** The container's changes (for commit: diffToLayer). */
  upper: string;
}

export class LayerStore {
  private readonly inflight = new Map<string, Promise<string>>();
  /** mount, unmount, remove and gc run one at a time: gc must not delete what a mount is stacking. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  /** One store per root per process: opening clears tmp/, where another store may be unpacking. */
  static async open(root: string, opts: { logger: Logger }): Promise<LayerStore> {
    await fsp.mkdir(root, { recursive: true });
    const real = await fsp.realpath(root); // mountinfo lists resolved paths
    for (const d of ['layers', 'l', 'mounts', 'tmp', 'empty']) await fsp.mkdir(join(real, d), { recursive: true });
    const leftovers = await fsp.readdir(join(real, 'tmp'));
    for (const name of leftovers) await fsp.rm(join(real, 'tmp', name), { recursive: true, force: true });
    const log = opts.logger.child({ component: 'rootfs' });
    if (leftovers.length > 0) log.info({ count: leftovers.length }, 'removed partial unpacks of a previous run');
    return new LayerStore(real, log);
  }

  private layerPath(hex: string): string {
    return join(this.root, 'layers', hex);
  }

  hasLayer(diffId: string): boolean {
    return DIFF_ID.test(diffId) && existsSync(this.layerPath(hexOf(diffId)));
  }

  async ensureLayer(diffId: string, blobPath: string, mediaType: string): Promise<string> {
    const hex = hexOf(diffId);
    const dir = this.layerPath(hex);
    if (existsSync(dir)) return dir;
    let p = this.inflight.get(hex);
    if (p === undefined) {
      p = this.unpack(diffId, hex, blobPath, mediaType).finally(() => this.inflight.delete(hex));
      this.inflight.set(hex, p);
    }
    return p;
  }

  private async unpack(diffId: string, hex: string, blobPath: string, mediaType: string): Promise<string> {
    const started = Date.now();
    const tmp = await fsp.mkdtemp(join(this.root, 'tmp', `${hex.slice(0, SHORT)}-`));
    const dir = this.layerPath(hex);
    try {
      await fsp.chmod(tmp, 0o755); // mkdtemp's 0700, unless the layer has a "./" entry
      const r = await unpackLayer(blobPath, mediaType, tmp, this.log);
      if (r.diffId !== diffId) {
        throw new SwarmError('INVALID_ARGUMENT', `layer ${blobPath} has diffID ${r.diffId}, expected ${diffId}`);
      }
      try {
        await fsp.rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        await fsp.rm(tmp, { recursive: true, force: true }); // another process got there first
      }
      await this.ensureLink(hex);
      this.log.info({ diffId, entries: r.entries, bytes: r.size, ms: Date.now() - started }, 'layer unpacked');
      return dir;
    } catch (err) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  private async ensureLink(hex: string): Promise<void> {
    const link = join(this.root, 'l', hex.slice(0, SHORT));
    const target = join('..', 'layers', hex);
    try {
      await fsp.symlink(target, link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = await fsp.readlink(link);
      if (existing !== target) {
        throw new SwarmError('CONFLICT', `layer short name ${hex.slice(0, SHORT)} is taken by ${existing}`);
      }
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private mountDir(containerId: string): string {
    return join(this.root, 'mounts', containerId);
  }

  private async recordedLayers(containerId: string): Promise<string[] | null> {
    try {
      return JSON.parse(await fsp.readFile(join(this.mountDir(containerId), 'layers.json'), 'utf8')) as string[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async mount(containerId: string, diffIds: string[]): Promise<MountPaths> {
    checkContainerId(containerId);
    const hexes = diffIds.map(hexOf);
    return this.serial(async () => {
      const dir = this.mountDir(containerId);
      const paths = { rootfs: join(dir, 'merged'), upper: join(dir, 'upper') };
      const recorded = await this.recordedLayers(containerId);
      if (recorded !== null && JSON.stringify(recorded) !== JSON.stringify(diffIds)) {
        throw new SwarmError(
          'CONFLICT',
          `container ${containerId} already has a root file system of other layers`,
          'remove it before mounting different layers',
        );
      }
      if (isMountPoint(paths.rootfs)) return paths;
      const rel = `mounts/${containerId}`;
      const lower = hexes.length === 0 ? 'empty' : hexes.map((h) => `l/${h.slice(0, SHORT)}`).reverse().join(':');
      // whole-file copy-up and no rename redirects: the upper dir must read as a plain diff
      const options = `lowerdir=${lower},upperdir=${rel}/upper,workdir=${rel}/work,index=off,redirect_dir=off,metacopy=off`;
      if (options.length > MAX_MOUNT_DATA) {
        const max = Math.floor((MAX_MOUNT_DATA - (options.length - lower.length)) / (SHORT + 3));
        throw new SwarmError(
          'INVALID_ARGUMENT',
          `image has ${hexes.length} layers; overlay can stack at most ${max} here`,
          'squash the image into fewer layers',
        );
      }
      for (const [i, hex] of hexes.entries()) {
        if (!existsSync(this.layerPath(hex))) throw new SwarmError('NOT_FOUND', `layer ${diffIds[i]} is not unpacked`);
        await this.ensureLink(hex);
      }
      for (const d of ['merged', 'upper', 'work']) await fsp.mkdir(join(dir, d), { recursive: true });
      if (recorded === null) {
        const tmp = join(dir, `layers.json.${randomBytes(4).toString('hex')}`);
        await fsp.writeFile(tmp, JSON.stringify(diffIds));
        await fsp.rename(tmp, join(dir, 'layers.json'));
      }
      await mountOverlay(paths.rootfs, options, this.root);
      this.log.debug({ containerId, layers: hexes.length }, 'rootfs mounted');
      return paths;
    });
  }

  async unmount(containerId: string): Promise<void> {
    checkContainerId(containerId);
    return this.serial(() => this.unmountNow(containerId));
  }

  private async unmountNow(containerId: string): Promise<void> {
    const merged = join(this.mountDir(containerId), 'merged');
    const how = await unmount(merged);
    if (how === 'detached') this.log.warn({ containerId }, 'rootfs busy: detached lazily');
    else if (how === 'unmounted') this.log.debug({ containerId }, 'rootfs unmounted');
  }

  async remove(containerId: string): Promise<void> {
    checkContainerId(containerId);
    return this.serial(async () => {
      await this.unmountNow(containerId);
      await fsp.rm(this.mountDir(containerId), { recursive: true, force: true });
    });
  }

  mounted(): string[] {
    return readdirSync(join(this.root, 'mounts'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  }

  /** Deletes unpacked layers that are neither in keep nor stacked by a container. */
  async gc(keep: Set<string>): Promise<number> {
    return this.serial(async () => {
      const used = new Set<string>();
      for (const d of keep) if (DIFF_ID.test(d)) used.add(hexOf(d));
      for (const id of this.mounted()) {
        for (const d of (await this.recordedLayers(id)) ?? []) if (DIFF_ID.test(d)) used.add(hexOf(d));
      }
      let freed = 0;
      for (const hex of await fsp.readdir(join(this.root, 'layers'))) {
        if (!/^[0-9a-f]{64}$/.test(hex) || used.has(hex) || this.inflight.has(hex)) continue;
        // out of layers/ first: a crash mid-delete must not leave half a layer that looks whole
        const doomed = join(this.root, 'tmp', `gc-${hex.slice(0, SHORT)}-${randomBytes(4).toString('hex')}`);
        await fsp.rename(this.layerPath(hex), doomed);
        await fsp.rm(join(this.root, 'l', hex.slice(0, SHORT)), { force: true });
        const bytes = await diskUsage(doomed);
        await fsp.rm(doomed, { recursive: true, force: true });
        freed += bytes;
        this.log.info({ diffId: `sha256:${hex}`, bytes }, 'layer removed');
      }
      return freed;
    });
  }
}
