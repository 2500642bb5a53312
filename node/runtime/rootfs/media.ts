import { open } from 'node:fs/promises';
import { SwarmError } from '../../errors.js';

/** Layer media types we unpack (OCI and Docker, distributable or not). */
export const LAYER_MEDIA_TYPES: { gzip: string[]; tar: string[] } = {
  gzip: [
    'application/vnd.oci.image.layer.v1.tar+gzip',
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ],
  tar: [
    'application/vnd.oci.image.layer.v1.tar',
    'application/vnd.oci.image.layer.nondistributable.v1.tar',
    // not registered by Docker, but what `docker save` layers amount to and some tools write
    'application/vnd.docker.image.rootfs.diff.tar',
  ],
};

const ZSTD_MEDIA_TYPES = [
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
];

export type Compression = 'gzip' | 'none';

function unsupportedZstd(what: string): SwarmError {
  return new SwarmError(
    'INVALID_ARGUMENT',
    `unsupported layer compression zstd (${what}): Node 20 has no zstd decoder`,
    'push or pull the image with gzip layers',
  );
}

/**
 * Checks the media type, then trusts the blob's magic bytes over it: `docker save` archives and some
 * registries label gzip data as tar and the reverse, and the diffID check catches anything else.
 */
export async function detectCompression(blobPath: string, mediaType: string): Promise<Compression> {
  if (ZSTD_MEDIA_TYPES.includes(mediaType)) throw unsupportedZstd(mediaType);
  if (!LAYER_MEDIA_TYPES.gzip.includes(mediaType) && !LAYER_MEDIA_TYPES.tar.includes(mediaType)) {
    throw new SwarmError('INVALID_ARGUMENT', `unknown layer media type ${JSON.stringify(mediaType)}`);
  }
  let fh;
  try {
    fh = await open(blobPath, 'r');
  } catch (err) {
    throw new SwarmError('NOT_FOUND', `layer blob ${blobPath} cannot be opened`, undefined, { cause: err });
  }
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await fh.read(magic, 0, 4, 0);
    if (bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && magic.readUInt32LE(0) === 0xfd2fb528) throw unsupportedZstd(`blob ${blobPath}`);
    return 'none';
  } finally {
    await fh.close();
  }
}
