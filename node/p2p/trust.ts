import { checkClaims, checkSignature, type NodeCertificate } from './ca.js';

export interface TrustConfig {
  caPublicKey: Uint8Array;
  /** This node's own certificate, presented in hello and carried in gossip. */
  certificate: NodeCertificate;
  /** Consulted at every hello, gated request and gossip message, so keep it cheap. */
  isRevoked?: (cert: NodeCertificate) => boolean;
}

/**
 * All the checks a peer's certificate must pass: the CA's signature (unless the caller already
 * checked it against this very CA key), validity, holder, cluster, revocation.
 */
export function checkPeerCertificate(
  trust: TrustConfig,
  cert: NodeCertificate,
  peerId: string,
  now: number,
  signatureChecked = false,
): { ok: true } | { ok: false; reason: string } {
  if (!signatureChecked) {
    const sig = checkSignature(cert, trust.caPublicKey);
    if (!sig.ok) return sig;
  }
  const v = checkClaims(cert, now, peerId);
  if (!v.ok) return v;
  if (cert.clusterId !== trust.certificate.clusterId) {
    return { ok: false, reason: `certificate is for cluster ${cert.clusterId}, this node is in ${trust.certificate.clusterId}` };
  }
  if (trust.isRevoked?.(cert) === true) return { ok: false, reason: `certificate of node ${cert.nodeId} (serial ${cert.serial}) is revoked` };
  return { ok: true };
}

export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
