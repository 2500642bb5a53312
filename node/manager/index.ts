// Leader-only controllers. Each subfolder is its own module with an index; this one gathers
// the loop that drives the orchestrator and the scheduler.
export { TaskController } from './task-controller.js';
