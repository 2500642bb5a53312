import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClusterCA } from './ca.js';
import { checkProof, makeJoinToken, parseJoinToken, proveSecret } from './tokens.js';

const FP = ClusterCA.create('c').fingerprint;

describe('join tokens', () => {
  it('makes SWMTKN-1-<fingerprint>-<secret> and parses it back', () => {
    const token = makeJoinToken(FP);
    expect(token).toMatch(/^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const parsed = parseJoinToken(token);
    expect(parsed.fingerprint).toBe(FP);
    expect(parsed.secret).toHaveLength(25);
    expect(makeJoinToken(FP)).not.toBe(token);
    const fixed = makeJoinToken(FP, 'abcdefghijklmnopqrstuvwxy');
    expect(parseJoinToken(`  ${fixed}\n`)).toEqual({ fingerprint: FP, secret: 'abcdefghijklmnopqrstuvwxy' });
  });

  it.each([
    ['', /SWMTKN-1/],
    ['hello', /SWMTKN-1/],
    [`DOCKER-1-${FP}-abcdefghijklmnopqrstuvwxy`, /SWMTKN-1/],
    [`SWMTKN-2-${FP}-abcdefghijklmnopqrstuvwxy`, /version "2"/],
    [`SWMTKN-1-${FP.slice(1)}-abcdefghijklmnopqrstuvwxy`, /fingerprint.*49/],
    [`SWMTKN-1-${FP.toUpperCase()}-abcdefghijklmnopqrstuvwxy`, /fingerprint/],
    [`SWMTKN-1-${FP}-abcdef`, /secret.*6/],
    [`SWMTKN-1-${FP}-abcdefghijklmnopqrstuvwxy-extra`, /SWMTKN-1/],
  ])('refuses %j with a clear INVALID_TOKEN', (token, re) => {
    expect(() => parseJoinToken(token)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN', message: expect.stringMatching(re) }));
  });

  it('refuses to make a token from a bad fingerprint or secret', () => {
    expect(() => makeJoinToken('short')).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
    expect(() => makeJoinToken(FP, 'UPPERCASE-NOT-ALLOWED-123')).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
  });
});

describe('secret proofs', () => {
  const secret = parseJoinToken(makeJoinToken(FP)).secret;
  const nonce = new Uint8Array(randomBytes(32));
  const peer = '12D3KooWJoiner';

  it('accepts the proof made with the secret, nonce and peer', () => {
    const proof = proveSecret(secret, nonce, peer);
    expect(proof).toHaveLength(32);
    expect(checkProof(secret, nonce, peer, proof)).toBe(true);
  });

  it('refuses another secret, nonce, peer, or a mangled proof', () => {
    const proof = proveSecret(secret, nonce, peer);
    expect(checkProof('0'.repeat(25), nonce, peer, proof)).toBe(false);
    expect(checkProof(secret, new Uint8Array(randomBytes(32)), peer, proof)).toBe(false);
    expect(checkProof(secret, nonce, '12D3KooWOther', proof)).toBe(false);
    expect(checkProof(secret, nonce, peer, proof.subarray(1))).toBe(false);
    const flipped = new Uint8Array(proof);
    flipped[31]! ^= 1;
    expect(checkProof(secret, nonce, peer, flipped)).toBe(false);
  });
});
