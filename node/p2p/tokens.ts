import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { P2PError } from './errors.js';

// As Docker's: SWMTKN-1-<50 base36 chars of the CA key digest>-<25 base36 chars of secret>.
const PREFIX = 'SWMTKN';
const VERSION = '1';
const FINGERPRINT_RE = /^[0-9a-z]{50}$/;
const SECRET_RE = /^[0-9a-z]{25}$/;
const PROOF_CONTEXT = Buffer.from('swarm-join-proof/1\0');

export function makeJoinToken(fingerprint: string, secret: string = randomSecret()): string {
  if (!FINGERPRINT_RE.test(fingerprint)) throw new P2PError('INVALID_TOKEN', 'CA fingerprint must be 50 base36 characters (0-9, a-z)');
  if (!SECRET_RE.test(secret)) throw new P2PError('INVALID_TOKEN', 'join token secret must be 25 base36 characters (0-9, a-z)');
  return `${PREFIX}-${VERSION}-${fingerprint}-${secret}`;
}

export function parseJoinToken(token: string): { fingerprint: string; secret: string } {
  if (typeof token !== 'string') throw new P2PError('INVALID_TOKEN', 'invalid join token: expected a string');
  const parts = token.trim().split('-');
  if (parts.length !== 4 || parts[0] !== PREFIX) {
    throw new P2PError('INVALID_TOKEN', `invalid join token: expected ${PREFIX}-${VERSION}-<fingerprint>-<secret>`);
  }
  const [, version, fingerprint, secret] = parts as [string, string, string, string];
  if (version !== VERSION) throw new P2PError('INVALID_TOKEN', `invalid join token: unsupported version "${version}" (this node understands ${VERSION})`);
  if (!FINGERPRINT_RE.test(fingerprint)) {
    throw new P2PError('INVALID_TOKEN', `invalid join token: the CA fingerprint must be 50 base36 characters, got ${fingerprint.length}`);
  }
  if (!SECRET_RE.test(secret)) throw new P2PError('INVALID_TOKEN', `invalid join token: the secret must be 25 base36 characters, got ${secret.length}`);
  return { fingerprint, secret };
}

/**
 * HMAC-SHA256 keyed by the token secret over the manager's nonce and the joiner's PeerId: proves
 * the secret without sending it, cannot be replayed with another nonce, nor by another peer.
 */
export function proveSecret(secret: string, nonce: Uint8Array, peerId: string): Uint8Array {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(nonce.length);
  const mac = createHmac('sha256', secret).update(PROOF_CONTEXT).update(len).update(nonce).update(peerId, 'utf8').digest();
  return new Uint8Array(mac);
}

export function checkProof(secret: string, nonce: Uint8Array, peerId: string, proof: Uint8Array): boolean {
  const expected = proveSecret(secret, nonce, peerId);
  return proof instanceof Uint8Array && proof.length === expected.length && timingSafeEqual(expected, proof);
}

/** 128 random bits in base36, 25 characters. */
function randomSecret(): string {
  return BigInt(`0x${randomBytes(16).toString('hex')}`).toString(36).padStart(25, '0');
}
