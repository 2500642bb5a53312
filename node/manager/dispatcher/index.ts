export { Dispatcher, type DispatcherDeps } from './dispatcher.js';
export { heartbeatPeriodMs, LivenessTracker, MISSED_HEARTBEATS_FOR_DOWN, type Liveness, type LivenessChange } from './liveness.js';
export { ASSIGNMENTS_TOPIC, AssignmentPublisher, assignmentsFor, decodeAssignments, encodeAssignments, type AssignmentMessage } from './assignments.js';
