import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBusybox } from '../../../test/fixtures/busybox.js';
import { type RegistryOptions, type TestRegistry, startRegistry } from '../../../test/fixtures/registry.js';
import { isSwarmError } from '../../errors.js';
import { silentLogger } from '../../log.js';
import {
  CredentialStore,
  DOCKER_CONFIG,
  DOCKER_LAYER_GZIP,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  type Image,
  ImageStore,
  type ImageStoreOptions,
  OCI_INDEX,
  type ProgressEvent,
  registryKey,
  sha256Digest,
  verifyLogin,
} from './index.js';
import { rejection } from '../../../test/support/rejection.js';

let dir: string;
const registries: TestRegistry[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'swarm-registry-test-'));
});
afterEach(async () => {
  await Promise.allSettled(registries.splice(0).map((r) => r.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function registry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const r = await startRegistry(opts);
  registries.push(r);
  return r;
}

let stores = 0;
function store(opts: Partial<ImageStoreOptions> = {}): Promise<ImageStore> {
  return ImageStore.open(join(dir, `store-${++stores}`), { logger: silentLogger(), ...opts });
}

/** busybox:test in a new store, tagged `ref` and pushed. */
async function pushBusybox(ref: string, opts: Partial<ImageStoreOptions>): Promise<{ source: ImageStore; image: Image }> {
  const source = await store(opts);
  const image = await loadBusybox(source);
  await source.tag('busybox:test', ref);
  await source.push(ref);
  return { source, image };
}

/** A raw registry call, for what ImageStore does not do (pushing hand-made manifests). */
async function put(reg: TestRegistry, path: string, contentType: string, body: string | Buffer): Promise<void> {
  const res = await fetch(`${reg.url}${path}`, { method: 'PUT', headers: { 'content-type': contentType }, body });
  if (res.status !== 201) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
}

describe('pull and push against a real registry (plain HTTP, insecure)', () => {
  it('push then pull into a fresh store gives the same image; a second pull transfers no blob', async () => {
    const reg = await registry();
    const insecure = { insecureRegistries: [reg.addr] };
    const ref = `${reg.addr}/test/busybox:1`;
    const pushed: ProgressEvent[] = [];
    const source = await store(insecure);
    const image = await loadBusybox(source);
    await source.tag('busybox:test', ref);
    await source.push(ref, { onProgress: (e) => pushed.push(e) });
    expect(pushed.filter((e) => e.status === 'pushed').map((e) => e.digest)).toEqual([...image.manifest.layers.map((l) => l.digest), image.id, image.digest]);

    // Pushing again uploads nothing: HEAD finds every blob.
    const before = (await reg.requests()).length;
    await source.push(ref);
    const again = (await reg.requests()).slice(before);
    expect(again.filter((r) => r.method === 'POST' || (r.method === 'PUT' && r.path.includes('/blobs/')))).toEqual([]);

    const target = await store(insecure);
    const progress: ProgressEvent[] = [];
    const pulled = await target.pull(ref, { onProgress: (e) => progress.push(e) });
    expect([pulled.id, pulled.digest, pulled.names]).toEqual([image.id, image.digest, [ref]]);
    expect(pulled.manifest).toEqual(image.manifest);
    expect(pulled.config).toEqual(image.config);
    const layer = image.manifest.layers[0]!;
    expect(progress.filter((e) => e.digest === layer.digest).at(-1)).toEqual({ digest: layer.digest, done: layer.size, total: layer.size, status: 'complete' });
    expect(progress.some((e) => e.status === 'downloading' && e.done > 0 && e.done <= layer.size)).toBe(true);
    expect(target.blobs.size(layer.digest)).toBe(layer.size);

    const mark = (await reg.requests()).length;
    const second = await target.pull(ref, { onProgress: (e) => progress.push(e) });
    expect(second.digest).toBe(image.digest);
    const requests = (await reg.requests()).slice(mark);
    expect(requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    expect(requests.filter((r) => r.path.includes('/manifests/'))).toHaveLength(1);
    expect(progress.at(-1)?.status).toBe('exists');

    // By digest: the name is the repository digest.
    const byDigest = await (await store(insecure)).pull(`${reg.addr}/test/busybox@${image.digest}`);
    expect(byDigest.names).toEqual([`${reg.addr}/test/busybox@${image.digest}`]);
    expect(byDigest.id).toBe(image.id);
  });

  it('pulling a missing tag or repository is NOT_FOUND naming the reference; nothing is stored', async () => {
    const reg = await registry();
    const insecure = { insecureRegistries: [reg.addr] };
    await pushBusybox(`${reg.addr}/test/busybox:1`, insecure);
    const s = await store(insecure);
    for (const ref of [`${reg.addr}/test/busybox:nosuch`, `${reg.addr}/nosuch/repo:1`, `${reg.addr}/test/busybox@sha256:${'0'.repeat(64)}`]) {
      const err = await rejection(s.pull(ref));
      expect(isSwarmError(err, 'NOT_FOUND'), `${ref}: ${err.message}`).toBe(true);
      expect(err.message).toBe(`image not found: ${ref}`);
    }
    expect(s.list()).toEqual([]);
    expect(s.blobs.list()).toEqual([]);
  });

  it('plain HTTP is refused unless the registry is insecure, with a hint (127.0.0.1 is not insecure by default)', async () => {
    const reg = await registry();
    await pushBusybox(`${reg.addr}/test/busybox:1`, { insecureRegistries: [reg.addr] });
    for (const opts of [{}, { insecureRegistries: ['127.0.0.1:1', 'other.example.com'] }]) {
      const s = await store(opts);
      const err = await rejection(s.pull(`${reg.addr}/test/busybox:1`));
      expect(isSwarmError(err, 'UNAVAILABLE')).toBe(true);
      expect(err.message).toContain(`cannot reach registry ${reg.addr} over HTTPS`);
      expect(err.message).toContain('does not speak TLS');
      expect(err.hint).toContain(`--insecure-registry ${reg.addr}`);
      expect(err.hint).toContain('127.0.0.1 are not insecure by default');
    }
    // A bare host in the list covers every port.
    const s = await store({ insecureRegistries: ['127.0.0.1'] });
    expect((await s.pull(`${reg.addr}/test/busybox:1`)).names).toEqual([`${reg.addr}/test/busybox:1`]);
    const down = await rejection((await store({ insecureRegistries: ['127.0.0.1'] })).pull('127.0.0.1:1/x:1'));
    expect(down.message).toBe('cannot reach registry 127.0.0.1:1 (127.0.0.1:1): connection refused');
  });

  it('a blob the registry serves corrupted is discarded, with an error naming its digest', async () => {
    const reg = await registry();
    const insecure = { insecureRegistries: [reg.addr] };
    const { image } = await pushBusybox(`${reg.addr}/test/busybox:1`, insecure);
    const layer = image.manifest.layers[0]!.digest;
    const hex = layer.slice(7);
    const data = join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = readFileSync(data);
    bytes[1000] ^= 0xff;
    writeFileSync(data, bytes);
    expect(statSync(data).size).toBe(image.manifest.layers[0]!.size);

    const s = await store(insecure);
    const err = await rejection(s.pull(`${reg.addr}/test/busybox:1`));
    expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toBe(`blob digest mismatch: expected ${layer}, got ${sha256Digest(bytes)}; discarded`);
    expect(s.blobs.has(layer)).toBe(false);
    expect(s.list()).toEqual([]);
    // The config came through verified; prune takes what the failed pull left.
    expect((await s.prune({ inUse: () => false })).deletedBlobs).toEqual([image.id]);
  });

  it('resolves an OCI index and a Docker manifest list (schema 2) to the configured platform', async () => {
    const reg = await registry();
    const insecure = { insecureRegistries: [reg.addr] };
    const repo = `${reg.addr}/test/multi`;
    const source = await store(insecure);
    const amd64 = await loadBusybox(source);
    const arm64 = await source.commit({ config: { ...amd64.config, architecture: 'arm64', variant: 'v8' }, layers: amd64.manifest.layers, names: [`${repo}:arm64`] });
    await source.tag(amd64.id, `${repo}:amd64`);
    await source.push(`${repo}:amd64`);
    await source.push(`${repo}:arm64`);
    const desc = (img: Image, architecture: string, variant?: string): object => ({
      mediaType: img.manifest.mediaType,
      digest: img.digest,
      size: source.blobs.size(img.digest),
      platform: { architecture, os: 'linux', ...(variant ? { variant } : {}) },
    });
    const attestation = { mediaType: amd64.manifest.mediaType, digest: amd64.digest, size: source.blobs.size(amd64.digest), platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } };
    const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [attestation, desc(arm64, 'arm64', 'v8'), desc(amd64, 'amd64')] });
    await put(reg, `/v2/test/multi/manifests/oci`, OCI_INDEX, index);

    // The same image as Docker schema 2, behind a Docker manifest list.
    const dockerManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: DOCKER_CONFIG, digest: amd64.id, size: source.blobs.size(amd64.id) },
        layers: amd64.manifest.layers.map((l) => ({ mediaType: DOCKER_LAYER_GZIP, digest: l.digest, size: l.size })),
      }),
    );
    const dockerDigest = sha256Digest(dockerManifest);
    await put(reg, `/v2/test/multi/manifests/${dockerDigest}`, DOCKER_MANIFEST, dockerManifest);
    const list = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: [desc(arm64, 'arm64', 'v8'), { mediaType: DOCKER_MANIFEST, digest: dockerDigest, size: dockerManifest.length, platform: { architecture: 'amd64', os: 'linux' } }] });
    await put(reg, `/v2/test/multi/manifests/docker`, DOCKER_MANIFEST_LIST, list);

    const s = await store(insecure);
    const fromIndex = await s.pull(`${repo}:oci`);
    expect([fromIndex.id, fromIndex.digest, fromIndex.names]).toEqual([amd64.id, amd64.digest, [`${repo}:oci`]]);
    const fromList = await s.pull(`${repo}:docker`);
    expect([fromList.id, fromList.digest, fromList.manifest.mediaType]).toEqual([amd64.id, dockerDigest, DOCKER_MANIFEST]);
    expect(fromList.manifest.layers[0]!.mediaType).toBe(DOCKER_LAYER_GZIP);
    // By the index's digest, too.
    const indexDigest = sha256Digest(index);
    expect((await s.pull(`${repo}@${indexDigest}`)).names).toEqual([`${repo}:oci`, `${repo}@${indexDigest}`]);
    expect(s.resolve(`${repo}@${indexDigest}`)?.digest).toBe(amd64.digest);

    const arm = await store({ ...insecure, platform: { os: 'linux', architecture: 'arm64' } });
    expect((await arm.pull(`${repo}:oci`)).id).toBe(arm64.id);
    const s390x = await store({ ...insecure, platform: { os: 'linux', architecture: 's390x' } });
    const none = await rejection(s390x.pull(`${repo}:docker`));
    expect(isSwarmError(none, 'NOT_FOUND')).toBe(true);
    expect(none.message).toBe(`no matching manifest for linux/s390x in the manifest list of ${repo}:docker`);
    expect(none.hint).toContain('linux/arm64/v8, linux/amd64');

    // A pulled Docker schema 2 image pushes back with its own media type, unchanged.
    await s.tag(`${repo}:docker`, `${reg.addr}/test/copy:1`);
    await s.push(`${reg.addr}/test/copy:1`);
    expect((await (await store(insecure)).pull(`${reg.addr}/test/copy:1`)).digest).toBe(dockerDigest);
  });

  it('HTTPS with a private CA: refused with a hint until the CA is in certsDir/<host:port>/', async () => {
    const reg = await registry({ tls: true });
    const ref = `${reg.addr}/test/busybox:1`;
    const certsDir = join(dir, 'certs.d');
    const s = await store();
    await loadBusybox(s);
    await s.tag('busybox:test', ref);
    const err = await rejection(s.push(ref));
    expect(isSwarmError(err, 'UNAVAILABLE')).toBe(true);
    expect(err.message).toMatch(/over HTTPS .*self[- ]signed certificate/i);
    expect(err.hint).toContain('private CA');

    mkdirSync(join(certsDir, reg.addr), { recursive: true });
    writeFileSync(join(certsDir, reg.addr, 'ca.crt'), reg.caCert!);
    const trusted = await store({ certsDir });
    const image = await loadBusybox(trusted);
    await trusted.tag('busybox:test', ref);
    await trusted.push(ref);
    expect((await (await store({ certsDir })).pull(ref)).digest).toBe(image.digest);
    // An insecure registry that speaks TLS is used over TLS, unverified.
    expect((await (await store({ insecureRegistries: [reg.addr] })).pull(ref)).digest).toBe(image.digest);
  });
});

describe('registry authentication', () => {
  function credentials(entries: Record<string, [string, string]>): CredentialStore {
    const c = CredentialStore.open(join(dir, `auth-${++stores}.json`));
    for (const [registry, [user, password]] of Object.entries(entries)) c.login(registry, user, password);
    return c;
  }

  it('basic auth (htpasswd): refused without or with wrong credentials, works after login', async () => {
    const reg = await registry({ auth: 'htpasswd' });
    const insecure = [reg.addr];
    const ref = `${reg.addr}/test/busybox:1`;

    const anonymous = await store({ insecureRegistries: insecure });
    await loadBusybox(anonymous);
    await anonymous.tag('busybox:test', ref);
    const denied = await rejection(anonymous.push(ref));
    expect(isSwarmError(denied, 'PERMISSION_DENIED')).toBe(true);
    expect(denied.message).toContain(`access denied by ${reg.addr}`);
    expect(denied.hint).toContain(`swarm login ${reg.addr}`);

    await expect(verifyLogin(reg.addr, { username: 'tester', password: 'secret' }, { logger: silentLogger(), insecureRegistries: insecure })).resolves.toBeUndefined();
    const bad = await rejection(verifyLogin(reg.addr, { username: 'tester', password: 'wrong' }, { logger: silentLogger(), insecureRegistries: insecure }));
    expect(isSwarmError(bad, 'PERMISSION_DENIED')).toBe(true);
    expect(bad.message).toContain('login: access denied');

    const wrong = await store({ insecureRegistries: insecure, credentials: credentials({ [reg.addr]: ['tester', 'wrong'] }) });
    const wrongErr = await rejection(wrong.pull(ref));
    expect(isSwarmError(wrongErr, 'PERMISSION_DENIED')).toBe(true);
    expect(wrongErr.hint).toContain('were refused');

    const { image } = await pushBusybox(ref, { insecureRegistries: insecure, credentials: credentials({ [reg.addr]: ['tester', 'secret'] }) });
    const pulled = await (await store({ insecureRegistries: insecure, credentials: credentials({ [`http://${reg.addr}/`]: ['tester', 'secret'] }) })).pull(ref);
    expect(pulled.digest).toBe(image.digest);
  });

  it('bearer tokens: the challenge, a token per scope with basic credentials, anonymous pull only', async () => {
    const reg = await registry({ auth: 'token', anonymousPull: true });
    const insecure = [reg.addr];
    const ref = `${reg.addr}/test/busybox:1`;

    const anonymous = await store({ insecureRegistries: insecure });
    await loadBusybox(anonymous);
    await anonymous.tag('busybox:test', ref);
    const denied = await rejection(anonymous.push(ref));
    expect(isSwarmError(denied, 'PERMISSION_DENIED')).toBe(true);
    expect(denied.hint).toContain(`swarm login ${reg.addr}`);

    const { image } = await pushBusybox(ref, { insecureRegistries: insecure, credentials: credentials({ [reg.addr]: ['tester', 'secret'] }) });
    // Anonymous callers get pull tokens.
    expect((await (await store({ insecureRegistries: insecure })).pull(ref)).digest).toBe(image.digest);

    await expect(verifyLogin(reg.addr, { username: 'tester', password: 'secret' }, { logger: silentLogger(), insecureRegistries: insecure })).resolves.toBeUndefined();
    const bad = await rejection(verifyLogin(reg.addr, { username: 'tester', password: 'nope' }, { logger: silentLogger(), insecureRegistries: insecure }));
    expect(isSwarmError(bad, 'PERMISSION_DENIED')).toBe(true);
    expect(bad.message).toMatch(/getting a token from http:\/\/127\.0\.0\.1:\d+\/token: access denied/);
    const wrong = await store({ insecureRegistries: insecure, credentials: credentials({ [reg.addr]: ['tester', 'nope'] }) });
    expect((await rejection(wrong.pull(ref))).message).toContain('getting a token');
  });

  it('bearer tokens: a registry without anonymous access refuses anonymous pulls', async () => {
    const reg = await registry({ auth: 'token' });
    const insecure = [reg.addr];
    const ref = `${reg.addr}/test/busybox:1`;
    await pushBusybox(ref, { insecureRegistries: insecure, credentials: credentials({ [reg.addr]: ['tester', 'secret'] }) });
    const err = await rejection((await store({ insecureRegistries: insecure })).pull(ref));
    expect(isSwarmError(err, 'PERMISSION_DENIED')).toBe(true);
    expect(err.message).toContain(`access denied by ${reg.addr} (401`);
  });
});

describe('CredentialStore', () => {
  it('persists logins 0600 under normalized registry names and forgets them on logout', () => {
    const file = join(dir, 'conf', 'auth.json');
    const c = CredentialStore.open(file);
    expect(c.get('docker.io')).toBeUndefined();
    c.login('https://index.docker.io/v1/', 'me', 'pa:ss');
    c.login('127.0.0.1:5000', 'other', 'x');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = CredentialStore.open(file);
    expect(again.get('docker.io')).toEqual({ username: 'me', password: 'pa:ss' });
    expect(again.get('registry-1.docker.io')).toEqual({ username: 'me', password: 'pa:ss' });
    expect(again.get('127.0.0.1:5000')).toEqual({ username: 'other', password: 'x' });
    again.logout('docker.io');
    expect(CredentialStore.open(file).get('docker.io')).toBeUndefined();
    expect(registryKey('HTTPS://Registry.Example.com:443/v2/')).toBe('registry.example.com:443');
    expect(() => c.login('x.io', 'a:b', 'p')).toThrow(/username/);
    writeFileSync(file, '{not json');
    expect(() => CredentialStore.open(file)).toThrow(/credentials file .* is unreadable/);
  });
});
