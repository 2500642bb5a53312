// A node's container runtime: images, layers, the executor, the builder and image sharing.
export { LocalRuntime, type LocalRuntimeOptions } from './local-runtime.js';
export { ImageSharing } from './share/index.js';
export { OciRuntime, cgroupDirs, type RuntimeName } from './executor/index.js';
