import { isIPv4, isIPv6 } from 'node:net';
import { multiaddr } from '@multiformats/multiaddr';
import { P2PError, errorMessage } from './errors.js';

const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * A user's HOST[:PORT] ('10.0.0.1:2377', '[fd00::1]:2377', 'manager1') as a TCP multiaddr. A
 * multiaddr ('/ip4/...') passes through once it parses.
 */
export function hostPortToMultiaddr(hostPort: string, defaultPort = 2377): string {
  const bad = (why: string): P2PError => new P2PError('BAD_MESSAGE', `invalid address ${JSON.stringify(hostPort)}: ${why}`);
  if (typeof hostPort !== 'string' || hostPort.trim() === '') throw bad('expected HOST or HOST:PORT');
  const input = hostPort.trim();
  if (input.startsWith('/')) {
    try {
      return multiaddr(input).toString();
    } catch (err) {
      throw bad(`not a multiaddr (${errorMessage(err)})`);
    }
  }
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(input);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (!isIPv6(host)) throw bad('only an IPv6 address goes in brackets');
  } else if (isIPv6(input)) {
    host = input;
  } else {
    const i = input.lastIndexOf(':');
    host = i < 0 ? input : input.slice(0, i);
    portText = i < 0 ? undefined : input.slice(i + 1);
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw bad('the port must be a number');
    port = Number(portText);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be between 1 and 65535');
  if (isIPv4(host)) return `/ip4/${host}/tcp/${port}`;
  if (isIPv6(host)) return `/ip6/${host}/tcp/${port}`;
  if (/^[\d.]+$/.test(host)) throw bad('not an IPv4 address');
  if (!HOSTNAME_RE.test(host)) throw bad('not an IP address or host name');
  return `/dns/${host.replace(/\.$/, '')}/tcp/${port}`;
}
