import { allocateNetwork, isIpamError, type NetworkAllocation } from '../../../overlay-net/index.js';
import { SwarmError } from '../../errors.js';
import type { ClusterObject, NetworkObject, NetworkSpec } from '../../store/index.js';

// Network objects: a new network's subnet, gateway and VNI from the cluster's address pool, as
// Docker's swarm allocates them when the network is created. Pure: the caller commits the object
// (the store refuses it if another manager took the subnet or VNI meanwhile; allocate again).

/** Where Docker's overlay driver reports a network's VNI. */
export const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

/** Docker's network names. */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The network as it is stored, without what the store sets. */
export type NetworkDraft = Omit<NetworkObject, 'Version' | 'CreatedAt' | 'UpdatedAt'>;

export type AddressPool = Pick<ClusterObject, 'DefaultAddrPool' | 'SubnetSize'>;

/** The routing-mesh network `swarm init` creates, as Docker's. */
export function ingressNetworkSpec(): NetworkSpec {
  return { Name: 'ingress', Labels: {}, DriverConfiguration: { Name: 'overlay' }, Ingress: true };
}

/** A network's first subnet and gateway, or undefined for an object without (not allocated). */
export function networkSubnet(n: NetworkObject): { Subnet: string; Gateway: string } | undefined {
  const c = n.IPAM?.Configs?.[0];
  return c && typeof c.Subnet === 'string' && typeof c.Gateway === 'string' ? c : undefined;
}

/** The network's VNI, or undefined. */
export function networkVni(n: NetworkObject): number | undefined {
  const v = Number(n.DriverState?.Options?.[VNI_OPTION]);
  return Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** A network as the IPAM sees it, named by its name so that messages name it. */
export function ipamNetwork(n: NetworkObject): NetworkAllocation | undefined {
  const s = networkSubnet(n);
  const vni = networkVni(n);
  return s && vni !== undefined ? { networkId: n.Spec.Name, subnet: s.Subnet, gateway: s.Gateway, vni } : undefined;
}

/** The ingress network, if the cluster has one. */
export function findIngress(networks: readonly NetworkObject[]): NetworkObject | undefined {
  return networks.find((n) => n.Spec.Ingress === true);
}

/**
 * A new network: validates what the store cannot (name, one IPAM config, subnet and gateway,
 * one ingress network) and allocates its subnet (the requested one, or the next free one of the
 * pool) and the lowest free VNI. Throws SwarmError naming the field: INVALID_ARGUMENT for bad
 * input, CONFLICT for a subnet another network holds or a second ingress network, UNAVAILABLE
 * when the pool or the VNIs are exhausted.
 */
export function newNetworkObject(id: string, spec: NetworkSpec, existing: readonly NetworkObject[], pool: AddressPool): NetworkDraft {
  if (typeof spec.Name !== 'string' || !NETWORK_NAME.test(spec.Name)) {
    throw new SwarmError('INVALID_ARGUMENT', `Name: ${JSON.stringify(spec.Name)} is not a valid network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`);
  }
  for (const [k, v] of Object.entries(spec.Labels ?? {})) {
    if (typeof v !== 'string') throw new SwarmError('INVALID_ARGUMENT', `Labels[${JSON.stringify(k)}]: must be a string`);
  }
  if (spec.Ingress) {
    const other = findIngress(existing);
    if (other) throw new SwarmError('CONFLICT', `ingress network ${other.Spec.Name} (${other.ID}) is already present`, 'a swarm has one ingress network: remove it first');
  }
  const configs = spec.IPAMOptions?.Configs ?? [];
  if (configs.length > 1) throw new SwarmError('INVALID_ARGUMENT', 'IPAM.Config: only one subnet per network is supported');
  const requested = configs[0] ?? {};
  const allocations = existing.map(ipamNetwork).filter((a): a is NetworkAllocation => a !== undefined);
  let got: NetworkAllocation;
  try {
    got = allocateNetwork(
      allocations,
      { pools: pool.DefaultAddrPool.length > 0 ? [...pool.DefaultAddrPool] : ['10.0.0.0/8'], subnetSize: pool.SubnetSize > 0 ? pool.SubnetSize : 24 },
      { networkId: spec.Name, ...(requested.Subnet ? { subnet: requested.Subnet } : {}), ...(requested.Gateway ? { gateway: requested.Gateway } : {}) },
    );
  } catch (err) {
    if (!isIpamError(err)) throw err;
    const field = err.field === 'subnet' ? 'IPAM.Config[0].Subnet' : err.field === 'gateway' ? 'IPAM.Config[0].Gateway' : err.field;
    const reason = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
    throw new SwarmError(err.reason === 'overlapping-subnet' ? 'CONFLICT' : err.code, `${field}: ${reason}`, err.hint);
  }
  return {
    ID: id,
    Spec: {
      ...spec,
      Labels: { ...(spec.Labels ?? {}) },
      DriverConfiguration: { Name: 'overlay' },
      ...(configs.length > 0 ? { IPAMOptions: { Driver: { Name: 'default' }, Configs: configs.map((c) => ({ ...c })) } } : {}),
    },
    DriverState: { Name: 'overlay', Options: { [VNI_OPTION]: String(got.vni) } },
    IPAM: { Driver: { Name: 'default' }, Configs: [{ Subnet: got.subnet, Gateway: got.gateway }] },
  };
}
