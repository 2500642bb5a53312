import type { NetworkObject } from '../store/index.js';
import { filtersParam } from './http.js';
import { route, type Reply, type Route } from './router.js';
import { checkValues, managerBackend } from './service-routes.js';
import type { NetworkCreate, ServicesBackend } from './services-backend.js';
import { arrayOf, boolean, decodeAs, mapOf, object, optional, required, string, ValidationError, withDefault, type Decoder } from './validate.js';

// The Engine API's network routes (a manager's): swarm-scope overlay networks only. The store
// keeps networks in SwarmKit's shape; clients get Docker's network resource, built here only.

/** Docker's network resource (GET /networks, GET /networks/{id}). */
export interface NetworkResource {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'swarm';
  Driver: 'overlay';
  EnableIPv6: false;
  IPAM: { Driver: 'default'; Options: null; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: false;
  Containers: Record<string, never>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export function networkResource(n: NetworkObject): NetworkResource {
  return {
    Name: n.Spec.Name,
    Id: n.ID,
    Created: n.CreatedAt,
    Scope: 'swarm',
    Driver: 'overlay',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: (n.IPAM?.Configs ?? []).map((c) => ({ Subnet: c.Subnet, Gateway: c.Gateway })) },
    Internal: n.Spec.Internal === true,
    Attachable: n.Spec.Attachable === true,
    Ingress: n.Spec.Ingress === true,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: { ...(n.DriverState?.Options ?? {}) },
    Labels: { ...n.Spec.Labels },
  };
}

// Docker's network filters that mean something for swarm-scope overlay networks.
const NETWORK_FILTERS = ['driver', 'id', 'label', 'name', 'scope'] as const;

const nonEmpty: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (s.trim() === '') throw new ValidationError(path, 'must not be empty');
  return s;
};

const createShape = object({
  Name: required(nonEmpty),
  CheckDuplicate: optional(boolean),
  Driver: withDefault(string, () => ''),
  Scope: withDefault(string, () => ''),
  Internal: withDefault(boolean, () => false),
  Attachable: withDefault(boolean, () => false),
  Ingress: withDefault(boolean, () => false),
  ConfigOnly: withDefault(boolean, () => false),
  EnableIPv6: withDefault(boolean, () => false),
  IPAM: optional(
    object({
      Driver: withDefault(string, () => ''),
      Config: withDefault(arrayOf(object({ Subnet: optional(string), Gateway: optional(string), IPRange: optional(string) })), () => []),
    }),
  ),
  Options: optional(mapOf(string)),
  Labels: withDefault(mapOf(string), () => ({})),
});

/** Docker's create body, narrowed to what a swarm-scope overlay network can be. */
const networkCreateDecoder: Decoder<NetworkCreate> = (value, path) => {
  const b = createShape(value, path);
  if (b.Driver !== '' && b.Driver !== 'overlay') {
    throw new ValidationError('Driver', `${JSON.stringify(b.Driver)} is not supported: only the overlay driver is supported in swarm scope`);
  }
  if (b.Scope !== '' && b.Scope !== 'swarm') throw new ValidationError('Scope', `must be swarm, got ${JSON.stringify(b.Scope)}: networks here are swarm-scope overlay networks`);
  if (b.EnableIPv6) throw new ValidationError('EnableIPv6', 'is not supported: overlay networks are IPv4 only');
  if (b.ConfigOnly) throw new ValidationError('ConfigOnly', 'is not supported');
  const ipam = b.IPAM ?? { Driver: '', Config: [] };
  if (ipam.Driver !== '' && ipam.Driver !== 'default') throw new ValidationError('IPAM.Driver', `${JSON.stringify(ipam.Driver)} is not supported: only the default IPAM driver is`);
  if (ipam.Config.length > 1) throw new ValidationError('IPAM.Config', `has ${ipam.Config.length} entries: only one subnet per network is supported`);
  const IPAMConfig = ipam.Config.map((c, i) => {
    if (c.IPRange !== undefined && c.IPRange !== '') throw new ValidationError(`IPAM.Config[${i}].IPRange`, 'is not supported: addresses come from the whole subnet');
    return { ...(c.Subnet ? { Subnet: c.Subnet } : {}), ...(c.Gateway ? { Gateway: c.Gateway } : {}) };
  });
  return { Name: b.Name, Labels: b.Labels, Attachable: b.Attachable, Internal: b.Internal, Ingress: b.Ingress, IPAMConfig };
};

export function networkRoutes(services: ServicesBackend | undefined): Route[] {
  const sb = managerBackend(services);
  const noContent: Reply = { status: 204 };
  return [
    route('GET', '/networks', async ({ query }) => {
      const filters = filtersParam(query, NETWORK_FILTERS);
      checkValues(filters, 'scope', ['swarm', 'global', 'local']);
      return { json: (await sb().listNetworks(filters)).map(networkResource) };
    }),
    route('GET', '/networks/{id}', async ({ params }) => ({ json: networkResource(await sb().inspectNetwork(params.id ?? '')) })),
    route('POST', '/networks/create', async ({ body }) => {
      const backend = sb();
      const spec = decodeAs('NetworkCreate', networkCreateDecoder, (await body()) ?? {});
      const created = await backend.createNetwork(spec);
      return { status: 201, json: { Id: created.ID, Warning: created.Warning } };
    }),
    route('DELETE', '/networks/{id}', async ({ params }) => {
      await sb().removeNetwork(params.id ?? '');
      return noContent;
    }),
  ];
}
