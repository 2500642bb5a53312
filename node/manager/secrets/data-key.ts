import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SwarmError } from '../../errors.js';

// Secrets are stored encrypted (AES-256-GCM) in the replicated store, so the Raft log and
// snapshots on disk never hold them in clear. The key is derived from the cluster CA's private
// key, which only managers hold (as Docker keeps its raft key with the manager's TLS key unless
// the swarm is autolocked).

const INFO = 'swarm secrets v1';

/** The data key for a cluster, from its CA's private key material (any stable secret bytes). */
export function deriveDataKey(caSecret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', caSecret, Buffer.alloc(0), INFO, 32));
}

/** base64(iv | tag | ciphertext) */
export function encryptSecret(key: Buffer, plaintext: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

export function decryptSecret(key: Buffer, sealed: string): Buffer {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < 28) throw new SwarmError('INTERNAL', 'a stored secret is truncated');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]);
  } catch {
    throw new SwarmError('INTERNAL', 'a stored secret does not decrypt with this cluster key (tampered or from another cluster)');
  }
}
