export { SwarmNode, ENGINE_VERSION, API_VERSION, type SwarmNodeOptions } from './swarm-node.js';
export { type LocalState, type KnownManager } from './local-state.js';
