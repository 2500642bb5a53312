// Durable Raft storage: a write-ahead log of hard state and entries, plus snapshot files.
// Code outside this folder imports only this module.
export { WalCorruptError, WalError, WalIoError, type WalErrorCode } from './errors.js';
export { Wal, restoreMemoryStorage, type RecoveredState, type WalOptions } from './wal.js';
