// Placement of tasks on nodes: pure (no I/O, no clock), incremental, deterministic.
//
// The leader's loop keeps one Scheduler while it leads:
//   const s = new Scheduler({ nodes: store nodes mapped by toSchedulerNode, services, tasks });
//   on every committed change, in commit order: upsertNode/removeNode, upsertService/removeService,
//     observeTask(task) (create or update), forgetTask(id) (delete);
//   then, batched: const r = s.place(all pending tasks);
//     commit r.assigned as NodeID + Status {State: 'assigned', Message: ASSIGNED_MESSAGE};
//     write r.unplaced messages to Status.Message (only when they differ: it is the same until
//     something changes), and try those tasks again once s.generation has moved.
//   A commit that fails: observeTask(the task as stored) undoes the placement.
export { acceptsNewTasks, toSchedulerNode, type SchedulerNode } from './node.js';
export {
  ConstraintError,
  matchConstraint,
  matchConstraints,
  nodeAttributeValue,
  parseConstraint,
  parseConstraints,
  parseNodeAttribute,
  type Constraint,
  type ConstraintOp,
  type NodeAttribute,
} from './constraint.js';
export { ASSIGNED_MESSAGE, Scheduler, explainFailures, hostPortsOf, type NodeUsage, type PlacementResult, type SchedulerInit } from './scheduler.js';
export { taskStateIndex } from './states.js';
