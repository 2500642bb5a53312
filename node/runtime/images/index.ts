// Images: the content-addressed store (OCI image layout), registry pull/push with auth, docker-save
// and OCI archives, names, and garbage collection. The only entry point other modules use.
export { parseReference, formatReference, familiarName, normalizeReference, repositoryName, type ImageReference } from './reference.js';
export type { Descriptor, Platform, ImageConfigFile, ImageManifest, ImageIndex, Image } from './manifest.js';
export { ContentStore } from './content-store.js';
export { ImageStore, type ImageStoreOptions, type ProgressEvent, type TransferOptions } from './image-store.js';
export { CredentialStore, registryKey, type Credentials } from './credentials.js';
export { verifyLogin, type VerifyLoginOptions } from './login.js';
export { isDigest, sha256Digest } from './digest.js';
export * from './media-types.js';
