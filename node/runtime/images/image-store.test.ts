import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { busyboxImageArchive, busyboxLayer, loadBusybox } from '../../../test/fixtures/busybox.js';
import { isSwarmError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import { type Image, ImageStore, OCI_LAYER, OCI_LAYER_GZIP, OCI_MANIFEST } from './index.js';
import { rejection } from '../../../test/support/rejection.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'swarm-images-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const open = (name: string): Promise<ImageStore> => ImageStore.open(join(dir, name), { logger: silentLogger() });
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const BB = 'docker.io/library/busybox:test';

async function saveToBuffer(store: ImageStore, refs: string[], format: 'docker' | 'oci'): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await store.save(refs, format, out);
  return Buffer.concat(chunks);
}

async function tarEntries(archive: Buffer): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  const extract = tar.extract();
  Readable.from([archive]).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    entries.set(entry.header.name, Buffer.concat(parts));
  }
  return entries;
}

/** A second image on top of busybox: same layer, another config (so another id). */
async function variant(store: ImageStore, base: Image, names: string[], label: string): Promise<Image> {
  return store.commit({ config: { ...base.config, config: { ...base.config.config, Labels: { v: label } } }, layers: base.manifest.layers, names });
}

describe('load', () => {
  it('loads a legacy docker-save archive: uncompressed layer checked against its diff id, OCI manifest written', async () => {
    const store = await open('s');
    const archive = await busyboxImageArchive({ name: 'busybox:test', format: 'docker' });
    const [img] = await store.load(Readable.from([archive.bytes]));
    expect(img!.id).toBe(archive.id);
    expect(img!.names).toEqual([BB]);
    expect(img!.manifest.mediaType).toBe(OCI_MANIFEST);
    expect(img!.manifest.layers).toHaveLength(1);
    expect(img!.manifest.layers[0]!.mediaType).toBe(OCI_LAYER);
    expect(img!.manifest.layers[0]!.digest).toBe(img!.config.rootfs.diff_ids[0]);
    expect(img!.config.config.Cmd).toEqual(['sh']);
    expect(img!.config.config.Env?.[0]).toMatch(/^PATH=/);
    expect(img!.created).toBe('2024-01-01T00:00:00.000Z');
    expect(store.blobs.has(img!.digest)).toBe(true);
  });

  it('loads an OCI archive, and a gzip-compressed one', async () => {
    const store = await open('s');
    const archive = await busyboxImageArchive({ name: 'localhost:5000/team/bb:1', format: 'oci' });
    const [img] = await store.load(Readable.from([gzipSync(archive.bytes)]));
    expect(img!.id).toBe(archive.id);
    expect(img!.digest).toBe(archive.manifestDigest);
    expect(img!.names).toEqual(['localhost:5000/team/bb:1']);
    expect(img!.manifest.layers[0]!.mediaType).toBe(OCI_LAYER_GZIP);
    const layer = await busyboxLayer(dir);
    expect(img!.manifest.layers[0]!.digest).toBe(layer.digest);
    expect(img!.size).toBe(layer.size);
  });

  it('refuses an archive with a corrupt blob, naming the digest, and keeps nothing of it', async () => {
    const store = await open('s');
    const archive = await busyboxImageArchive({ format: 'oci' });
    const entries = await tarEntries(archive.bytes);
    const layerPath = [...entries.keys()].find((k) => k.startsWith('blobs/') && entries.get(k)!.length > 10_000)!;
    const corrupt = Buffer.from(entries.get(layerPath)!);
    corrupt[corrupt.length - 100] ^= 0xff;
    const pack = tar.pack();
    for (const [name, content] of entries) pack.entry({ name, size: (name === layerPath ? corrupt : content).length }, name === layerPath ? corrupt : content);
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const c of pack) parts.push(c as Buffer);
    const err = await rejection(store.load(Readable.from([Buffer.concat(parts)])));
    expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
    const expected = `sha256:${layerPath.slice('blobs/sha256/'.length)}`;
    expect(err.message).toBe(`blob digest mismatch: expected ${expected}, got ${sha256(corrupt)}; discarded`);
    expect(store.blobs.has(expected)).toBe(false);
    expect(store.list()).toEqual([]);
  });

  it('refuses what is not an image archive', async () => {
    const store = await open('s');
    const pack = tar.pack();
    pack.entry({ name: 'hello.txt' }, 'hi');
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const c of pack) parts.push(c as Buffer);
    await expect(store.load(Readable.from([Buffer.concat(parts)]))).rejects.toThrow(/not an image archive: it has neither manifest.json/);
    await expect(store.load(Readable.from([Buffer.from('garbage that is not a tar at all, not even close')]))).rejects.toThrow(/image archive/);
  });
});

describe('save and load round trips', () => {
  it.each(['docker', 'oci'] as const)('%s format: a fresh store gets identical ids, digests and names', async (format) => {
    const a = await open('a');
    const bb = await loadBusybox(a, 'busybox:test');
    await a.tag('busybox:test', 'registry.example.com:5000/team/bb:2');
    const other = await variant(a, bb, ['other:1'], 'x');
    const archive = await saveToBuffer(a, ['busybox:test', 'registry.example.com:5000/team/bb:2', 'other:1'], format);

    const entries = await tarEntries(archive);
    expect(entries.has('oci-layout')).toBe(true);
    expect(entries.has('index.json')).toBe(true);
    expect(entries.has('manifest.json')).toBe(format === 'docker');
    if (format === 'docker') {
      const manifest = JSON.parse(entries.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
      expect(manifest.map((m) => m.RepoTags.sort())).toEqual([['busybox:test', 'registry.example.com:5000/team/bb:2'], ['other:1']]);
      expect(manifest[0]!.Layers).toEqual([`blobs/sha256/${bb.manifest.layers[0]!.digest.slice(7)}`]);
      expect(JSON.parse(entries.get('repositories')!.toString())).toHaveProperty('busybox', { test: bb.manifest.layers[0]!.digest.slice(7) });
    }
    // Shared layers are written once.
    expect([...entries.keys()].filter((k) => /^blobs\/sha256\/[a-f0-9]{64}$/.test(k))).toHaveLength(5);
    // Saving is deterministic.
    expect(sha256(await saveToBuffer(a, ['busybox:test', 'registry.example.com:5000/team/bb:2', 'other:1'], format))).toBe(sha256(archive));

    const b = await open('b');
    const loaded = await b.load(Readable.from([archive]));
    expect(loaded.map((i) => [i.id, i.digest]).sort()).toEqual([[bb.id, bb.digest], [other.id, other.digest]].sort());
    expect(b.get('busybox:test').names).toEqual([BB, 'registry.example.com:5000/team/bb:2']);
    expect(b.get('other:1').names).toEqual(['docker.io/library/other:1']);
    expect(b.get('busybox:test').manifest).toEqual(bb.manifest);
    expect(b.get('busybox:test').config).toEqual(bb.config);
  });

  it('an image saved by id keeps all its names (docker save drops them; loading untagged images helps nobody)', async () => {
    const a = await open('a');
    const bb = await loadBusybox(a);
    await a.tag(bb.id, 'second:1');
    const b = await open('b');
    const [img] = await b.load(Readable.from([await saveToBuffer(a, [bb.id.slice(7, 19)], 'docker')]));
    expect(img!.digest).toBe(bb.digest);
    expect(img!.names).toEqual(['docker.io/library/busybox:test', 'docker.io/library/second:1']);
  });

  it('an OCI archive from another tool names images by ref.name when it is a full reference', async () => {
    const a = await open('a');
    const bb = await loadBusybox(a);
    const entries = await tarEntries(await saveToBuffer(a, ['busybox:test'], 'oci'));
    const index = JSON.parse(entries.get('index.json')!.toString()) as { manifests: { annotations?: Record<string, string> }[] };
    index.manifests[0]!.annotations = { 'org.opencontainers.image.ref.name': 'quay.io/org/bb:9' };
    entries.set('index.json', Buffer.from(JSON.stringify(index)));
    const pack = tar.pack();
    for (const [name, content] of entries) if (!name.endsWith('/')) pack.entry({ name, size: content.length }, content);
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const c of pack) parts.push(c as Buffer);
    const b = await open('b');
    const [img] = await b.load(Readable.from([Buffer.concat(parts)]));
    expect(img!.digest).toBe(bb.digest);
    expect(img!.names).toEqual(['quay.io/org/bb:9']);
  });
});

describe('names: tag, list, inspect, rm', () => {
  it('resolves by name, short name, id, id prefix and digest; unknown → NOT_FOUND naming the ref', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    for (const ref of ['busybox:test', BB, 'docker.io/busybox:test', 'library/busybox:test', bb.id, bb.id.slice(7), bb.id.slice(7, 19), bb.id.slice(0, 19), bb.digest, `busybox@${bb.digest}`]) {
      expect(s.resolve(ref)?.digest, ref).toBe(bb.digest);
    }
    expect(s.resolve('busybox')).toBeUndefined(); // :latest
    expect(s.resolve(bb.id.slice(7, 18))).toBeUndefined(); // 11 digits: too short for an id
    expect(s.resolve('')).toBeUndefined();
    const err = (() => {
      try {
        s.get('nosuch:1');
      } catch (e) {
        return e as Error & { hint?: string };
      }
      throw new Error('expected NOT_FOUND');
    })();
    expect(isSwarmError(err, 'NOT_FOUND')).toBe(true);
    expect(err.message).toBe('image not found: nosuch:1');
    expect(err.hint).toBeTruthy();
  });

  it('tag adds names; a name moves off its previous image, which becomes dangling', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    await s.tag('busybox:test', 'app:1');
    await s.tag(bb.id, 'localhost:5000/app:1');
    expect(s.get('busybox:test').names).toEqual(['docker.io/library/app:1', BB, 'localhost:5000/app:1']);
    const v = await variant(s, bb, ['app:1'], 'moved');
    expect(s.get('app:1').id).toBe(v.id);
    expect(s.get(bb.id).names).toEqual([BB, 'localhost:5000/app:1']);
    await expect(s.tag('busybox:test', `x@${bb.digest}`)).rejects.toThrow(/cannot tag with a digest/);
    await expect(s.tag('nosuch', 'y:1')).rejects.toThrow('image not found: nosuch');
    await expect(s.tag('busybox:test', 'Bad:1')).rejects.toThrow(/must be lowercase/);
    expect(s.list().map((i) => i.digest).sort()).toEqual([bb.digest, v.digest].sort());
  });

  it('rm of one of several names only untags; of the last name deletes the image and its blobs', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    await s.tag('busybox:test', 'second:1');
    expect(await s.remove('second:1')).toEqual({ untagged: ['docker.io/library/second:1'], deleted: [] });
    expect(s.get(bb.id).names).toEqual([BB]);
    const res = await s.remove('busybox:test');
    expect(res.untagged).toEqual([BB]);
    expect(res.deleted[0]).toBe(bb.id);
    expect(res.deleted).toContain(bb.digest);
    expect(res.deleted).toContain(bb.manifest.layers[0]!.digest);
    expect(s.list()).toEqual([]);
    expect(s.blobs.list()).toEqual([]);
    await expect(s.remove('busybox:test')).rejects.toThrow('image not found: busybox:test');
  });

  it('rm keeps blobs another image still uses', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    const v = await variant(s, bb, ['v:1'], 'v');
    const res = await s.remove('v:1');
    expect(res.deleted).toEqual([v.id, v.digest]);
    expect(s.blobs.has(bb.manifest.layers[0]!.digest)).toBe(true);
  });

  it('rm refuses an image in use, and an id with several names, unless forced', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    const inUse = (id: string): boolean => id === bb.id;
    const busy = await rejection(s.remove('busybox:test', { inUse }));
    expect(isSwarmError(busy, 'CONFLICT')).toBe(true);
    expect(busy.message).toContain('in use by a container');
    await s.tag('busybox:test', 'two:1');
    // A name among several is only a name: untagging it is fine even while the image runs.
    await s.remove('two:1', { inUse });
    await s.tag('busybox:test', 'two:1');
    const multi = await rejection(s.remove(bb.id));
    expect(isSwarmError(multi, 'CONFLICT')).toBe(true);
    expect(multi.message).toContain('referenced by 2 names');
    const forced = await s.remove(bb.id, { force: true, inUse });
    expect(forced.untagged.sort()).toEqual([BB, 'docker.io/library/two:1']);
    expect(forced.deleted[0]).toBe(bb.id);
    expect(s.list()).toEqual([]);
  });

  it('names and images survive reopening the store (index.json)', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    await s.tag('busybox:test', 'again:2');
    const dangling = await variant(s, bb, [], 'dangling');
    const again = await open('s');
    expect(again.list().map((i) => [i.digest, i.names]).sort()).toEqual(
      [
        [bb.digest, ['docker.io/library/again:2', BB]],
        [dangling.digest, []],
      ].sort(),
    );
    const index = JSON.parse(readFileSync(join(dir, 's', 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    expect(index.manifests.filter((m) => m.digest === bb.digest).map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort()).toEqual(['docker.io/library/again:2', BB]);
    expect(existsSync(join(dir, 's', 'oci-layout'))).toBe(true);
    expect(again.get('again:2').config).toEqual(bb.config);
  });
});

describe('commit and register', () => {
  it('commit writes an OCI config and manifest over existing layers; missing layers are refused', async () => {
    const s = await open('s');
    const layer = await busyboxLayer(dir);
    await s.blobs.ingest(layer.digest, readFileSync(layer.path), layer.size);
    const img = await s.commit({
      config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh', '-c', 'echo hi'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] } },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
      names: ['built:1'],
    });
    expect(img.names).toEqual(['docker.io/library/built:1']);
    expect(img.manifest.mediaType).toBe(OCI_MANIFEST);
    expect(img.id).toBe(sha256(await s.blobs.read(img.id)));
    expect(img.digest).toBe(sha256(await s.blobs.read(img.digest)));
    expect(img.created).toBe('');
    const missing = `sha256:${'1'.repeat(64)}`;
    await expect(
      s.commit({ config: { ...img.config, rootfs: { type: 'layers', diff_ids: [missing] } }, layers: [{ mediaType: OCI_LAYER, digest: missing, size: 1 }], names: [] }),
    ).rejects.toThrow(`layer blob not found: ${missing}`);
    await expect(s.commit({ config: img.config, layers: [], names: [] })).rejects.toThrow(/1 diff ids for 0 layers/);
  });

  it('register adds an image whose blobs are already present (as a peer fetch leaves them)', async () => {
    const a = await open('a');
    const bb = await loadBusybox(a);
    const b = await open('b');
    for (const d of [bb.digest, bb.id, ...bb.manifest.layers.map((l) => l.digest)]) await b.blobs.ingest(d, await a.blobs.read(d));
    const img = await b.register(bb.digest, ['busybox:test']);
    expect([img.id, img.digest, img.names]).toEqual([bb.id, bb.digest, [BB]]);
    const c = await open('c');
    await c.blobs.ingest(bb.digest, await a.blobs.read(bb.digest));
    await expect(c.register(bb.digest, ['x:1'])).rejects.toThrow(`blob not found: ${bb.id}`);
  });
});

describe('prune', () => {
  it('deletes dangling images and unreferenced blobs only; all also takes tagged unused images', async () => {
    const s = await open('s');
    const bb = await loadBusybox(s);
    const used = await variant(s, bb, [], 'used');
    const dangling = await variant(s, bb, ['moved:1'], 'dangling');
    const mover = await variant(s, bb, ['moved:1'], 'mover'); // moved:1 leaves `dangling` without names
    const stray = Buffer.from('a blob nobody references');
    await s.blobs.ingest(sha256(stray), stray);
    const held = Buffer.from('a blob an operation in flight holds');
    await s.blobs.ingest(sha256(held), held);
    const release = s.hold([sha256(held)]);

    const inUse = (id: string): boolean => id === used.id;
    const danglingBytes = s.blobs.size(dangling.digest) + s.blobs.size(dangling.id);
    const res = await s.prune({ inUse });
    expect(res.deletedImages).toEqual([dangling.id]);
    expect(res.deletedBlobs.sort()).toEqual([dangling.digest, dangling.id, sha256(stray)].sort());
    expect(res.reclaimedBytes).toBe(danglingBytes + stray.length);
    expect(s.resolve(used.id)?.digest).toBe(used.digest);
    expect(s.get('busybox:test').digest).toBe(bb.digest);
    expect(s.blobs.has(sha256(held))).toBe(true);
    expect(s.blobs.has(bb.manifest.layers[0]!.digest)).toBe(true);

    release();
    const all = await s.prune({ inUse, all: true });
    expect(all.deletedImages.sort()).toEqual([bb.id, mover.id].sort());
    expect(s.list().map((i) => i.id)).toEqual([used.id]);
    expect(all.deletedBlobs).toContain(sha256(held));
    // The shared layer stays: the image in use needs it.
    expect(s.blobs.has(bb.manifest.layers[0]!.digest)).toBe(true);
    expect((await s.prune({ inUse })).deletedBlobs).toEqual([]);
  });
});

describe('busybox fixture', () => {
  it('has a static busybox, an applet symlink per applet, passwd and group, and the base directories', async () => {
    const layer = await busyboxLayer(dir);
    const entries = new Map<string, tar.Header>();
    const extract = tar.extract();
    Readable.from([gunzipSync(readFileSync(layer.path))]).pipe(extract as unknown as NodeJS.WritableStream);
    const contents = new Map<string, string>();
    for await (const entry of extract) {
      entries.set(entry.header.name, entry.header);
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      if (entry.header.name.startsWith('etc/')) contents.set(entry.header.name, Buffer.concat(parts).toString());
    }
    expect(entries.get('bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(entries.get('bin/sh')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect(entries.get('bin/ls')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect([...entries.keys()].filter((k) => k.startsWith('bin/')).length).toBeGreaterThan(100);
    for (const d of ['dev/', 'proc/', 'sys/', 'root/', 'var/']) expect(entries.get(d)?.type, d).toBe('directory');
    expect(entries.get('tmp/')?.mode).toBe(0o1777);
    expect(contents.get('etc/passwd')).toMatch(/^root:x:0:0:.*\nnobody:x:65534:65534:/);
    expect(contents.get('etc/group')).toMatch(/^root:x:0:\nnobody:x:65534:/);
  });
});
