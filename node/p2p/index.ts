// node/p2p: the libp2p host, node identity, cluster CA and certificates, join tokens, RPC, gossip.
export { P2PError, isP2PError, type P2PErrorCode } from './errors.js';
export { loadOrCreateIdentity, IDENTITY_FILE, type Identity } from './identity.js';
export {
  ClusterCA,
  caFingerprint,
  verifyCertificate,
  encodeCertificate,
  decodeCertificate,
  CLOCK_SKEW_MS,
  type CAJson,
  type NodeCertificate,
  type NodeRole,
} from './ca.js';
export { makeJoinToken, parseJoinToken, proveSecret, checkProof } from './tokens.js';
export { hostPortToMultiaddr } from './addr.js';
export {
  P2PHost,
  DEFAULT_AUTH_GRACE_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type Access,
  type Caller,
  type Handler,
  type P2PHostEvents,
  type P2PHostOptions,
  type P2PHostStats,
  type TrustConfig,
} from './host.js';
export { RPC_PROTOCOL, DEFAULT_MAX_FRAME_BYTES } from './wire.js';
