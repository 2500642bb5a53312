// Overlay networks: the only entry point other modules use.
export * from './ipam/index.js';
export type * from './types.js';
