// The seeded Raft simulator and the client-history tools it uses.
export { Simulation, runSimulation, DEFAULT_SIM_OPTIONS, type SimOptions, type SimResult } from './simulator.js';
export {
  History,
  toJsonLines,
  parseJsonLines,
  pairOperations,
  valuesEqual,
  type HistoryEvent,
  type Operation,
  type OpFunction,
  type CompletionType,
} from './history.js';
export { checkLinearizable, type CheckResult, type CheckOptions } from './linearizability.js';
export { Rng } from '../index.js';
export { runSeeds, parseSeedRange, type SeedsSummary } from './seeds.js';
