export { CHUNK_BYTES, ImageSharing, type BlobDescriptor, type FetchProgress, type LocalImages, type PeerRpc } from './sharing.js';
