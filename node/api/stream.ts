import type { Writable } from 'node:stream';
import type { StreamBody } from './router.js';
import type { LogLine, Progress, ProgressEvent } from './runtime-backend.js';

// The streamed answers of the runtime routes, in Docker's wire formats: JSON progress messages one
// per line, raw tar archives, and the multiplexed stdout/stderr stream of container logs.

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One JSON message; "\r\n" ends it, as Docker's streamformatter does. */
export function progressLine(e: ProgressEvent): string {
  return `${JSON.stringify(e)}\r\n`;
}

/** The last message of a progress stream whose work failed after it began. */
export function errorLine(err: unknown): string {
  const message = messageOf(err);
  return progressLine({ errorDetail: { message }, error: message });
}

/**
 * application/json progress: `run` reports through `progress`, and may return messages to send
 * after it (the API's own closing lines). Events reported once the body is over are dropped.
 */
export function progressBody(run: (progress: Progress, signal: AbortSignal) => Promise<ProgressEvent[] | void>): StreamBody {
  return {
    contentType: 'application/json',
    errorTrailer: errorLine,
    async write(out, signal) {
      const progress: Progress = (e) => {
        if (!out.writableEnded && !out.destroyed) out.write(progressLine(e));
      };
      const closing = await run(progress, signal);
      for (const e of closing ?? []) progress(e);
    },
  };
}

/** An archive, as Docker's GET /images/get sends it; a failure midway cuts the connection. */
export function tarBody(write: (out: Writable, signal: AbortSignal) => Promise<void>): StreamBody {
  return { contentType: 'application/x-tar', write };
}

export const STDOUT = 1;
export const STDERR = 2;

/** Docker's multiplexed stream frame: [stream, 0, 0, 0, uint32 BE size] then the payload. */
export function frame(stream: typeof STDOUT | typeof STDERR, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Split a multiplexed stream back into frames; `rest` is an incomplete frame to prepend to the next chunk. */
export function parseFrames(data: Buffer): { frames: { stream: number; payload: Buffer }[]; rest: Buffer } {
  const frames: { stream: number; payload: Buffer }[] = [];
  let at = 0;
  while (data.length - at >= 8) {
    const size = data.readUInt32BE(at + 4);
    if (data.length - at - 8 < size) break;
    frames.push({ stream: data[at] ?? 0, payload: data.subarray(at + 8, at + 8 + size) });
    at += 8 + size;
  }
  return { frames, rest: data.subarray(at) };
}

/** The next item of `it`, or done once `signal` fires (a backend that ignores the signal cannot hold the route). */
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.resolve({ done: true, value: undefined });
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve({ done: true, value: undefined });
    signal.addEventListener('abort', onAbort, { once: true });
    it.next().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Container logs as Docker's multiplexed stream. A failure midway becomes a last stderr frame,
 * as Docker's "Error grabbing logs".
 */
export function logsBody(
  lines: (signal: AbortSignal) => AsyncIterable<LogLine>,
  opts: { stdout: boolean; stderr: boolean; timestamps: boolean },
): StreamBody {
  return {
    contentType: 'application/vnd.docker.multiplexed-stream',
    errorTrailer: (err) => frame(STDERR, `Error grabbing logs: ${messageOf(err)}\n`),
    async write(out, signal) {
      const it = lines(signal)[Symbol.asyncIterator]();
      try {
        for (;;) {
          const r = await nextOrAbort(it, signal);
          if (r.done === true) break;
          const l = r.value;
          if (l.stream === 'stdout' ? !opts.stdout : !opts.stderr) continue;
          const text = `${opts.timestamps ? `${l.time} ` : ''}${l.line}${l.line.endsWith('\n') ? '' : '\n'}`;
          // Wait for the client to take it: a slow reader slows the backend, not our memory.
          if (!out.write(frame(l.stream === 'stdout' ? STDOUT : STDERR, text))) await drained(out, signal);
        }
      } finally {
        if (signal.aborted) void it.return?.()?.catch(() => undefined);
      }
    },
  };
}

function drained(out: Writable, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
}
