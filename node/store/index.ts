// The cluster object model and the Raft-backed replicated store: the only entry point other modules use.
export * from './types.js';
export { ClusterStore, type ClusterStoreOptions } from './cluster-store.js';
export { ReplicatedStore, type RaftLike, type ReplicatedStoreOptions } from './replicated-store.js';
export { encodeProposal, decodeProposal } from './proposal.js';
export { newObjectId } from './ids.js';
