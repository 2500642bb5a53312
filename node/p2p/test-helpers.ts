// Shared by this module's tests only.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { silentLogger, type Logger } from '../log.js';
import { ClusterCA, type NodeCertificate, type NodeRole } from './ca.js';
import { P2PHost, type P2PHostOptions } from './host.js';
import type { Identity } from './identity.js';
import type { TrustConfig } from './trust.js';
import { eventually } from '../../test/support/eventually.js';

export async function newIdentity(): Promise<Identity> {
  const privateKey = await generateKeyPair('Ed25519');
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}

export { eventually };

/** Starts hosts on 127.0.0.1:0 and stops every one of them in stopAll (call it from afterEach). */
export class Hosts {
  readonly started: P2PHost[] = [];
  readonly logger: Logger;

  constructor(logger: Logger = silentLogger()) {
    this.logger = logger;
  }

  async start(opts: Partial<P2PHostOptions> = {}): Promise<P2PHost> {
    const host = await P2PHost.start({
      identity: opts.identity ?? (await newIdentity()),
      listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      logger: opts.logger ?? this.logger,
      ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
      ...(opts.authGraceMs !== undefined ? { authGraceMs: opts.authGraceMs } : {}),
    });
    this.started.push(host);
    return host;
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.started.splice(0).map((h) => h.stop()));
  }
}

export function trustFor(ca: ClusterCA, host: P2PHost, role: NodeRole, extra: Partial<TrustConfig> = {}, nodeId = `node-${host.peerId.slice(-6)}`): TrustConfig {
  const certificate: NodeCertificate = ca.issue({ nodeId, peerId: host.peerId, role, ttlMs: 3_600_000, now: Date.now() });
  return { caPublicKey: ca.publicKey, certificate, ...extra };
}

/** Connects `from` to `to` and waits until each has authenticated the other. */
export async function link(from: P2PHost, to: P2PHost): Promise<void> {
  from.addPeerAddrs(to.peerId, to.multiaddrs());
  await from.request(to.multiaddrs()[0]!, '__ping', null).catch(() => undefined);
  await eventually(() => from.peerCertificate(to.peerId) !== undefined && to.peerCertificate(from.peerId) !== undefined, 'mutual authentication');
}
