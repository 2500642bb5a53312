import { isPlainObject, packr, unpack } from './codec.js';
import { P2PError, errorMessage } from './errors.js';

export const RPC_PROTOCOL = '/swarm/rpc/1';
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const HEADER_BYTES = 4;
const MAX_METHOD_LENGTH = 256;

export interface RemoteError {
  code: string;
  message: string;
}

/**
 * What travels on an RPC stream, each in a [u32 BE length][msgpack] frame. The side that opened
 * the stream sends hello, request and notify; the side that accepted it sends only responses.
 */
export type Frame =
  | { k: 'hello'; cert: Uint8Array }
  | { k: 'request'; id: number; method: string; payload: unknown }
  | { k: 'response'; id: number; result: unknown }
  | { k: 'response'; id: number; error: RemoteError }
  | { k: 'notify'; method: string; payload: unknown };

/** Throws P2PError('BAD_MESSAGE') when the frame would exceed maxFrameBytes, so it is never sent. */
export function encodeFrame(frame: Frame, maxFrameBytes: number): Uint8Array {
  let body: Uint8Array;
  try {
    body = packr.pack(frame);
  } catch (err) {
    throw new P2PError('BAD_MESSAGE', `cannot encode ${frame.k}: ${errorMessage(err)}`, { cause: err });
  }
  if (body.length > maxFrameBytes) {
    throw new P2PError('BAD_MESSAGE', `${frame.k} of ${body.length} bytes exceeds the ${maxFrameBytes}-byte frame limit`);
  }
  const out = new Uint8Array(HEADER_BYTES + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, HEADER_BYTES);
  return out;
}

/**
 * Reassembles frames from stream chunks. A bad frame throws P2PError('BAD_MESSAGE'), after which
 * the stream is out of step and must be closed. An oversized length is refused from its header,
 * before any of its body is buffered.
 */
export class FrameDecoder {
  // Chunks are kept as they come and joined once per frame: a 16 MiB frame arriving in 64 KiB
  // pieces is copied once, not once per piece.
  #chunks: Uint8Array[] = [];
  #size = 0;
  #need = -1;
  readonly #max: number;

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
  }

  push(chunk: Uint8Array): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.#need < 0) {
        if (this.#size < HEADER_BYTES) break;
        const header = this.#take(HEADER_BYTES);
        const len = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getUint32(0);
        if (len === 0 || len > this.#max) throw new P2PError('BAD_MESSAGE', `frame length ${len} outside 1..${this.#max}`);
        this.#need = len;
      }
      if (this.#size < this.#need) break;
      const body = this.#take(this.#need);
      this.#need = -1;
      frames.push(decodeFrameBody(body));
    }
    return frames;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#size;
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    this.#size -= n;
    if (first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}

export function decodeFrameBody(body: Uint8Array): Frame {
  let v: unknown;
  try {
    v = unpack(body);
  } catch (err) {
    throw new P2PError('BAD_MESSAGE', `frame is not msgpack: ${errorMessage(err).slice(0, 120)}`, { cause: err });
  }
  if (!isPlainObject(v)) throw new P2PError('BAD_MESSAGE', 'frame is not a map');
  switch (v['k']) {
    case 'hello': {
      const cert = v['cert'];
      if (!(cert instanceof Uint8Array)) throw new P2PError('BAD_MESSAGE', 'hello: field "cert" must be bytes');
      return { k: 'hello', cert };
    }
    case 'request':
      return { k: 'request', id: frameId(v, 'request'), method: frameMethod(v, 'request'), payload: v['payload'] };
    case 'notify':
      return { k: 'notify', method: frameMethod(v, 'notify'), payload: v['payload'] };
    case 'response': {
      const id = frameId(v, 'response');
      if (!('error' in v)) return { k: 'response', id, result: v['result'] };
      const e = v['error'];
      if (!isPlainObject(e) || typeof e['code'] !== 'string' || typeof e['message'] !== 'string') {
        throw new P2PError('BAD_MESSAGE', 'response: field "error" must be {code, message}');
      }
      return { k: 'response', id, error: { code: e['code'], message: e['message'] } };
    }
    default:
      throw new P2PError('BAD_MESSAGE', `unknown frame kind ${JSON.stringify(v['k'])?.slice(0, 40)}`);
  }
}

function frameId(v: Record<string, unknown>, kind: string): number {
  const id = v['id'];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new P2PError('BAD_MESSAGE', `${kind}: field "id" must be a non-negative integer`);
  return id;
}

function frameMethod(v: Record<string, unknown>, kind: string): string {
  const m = v['method'];
  if (typeof m !== 'string' || m.length === 0 || m.length > MAX_METHOD_LENGTH) {
    throw new P2PError('BAD_MESSAGE', `${kind}: field "method" must be a non-empty string`);
  }
  return m;
}
