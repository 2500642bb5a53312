import { randomBytes } from 'node:crypto';

/**
 * A new object ID as Docker's: 128 random bits in base 36, zero-padded to 25 characters
 * (36^25 > 2^128, so every value fits and the length is fixed).
 */
export function newObjectId(): string {
  const n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  return n.toString(36).padStart(25, '0');
}
