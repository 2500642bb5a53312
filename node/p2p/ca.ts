import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { isPlainObject, packr, plainBytes, unpack } from './codec.js';
import { P2PError, errorMessage } from './errors.js';

export type NodeRole = 'manager' | 'worker';

export interface NodeCertificate {
  nodeId: string;
  peerId: string;
  role: NodeRole;
  clusterId: string;
  /** ms since the epoch */
  issuedAt: number;
  /** ms since the epoch */
  expiresAt: number;
  serial: string;
  /** Ed25519 over the fields above, by the cluster CA */
  signature: Uint8Array;
}

/** The CA with its private key. Secret: persist 0600, replicate only inside the Raft store. */
export interface CAJson {
  version: 1;
  clusterId: string;
  /** base64 of the raw 32-byte Ed25519 public key */
  publicKey: string;
  /** base64 of the raw 32-byte Ed25519 seed */
  privateKey: string;
}

/** Hosts' clocks disagree a little; a certificate issued "in the future" by this much is still fine. */
export const CLOCK_SKEW_MS = 5 * 60_000;

const CERT_CONTEXT = 'swarm-node-cert/1';
const CERT_VERSION = 1;
// DER headers that wrap a raw Ed25519 key as SPKI / PKCS#8 (RFC 8410).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ROLES: readonly NodeRole[] = ['manager', 'worker'];
const MAX_ID_LENGTH = 256;

export class ClusterCA {
  readonly clusterId: string;
  readonly publicKey: Uint8Array;
  readonly fingerprint: string;
  readonly #privateKey: KeyObject;

  private constructor(clusterId: string, privateKey: KeyObject) {
    this.clusterId = clusterId;
    this.#privateKey = privateKey;
    this.publicKey = rawPublicKey(createPublicKey(privateKey));
    this.fingerprint = caFingerprint(this.publicKey);
  }

  static create(clusterId: string): ClusterCA {
    checkId('clusterId', clusterId);
    return new ClusterCA(clusterId, generateKeyPairSync('ed25519').privateKey);
  }

  static fromJSON(j: CAJson): ClusterCA {
    if (!isPlainObject(j) || j.version !== 1) throw new P2PError('BAD_MESSAGE', 'CA: expected {version: 1, clusterId, publicKey, privateKey}');
    checkId('CA clusterId', j.clusterId);
    const seed = fromBase64('CA privateKey', j.privateKey, 32);
    const pub = fromBase64('CA publicKey', j.publicKey, 32);
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    } catch (err) {
      throw new P2PError('BAD_MESSAGE', `CA privateKey: not an Ed25519 key (${errorMessage(err)})`, { cause: err });
    }
    const ca = new ClusterCA(j.clusterId, key);
    if (!Buffer.from(ca.publicKey).equals(pub)) throw new P2PError('BAD_MESSAGE', 'CA publicKey does not belong to CA privateKey');
    return ca;
  }

  toJSON(): CAJson {
    const der = this.#privateKey.export({ format: 'der', type: 'pkcs8' });
    return {
      version: 1,
      clusterId: this.clusterId,
      publicKey: Buffer.from(this.publicKey).toString('base64'),
      privateKey: der.subarray(der.length - 32).toString('base64'),
    };
  }

  issue(req: { nodeId: string; peerId: string; role: NodeRole; ttlMs: number; now: number }): NodeCertificate {
    checkId('nodeId', req.nodeId);
    checkId('peerId', req.peerId);
    if (!ROLES.includes(req.role)) throw new P2PError('BAD_MESSAGE', `role must be 'manager' or 'worker', got ${JSON.stringify(req.role)}`);
    if (!Number.isFinite(req.ttlMs) || req.ttlMs <= 0) throw new P2PError('BAD_MESSAGE', `ttlMs must be a positive number, got ${req.ttlMs}`);
    if (!Number.isFinite(req.now) || req.now < 0) throw new P2PError('BAD_MESSAGE', `now must be a time in ms since the epoch, got ${req.now}`);
    const issuedAt = Math.floor(req.now);
    const fields = {
      nodeId: req.nodeId,
      peerId: req.peerId,
      role: req.role,
      clusterId: this.clusterId,
      issuedAt,
      expiresAt: Math.min(issuedAt + Math.ceil(req.ttlMs), Number.MAX_SAFE_INTEGER),
      serial: randomBytes(16).toString('hex'),
    };
    return { ...fields, signature: new Uint8Array(sign(null, signedBytes(fields), this.#privateKey)) };
  }
}

/** sha256 of the raw public key in base36, 50 characters: the fingerprint part of a SWMTKN token. */
export function caFingerprint(publicKey: Uint8Array): string {
  const hex = createHash('sha256').update(publicKey).digest('hex');
  return BigInt(`0x${hex}`).toString(36).padStart(50, '0');
}

export function verifyCertificate(
  cert: NodeCertificate,
  caPublicKey: Uint8Array,
  now: number,
  expectPeerId?: string,
): { ok: true } | { ok: false; reason: string } {
  const sig = checkSignature(cert, caPublicKey);
  return sig.ok ? checkClaims(cert, now, expectPeerId) : sig;
}

/** The CA signature alone (the expensive half of verifyCertificate). */
export function checkSignature(cert: NodeCertificate, caPublicKey: Uint8Array): { ok: true } | { ok: false; reason: string } {
  let good: boolean;
  try {
    good = cert.signature.length === 64 && verify(null, signedBytes(cert), publicKeyObject(caPublicKey), cert.signature);
  } catch (err) {
    return { ok: false, reason: `signature check failed: ${errorMessage(err)}` };
  }
  return good ? { ok: true } : { ok: false, reason: 'signature does not verify against the cluster CA (tampered, or issued by another CA)' };
}

/** Validity period and holder (the cheap half of verifyCertificate). */
export function checkClaims(cert: NodeCertificate, now: number, expectPeerId?: string): { ok: true } | { ok: false; reason: string } {
  if (now + CLOCK_SKEW_MS < cert.issuedAt) return { ok: false, reason: `not valid before ${iso(cert.issuedAt)} (check the clocks)` };
  if (now >= cert.expiresAt) return { ok: false, reason: `expired at ${iso(cert.expiresAt)}` };
  if (expectPeerId !== undefined && cert.peerId !== expectPeerId) {
    return { ok: false, reason: `issued to peer ${cert.peerId} but presented by peer ${expectPeerId}` };
  }
  return { ok: true };
}

export function encodeCertificate(c: NodeCertificate): Uint8Array {
  return plainBytes(
    packr.pack({
      v: CERT_VERSION,
      nodeId: c.nodeId,
      peerId: c.peerId,
      role: c.role,
      clusterId: c.clusterId,
      issuedAt: c.issuedAt,
      expiresAt: c.expiresAt,
      serial: c.serial,
      signature: c.signature,
    }),
  );
}

export function decodeCertificate(b: Uint8Array): NodeCertificate {
  if (!(b instanceof Uint8Array)) throw new P2PError('BAD_MESSAGE', 'certificate: expected bytes');
  let v: unknown;
  try {
    v = unpack(b);
  } catch (err) {
    throw new P2PError('BAD_MESSAGE', `certificate: not msgpack (${errorMessage(err)})`, { cause: err });
  }
  if (!isPlainObject(v)) throw new P2PError('BAD_MESSAGE', 'certificate: expected a map');
  if (v['v'] !== CERT_VERSION) throw new P2PError('BAD_MESSAGE', `certificate: field "v" must be ${CERT_VERSION}`);
  const str = (k: string): string => {
    const x = v[k];
    if (typeof x !== 'string' || x.length === 0 || x.length > MAX_ID_LENGTH) {
      throw new P2PError('BAD_MESSAGE', `certificate: field "${k}" must be a non-empty string`);
    }
    return x;
  };
  const time = (k: string): number => {
    const x = v[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new P2PError('BAD_MESSAGE', `certificate: field "${k}" must be a time in ms since the epoch`);
    }
    return x;
  };
  const role = v['role'];
  if (role !== 'manager' && role !== 'worker') throw new P2PError('BAD_MESSAGE', `certificate: field "role" must be 'manager' or 'worker'`);
  const sig = v['signature'];
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new P2PError('BAD_MESSAGE', 'certificate: field "signature" must be 64 bytes');
  return {
    nodeId: str('nodeId'),
    peerId: str('peerId'),
    role,
    clusterId: str('clusterId'),
    issuedAt: time('issuedAt'),
    expiresAt: time('expiresAt'),
    serial: str('serial'),
    signature: new Uint8Array(sig),
  };
}

/** What the CA signs: the fields in a fixed order, JSON so the bytes cannot depend on an encoder. */
function signedBytes(c: Omit<NodeCertificate, 'signature'>): Buffer {
  return Buffer.from(JSON.stringify([CERT_CONTEXT, c.nodeId, c.peerId, c.role, c.clusterId, c.issuedAt, c.expiresAt, c.serial]));
}

const keyCache = new Map<string, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new P2PError('BAD_MESSAGE', `CA public key must be 32 bytes, got ${raw.length}`);
  const k = Buffer.from(raw).toString('hex');
  let key = keyCache.get(k);
  if (!key) {
    // A node knows one or two CA keys; the bound only guards against a caller looping over many.
    if (keyCache.size >= 16) keyCache.clear();
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    keyCache.set(k, key);
  }
  return key;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function checkId(field: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_LENGTH) {
    throw new P2PError('BAD_MESSAGE', `${field} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  }
}

function fromBase64(field: string, v: unknown, length: number): Buffer {
  if (typeof v !== 'string') throw new P2PError('BAD_MESSAGE', `${field} must be base64`);
  const b = Buffer.from(v, 'base64');
  if (b.length !== length) throw new P2PError('BAD_MESSAGE', `${field} must be ${length} bytes of base64, got ${b.length}`);
  return b;
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
