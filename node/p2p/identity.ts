import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { P2PError, errorMessage } from './errors.js';

export interface Identity {
  privateKey: PrivateKey;
  peerId: string;
}

export const IDENTITY_FILE = 'identity.key';

/**
 * The node's libp2p key: Ed25519, kept as libp2p protobuf in `dataDir/identity.key` (0600), so the
 * PeerId, which certificates and the Raft membership name, survives restarts.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<Identity> {
  const file = join(dataDir, IDENTITY_FILE);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes !== undefined) {
    let privateKey: PrivateKey;
    try {
      privateKey = privateKeyFromProtobuf(bytes);
    } catch (err) {
      throw new P2PError('BAD_MESSAGE', `${file} is not a libp2p private key (${errorMessage(err)}); move it away to create a new identity`, { cause: err });
    }
    if (privateKey.type !== 'Ed25519') {
      throw new P2PError('BAD_MESSAGE', `${file} holds a ${privateKey.type} key; an Ed25519 key is required`);
    }
    // The key was written 0600; tighten it again if someone loosened it.
    await chmod(file, 0o600);
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
  }

  const privateKey = await generateKeyPair('Ed25519');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (!(await writeFileExclusive(file, privateKeyToProtobuf(privateKey)))) {
    // Another process created it first: everyone must end up with that one.
    return loadOrCreateIdentity(dataDir);
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}

/**
 * Temp file, fsync, link into place: a crash leaves either no key or a whole one, and link (unlike
 * rename) refuses to replace a key someone else just wrote. False when the file already existed.
 */
async function writeFileExclusive(file: string, data: Uint8Array): Promise<boolean> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
  // Make the new directory entry itself durable.
  const dir = await open(join(file, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return true;
}
