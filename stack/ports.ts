import { isIP } from 'node:net';
import type { Protocol } from './types.js';

// The short syntax of ports, as docker reads it: [[HOST_IP:][PUBLISHED]:]TARGET[/PROTOCOL], with
// port ranges ("9000-9002:9000-9002") expanded into one entry per port and IPv6 host addresses in
// brackets ("[::1]:8080:80").

export class PortSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortSyntaxError';
  }
}

export interface ShortPort {
  target: number;
  published?: number;
  protocol: Protocol;
  host_ip?: string;
}

export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

export function parsePortNumber(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new PortSyntaxError(`invalid ${what} port ${JSON.stringify(s)}: must be a number from 1 to 65535`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new PortSyntaxError(`invalid ${what} port ${s}: must be from 1 to 65535`);
  return n;
}

function parseRange(s: string, what: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m) {
    const n = parsePortNumber(s, what);
    return [n, n];
  }
  const start = parsePortNumber(m[1] ?? '', what);
  const end = parsePortNumber(m[2] ?? '', what);
  if (end < start) throw new PortSyntaxError(`invalid ${what} port range ${s}: the end is below the start`);
  return [start, end];
}

export function parsePortShort(spec: string | number): ShortPort[] {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec)) throw new PortSyntaxError(`invalid port ${spec}: must be a whole number`);
    return [{ target: parsePortNumber(String(spec), 'target'), protocol: 'tcp' }];
  }
  let rest = spec.trim();
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (!(PROTOCOLS as readonly string[]).includes(p)) throw new PortSyntaxError(`invalid protocol ${JSON.stringify(rest.slice(slash + 1))}: use tcp, udp or sctp`);
    protocol = p as Protocol;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) throw new PortSyntaxError(`invalid port ${JSON.stringify(spec)}: an IPv6 host address in brackets is followed by ":PUBLISHED:TARGET"`);
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
    if (rest.split(':').length !== 2) throw new PortSyntaxError(`invalid port ${JSON.stringify(spec)}: expected [HOST_IP]:PUBLISHED:TARGET`);
  }
  const parts = rest.split(':');
  if (parts.length > 3) throw new PortSyntaxError(`invalid port ${JSON.stringify(spec)}: too many colons (an IPv6 host address goes in brackets: [::1]:8080:80)`);
  if (parts.length === 3) hostIp = parts.shift();
  if (hostIp !== undefined && isIP(hostIp) === 0) throw new PortSyntaxError(`invalid host IP ${JSON.stringify(hostIp)} in port ${JSON.stringify(spec)}`);
  const targetText = parts.pop() ?? '';
  const publishedText = parts.pop() ?? '';
  const [t0, t1] = parseRange(targetText, 'target');
  const published = publishedText === '' ? undefined : parseRange(publishedText, 'published');
  if (published && published[1] - published[0] !== t1 - t0) {
    throw new PortSyntaxError(
      t0 === t1
        ? `invalid port ${JSON.stringify(spec)}: a swarm publishes a fixed port, not one picked from a range`
        : `invalid port ${JSON.stringify(spec)}: the published and target ranges differ in length`,
    );
  }
  const out: ShortPort[] = [];
  for (let i = 0; i <= t1 - t0; i++) {
    const p: ShortPort = { target: t0 + i, protocol };
    if (published) p.published = published[0] + i;
    if (hostIp !== undefined) p.host_ip = hostIp;
    out.push(p);
  }
  return out;
}
