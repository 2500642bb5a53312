export { Dispatcher, type DispatcherDeps } from './dispatcher.js';
export { heartbeatPeriodMs, LivenessTracker, MISSED_HEARTBEATS_FOR_DOWN, type Liveness, type LivenessChange } from './liveness.js';
