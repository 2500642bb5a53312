import { createHash } from 'node:crypto';
import { SwarmError } from '../../errors.js';

// Digests as OCI writes them: `sha256:<64 lowercase hex>`. Only sha256 is accepted: it is what
// every registry and every `docker save` uses, and one algorithm keeps the store's layout simple.

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(v: unknown): v is string {
  return typeof v === 'string' && DIGEST_RE.test(v);
}

/** Throws INVALID_ARGUMENT naming `what` when `v` is not a sha256 digest. */
export function assertDigest(v: unknown, what: string): asserts v is string {
  if (!isDigest(v)) {
    const shown = typeof v === 'string' ? v.slice(0, 100) : typeof v;
    throw new SwarmError('INVALID_ARGUMENT', `${what}: invalid digest "${shown}"`, 'digests look like sha256:<64 lowercase hex digits>');
  }
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a digest. */
export function digestHex(digest: string): string {
  return digest.slice('sha256:'.length);
}
