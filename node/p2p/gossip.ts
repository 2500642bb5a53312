import { checkSignature, decodeCertificate, type NodeCertificate } from './ca.js';
import { isPlainObject, packr, plainBytes, unpack } from './codec.js';
import { P2PError, errorMessage } from './errors.js';
import { checkPeerCertificate, sameKey, type TrustConfig } from './trust.js';

/** The part of a gossipsub message the gate looks at (a structural subset of its Message type). */
export type GossipMessage =
  | { type: 'signed'; from: { toString(): string }; data: Uint8Array }
  | { type: 'unsigned'; data: Uint8Array };

/**
 * Every gossip payload travels with its author's certificate: gossipsub's signature binds the
 * author's PeerId to the bytes, the certificate binds that PeerId to the cluster. So a message
 * relayed over hosts that never met its author is still checked end to end.
 */
export function wrapGossip(cert: Uint8Array, data: Uint8Array): Uint8Array {
  return plainBytes(packr.pack({ c: cert, d: data }));
}

export function unwrapGossip(bytes: Uint8Array): { cert: Uint8Array; data: Uint8Array } {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch (err) {
    throw new P2PError('BAD_MESSAGE', `gossip envelope is not msgpack: ${errorMessage(err).slice(0, 120)}`);
  }
  if (!isPlainObject(v) || !(v['c'] instanceof Uint8Array) || !(v['d'] instanceof Uint8Array)) {
    throw new P2PError('BAD_MESSAGE', 'gossip envelope must be {c: certificate, d: data}');
  }
  return { cert: v['c'], data: plainBytes(v['d']) };
}

export type GossipVerdict = { ok: true; from: string; data: Uint8Array } | { ok: false; reason: string };

const CACHE_LIMIT = 4096;

export class GossipGate {
  readonly #trust: () => TrustConfig | undefined;
  readonly #neighbourAuthenticated: (peerId: string) => boolean;
  // Certificates whose CA signature already checked out, by their encoded bytes: Ed25519 verify
  // costs ~50 µs, and a publisher sends the same certificate with every message.
  #verified = new Map<string, NodeCertificate>();
  #verifiedFor: Uint8Array | undefined;

  constructor(opts: { trust: () => TrustConfig | undefined; neighbourAuthenticated: (peerId: string) => boolean }) {
    this.#trust = opts.trust;
    this.#neighbourAuthenticated = opts.neighbourAuthenticated;
  }

  /** Accept only if the neighbour who passed it on is authenticated and its author's certificate is valid. */
  check(propagationSource: string, msg: GossipMessage, now: number): GossipVerdict {
    const trust = this.#trust();
    if (!trust) return { ok: false, reason: 'this node has no cluster trust yet' };
    if (!this.#neighbourAuthenticated(propagationSource)) return { ok: false, reason: `relayed by unauthenticated peer ${propagationSource}` };
    if (msg.type !== 'signed') return { ok: false, reason: 'unsigned message' };
    const from = msg.from.toString();
    let env: { cert: Uint8Array; data: Uint8Array };
    try {
      env = unwrapGossip(msg.data);
    } catch (err) {
      return { ok: false, reason: errorMessage(err) };
    }
    const cert = this.#certificate(env.cert, trust);
    if (typeof cert === 'string') return { ok: false, reason: `author ${from}: ${cert}` };
    const v = checkPeerCertificate(trust, cert, from, now, true);
    if (!v.ok) return { ok: false, reason: `author ${from}: ${v.reason}` };
    return { ok: true, from, data: env.data };
  }

  /** A decoded certificate whose signature is good, or why not. */
  #certificate(bytes: Uint8Array, trust: TrustConfig): NodeCertificate | string {
    if (this.#verifiedFor === undefined || !sameKey(this.#verifiedFor, trust.caPublicKey)) {
      this.#verified.clear();
      this.#verifiedFor = trust.caPublicKey;
    }
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    const hit = this.#verified.get(key);
    if (hit) return hit;
    let cert: NodeCertificate;
    try {
      cert = decodeCertificate(bytes);
    } catch (err) {
      return errorMessage(err);
    }
    // Only the signature here: time, holder and revocation are checked on every message.
    const v = checkSignature(cert, trust.caPublicKey);
    if (!v.ok) return v.reason;
    if (this.#verified.size >= CACHE_LIMIT) this.#verified.clear();
    this.#verified.set(key, cert);
    return cert;
  }
}
