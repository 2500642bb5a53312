// Endpoint records as values: checking one from an untrusted source, the last-writer-wins order,
// and a canonical form (for tie-breaks and the digest's fingerprint). Pure.
import type { EndpointRecord, EndpointService, PublishedPort } from '../types.js';
import { PeerMessageError } from './errors.js';

/** Same shape as container and object ids: it ends up in a gossip topic name. */
const NETWORK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Printable ASCII without spaces: ids travel in logs, nftables comments and topic names. */
const TOKEN = /^[\x21-\x7e]{1,256}$/;
const OWNER = /^(task|node):[\x21-\x7e]{1,250}$/;
const DNS_NAME = /^[\x21-\x7e]{1,255}$/;
const OCTET = /^(0|[1-9][0-9]{0,2})$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

export const MAX_ALIASES = 64;
export const MAX_PORTS = 512;

export function isNetworkId(value: unknown): value is string {
  return typeof value === 'string' && NETWORK_ID.test(value);
}

export function isIpv4(value: string): boolean {
  const parts = value.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p) && Number(p) <= 255);
}

/** A value as it may appear in an error message: quoted, and short. */
export function show(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function expectObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new PeerMessageError(path, `expected an object, got ${kindOf(value)}`);
  }
  return value as Record<string, unknown>;
}

export function expectArray(value: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new PeerMessageError(path, `expected an array, got ${kindOf(value)}`);
  if (value.length > max) throw new PeerMessageError(path, `has ${value.length} entries; at most ${max} are allowed`);
  return value;
}

export function expectString(value: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string') throw new PeerMessageError(path, `expected a string, got ${kindOf(value)}`);
  if (!pattern.test(value)) throw new PeerMessageError(path, `${show(value)} is not ${what}`);
  return value;
}

export function expectOwner(value: unknown, path: string): string {
  return expectString(value, path, OWNER, 'an owner (task:<id> or node:<id>)');
}

export function expectNodeId(value: unknown, path: string): string {
  return expectString(value, path, TOKEN, 'a node id');
}

function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new PeerMessageError(path, `expected a boolean, got ${kindOf(value)}`);
  return value;
}

function expectIpv4(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new PeerMessageError(path, `expected a string, got ${kindOf(value)}`);
  if (!isIpv4(value)) throw new PeerMessageError(path, `${show(value)} is not an IPv4 address`);
  return value;
}

/** Versions stay below MAX_SAFE_INTEGER so the clock can always take one more step. */
export function expectVersion(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value >= Number.MAX_SAFE_INTEGER) {
    throw new PeerMessageError(path, `${show(value)} is not a non-negative safe integer`);
  }
  return value;
}

function expectPort(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new PeerMessageError(path, `${show(value)} is not a port number (1..65535)`);
  }
  return value;
}

function expectOneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new PeerMessageError(path, `${show(value)} is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function checkPort(value: unknown, path: string): PublishedPort {
  const o = expectObject(value, path);
  return {
    protocol: expectOneOf(o.protocol, `${path}.protocol`, ['tcp', 'udp'] as const),
    publishedPort: expectPort(o.publishedPort, `${path}.publishedPort`),
    targetPort: expectPort(o.targetPort, `${path}.targetPort`),
    mode: expectOneOf(o.mode, `${path}.mode`, ['ingress', 'host'] as const),
  };
}

function checkService(value: unknown, path: string): EndpointService {
  const o = expectObject(value, path);
  const service: EndpointService = {
    id: expectString(o.id, `${path}.id`, TOKEN, 'a service id'),
    name: expectString(o.name, `${path}.name`, DNS_NAME, 'a service name'),
    aliases: expectArray(o.aliases, `${path}.aliases`, MAX_ALIASES).map((a, i) => expectString(a, `${path}.aliases[${i}]`, DNS_NAME, 'a name')),
    mode: expectOneOf(o.mode, `${path}.mode`, ['vip', 'dnsrr'] as const),
    ports: expectArray(o.ports, `${path}.ports`, MAX_PORTS).map((p, i) => checkPort(p, `${path}.ports[${i}]`)),
  };
  if (o.vip !== undefined && o.vip !== null) service.vip = expectIpv4(o.vip, `${path}.vip`);
  // Canary weights and blue/green previews travel with the record.
  if (o.weight !== undefined && o.weight !== null) service.weight = expectVersion(o.weight, `${path}.weight`);
  if (o.preview !== undefined && o.preview !== null) service.preview = expectBoolean(o.preview, `${path}.preview`);
  return service;
}

/**
 * Checks every field of a record from an untrusted source and returns a fresh copy holding only
 * the known fields (unknown ones are dropped, so newer senders stay readable). Throws
 * PeerMessageError naming the first bad field under `path`.
 */
export function checkRecord(value: unknown, path: string): EndpointRecord {
  const o = expectObject(value, path);
  const rec: EndpointRecord = {
    networkId: expectString(o.networkId, `${path}.networkId`, NETWORK_ID, 'a network id'),
    owner: expectOwner(o.owner, `${path}.owner`),
    ip: expectIpv4(o.ip, `${path}.ip`),
    mac: expectString(o.mac, `${path}.mac`, MAC, 'a MAC address'),
    vtep: expectIpv4(o.vtep, `${path}.vtep`),
    nodeId: expectNodeId(o.nodeId, `${path}.nodeId`),
    ready: expectBoolean(o.ready, `${path}.ready`),
    version: expectVersion(o.version, `${path}.version`),
    origin: expectNodeId(o.origin, `${path}.origin`),
    deleted: expectBoolean(o.deleted, `${path}.deleted`),
  };
  if (o.service !== undefined && o.service !== null) rec.service = checkService(o.service, `${path}.service`);
  return rec;
}

/** JSON with object keys sorted and undefined fields left out: equal records, equal text. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** 32-bit FNV-1a of the canonical form: tells two copies with the same (version, origin) apart. */
export function fingerprint(rec: EndpointRecord): number {
  const text = canonical(rec);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares two writes' stamps: (version, origin) lexicographically. */
export function compareStamps(av: number, ao: string, bv: number, bo: string): number {
  return av !== bv ? (av < bv ? -1 : 1) : compareStrings(ao, bo);
}

/**
 * The last-writer-wins order over writes of one key: (version, origin), then the canonical form.
 * The last step only decides between two different writes with one stamp, which only a writer
 * that restarted with a fresh clock produces; without it such tables would never agree.
 */
export function compareWrites(a: EndpointRecord, b: EndpointRecord): number {
  const byStamp = compareStamps(a.version, a.origin, b.version, b.origin);
  return byStamp !== 0 ? byStamp : compareStrings(canonical(a), canonical(b));
}

/** The record's payload: everything but the write's stamp and the tombstone flag. */
export function samePayload(a: Omit<EndpointRecord, 'version' | 'origin' | 'deleted'>, b: Omit<EndpointRecord, 'version' | 'origin' | 'deleted'>): boolean {
  const strip = ({ networkId, owner, ip, mac, vtep, nodeId, service, ready }: Omit<EndpointRecord, 'version' | 'origin' | 'deleted'>) => ({
    networkId,
    owner,
    ip,
    mac,
    vtep,
    nodeId,
    service,
    ready,
  });
  return canonical(strip(a)) === canonical(strip(b));
}

/** A deep-frozen copy, so what the table hands out cannot change what it holds. */
export function frozenCopy(rec: EndpointRecord): EndpointRecord {
  const copy: EndpointRecord = { ...rec };
  if (rec.service !== undefined) {
    const s = rec.service;
    copy.service = Object.freeze({
      ...s,
      aliases: Object.freeze([...s.aliases]) as string[],
      ports: Object.freeze(s.ports.map((p) => Object.freeze({ ...p }))) as PublishedPort[],
    });
  } else {
    delete copy.service;
  }
  return Object.freeze(copy);
}
