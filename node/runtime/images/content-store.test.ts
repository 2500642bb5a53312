import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import { ContentStore } from './content-store.js';
import { rejection } from '../../../test/support/rejection.js';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('ContentStore', () => {
  let dir: string;
  let store: ContentStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'swarm-cs-'));
    store = new ContentStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores verified content under blobs/sha256 and reads it back', async () => {
    const data = Buffer.from('hello layer');
    const d = digestOf(data);
    expect(store.has(d)).toBe(false);
    await store.ingest(d, Readable.from([data.subarray(0, 5), data.subarray(5)]), data.length);
    expect(store.has(d)).toBe(true);
    expect(store.path(d)).toBe(join(dir, 'blobs', 'sha256', d.slice(7)));
    expect(store.size(d)).toBe(data.length);
    expect(await store.read(d)).toEqual(data);
    const chunks: Buffer[] = [];
    for await (const c of store.open(d, 6)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('layer');
    expect(store.list()).toEqual([d]);
    // Ingesting the same content again is harmless.
    await store.ingest(d, data);
    expect(store.list()).toEqual([d]);
    store.delete(d);
    expect(store.has(d)).toBe(false);
    expect(store.list()).toEqual([]);
  });

  it('discards a blob whose digest does not match, naming both digests', async () => {
    const expected = digestOf(Buffer.from('what the registry announced'));
    const sent = Buffer.from('what it sent instead');
    const err = await rejection(store.ingest(expected, Readable.from([sent])));
    expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect(err.message).toBe(`blob digest mismatch: expected ${expected}, got ${digestOf(sent)}; discarded`);
    expect(store.has(expected)).toBe(false);
    expect(store.has(digestOf(sent))).toBe(false);
    expect(store.list()).toEqual([]);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('cuts off input longer than the expected size, and rejects shorter input', async () => {
    const data = Buffer.alloc(100_000, 7);
    const d = digestOf(data);
    let produced = 0;
    // An endless source: the store must stop reading once past the announced size.
    const endless = Readable.from(
      (function* () {
        for (;;) {
          produced += 16_384;
          yield Buffer.alloc(16_384, 7);
        }
      })(),
    );
    const long = await rejection(store.ingest(d, endless, data.length));
    expect(long.message).toContain(`blob size mismatch for ${d}`);
    expect(produced).toBeLessThan(200_000);
    const short = await rejection(store.ingest(d, data.subarray(0, 10), data.length));
    expect(short.message).toBe(`blob size mismatch for ${d}: expected 100000 bytes, got 10; discarded`);
    expect(store.has(d)).toBe(false);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('fails cleanly when the source stream fails midway', async () => {
    const d = digestOf(Buffer.from('x'));
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial');
        throw new Error('connection reset');
      })(),
    );
    await expect(store.ingest(d, failing)).rejects.toThrow('connection reset');
    expect(store.has(d)).toBe(false);
    expect(readdirSync(join(dir, 'ingest'))).toEqual([]);
  });

  it('writes content of unknown digest and reports it', async () => {
    const data = Buffer.from('legacy layer.tar');
    expect(await store.write(Readable.from([data]))).toEqual({ digest: digestOf(data), size: data.length });
    expect(store.has(digestOf(data))).toBe(true);
  });

  it('rejects malformed digests and reports missing blobs as NOT_FOUND', async () => {
    await expect(store.ingest('sha256:xyz', Buffer.from('a'))).rejects.toThrow(/invalid digest "sha256:xyz"/);
    expect(() => store.path('../../etc/passwd')).toThrow(/invalid digest/);
    expect(store.has('md5:abc')).toBe(false);
    const missing = `sha256:${'0'.repeat(64)}`;
    const err = await rejection(store.read(missing));
    expect(isSwarmError(err, 'NOT_FOUND')).toBe(true);
    expect(err.message).toBe(`blob not found: ${missing}`);
    expect(() => store.open(missing)).toThrow(`blob not found: ${missing}`);
    expect(() => store.size(missing)).toThrow(`blob not found: ${missing}`);
  });
});
