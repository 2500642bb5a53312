import { EventEmitter, once } from 'node:events';
import type { Output } from './errors.js';

// Byte streams from the daemon: Docker's multiplexed stdout/stderr frames, and raw bytes (an
// archive) written out with backpressure.

/**
 * Splits Docker's multiplexed stream ([stream, 0, 0, 0, uint32 BE size] + payload) onto stdout
 * (stream 1) and stderr (stream 2); stdin echoes (0) go to stdout as docker's stdcopy does.
 */
export async function demux(body: AsyncIterable<Buffer>, stdout: Output, stderr: Output): Promise<void> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of body) {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const payload = buf.subarray(8, 8 + size);
      await writeBytes(buf[0] === 2 ? stderr : stdout, payload);
      buf = buf.subarray(8 + size);
    }
  }
}

/** Write and, on a real stream that is full, wait for it to drain. */
export async function writeBytes(out: Output, chunk: Uint8Array): Promise<void> {
  if (out.write(chunk) === false && out instanceof EventEmitter) await once(out, 'drain');
}
