import { SwarmError } from '../../errors.js';
import type { NetworkObject, PortConfig, ServiceEndpoint, ServiceObject, ServiceSpec } from '../../store/index.js';
import type { AddressPlanner } from './addresses.js';
import { findIngress } from './networks.js';

// A service's endpoint, allocated when the service is created or updated: its published ports
// (ingress ports without a number get one from 30000-32767, as Docker's) and one VIP per network
// it joins, plus one on the ingress network when it publishes on the routing mesh.

export const INGRESS_PORT_MIN = 30000;
export const INGRESS_PORT_MAX = 32767;

export const NO_INGRESS_WARNING = 'no ingress network: the published ports are not reachable through the routing mesh';

/** A network by ID, name or unique ID prefix. */
export function resolveNetwork(networks: readonly NetworkObject[], ref: string): NetworkObject | undefined {
  const exact = networks.find((n) => n.ID === ref) ?? networks.find((n) => n.Spec.Name === ref);
  if (exact) return exact;
  const prefixed = ref.length >= 3 ? networks.filter((n) => n.ID.startsWith(ref)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** The port published on the routing mesh: ingress mode (the default) with a number. */
export function isIngressPort(p: PortConfig): boolean {
  return (p.PublishMode ?? 'ingress') === 'ingress' && (p.PublishedPort ?? 0) > 0;
}

/** Whether the service's allocated endpoint publishes on the routing mesh. */
export function publishesIngress(endpoint: ServiceEndpoint | undefined): boolean {
  return (endpoint?.Ports ?? []).some(isIngressPort);
}

const portKey = (p: PortConfig): string => `${p.PublishedPort}/${p.Protocol ?? 'tcp'}`;

/**
 * The ports as allocated: Protocol and PublishMode filled in, and every ingress port given a
 * PublishedPort. A number another service publishes on the mesh is a CONFLICT naming it. A port
 * without one keeps what the service had for it (same target and protocol), else the lowest free.
 */
export function allocatePorts(requested: readonly PortConfig[], previous: readonly PortConfig[] | undefined, others: readonly ServiceObject[]): PortConfig[] {
  const taken = new Map<string, string>();
  for (const s of others) for (const p of s.Endpoint?.Ports ?? []) if (isIngressPort(p)) taken.set(portKey(p), s.Spec.Name);
  const out = requested.map((p): PortConfig => {
    const q: PortConfig = { ...(p.Name ? { Name: p.Name } : {}), Protocol: p.Protocol ?? 'tcp', TargetPort: p.TargetPort, PublishMode: p.PublishMode ?? 'ingress' };
    if (p.PublishedPort) q.PublishedPort = p.PublishedPort;
    return q;
  });
  const mine = new Set<string>();
  out.forEach((p, i) => {
    if (!isIngressPort(p)) return;
    const key = portKey(p);
    const user = taken.get(key);
    if (user !== undefined) {
      throw new SwarmError('CONFLICT', `EndpointSpec.Ports[${i}].PublishedPort: port ${key} is already in use by service ${user} as an ingress port`, 'publish another port, or remove that service first');
    }
    mine.add(key);
  });
  const reusable = (previous ?? []).filter(isIngressPort);
  for (const p of out) {
    if (p.PublishMode !== 'ingress' || p.PublishedPort) continue;
    const free = (port: number): boolean => {
      const key = `${port}/${p.Protocol}`;
      return !mine.has(key) && !taken.has(key);
    };
    const kept = reusable.findIndex((r) => r.TargetPort === p.TargetPort && (r.Protocol ?? 'tcp') === p.Protocol && r.PublishedPort !== undefined && free(r.PublishedPort));
    let port: number | undefined;
    if (kept >= 0) {
      port = reusable[kept]!.PublishedPort;
      reusable.splice(kept, 1);
    } else {
      for (let n = INGRESS_PORT_MIN; n <= INGRESS_PORT_MAX && port === undefined; n++) if (free(n)) port = n;
    }
    if (port === undefined) throw new SwarmError('UNAVAILABLE', `EndpointSpec.Ports: no free port left in ${INGRESS_PORT_MIN}-${INGRESS_PORT_MAX} for ${p.Protocol}`, 'give the port a PublishedPort');
    p.PublishedPort = port;
    mine.add(`${port}/${p.Protocol}`);
  }
  return out;
}

export interface EndpointRequest {
  serviceId: string;
  /** The spec as it will be stored, except for its networks (they are resolved here). */
  spec: ServiceSpec;
  /** The service as stored, on update: its auto-assigned ports and its VIPs are kept. */
  current?: ServiceObject;
  /** Every service (the current one is told apart by ID). */
  services: readonly ServiceObject[];
  planner: AddressPlanner;
}

export interface EndpointAllocation {
  /** The spec with TaskTemplate.Networks targets as network IDs. */
  spec: ServiceSpec;
  endpoint: ServiceEndpoint;
  warnings: string[];
}

/**
 * The endpoint of a service being created or updated. Throws INVALID_ARGUMENT for a network that
 * does not exist (or is the ingress network, which services join by publishing a port), CONFLICT
 * for a published port in use, UNAVAILABLE for a full network or port range. A VIP on a network
 * the service keeps is kept (its owner holds it); those on networks it leaves are freed.
 */
export function allocateEndpoint(req: EndpointRequest): EndpointAllocation {
  const { spec, planner } = req;
  const networks = planner.networks();
  const targets: NetworkObject[] = [];
  const attached = (spec.TaskTemplate.Networks ?? []).map((ref, i) => {
    const field = `TaskTemplate.Networks[${i}].Target`;
    const n = resolveNetwork(networks, ref.Target);
    if (!n) throw new SwarmError('INVALID_ARGUMENT', `${field}: network ${ref.Target} not found`, "create it with 'swarm network create', or check its name");
    if (n.Spec.Ingress) throw new SwarmError('INVALID_ARGUMENT', `${field}: ${n.Spec.Name} is the ingress network: a service joins it by publishing a port, not explicitly`);
    if (targets.includes(n)) throw new SwarmError('INVALID_ARGUMENT', `${field}: network ${n.Spec.Name} is listed more than once`);
    targets.push(n);
    return { ...ref, Target: n.ID };
  });
  const others = req.services.filter((s) => s.ID !== req.serviceId);
  const ports = allocatePorts(spec.EndpointSpec?.Ports ?? [], req.current?.Endpoint?.Ports, others);
  const warnings: string[] = [];
  const endpoint: ServiceEndpoint = { Spec: structuredClone(spec.EndpointSpec ?? {}) };
  if (ports.length > 0) endpoint.Ports = ports;
  const onNetworks = [...targets];
  if (ports.some(isIngressPort)) {
    const ingress = findIngress(networks);
    if (ingress) onNetworks.unshift(ingress);
    else warnings.push(NO_INGRESS_WARNING);
  }
  if ((spec.EndpointSpec?.Mode ?? 'vip') === 'vip' && onNetworks.length > 0) {
    endpoint.VirtualIPs = onNetworks.map((n) => ({ NetworkID: n.ID, Addr: planner.allocate(n.ID, `vip:${req.serviceId}`) }));
  }
  const out: ServiceSpec = { ...spec, TaskTemplate: { ...spec.TaskTemplate } };
  if (spec.TaskTemplate.Networks) out.TaskTemplate.Networks = attached;
  return { spec: out, endpoint, warnings };
}
