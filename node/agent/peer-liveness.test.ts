import { describe, expect, it } from 'vitest';
import { decodeDigest, encodeDigest, PeerLiveness, type LivenessDigest } from './peer-liveness.js';

const digest = (version: number, state: 'ready' | 'down'): LivenessDigest => ({
  version,
  nodes: [{ nodeId: 'a', peerId: 'p', role: 'worker', state }],
});

describe('peer liveness by gossip', () => {
  it('keeps the newest digest and ignores older or repeated ones', () => {
    const p = new PeerLiveness();
    expect(p.update(digest(5, 'ready'))).toBe(true);
    expect(p.update(digest(4, 'down'))).toBe(false);
    expect(p.update(digest(5, 'down'))).toBe(false);
    expect(p.state('a')).toBe('ready');
    expect(p.update(digest(9, 'down'))).toBe(true);
    expect(p.state('a')).toBe('down');
  });

  it('round-trips the wire form and drops malformed messages', () => {
    expect(decodeDigest(encodeDigest(digest(3, 'ready')))).toEqual(digest(3, 'ready'));
    expect(decodeDigest(new Uint8Array([0xc1]))).toBeUndefined();
    expect(decodeDigest(encodeDigest({ version: 'x', nodes: [] } as unknown as LivenessDigest))).toBeUndefined();
    expect(decodeDigest(encodeDigest({ version: 1, nodes: [{ nodeId: 1 }] } as unknown as LivenessDigest))).toBeUndefined();
  });
});
