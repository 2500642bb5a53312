// The orchestrator: services to tasks, as pure plans (no I/O, no clock: time is an input).
//
// The leader's loop: on a change to a service, its tasks or the nodes, for each affected
// service (or everything, with reconcileCluster):
//   plan = reconcileService(service, tasksOfService, nodes, Date.now(), {
//     historyLimit: cluster.Spec.Orchestration.TaskHistoryRetentionLimit,
//     dependencies: dependenciesSatisfied(service, services, tasks) });
//   for a deleted service: reconcileRemovedService(itsTasks, nodes);
//   commit: create the drafts (give each an id), apply the desired-state updates (conditional
//   on the versions read), delete the removed ids. Then reconcile again on the next change:
//   a committed plan reconciles to an empty one.
// Desired states only move forward. New tasks are desired RUNNING, or READY while their
// dependencies are not up (a later plan moves them to RUNNING). A restart's delay is the
// task's NotBefore, which the agent honours, so no timer is needed here.
export { reconcileCluster, reconcileRemovedService, reconcileService, type ClusterView, type NodeView, type ReconcileOptions } from './reconcile.js';
export { DEFAULT_RESTART_DELAY_NS, countRestartAttempts, restartDecision, restartPolicyOf, type RestartDecision } from './restart.js';
export { NO_DEPENDENCIES, dependenciesSatisfied, findDependencyCycle, type DependencyStatus } from './dependencies.js';
export { deepEqual, emptyPlan, mergePlans, type ReconcilePlan, type ServiceChange, type TaskDraft, type TaskUpdate } from './tasks.js';
export { DEFAULT_UPDATE_CONFIG, updateConfigOf, updateStatusForWrite } from './update.js';
