// What a host programs from the endpoint table: VXLAN peers, VIP balancing inside each task's
// namespace, and the routing mesh. Pure and deterministic: equal tables give equal plans, so the
// data path can skip reprogramming when nothing changed.
import { parseIp } from '../ipam/index.js';
import type { EndpointRecord, EndpointService } from '../types.js';

export interface RemotePeer {
  ip: string;
  mac: string;
  /** Underlay address of the host the endpoint lives on. */
  vtep: string;
}

export interface VipBalancing {
  vip: string;
  /** Ready task addresses taking a share, sorted; empty when none is (the data path rejects). */
  backends: string[];
  /** Parallel to `backends`, each ≥ 1; present only when some differs from 1. */
  weights?: number[];
}

export interface IngressBackend {
  ip: string;
  port: number;
  /** ≥ 1; present only when not 1. */
  weight?: number;
}

export interface IngressPort {
  protocol: 'tcp' | 'udp';
  /** The published port, on every host. */
  port: number;
  /** Ready tasks taking a share, sorted by address then port; empty when none is. */
  backends: IngressBackend[];
}

function byIp(a: string, b: string): number {
  return parseIp(a) - parseIp(b);
}

function newer(a: EndpointRecord, b: EndpointRecord): boolean {
  return a.version !== b.version ? a.version > b.version : a.origin !== b.origin ? a.origin > b.origin : a.owner > b.owner;
}

function isTask(r: EndpointRecord): boolean {
  return r.owner.startsWith('task:');
}

/**
 * A task's share of new connections through a VIP or the mesh: 0 for previews (outside both
 * until promoted). A weight that is not a non-negative safe integer counts as absent (1): one
 * malformed gossiped record must not make the data path refuse every VIP of a task.
 */
function shareOf(service: EndpointService): number {
  if (service.preview === true) return 0;
  const w = service.weight;
  return w !== undefined && Number.isSafeInteger(w) && w >= 0 ? w : 1;
}

/**
 * The endpoints on other hosts, one per address, sorted by address. Two live records claiming one
 * address (a stale one outliving a reassignment) resolve to the newer write, deciding over local
 * records too: an address now used here gets no remote entry.
 */
export function remotePeers(records: readonly EndpointRecord[], selfVtep: string): RemotePeer[] {
  const byAddress = new Map<string, EndpointRecord>();
  for (const r of records) {
    if (r.deleted) continue;
    const held = byAddress.get(r.ip);
    if (held === undefined || newer(r, held)) byAddress.set(r.ip, r);
  }
  return [...byAddress.values()]
    .filter((r) => r.vtep !== selfVtep)
    .map(({ ip, mac, vtep }) => ({ ip, mac, vtep }))
    .sort((a, b) => byIp(a.ip, b.ip));
}

/**
 * The VIPs a task reaches on its networks and their ready tasks. Each service's VIP and mode on a
 * network come from its newest record there (records written before a service update may lag);
 * its backends are its ready tasks there with a share (weight ≠ 0, not a preview), each weighted.
 * An address two ready records claim takes the newer one's weight. Sorted by VIP; a VIP two
 * services claim goes to the lower service id.
 */
export function taskBalancing(recordsByNetwork: ReadonlyMap<string, readonly EndpointRecord[]>, taskNetworkIds: readonly string[]): VipBalancing[] {
  const byVip = new Map<string, { serviceId: string; backends: Map<string, EndpointRecord> }>();
  for (const networkId of new Set(taskNetworkIds)) {
    const services = new Map<string, { newest: EndpointRecord; ready: Map<string, EndpointRecord> }>();
    for (const r of recordsByNetwork.get(networkId) ?? []) {
      if (r.deleted || r.service === undefined || !isTask(r) || r.networkId !== networkId) continue;
      let s = services.get(r.service.id);
      if (s === undefined) services.set(r.service.id, (s = { newest: r, ready: new Map() }));
      else if (newer(r, s.newest)) s.newest = r;
      const held = s.ready.get(r.ip);
      if (r.ready && (held === undefined || newer(r, held))) s.ready.set(r.ip, r);
    }
    for (const [serviceId, { newest, ready }] of services) {
      const vip = newest.service?.vip;
      if (newest.service?.mode !== 'vip' || vip === undefined) continue;
      const held = byVip.get(vip);
      if (held !== undefined && held.serviceId <= serviceId) continue;
      byVip.set(vip, { serviceId, backends: ready });
    }
  }
  return [...byVip.entries()]
    .map(([vip, { backends }]) => {
      const shares = [...backends.values()]
        .map((r) => ({ ip: r.ip, weight: r.service === undefined ? 0 : shareOf(r.service) }))
        .filter((b) => b.weight > 0)
        .sort((a, b) => byIp(a.ip, b.ip));
      const out: VipBalancing = { vip, backends: shares.map((b) => b.ip) };
      if (shares.some((b) => b.weight !== 1)) out.weights = shares.map((b) => b.weight);
      return out;
    })
    .sort((a, b) => byIp(a.vip, b.vip));
}

/**
 * The routing mesh from the ingress network's records: each published port (mode ingress) of a
 * service with live tasks there, to its ready tasks' target ports, weighted; tasks without a share
 * (weight 0, previews) are left out. A port stays claimed while its service has live tasks, none
 * taking a share (so the data path rejects rather than passing the port to whatever listens on the
 * host). Each task record brings its own ports, so old and new tasks both count during a rolling
 * update; an address and port two ready records claim take the newer one's weight. Two services
 * claiming one port: the lower service id takes it, the same on every host (the managers never
 * allocate that; it is only a tie rule).
 */
export function ingressPorts(ingressRecords: readonly EndpointRecord[]): IngressPort[] {
  type Claim = { protocol: 'tcp' | 'udp'; port: number; serviceId: string; backends: Map<string, { record: EndpointRecord; backend: IngressBackend }> };
  const claims = new Map<string, Claim>();
  for (const r of ingressRecords) {
    if (r.deleted || r.service === undefined || !isTask(r)) continue;
    for (const p of r.service.ports) {
      if (p.mode !== 'ingress') continue;
      const key = `${p.protocol}/${p.publishedPort}`;
      let claim = claims.get(key);
      if (claim === undefined || r.service.id < claim.serviceId) {
        claim = { protocol: p.protocol, port: p.publishedPort, serviceId: r.service.id, backends: new Map() };
        claims.set(key, claim);
      } else if (r.service.id !== claim.serviceId) continue;
      if (!r.ready) continue;
      const target = `${r.ip}:${p.targetPort}`;
      const held = claim.backends.get(target);
      if (held !== undefined && !newer(r, held.record)) continue;
      const weight = shareOf(r.service);
      claim.backends.set(target, { record: r, backend: weight === 1 ? { ip: r.ip, port: p.targetPort } : { ip: r.ip, port: p.targetPort, weight } });
    }
  }
  return [...claims.values()]
    .map(({ protocol, port, backends }) => ({
      protocol,
      port,
      backends: [...backends.values()]
        .map((b) => b.backend)
        .filter((b) => b.weight !== 0)
        .sort((a, b) => byIp(a.ip, b.ip) || a.port - b.port),
    }))
    .sort((a, b) => (a.protocol !== b.protocol ? (a.protocol < b.protocol ? -1 : 1) : a.port - b.port));
}
