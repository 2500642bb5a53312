// The endpoint table on the wire: one gossip topic per network carrying records and digests in
// MessagePack. Whatever arrives is checked field by field before the table sees it.
import { pack, unpack } from 'msgpackr';
import type { EndpointRecord } from '../types.js';
import { PeerMessageError } from './errors.js';
import { checkRecord, expectArray, expectNodeId, expectObject, expectOwner, expectVersion, isNetworkId, show } from './record.js';
import type { DigestEntry, PeerDigest } from './table.js';

export type PeerMessage =
  | { kind: 'records'; networkId: string; records: EndpointRecord[] }
  | { kind: 'digest'; networkId: string; digest: PeerDigest };

/** At most this many records, or digest entries, in one message. */
export const MAX_RECORDS_PER_MESSAGE = 10_000;
/** Larger messages are refused before decoding. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** What splitRecords puts in one message by default: well under gossip message size limits. */
export const DEFAULT_RECORDS_PER_MESSAGE = 500;

/** The gossip topic of a network's endpoint table. */
export function peerTopic(networkId: string): string {
  if (!isNetworkId(networkId)) throw new RangeError(`not a network id: ${show(networkId)}`);
  return `swarm/net/${networkId}/1`;
}

/** Encodes a message, checking it as a receiver would: a message peers refuse is a bug here. */
export function encodePeerMessage(m: PeerMessage): Uint8Array {
  return pack(checkMessage(m));
}

/** Decodes and checks a message; throws PeerMessageError naming the first bad field. */
export function decodePeerMessage(bytes: Uint8Array): PeerMessage {
  if (!(bytes instanceof Uint8Array)) throw new PeerMessageError('', 'expected bytes');
  if (bytes.byteLength > MAX_MESSAGE_BYTES) {
    throw new PeerMessageError('', `message of ${bytes.byteLength} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  }
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch (err) {
    throw new PeerMessageError('', `not a MessagePack value (${err instanceof Error ? err.message : String(err)})`);
  }
  return checkMessage(value);
}

/** Splits records into as many 'records' messages as their count needs. */
export function splitRecords(networkId: string, records: readonly EndpointRecord[], perMessage = DEFAULT_RECORDS_PER_MESSAGE): PeerMessage[] {
  if (!Number.isInteger(perMessage) || perMessage < 1 || perMessage > MAX_RECORDS_PER_MESSAGE) {
    throw new RangeError(`perMessage must be an integer in 1..${MAX_RECORDS_PER_MESSAGE}, got ${perMessage}`);
  }
  const out: PeerMessage[] = [];
  for (let i = 0; i < records.length; i += perMessage) {
    out.push({ kind: 'records', networkId, records: records.slice(i, i + perMessage) });
  }
  return out;
}

/** A fresh, fully checked copy holding only known fields (no undefined: msgpack would keep it). */
function checkMessage(value: unknown): PeerMessage {
  const o = expectObject(value, '');
  const kind = o.kind;
  if (kind !== 'records' && kind !== 'digest') throw new PeerMessageError('kind', `${show(kind)} is not one of records, digest`);
  if (!isNetworkId(o.networkId)) throw new PeerMessageError('networkId', `${show(o.networkId)} is not a network id`);
  const networkId = o.networkId;
  if (kind === 'records') {
    const records = expectArray(o.records, 'records', MAX_RECORDS_PER_MESSAGE).map((r, i) => {
      const rec = checkRecord(r, `records[${i}]`);
      if (rec.networkId !== networkId) {
        throw new PeerMessageError(`records[${i}].networkId`, `${show(rec.networkId)} is not the message's network ${show(networkId)}`);
      }
      return rec;
    });
    return { kind, networkId, records };
  }
  const digest = expectArray(o.digest, 'digest', MAX_RECORDS_PER_MESSAGE).map((e, i) => checkDigestEntry(e, `digest[${i}]`));
  return { kind, networkId, digest };
}

function checkDigestEntry(value: unknown, path: string): DigestEntry {
  if (!Array.isArray(value) || value.length !== 4) {
    throw new PeerMessageError(path, `expected [owner, version, origin, fingerprint], got ${show(value)}`);
  }
  const fp: unknown = value[3];
  if (typeof fp !== 'number' || !Number.isInteger(fp) || fp < 0 || fp > 0xffffffff) {
    throw new PeerMessageError(`${path}[3]`, `${show(fp)} is not a 32-bit fingerprint`);
  }
  return [
    expectOwner(value[0], `${path}[0]`),
    expectVersion(value[1], `${path}[1]`),
    expectNodeId(value[2], `${path}[2]`),
    fp,
  ];
}
