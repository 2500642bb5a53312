// Builders for endpoint records in tests (peers, plan, dns).
import { Rng } from '../../raft/index.js';
import type { EndpointRecord, EndpointService } from '../types.js';
import type { LocalEndpoint } from './table.js';

/** The project's seeded source (mulberry32), so runs replay exactly. */
export function prng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Fisher-Yates with the given source. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export function macOf(ip: string): string {
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** A local endpoint of a task: `task:<id>` on `net`, on host `node` whose VTEP is `vtep`. */
export function taskEndpoint(
  id: string,
  ip: string,
  opts: { net?: string; node?: string; vtep?: string; ready?: boolean; service?: Partial<EndpointService> } = {},
): LocalEndpoint {
  const service: EndpointService = { id: 'svc1', name: 'web', aliases: [], mode: 'vip', ports: [], ...opts.service };
  return {
    networkId: opts.net ?? 'net1',
    owner: `task:${id}`,
    ip,
    mac: macOf(ip),
    vtep: opts.vtep ?? '192.168.1.1',
    nodeId: opts.node ?? 'n1',
    service,
    ready: opts.ready ?? true,
  };
}

/** A stored record: a local endpoint with a write stamp. */
export function stamped(e: LocalEndpoint, version: number, origin = e.nodeId, deleted = false): EndpointRecord {
  return { ...e, version, origin, deleted };
}
