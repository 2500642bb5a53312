import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IDENTITY_FILE, loadOrCreateIdentity } from './identity.js';

describe('loadOrCreateIdentity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarm-p2p-id-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an Ed25519 key, 0600, and returns the same PeerId after a restart', async () => {
    const dataDir = join(dir, 'data');
    const first = await loadOrCreateIdentity(dataDir);
    expect(first.privateKey.type).toBe('Ed25519');
    expect(first.peerId).toMatch(/^12D3KooW/);
    const st = await stat(join(dataDir, IDENTITY_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    const again = await loadOrCreateIdentity(dataDir);
    expect(again.peerId).toBe(first.peerId);
    expect(again.privateKey.equals(first.privateKey)).toBe(true);
  });

  it('tightens a loosened key file back to 0600', async () => {
    const id = await loadOrCreateIdentity(dir);
    await chmod(join(dir, IDENTITY_FILE), 0o644);
    expect((await loadOrCreateIdentity(dir)).peerId).toBe(id.peerId);
    expect((await stat(join(dir, IDENTITY_FILE))).mode & 0o777).toBe(0o600);
  });

  it('refuses a corrupt key file rather than replacing the identity', async () => {
    await writeFile(join(dir, IDENTITY_FILE), 'not a key');
    await expect(loadOrCreateIdentity(dir)).rejects.toMatchObject({ code: 'BAD_MESSAGE', message: expect.stringContaining(IDENTITY_FILE) });
    expect(await readFile(join(dir, IDENTITY_FILE), 'utf8')).toBe('not a key');
  });

  it('agrees on one identity when two callers create it at once', async () => {
    const [a, b] = await Promise.all([loadOrCreateIdentity(dir), loadOrCreateIdentity(dir)]);
    expect(a.peerId).toBe(b.peerId);
    expect((await loadOrCreateIdentity(dir)).peerId).toBe(a.peerId);
  });
});
