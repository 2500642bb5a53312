// The consensus core and its storage: the only entry point other modules use.
export * from './core/types.js';
export { RaftError, type RaftErrorCode } from './core/errors.js';
export { MemoryStorage, EMPTY_HARD_STATE, type Storage } from './core/storage.js';
export { RawNode, type Status } from './core/rawnode.js';
export type { RaftConfig } from './core/raft.js';
export { Rng } from './core/rng.js';
