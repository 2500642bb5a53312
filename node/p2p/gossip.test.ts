import { describe, expect, it } from 'vitest';
import { ClusterCA, encodeCertificate } from './ca.js';
import { GossipGate, unwrapGossip, wrapGossip, type GossipMessage } from './gossip.js';
import type { TrustConfig } from './trust.js';

const A = '12D3KooWAuthor';
const N = '12D3KooWNeighbour';
const NOW = Date.now();

function setup(opts: { revoked?: string[]; authenticated?: string[] } = {}) {
  const ca = ClusterCA.create('c');
  const own = ca.issue({ nodeId: 'me', peerId: '12D3KooWMe', role: 'worker', ttlMs: 60_000, now: NOW });
  const trust: TrustConfig = { caPublicKey: ca.publicKey, certificate: own, isRevoked: (c) => (opts.revoked ?? []).includes(c.nodeId) };
  let current: TrustConfig | undefined = trust;
  const authenticated = new Set(opts.authenticated ?? [N]);
  const gate = new GossipGate({ trust: () => current, neighbourAuthenticated: (p) => authenticated.has(p) });
  const certFor = (peerId: string, issuer = ca, ttlMs = 60_000) =>
    encodeCertificate(issuer.issue({ nodeId: `node-${peerId.slice(-4)}`, peerId, role: 'worker', ttlMs, now: NOW }));
  const msg = (from: string, cert: Uint8Array, data = new Uint8Array([1, 2])): GossipMessage => ({ type: 'signed', from, data: wrapGossip(cert, data) });
  return { ca, gate, certFor, msg, setTrust: (t: TrustConfig | undefined) => (current = t), authenticated };
}

describe('gossip envelope', () => {
  it('round-trips and refuses what is not an envelope', () => {
    const env = unwrapGossip(wrapGossip(new Uint8Array([1]), new Uint8Array([2, 3])));
    expect(Array.from(env.data)).toEqual([2, 3]);
    expect(() => unwrapGossip(new Uint8Array([0xc1]))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});

describe('GossipGate', () => {
  it('accepts a message relayed by an authenticated neighbour from an author with a valid certificate', () => {
    const { gate, certFor, msg } = setup();
    const v = gate.check(N, msg(A, certFor(A)), NOW);
    expect(v).toMatchObject({ ok: true, from: A });
    if (v.ok) expect(Array.from(v.data)).toEqual([1, 2]);
    // again, from the certificate cache
    expect(gate.check(N, msg(A, certFor(A)), NOW).ok).toBe(true);
  });

  it('rejects anything passed on by an unauthenticated neighbour', () => {
    const { gate, certFor, msg } = setup();
    expect(gate.check('12D3KooWStranger', msg(A, certFor(A)), NOW)).toMatchObject({ ok: false, reason: expect.stringContaining('unauthenticated') });
  });

  it('rejects unsigned messages and non-envelopes', () => {
    const { gate } = setup();
    expect(gate.check(N, { type: 'unsigned', data: new Uint8Array([1]) }, NOW).ok).toBe(false);
    expect(gate.check(N, { type: 'signed', from: A, data: new Uint8Array([1]) }, NOW).ok).toBe(false);
  });

  it('rejects an author whose certificate names another peer, another CA, has expired or is revoked', () => {
    const s = setup({ revoked: ['node-thor'] });
    expect(s.gate.check(N, s.msg(A, s.certFor('12D3KooWSomeoneElse')), NOW)).toMatchObject({ ok: false, reason: expect.stringContaining('issued to peer') });
    expect(s.gate.check(N, s.msg(A, s.certFor(A, ClusterCA.create('c'))), NOW)).toMatchObject({ ok: false, reason: expect.stringContaining('signature') });
    expect(s.gate.check(N, s.msg(A, s.certFor(A, s.ca, 1000)), NOW + 2000)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
    expect(s.gate.check(N, s.msg(A, s.certFor(A)), NOW)).toMatchObject({ ok: false, reason: expect.stringContaining('revoked') });
  });

  it('rejects everything without trust, and forgets cached certificates when the CA changes', () => {
    const s = setup();
    const cert = s.certFor(A);
    expect(s.gate.check(N, s.msg(A, cert), NOW).ok).toBe(true);
    s.setTrust(undefined);
    expect(s.gate.check(N, s.msg(A, cert), NOW).ok).toBe(false);
    const other = ClusterCA.create('c');
    s.setTrust({ caPublicKey: other.publicKey, certificate: other.issue({ nodeId: 'me', peerId: 'x', role: 'worker', ttlMs: 1000, now: NOW }) });
    expect(s.gate.check(N, s.msg(A, cert), NOW)).toMatchObject({ ok: false, reason: expect.stringContaining('signature') });
  });
});
