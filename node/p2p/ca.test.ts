import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_MS, ClusterCA, caFingerprint, decodeCertificate, encodeCertificate, verifyCertificate, type NodeCertificate } from './ca.js';
import { packr } from './codec.js';

const NOW = 1_700_000_000_000;
const PEER = '12D3KooWAbc';

function issue(ca: ClusterCA, over: Partial<Parameters<ClusterCA['issue']>[0]> = {}): NodeCertificate {
  return ca.issue({ nodeId: 'n1', peerId: PEER, role: 'worker', ttlMs: 60_000, now: NOW, ...over });
}

describe('ClusterCA', () => {
  it('issues certificates that verify against its public key', () => {
    const ca = ClusterCA.create('cluster-1');
    const cert = issue(ca);
    expect(cert).toMatchObject({ nodeId: 'n1', peerId: PEER, role: 'worker', clusterId: 'cluster-1', issuedAt: NOW, expiresAt: NOW + 60_000 });
    expect(cert.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(cert.signature).toHaveLength(64);
    expect(ca.publicKey).toHaveLength(32);
    expect(verifyCertificate(cert, ca.publicKey, NOW + 1000, PEER)).toEqual({ ok: true });
    expect(verifyCertificate(cert, ca.publicKey, NOW + 1000)).toEqual({ ok: true });
    expect(issue(ca).serial).not.toBe(cert.serial);
  });

  it('refuses an expired certificate, and one from the future beyond the clock skew', () => {
    const ca = ClusterCA.create('c');
    const cert = issue(ca);
    const expired = verifyCertificate(cert, ca.publicKey, NOW + 60_000, PEER);
    expect(expired).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
    expect(verifyCertificate(cert, ca.publicKey, NOW - CLOCK_SKEW_MS + 1, PEER).ok).toBe(true);
    expect(verifyCertificate(cert, ca.publicKey, NOW - CLOCK_SKEW_MS - 1, PEER)).toMatchObject({ ok: false, reason: expect.stringContaining('not valid before') });
  });

  it('refuses a certificate from another CA', () => {
    const ours = ClusterCA.create('c');
    const theirs = ClusterCA.create('c');
    const v = verifyCertificate(issue(theirs), ours.publicKey, NOW, PEER);
    expect(v).toMatchObject({ ok: false, reason: expect.stringContaining('signature') });
  });

  it('refuses a certificate presented by another peer', () => {
    const ca = ClusterCA.create('c');
    const v = verifyCertificate(issue(ca), ca.publicKey, NOW, '12D3KooWOther');
    expect(v).toMatchObject({ ok: false, reason: expect.stringContaining('12D3KooWOther') });
  });

  it.each([
    ['nodeId', 'n2'],
    ['peerId', '12D3KooWOther'],
    ['role', 'manager'],
    ['clusterId', 'other'],
    ['issuedAt', NOW - 1],
    ['expiresAt', NOW + 10 * 60_000],
    ['serial', '00'],
  ] as const)('refuses a certificate whose %s was changed', (field, value) => {
    const ca = ClusterCA.create('c');
    const tampered = { ...issue(ca), [field]: value } as NodeCertificate;
    expect(verifyCertificate(tampered, ca.publicKey, NOW, tampered.peerId).ok).toBe(false);
  });

  it('refuses a changed signature', () => {
    const ca = ClusterCA.create('c');
    const cert = issue(ca);
    const sig = new Uint8Array(cert.signature);
    sig[0]! ^= 1;
    expect(verifyCertificate({ ...cert, signature: sig }, ca.publicKey, NOW, PEER).ok).toBe(false);
    expect(verifyCertificate({ ...cert, signature: sig.subarray(1) }, ca.publicKey, NOW, PEER).ok).toBe(false);
  });

  it('survives toJSON/fromJSON with its key: a restored CA issues what the original key verifies', () => {
    const ca = ClusterCA.create('c');
    const json = JSON.parse(JSON.stringify(ca)) as ReturnType<ClusterCA['toJSON']>;
    const restored = ClusterCA.fromJSON(json);
    expect(restored.clusterId).toBe('c');
    expect(restored.fingerprint).toBe(ca.fingerprint);
    expect(Buffer.from(restored.publicKey).equals(Buffer.from(ca.publicKey))).toBe(true);
    expect(verifyCertificate(issue(restored), ca.publicKey, NOW, PEER).ok).toBe(true);
  });

  it('refuses a CA JSON whose keys do not match or are malformed', () => {
    const a = ClusterCA.create('c').toJSON();
    const b = ClusterCA.create('c').toJSON();
    expect(() => ClusterCA.fromJSON({ ...a, publicKey: b.publicKey })).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    expect(() => ClusterCA.fromJSON({ ...a, privateKey: 'AAAA' })).toThrow(/privateKey/);
    expect(() => ClusterCA.fromJSON({ ...a, version: 2 } as unknown as typeof a)).toThrow(/version/);
  });

  it('validates issue requests', () => {
    const ca = ClusterCA.create('c');
    expect(() => issue(ca, { role: 'admin' as 'worker' })).toThrow(/role/);
    expect(() => issue(ca, { ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => issue(ca, { nodeId: '' })).toThrow(/nodeId/);
  });
});

describe('caFingerprint', () => {
  it('is 50 base36 characters of the key digest, stable and key-specific', () => {
    const ca = ClusterCA.create('c');
    expect(ca.fingerprint).toMatch(/^[0-9a-z]{50}$/);
    expect(caFingerprint(ca.publicKey)).toBe(ca.fingerprint);
    expect(ClusterCA.create('c').fingerprint).not.toBe(ca.fingerprint);
    // An all-zero digest still pads to 50.
    expect(caFingerprint(new Uint8Array(32))).toHaveLength(50);
  });
});

describe('certificate encoding', () => {
  it('round-trips', () => {
    const ca = ClusterCA.create('c');
    const cert = issue(ca);
    const back = decodeCertificate(encodeCertificate(cert));
    expect(back).toEqual(cert);
    expect(verifyCertificate(back, ca.publicKey, NOW, PEER).ok).toBe(true);
  });

  it.each([
    ['role', 'admin', /"role"/],
    ['nodeId', 7, /"nodeId"/],
    ['issuedAt', 1.5, /"issuedAt"/],
    ['expiresAt', -1, /"expiresAt"/],
    ['signature', new Uint8Array(3), /"signature"/],
    ['v', 2, /"v"/],
  ] as const)('names the bad field %s', (field, value, re) => {
    const ca = ClusterCA.create('c');
    const obj = packr.unpack(encodeCertificate(issue(ca))) as Record<string, unknown>;
    obj[field] = value;
    expect(() => decodeCertificate(packr.pack(obj))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE', message: expect.stringMatching(re) }));
  });

  it('refuses bytes that are not msgpack or not a map', () => {
    expect(() => decodeCertificate(new Uint8Array([0xc1]))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    expect(() => decodeCertificate(packr.pack([1, 2]))).toThrow(/map/);
  });
});
