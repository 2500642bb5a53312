import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decryptSecret, deriveDataKey, encryptSecret } from './data-key.js';

describe('secret encryption', () => {
  const key = deriveDataKey(randomBytes(32));

  it('round-trips, with a fresh nonce each time', () => {
    const a = encryptSecret(key, Buffer.from('s3cret'));
    const b = encryptSecret(key, Buffer.from('s3cret'));
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64').includes(Buffer.from('s3cret'))).toBe(false);
    expect(decryptSecret(key, a).toString()).toBe('s3cret');
  });

  it('refuses tampered data and other keys', () => {
    const sealed = Buffer.from(encryptSecret(key, Buffer.from('x')), 'base64');
    sealed[sealed.length - 1]! ^= 1;
    expect(() => decryptSecret(key, sealed.toString('base64'))).toThrow(/does not decrypt/);
    expect(() => decryptSecret(deriveDataKey(randomBytes(32)), encryptSecret(key, Buffer.from('x')))).toThrow(/does not decrypt/);
  });

  it('derives the same key from the same CA secret', () => {
    const s = randomBytes(32);
    expect(deriveDataKey(s).equals(deriveDataKey(s))).toBe(true);
  });
});
