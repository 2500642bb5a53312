// The endpoint table hosts gossip (a last-writer-wins CRDT) and its wire format.
export { PeerMessageError, isPeerMessageError } from './errors.js';
export { PeerTable, type LocalEndpoint, type DigestEntry, type PeerDigest, type MergeResult } from './table.js';
export {
  encodePeerMessage,
  decodePeerMessage,
  peerTopic,
  splitRecords,
  MAX_RECORDS_PER_MESSAGE,
  MAX_MESSAGE_BYTES,
  DEFAULT_RECORDS_PER_MESSAGE,
  type PeerMessage,
} from './wire.js';
