// IPv4 arithmetic on plain numbers (0 .. 2^32-1, never negative): parse, format, contain, overlap.
// Pure: no I/O, no clock. IPv6 is out of scope and rejected with a clear error.
import { IpamError } from './errors.js';

export interface Cidr {
  /** Network address as an unsigned 32-bit integer; host bits are zero. */
  base: number;
  /** Prefix length, 0..32. */
  prefix: number;
}

const TWO_32 = 2 ** 32;
const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses a dotted-quad IPv4 address into an unsigned integer. */
export function parseIp(ip: string, field = 'ip'): number {
  if (typeof ip === 'string' && ip.includes(':')) {
    throw new IpamError(field, 'ipv6-unsupported', `"${ip}" is IPv6; only IPv4 is supported`);
  }
  const result = tryParseIp(ip);
  if (typeof result === 'string') throw new IpamError(field, 'invalid-ip', result);
  return result;
}

/** The address as an integer, or a description of what is wrong with it. */
function tryParseIp(ip: unknown): number | string {
  if (typeof ip !== 'string') return `expected an IPv4 address string, got ${typeof ip}`;
  const parts = ip.split('.');
  if (parts.length !== 4) return `"${ip}" is not a dotted-quad IPv4 address`;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return `"${ip}" has an invalid octet "${part}"`;
    const n = Number(part);
    if (n > 255) return `"${ip}" has octet ${n} > 255`;
    value = value * 256 + n;
  }
  return value;
}

export function formatIp(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) throw new RangeError(`not an IPv4 integer: ${value}`);
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Number of addresses in a block of the given prefix length. */
export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Parses `a.b.c.d/n`. Host bits must be zero (`10.0.0.1/24` is rejected, naming `10.0.0.0/24`). */
export function parseCidr(c: string, field = 'cidr'): Cidr {
  if (typeof c !== 'string') throw new IpamError(field, 'invalid-cidr', `expected a CIDR string, got ${typeof c}`);
  if (c.includes(':')) throw new IpamError(field, 'ipv6-unsupported', `"${c}" is IPv6; only IPv4 is supported`);
  const slash = c.indexOf('/');
  if (slash < 0 || slash !== c.lastIndexOf('/')) {
    throw new IpamError(field, 'invalid-cidr', `"${c}" is not a CIDR (expected a.b.c.d/n)`);
  }
  const prefixText = c.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(prefixText) || Number(prefixText) > 32) {
    throw new IpamError(field, 'invalid-cidr', `"${c}" has an invalid prefix length "${prefixText}" (0..32)`);
  }
  const prefix = Number(prefixText);
  const base = tryParseIp(c.slice(0, slash));
  if (typeof base === 'string') throw new IpamError(field, 'invalid-cidr', `"${c}" has an invalid address: ${base}`);
  const size = blockSize(prefix);
  if (base % size !== 0) {
    const fixed = formatCidr({ base: base - (base % size), prefix });
    throw new IpamError(field, 'invalid-cidr', `"${c}" has host bits set`, `did you mean ${fixed}?`);
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** Last address of the block (the broadcast address for prefixes < 31). */
export function lastAddress(c: Cidr): number {
  return c.base + blockSize(c.prefix) - 1;
}

/** True if `inner` (a CIDR or an address) lies entirely within `outer`. */
export function contains(outer: Cidr, inner: Cidr | number): boolean {
  if (typeof inner === 'number') return inner >= outer.base && inner <= lastAddress(outer);
  return inner.prefix >= outer.prefix && inner.base >= outer.base && lastAddress(inner) <= lastAddress(outer);
}

/** True if the two blocks share any address (CIDR blocks either nest or are disjoint). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/** Docker's scheme: 02:42 followed by the four IPv4 bytes, lower-case hex. */
export function macFromIp(ip: string): string {
  const v = parseIp(ip);
  const bytes = [0x02, 0x42, v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
