// What a host programs from the endpoint table: VXLAN peers, VIP balancing inside each task's
// namespace, and the routing mesh. Pure and deterministic: equal tables give equal plans, so the
// data path can skip reprogramming when nothing changed.
import { parseIp } from '../ipam/index.js';
import type { EndpointRecord } from '../types.js';

export interface RemotePeer {
  ip: string;
  mac: string;
  /** Underlay address of the host the endpoint lives on. */
  vtep: string;
}

export interface VipBalancing {
  vip: string;
  /** Ready task addresses, sorted; empty when none is ready (the data path rejects). */
  backends: string[];
}

export interface IngressPort {
  protocol: 'tcp' | 'udp';
  /** The published port, on every host. */
  port: number;
  /** Ready tasks, sorted by address then port; empty when none is ready. */
  backends: { ip: string; port: number }[];
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
 * its backends are all its ready tasks there. Sorted by VIP; a VIP two services claim goes to the
 * lower service id.
 */
export function taskBalancing(recordsByNetwork: ReadonlyMap<string, readonly EndpointRecord[]>, taskNetworkIds: readonly string[]): VipBalancing[] {
  const byVip = new Map<string, { serviceId: string; backends: Set<string> }>();
  for (const networkId of new Set(taskNetworkIds)) {
    const services = new Map<string, { newest: EndpointRecord; ready: string[] }>();
    for (const r of recordsByNetwork.get(networkId) ?? []) {
      if (r.deleted || r.service === undefined || !isTask(r) || r.networkId !== networkId) continue;
      const s = services.get(r.service.id);
      if (s === undefined) services.set(r.service.id, { newest: r, ready: r.ready ? [r.ip] : [] });
      else {
        if (newer(r, s.newest)) s.newest = r;
        if (r.ready) s.ready.push(r.ip);
      }
    }
    for (const [serviceId, { newest, ready }] of services) {
      const vip = newest.service?.vip;
      if (newest.service?.mode !== 'vip' || vip === undefined) continue;
      const held = byVip.get(vip);
      if (held !== undefined && held.serviceId <= serviceId) continue;
      byVip.set(vip, { serviceId, backends: new Set(ready) });
    }
  }
  return [...byVip.entries()]
    .map(([vip, { backends }]) => ({ vip, backends: [...backends].sort(byIp) }))
    .sort((a, b) => byIp(a.vip, b.vip));
}

/**
 * The routing mesh from the ingress network's records: each published port (mode ingress) of a
 * service with live tasks there, to its ready tasks' target ports. A port stays claimed while its
 * service has live tasks, none ready (so the data path rejects rather than passing the port to
 * whatever listens on the host). Each task record brings its own ports, so old and new tasks both
 * count during a rolling update. Two services claiming one port: the lower service id takes it,
 * the same on every host (the managers never allocate that; it is only a tie rule).
 */
export function ingressPorts(ingressRecords: readonly EndpointRecord[]): IngressPort[] {
  const claims = new Map<string, { protocol: 'tcp' | 'udp'; port: number; serviceId: string; backends: Map<string, { ip: string; port: number }> }>();
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
      if (r.ready) claim.backends.set(`${r.ip}:${p.targetPort}`, { ip: r.ip, port: p.targetPort });
    }
  }
  return [...claims.values()]
    .map(({ protocol, port, backends }) => ({
      protocol,
      port,
      backends: [...backends.values()].sort((a, b) => byIp(a.ip, b.ip) || a.port - b.port),
    }))
    .sort((a, b) => (a.protocol !== b.protocol ? (a.protocol < b.protocol ? -1 : 1) : a.port - b.port));
}
