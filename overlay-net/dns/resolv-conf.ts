// The host's resolvers, for names the embedded DNS does not know.
import net from 'node:net';

/**
 * The `nameserver` addresses of a resolv.conf, in order, without duplicates and without `exclude`
 * (the embedded server's own addresses: forwarding to itself would loop). Loopback stub resolvers
 * (127.0.0.53) are kept: the server runs in the host's namespace, where they answer.
 */
export function upstreamsFromResolvConf(text: string, exclude: readonly string[]): string[] {
  const skip = new Set(exclude);
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [keyword, address] = line.split(/\s+/);
    if (keyword !== 'nameserver' || address === undefined || net.isIP(address) === 0) continue;
    if (skip.has(address) || out.includes(address)) continue;
    out.push(address);
  }
  return out;
}
