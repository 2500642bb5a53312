import { describe, expect, it } from 'vitest';
import { jsonMessages, MessagePrinter, progressText, showMessages, type JsonMessage } from './progress.js';

async function collect(chunks: string[]): Promise<JsonMessage[]> {
  const out: JsonMessage[] = [];
  for await (const m of jsonMessages(chunks.map((c) => Buffer.from(c)))) out.push(m);
  return out;
}

function printed(tty: boolean, messages: JsonMessage[], columns = 80): string {
  let out = '';
  const p = new MessagePrinter({ write: (s: string | Uint8Array) => (out += String(s)) }, tty, columns);
  for (const m of messages) p.print(m);
  return out;
}

describe('jsonMessages', () => {
  it('reads one object per line across chunk boundaries, "\\r\\n" endings and a last line without one', async () => {
    expect(await collect(['{"status":"a"}\r\n{"sta', 'tus":"b"}\n\n', '{"stream":"c\\n"}'])).toEqual([{ status: 'a' }, { status: 'b' }, { stream: 'c\n' }]);
  });

  it('names a malformed line', async () => {
    await expect(collect(['{"status":\n'])).rejects.toThrow('the daemon sent a malformed progress message: {"status":');
  });
});

describe('progress display', () => {
  it('progressText pads the numbers as docker and draws the bar only on wide terminals', () => {
    expect(progressText({ current: 2_100_000, total: 4_200_000 })).toBe('   2.1MB/4.2MB');
    expect(progressText({ current: 2_100_000, total: 4_200_000 }, 120)).toBe(`[${'='.repeat(25)}>${' '.repeat(25)}]    2.1MB/4.2MB`);
    expect(progressText({ current: 5000 })).toBe('     5kB');
    expect(progressText({})).toBe('');
    expect(progressText(undefined)).toBe('');
  });

  const layers: JsonMessage[] = [
    { status: 'Pulling from library/alpine', id: 'latest' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' },
    { status: 'Pulling fs layer', progressDetail: {}, id: 'bbb' },
    { status: 'Downloading', progressDetail: { current: 1000, total: 2000 }, id: 'aaa' },
    { status: 'Pull complete', progressDetail: {}, id: 'bbb' },
    { status: 'Pull complete', progressDetail: {}, id: 'aaa' },
    { status: 'Digest: sha256:abc' },
  ];

  it('off a terminal prints each layer once, when done', () => {
    expect(printed(false, layers)).toBe('latest: Pulling from library/alpine\nbbb: Pull complete\naaa: Pull complete\nDigest: sha256:abc\n');
  });

  it('on a terminal gives each id a line and redraws it in place', () => {
    const out = printed(true, layers);
    expect(out).toBe(
      '\n\x1b[1A\x1b[2K\rlatest: Pulling from library/alpine\r\x1b[1B' +
        '\n\x1b[1A\x1b[2K\raaa: Pulling fs layer\r\x1b[1B' +
        '\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer\r\x1b[1B' +
        '\x1b[2A\x1b[2K\raaa: Downloading      1kB/2kB\r\x1b[2B' +
        '\x1b[1A\x1b[2K\rbbb: Pull complete\r\x1b[1B' +
        '\x1b[2A\x1b[2K\raaa: Pull complete\r\x1b[2B' +
        'Digest: sha256:abc\n',
    );
  });

  it('build output is printed as it comes; an error message ends the stream as an error', async () => {
    let out = '';
    const stream = [Buffer.from('{"stream":"Step 1/2 : FROM alpine\\n"}\r\n{"aux":{"ID":"sha256:1"}}\r\n{"error":"boom","errorDetail":{"message":"boom!"}}\r\n')];
    await expect(showMessages(stream, { write: (s: string | Uint8Array) => (out += String(s)) })).rejects.toThrow('boom!');
    expect(out).toBe('Step 1/2 : FROM alpine\n');
    expect(await showMessages([Buffer.from('{"aux":{"ID":"sha256:1"}}\n')], { write: () => undefined })).toEqual([{ ID: 'sha256:1' }]);
  });
});
