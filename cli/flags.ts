import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { Argument, Option } from 'commander';
import { UsageError } from './errors.js';
import { parseDuration, ValueError } from './format.js';

// Flag values are checked as they are parsed, before any API call, and refused with a message
// naming the flag and the reason. Parsers throw ValueError(reason); the wrappers add the flag.

function longName(flags: string): string {
  return /--[\w-]+/.exec(flags)?.[0] ?? flags;
}

function wrap<T>(what: string, parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      if (err instanceof ValueError) throw new UsageError(`invalid value ${JSON.stringify(value)} for ${what}: ${err.message}`);
      throw err;
    }
  };
}

/** An option whose value is checked by `parse`. */
export function flag<T>(flags: string, description: string, parse: (value: string) => T): Option {
  const p = wrap(longName(flags), parse);
  return new Option(flags, description).argParser((value: string) => p(value));
}

/** A repeatable option collecting parsed values into an array (undefined when not given). */
export function repeatable<T>(flags: string, description: string, parse: (value: string) => T): Option {
  const p = wrap(longName(flags), parse);
  return new Option(flags, description).argParser((value: string, previous: T[] | undefined) => [...(previous ?? []), p(value)]);
}

/** A positional argument checked by `parse`; `<name...>` collects an array of parsed values. */
export function argument<T>(name: string, description: string, parse: (value: string) => T): Argument {
  const p = wrap(`argument ${name.replace(/[<>[\].]/g, '')}`, parse);
  const arg = new Argument(name, description);
  // Commander hands a variadic parser the values parsed so far (undefined for the first).
  return arg.variadic
    ? arg.argParser((value: string, previous: T[] | undefined) => [...(previous ?? []), p(value)])
    : arg.argParser((value: string) => p(value));
}

export function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if ((values as readonly string[]).includes(value)) return value as T;
    throw new ValueError(`must be one of ${values.join(', ')}`);
  };
}

export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value.trim())) throw new ValueError('must be a whole number');
    const n = Number(value);
    if (n < min || n > max) throw new ValueError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** A positive duration in Go syntax, returned in nanoseconds. */
export function positiveDuration(value: string): number {
  const ns = parseDuration(value);
  if (ns <= 0) throw new ValueError('must be longer than 0');
  return ns;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** HOST[:PORT] with HOST an IPv4 address, an IPv6 address ([…] with a port), a host or interface name. */
export function hostPort(value: string): string {
  const v = value.trim();
  if (v === '') throw new ValueError('expected HOST or HOST:PORT');
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(v);
  if (bracketed) {
    host = bracketed[1] ?? '';
    port = bracketed[2];
    if (!isIPv6(host)) throw new ValueError('only an IPv6 address goes in brackets');
  } else if (isIPv6(v)) {
    return v;
  } else {
    const i = v.lastIndexOf(':');
    host = i < 0 ? v : v.slice(0, i);
    port = i < 0 ? undefined : v.slice(i + 1);
    if (/^[\d.]+$/.test(host) && !isIPv4(host)) throw new ValueError(`${JSON.stringify(host)} is not an IPv4 address`);
    if (!isIPv4(host) && !HOSTNAME_RE.test(host)) throw new ValueError(`${JSON.stringify(host)} is not an IP address, host or interface name`);
  }
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw new ValueError(`the port must be a number between 1 and 65535, got ${JSON.stringify(port)}`);
    }
  }
  return v;
}

/** An IPv4 CIDR with no host bits set ("10.0.0.0/8"), as the overlay IPAM takes pools. */
export function ipv4Cidr(value: string): string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(value.trim());
  if (!m?.[1] || m[2] === undefined) throw new ValueError('expected an IPv4 CIDR such as 10.0.0.0/8');
  const [addr, bits] = [m[1], Number(m[2])];
  if (!isIPv4(addr)) throw new ValueError(`${JSON.stringify(addr)} is not an IPv4 address`);
  if (bits > 32) throw new ValueError('the prefix length must be between 0 and 32');
  const n = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - bits);
  const base = n - (n % size);
  if (base !== n) {
    const fixed = [24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.');
    throw new ValueError(`host bits are set: did you mean ${fixed}/${bits}?`);
  }
  return `${addr}/${bits}`;
}

/** A dotted-quad IPv4 address. */
export function ipv4Address(value: string): string {
  const v = value.trim();
  if (!isIPv4(v)) throw new ValueError('expected an IPv4 address such as 10.0.9.1');
  return v;
}

export function cidrPrefixLength(cidr: string): number {
  return Number(cidr.split('/')[1]);
}

/** key=value, or a bare key meaning an empty value (docker's --label-add). */
export function label(value: string): [string, string] {
  const i = value.indexOf('=');
  const key = i < 0 ? value : value.slice(0, i);
  if (key.trim() === '') throw new ValueError('the label key is empty: expected key=value');
  if (/\s/.test(key)) throw new ValueError('the label key must not contain spaces');
  return [key, i < 0 ? '' : value.slice(i + 1)];
}

export function labelKey(value: string): string {
  if (value.trim() === '' || /[\s=]/.test(value)) throw new ValueError('expected a label key (no spaces, no "=")');
  return value;
}

/** key=value for --filter. */
export function filter(value: string): [string, string] {
  const i = value.indexOf('=');
  if (i <= 0) throw new ValueError('expected key=value, e.g. role=manager');
  return [value.slice(0, i).trim(), value.slice(i + 1).trim()];
}

// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;

/** A unix socket path, bare or as unix:///path; made absolute. */
export function socketPath(value: string): string {
  const raw = value.startsWith('unix://') ? value.slice('unix://'.length) : value;
  if (raw === '') throw new ValueError('expected a socket path, e.g. /run/swarm/swarm.sock');
  const abs = resolve(raw);
  if (Buffer.byteLength(abs) > MAX_SOCKET_PATH) throw new ValueError(`the path is ${Buffer.byteLength(abs)} bytes long; the limit for a unix socket is ${MAX_SOCKET_PATH}`);
  return abs;
}

export function nonEmptyPath(value: string): string {
  if (value.trim() === '') throw new ValueError('expected a directory path');
  return resolve(value);
}

export function hostname(value: string): string {
  if (!HOSTNAME_RE.test(value)) throw new ValueError('expected a host name (letters, digits, "-" and ".")');
  return value;
}

/** A prefix for names of network namespaces (they live in /var/run/netns). */
export function netnsPrefix(value: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,15}$/.test(value)) throw new ValueError('expected 1 to 16 letters, digits, "_" or "-", starting with a letter or digit');
  return value;
}
