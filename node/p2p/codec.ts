import { Packr } from 'msgpackr';

/**
 * The one msgpack codec of this module. Records (msgpackr's shared-structure extension) are off:
 * every frame must decode on its own, on a peer that has seen nothing before it. Binary values are
 * copied out, so a small payload kept for long does not pin the network buffer it came in.
 */
export const packr = new Packr({ useRecords: false, moreTypes: false, copyBuffers: true });

/** Decodes one value; binary values come out as plain Uint8Arrays, whatever the input's class. */
export function unpack(bytes: Uint8Array): unknown {
  return packr.unpack(plainBytes(bytes)) as unknown;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A plain Uint8Array over the same bytes (msgpackr hands out Buffers; callers compare and store these). */
export function plainBytes(b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
