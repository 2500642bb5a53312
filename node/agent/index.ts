export { NodeSession, type HeartbeatRedirect, type HeartbeatReply, type ManagerAddress, type SessionDeps } from './session.js';
export { LIVENESS_TOPIC, PeerLiveness, decodeDigest, encodeDigest, type LivenessDigest, type PeerEntry } from './peer-liveness.js';
export { TaskRunner, type TaskFiles, type TaskNetworking, type TaskRunnerDeps, type TaskStatusUpdate } from './task-runner.js';
export { AssignmentReceiver } from './assignment-receiver.js';
export { NetworkAgent, hostNetworkOf, type NetworkAgentDeps } from './network-agent.js';
