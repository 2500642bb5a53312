import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadBusybox } from '../../../test/fixtures/busybox.js';
import { silentLogger } from '../../log.js';
import { ClusterCA, loadOrCreateIdentity, P2PHost } from '../../p2p/index.js';
import { ImageStore } from '../images/index.js';
import { ImageSharing } from './sharing.js';

// Two nodes with real libp2p hosts and real image stores: one has an image, the other gets it
// from it by digest, with no registry.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function node(ca: ClusterCA, name: string) {
  const dir = mkdtempSync(join(tmpdir(), `swarm-share-${name}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const identity = await loadOrCreateIdentity(dir);
  const host = await P2PHost.start({ identity, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger() });
  cleanups.push(() => host.stop());
  host.setTrust({ caPublicKey: ca.publicKey, certificate: ca.issue({ nodeId: name, peerId: identity.peerId, role: 'worker', ttlMs: 3_600_000, now: Date.now() }) });
  const images = await ImageStore.open(join(dir, 'images'), { logger: silentLogger() });
  const sharing = new ImageSharing(images, host, silentLogger());
  sharing.registerHandlers();
  return { host, images, sharing };
}

describe('peer-to-peer image sharing', () => {
  it('fetches an image another node holds, verified, with no registry', async () => {
    const ca = ClusterCA.create('c1');
    const a = await node(ca, 'a');
    const b = await node(ca, 'b');
    const img = await loadBusybox(a.images, 'busybox:shared');
    b.host.addPeerAddrs(a.host.peerId, a.host.multiaddrs());
    const progress: number[] = [];
    const r = await b.sharing.fetch('busybox:shared', [a.host.peerId], (p) => progress.push(p.done));
    expect(r).toEqual({ found: true, asked: 1 });
    const got = b.images.get('busybox:shared');
    expect(got.id).toBe(img.id);
    expect(got.digest).toBe(img.digest);
    for (const l of got.manifest.layers) expect(b.images.blobs.has(l.digest)).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    // A second fetch moves no blob: everything is already here.
    progress.length = 0;
    await b.sharing.fetch('busybox:shared', [a.host.peerId], (p) => progress.push(p.done));
    expect(progress).toEqual([]);
  });

  it('reports not found when no peer has the image', async () => {
    const ca = ClusterCA.create('c2');
    const a = await node(ca, 'a');
    const b = await node(ca, 'b');
    b.host.addPeerAddrs(a.host.peerId, a.host.multiaddrs());
    expect(await b.sharing.fetch('nothing:here', [a.host.peerId])).toEqual({ found: false, asked: 1 });
    expect(b.images.resolve('nothing:here')).toBeUndefined();
  });

  it('refuses to serve peers without a certificate of this cluster', async () => {
    const a = await node(ClusterCA.create('c3'), 'a');
    const stranger = await node(ClusterCA.create('other'), 'x');
    await loadBusybox(a.images, 'busybox:private');
    stranger.host.addPeerAddrs(a.host.peerId, a.host.multiaddrs());
    expect(await stranger.sharing.fetch('busybox:private', [a.host.peerId])).toEqual({ found: false, asked: 1 });
  });
});
