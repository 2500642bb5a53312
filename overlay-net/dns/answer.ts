// What the embedded DNS answers, from the records a container may see (those of its networks).
// Pure: the shuffle's randomness is passed in.
import { parseIp } from '../ipam/index.js';
import type { EndpointRecord } from '../types.js';

export interface DnsQuestion {
  name: string;
  /** 'A', 'AAAA', or any other type (forwarded). */
  type: string;
}

export type DnsAnswer = { kind: 'answer'; ips: string[] } | { kind: 'forward' };

const FORWARD: DnsAnswer = { kind: 'forward' };
const TASKS_PREFIX = 'tasks.';
const PREVIEW_PREFIX = 'preview.';

/** Lower case, without the trailing dot of a fully qualified name. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Fisher-Yates: each client gets the addresses in a fresh order, which spreads dnsrr load. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function isTask(r: EndpointRecord): boolean {
  return r.owner.startsWith('task:');
}

/** Live task records of the services that `name` names (by full name or alias). */
function named(records: readonly EndpointRecord[], name: string): EndpointRecord[] {
  return records.filter(
    (r) => !r.deleted && isTask(r) && r.service !== undefined && (normalizeName(r.service.name) === name || r.service.aliases.some((a) => normalizeName(a) === name)),
  );
}

function readyIps(records: readonly EndpointRecord[]): string[] {
  return [...new Set(records.filter((r) => r.ready).map((r) => r.ip))];
}

/** A blue/green preview: named only by `preview.<name>` until promoted. */
function isPreview(r: EndpointRecord): boolean {
  return r.service?.preview === true;
}

/**
 * `<service>` or one of its aliases: its VIP on each network it has one (vip mode), or its ready
 * tasks shuffled (dnsrr; not previews, nor tasks at weight 0, which take no new connections);
 * `tasks.<service or alias>`: its ready tasks but previews, shuffled; `preview.<service or
 * alias>`: its ready previews (blue/green), shuffled. A service's mode and VIP on a network come
 * from its newest record there. A name that two services share (an alias on two networks) gets
 * both: the VIPs, sorted, then the dnsrr tasks shuffled. A known name with no address to give (no
 * preview ready, say), or asked for AAAA (the overlay is IPv4), gets an empty answer (NOERROR):
 * forwarding it would leak a swarm name upstream and cache an NXDOMAIN. Any other name or type is
 * forwarded. A service literally named `tasks.x` or `preview.x` is found before the prefixes.
 */
export function answer(question: DnsQuestion, records: readonly EndpointRecord[], random: () => number): DnsAnswer {
  if (question.type !== 'A' && question.type !== 'AAAA') return FORWARD;
  const name = normalizeName(question.name);
  if (name === '') return FORWARD;

  const direct = named(records, name);
  if (direct.length > 0) {
    if (question.type === 'AAAA') return { kind: 'answer', ips: [] };
    return { kind: 'answer', ips: serviceAddresses(direct, random) };
  }
  const tasksOf = (prefix: string, wanted: (r: EndpointRecord) => boolean): DnsAnswer | undefined => {
    if (!name.startsWith(prefix)) return undefined;
    const tasks = named(records, name.slice(prefix.length));
    if (tasks.length === 0) return undefined;
    return { kind: 'answer', ips: question.type === 'AAAA' ? [] : shuffle(readyIps(tasks.filter(wanted)), random) };
  };
  return tasksOf(TASKS_PREFIX, (r) => !isPreview(r)) ?? tasksOf(PREVIEW_PREFIX, isPreview) ?? FORWARD;
}

function serviceAddresses(records: readonly EndpointRecord[], random: () => number): string[] {
  // The newest record of each (service, network) decides its mode and VIP there.
  const newest = new Map<string, EndpointRecord>();
  for (const r of records) {
    const key = `${r.service?.id}\n${r.networkId}`;
    const held = newest.get(key);
    if (held === undefined || r.version > held.version || (r.version === held.version && r.origin > held.origin)) newest.set(key, r);
  }
  const vips = new Set<string>();
  const dnsrr = new Set<string>();
  for (const r of newest.values()) {
    const vip = r.service?.vip;
    if (r.service?.mode === 'vip') {
      if (vip !== undefined) vips.add(vip);
    } else {
      dnsrr.add(`${r.service?.id}\n${r.networkId}`);
    }
  }
  const tasks = records.filter((r) => dnsrr.has(`${r.service?.id}\n${r.networkId}`) && !isPreview(r) && r.service?.weight !== 0);
  return [...[...vips].sort((a, b) => parseIp(a) - parseIp(b)), ...shuffle(readyIps(tasks), random)];
}
