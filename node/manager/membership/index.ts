export { MembershipReconciler, type RaftMembership } from './reconciler.js';
export { quorumOf, removalBlocker } from './quorum.js';
