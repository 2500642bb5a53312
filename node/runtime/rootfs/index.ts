// Container root file systems: layers unpacked once and stacked per container with overlayfs,
// and the reverse (a directory or an overlay upper dir as a layer tarball) for the image builder.
// Needs root, overlayfs, mount(8)/umount(8), and python3 (mknod and trusted.* xattrs: fsops.ts).
export { LAYER_MEDIA_TYPES } from './media.js';
export { LayerStore, type MountPaths } from './store.js';
export { diffToLayer, dirToLayer, type LayerTar } from './pack.js';
