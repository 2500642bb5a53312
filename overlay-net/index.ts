// Overlay networks: the only entry point other modules use.
export * from './ipam/index.js';
export * from './datapath/index.js';
export * from './peers/index.js';
export * from './plan/index.js';
export * from './dns/index.js';
export type * from './types.js';
