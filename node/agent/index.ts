export { NodeSession, type HeartbeatRedirect, type HeartbeatReply, type ManagerAddress, type SessionDeps } from './session.js';
export { LIVENESS_TOPIC, PeerLiveness, decodeDigest, encodeDigest, type LivenessDigest, type PeerEntry } from './peer-liveness.js';
