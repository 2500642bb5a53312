import { describe, expect, it } from 'vitest';
import { packr } from './codec.js';
import { FrameDecoder, encodeFrame, type Frame } from './wire.js';

const MAX = 1024;

function raw(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

describe('frames', () => {
  const frames: Frame[] = [
    { k: 'hello', cert: new Uint8Array([1, 2, 3]) },
    { k: 'request', id: 7, method: 'm', payload: { a: [1, 'x', null], b: new Uint8Array([9]) } },
    { k: 'response', id: 7, result: 'ok' },
    { k: 'response', id: 8, error: { code: 'NO_QUORUM', message: 'no quorum' } },
    { k: 'notify', method: 'raft', payload: { term: 3 } },
  ];

  it('round-trip, several per chunk and split at every byte', () => {
    const bytes = Buffer.concat(frames.map((f) => encodeFrame(f, MAX)));
    expect(new FrameDecoder(MAX).push(bytes)).toEqual(frames);
    const d = new FrameDecoder(MAX);
    const out: Frame[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...d.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual(frames);
    expect(d.buffered).toBe(0);
  });

  it('keeps a partial frame until the rest arrives', () => {
    const f = encodeFrame({ k: 'notify', method: 'x', payload: 'y'.repeat(100) }, MAX);
    const d = new FrameDecoder(MAX);
    expect(d.push(f.subarray(0, 50))).toEqual([]);
    expect(d.buffered).toBe(46);
    expect(d.push(f.subarray(50))).toHaveLength(1);
  });

  it('refuses to encode a frame over the limit', () => {
    expect(() => encodeFrame({ k: 'notify', method: 'x', payload: new Uint8Array(MAX) }, MAX)).toThrow(
      expect.objectContaining({ code: 'BAD_MESSAGE', message: expect.stringContaining('limit') }),
    );
  });

  it('refuses an oversized length from the header alone', () => {
    const d = new FrameDecoder(MAX);
    expect(() => d.push(new Uint8Array([0, 0, 0x04, 0x01]))).toThrow(/frame length 1025/);
    expect(() => new FrameDecoder(MAX).push(new Uint8Array([0, 0, 0, 0]))).toThrow(/frame length 0/);
  });

  it.each([
    ['garbage', new Uint8Array([0xc1, 0xc1]), /not msgpack/],
    ['trailing bytes', Buffer.concat([packr.pack({ k: 'notify', method: 'm' }), Buffer.from([1])]), /not msgpack/],
    ['a number', packr.pack(42), /not a map/],
    ['an unknown kind', packr.pack({ k: 'shout' }), /unknown frame kind/],
    ['a request without id', packr.pack({ k: 'request', method: 'm' }), /"id"/],
    ['a request with a negative id', packr.pack({ k: 'request', id: -1, method: 'm' }), /"id"/],
    ['a notify without method', packr.pack({ k: 'notify' }), /"method"/],
    ['a hello without bytes', packr.pack({ k: 'hello', cert: 'x' }), /"cert"/],
    ['a malformed error', packr.pack({ k: 'response', id: 1, error: 'boom' }), /"error"/],
  ])('refuses %s', (_name, body, re) => {
    expect(() => new FrameDecoder(MAX).push(raw(body))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE', message: expect.stringMatching(re) }));
  });
});
