// Compose files in, service specs out: the only entry point other modules use.
export { ComposeError, type ComposeIssue } from './errors.js';
export { loadCompose, type LoadOptions, type LoadedCompose } from './load.js';
export { stringifyCompose } from './stringify.js';
export { convertStack, NAMESPACE_LABEL, type StackObjects, type StackNetwork, type StackSecret, type StackConfigObject } from './convert.js';
export { parseDuration, parseBytes, parseCpus, UnitError } from './units.js';
export type * from './types.js';
