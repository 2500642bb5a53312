// The overlay IPAM: pure functions from the list of existing allocations (as kept in the replicated
// store) to the next allocation. Deterministic: the same inputs always give the same answer, and
// nothing already in `existing` is ever handed out again. Releasing is removing from `existing`.
import { IpamError } from './errors.js';
import { blockSize, contains, formatCidr, formatIp, lastAddress, overlaps, parseCidr, parseIp, type Cidr } from './ipv4.js';

export interface PoolConfig {
  /** CIDRs to carve network subnets from, in order. */
  pools: string[];
  /** Prefix length of each carved subnet. */
  subnetSize: number;
}

export interface NetworkAllocation {
  networkId: string;
  subnet: string;
  gateway: string;
  vni: number;
}

export interface NetworkRequest {
  networkId: string;
  subnet?: string;
  gateway?: string;
}

export interface AddressAllocation {
  networkId: string;
  /** `task:<taskId>`, `vip:<serviceId>` or `node:<nodeId>` (a node's routing-mesh address). */
  owner: string;
  ip: string;
}

export interface AddressOptions {
  /**
   * Serial allocation: hand out the lowest free address above this one, wrapping around to the
   * bottom of the subnet, so a released address is reused only after all the others.
   */
  after?: string;
}

export const DEFAULT_POOL_CONFIG: Readonly<PoolConfig> = Object.freeze({ pools: ['10.0.0.0/8'], subnetSize: 24 });
export const VNI_MIN = 4096;
export const VNI_MAX = 2 ** 24 - 1;
/** A subnet needs a network address, a gateway, a broadcast address and at least one host. */
export const MAX_SUBNET_PREFIX = 30;

const OWNER = /^(task|vip|node):.+$/;

export function allocateNetwork(
  existing: readonly NetworkAllocation[],
  cfg: PoolConfig,
  request: NetworkRequest,
): NetworkAllocation {
  if (typeof request.networkId !== 'string' || request.networkId === '') {
    throw new IpamError('networkId', 'invalid-config', 'must be a non-empty string');
  }
  const taken = existing.map((n, i) => ({ id: n.networkId, cidr: parseCidr(n.subnet, `existing[${i}].subnet`) }));

  const same = existing.find((n) => n.networkId === request.networkId);
  if (same !== undefined) return sameNetwork(same, request);

  let subnet: Cidr;
  if (request.subnet !== undefined) {
    subnet = parseCidr(request.subnet, 'subnet');
    if (subnet.prefix > MAX_SUBNET_PREFIX) {
      throw new IpamError('subnet', 'subnet-too-small', `${formatCidr(subnet)} has no room for a gateway and a host (prefix must be <= /${MAX_SUBNET_PREFIX})`);
    }
    const clash = taken.find((t) => overlaps(t.cidr, subnet));
    if (clash !== undefined) {
      throw new IpamError(
        'subnet',
        'overlapping-subnet',
        `${formatCidr(subnet)} overlaps ${formatCidr(clash.cidr)} of network ${clash.id}`,
        'choose a subnet that no other network uses',
      );
    }
  } else {
    subnet = carveSubnet(taken.map((t) => t.cidr), cfg);
  }

  const gateway = request.gateway !== undefined ? checkGateway(subnet, request.gateway) : subnet.base + 1;
  return { networkId: request.networkId, subnet: formatCidr(subnet), gateway: formatIp(gateway), vni: lowestFreeVni(existing) };
}

export function allocateAddress(
  net: NetworkAllocation,
  existing: readonly AddressAllocation[],
  owner: string,
  options: AddressOptions = {},
): AddressAllocation {
  if (typeof owner !== 'string' || !OWNER.test(owner)) {
    throw new IpamError('owner', 'invalid-owner', `"${String(owner)}" must be "task:<id>", "vip:<serviceId>" or "node:<nodeId>"`);
  }
  const mine = existing.filter((a) => a.networkId === net.networkId);
  const previous = mine.find((a) => a.owner === owner);
  if (previous !== undefined) return previous;

  const subnet = parseCidr(net.subnet, 'net.subnet');
  const broadcast = lastAddress(subnet);
  const used = mine.map((a, i) => parseIp(a.ip, `existing[${i}].ip`));
  used.push(parseIp(net.gateway, 'net.gateway'));
  used.sort((a, b) => a - b);

  let candidate = broadcast;
  if (options.after !== undefined) {
    const after = parseIp(options.after, 'after');
    // An address outside the subnet (the network was re-created) starts from the bottom.
    if (contains(subnet, after)) candidate = lowestFree(used, after + 1);
  }
  if (candidate >= broadcast) candidate = lowestFree(used, subnet.base + 1);
  if (candidate >= broadcast) {
    const usable = Math.max(0, blockSize(subnet.prefix) - 3);
    throw new IpamError(
      'ip',
      'address-exhausted',
      `network ${net.networkId} (${net.subnet}) has no free address left (${usable} usable, ${mine.length} allocated)`,
      'use a larger subnet for this network',
    );
  }
  return { networkId: net.networkId, owner, ip: formatIp(candidate) };
}

/** The lowest address from `from` up that `used` (sorted) does not hold. */
function lowestFree(used: readonly number[], from: number): number {
  let candidate = from;
  for (const u of used) {
    if (u < candidate) continue;
    if (u > candidate) break;
    candidate = u + 1;
  }
  return candidate;
}

/** Lowest VNI in range (default VNI_MIN..VNI_MAX) not used by any existing network. */
export function lowestFreeVni(
  existing: readonly Pick<NetworkAllocation, 'vni'>[],
  range: { min: number; max: number } = { min: VNI_MIN, max: VNI_MAX },
): number {
  const used = existing.map((n) => n.vni).filter((v) => v >= range.min).sort((a, b) => a - b);
  let candidate = range.min;
  for (const v of used) {
    if (v < candidate) continue;
    if (v > candidate) break;
    candidate = v + 1;
  }
  if (candidate > range.max) {
    throw new IpamError('vni', 'vni-exhausted', `all VNIs ${range.min}..${range.max} are in use`, 'remove unused networks');
  }
  return candidate;
}

function sameNetwork(same: NetworkAllocation, request: NetworkRequest): NetworkAllocation {
  // Idempotent for a retried request; a different one for the same id is a conflict.
  if (request.subnet !== undefined && formatCidr(parseCidr(request.subnet, 'subnet')) !== same.subnet) {
    throw new IpamError('networkId', 'network-conflict', `network ${same.networkId} already has subnet ${same.subnet}, not ${request.subnet}`);
  }
  if (request.gateway !== undefined && formatIp(parseIp(request.gateway, 'gateway')) !== same.gateway) {
    throw new IpamError('networkId', 'network-conflict', `network ${same.networkId} already has gateway ${same.gateway}, not ${request.gateway}`);
  }
  return same;
}

function checkGateway(subnet: Cidr, gatewayText: string): number {
  const gateway = parseIp(gatewayText, 'gateway');
  if (!contains(subnet, gateway)) {
    throw new IpamError('gateway', 'gateway-outside-subnet', `${gatewayText} is outside subnet ${formatCidr(subnet)}`);
  }
  if (gateway === subnet.base || gateway === lastAddress(subnet)) {
    throw new IpamError('gateway', 'gateway-reserved', `${gatewayText} is the network or broadcast address of ${formatCidr(subnet)}`);
  }
  return gateway;
}

/** First subnetSize-aligned block, pool by pool in order, that overlaps no taken subnet. */
function carveSubnet(taken: readonly Cidr[], cfg: PoolConfig): Cidr {
  const size = cfg.subnetSize;
  if (!Number.isInteger(size) || size < 1 || size > MAX_SUBNET_PREFIX) {
    throw new IpamError('cfg.subnetSize', 'invalid-config', `${String(size)} must be an integer prefix length 1..${MAX_SUBNET_PREFIX}`);
  }
  if (!Array.isArray(cfg.pools) || cfg.pools.length === 0) {
    throw new IpamError('cfg.pools', 'invalid-config', 'at least one pool CIDR is required');
  }
  const pools = cfg.pools.map((p, i) => {
    const pool = parseCidr(p, `cfg.pools[${i}]`);
    if (pool.prefix > size) {
      throw new IpamError(`cfg.pools[${i}]`, 'invalid-config', `${p} is smaller than one /${size} subnet`);
    }
    return pool;
  });

  const step = blockSize(size);
  const busy = mergeRanges(taken);
  for (const pool of pools) {
    const end = lastAddress(pool);
    let candidate = pool.base;
    let i = 0;
    while (candidate + step - 1 <= end) {
      while (i < busy.length && (busy[i] as Range).last < candidate) i++;
      const next = busy[i];
      if (next === undefined || next.first > candidate + step - 1) return { base: candidate, prefix: size };
      // Jump to the first aligned block after the busy range that blocks this one.
      candidate = Math.ceil((next.last + 1) / step) * step;
    }
  }
  throw new IpamError(
    'subnet',
    'pool-exhausted',
    `no free /${size} subnet left in ${cfg.pools.join(', ')} (${taken.length} networks allocated)`,
    'remove unused networks, add a pool, or request an explicit subnet',
  );
}

interface Range {
  first: number;
  last: number;
}

/** Sorted, disjoint address ranges covering every taken subnet. */
function mergeRanges(taken: readonly Cidr[]): Range[] {
  const sorted = taken.map((c) => ({ first: c.base, last: lastAddress(c) })).sort((a, b) => a.first - b.first);
  const out: Range[] = [];
  for (const r of sorted) {
    const prev = out.at(-1);
    if (prev !== undefined && r.first <= prev.last + 1) prev.last = Math.max(prev.last, r.last);
    else out.push({ ...r });
  }
  return out;
}
