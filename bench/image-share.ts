import '../polyfill.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { silentLogger } from '../node/log.js';
import { ClusterCA, loadOrCreateIdentity, P2PHost } from '../node/p2p/index.js';
import { ImageStore } from '../node/runtime/images/index.js';
import { ImageSharing } from '../node/runtime/share/index.js';

// A 100 MB image fetched peer-to-peer between two nodes (two libp2p hosts with their own image
// stores, in one process), verified by digest on the way in. Last line: one JSON object.

const MB = Number(process.argv.find((a) => a.startsWith('--mb='))?.slice(5) ?? 100);

/** A one-file tar layer of `size` random bytes, as a buffer (512-byte header, data, padding, end). */
function layerTar(size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write('blob.bin', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = (512 - (size % 512)) % 512;
  return Buffer.concat([header, randomBytes(size), Buffer.alloc(pad), Buffer.alloc(1024)]);
}

async function node(ca: ClusterCA, dir: string, name: string) {
  const identity = await loadOrCreateIdentity(join(dir, name));
  const host = await P2PHost.start({ identity, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger() });
  host.setTrust({ caPublicKey: ca.publicKey, certificate: ca.issue({ nodeId: name, peerId: identity.peerId, role: 'worker', ttlMs: 3_600_000, now: Date.now() }) });
  const images = await ImageStore.open(join(dir, name, 'images'), { logger: silentLogger() });
  const sharing = new ImageSharing(images, host, silentLogger());
  sharing.registerHandlers();
  return { host, images, sharing };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-bench-share-'));
  const ca = ClusterCA.create('bench');
  const a = await node(ca, dir, 'a');
  const b = await node(ca, dir, 'b');
  try {
    const tar = layerTar(MB * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    await a.images.blobs.ingest(digest, Readable.from([tar]), tar.length);
    await a.images.commit({
      config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['true'] }, rootfs: { type: 'layers', diff_ids: [digest] } },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: tar.length }],
      names: ['bench/big:1'],
    });
    b.host.addPeerAddrs(a.host.peerId, a.host.multiaddrs());
    const t0 = performance.now();
    const r = await b.sharing.fetch('bench/big:1', [a.host.peerId]);
    const seconds = (performance.now() - t0) / 1000;
    if (!r.found || b.images.get('bench/big:1').id !== a.images.get('bench/big:1').id) throw new Error('the image did not arrive whole');
    const mb = tar.length / (1024 * 1024);
    process.stdout.write(`${JSON.stringify({ bench: 'image-share', mb: Math.round(mb), seconds: Math.round(seconds * 100) / 100, mbPerSec: Math.round((mb / seconds) * 10) / 10 })}\n`);
  } finally {
    await a.host.stop();
    await b.host.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:image-share failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
