// The driver that runs the core against a real disk and a transport.
export { RaftNode, type RaftNodeOptions, type RaftNodeEvents, type RaftStateMachine, type RaftTransport } from './raft-node.js';
export { LocalNetwork } from './local-network.js';
export { rewriteAsSingleMember } from './force-new-cluster.js';
