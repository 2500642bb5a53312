// Random allocate/release sequences (seeded, reproducible) never hand anything out twice.
import { describe, expect, it } from 'vitest';
import { allocateAddress, allocateNetwork, type AddressAllocation, type NetworkAllocation, type PoolConfig } from './allocate.js';
import { isIpamError } from './errors.js';
import { contains, lastAddress, macFromIp, overlaps, parseCidr, parseIp, type Cidr } from './ipv4.js';
import { Rng } from '../../raft/index.js';

/** The project's seeded source (mulberry32), so runs replay exactly. */
function prng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** Invariants over the current state; returns the violations (expected: none). */
function violations(nets: readonly NetworkAllocation[], addrs: ReadonlyMap<string, readonly AddressAllocation[]>): string[] {
  const out: string[] = [];
  if (new Set(nets.map((n) => n.vni)).size !== nets.length) out.push('duplicate VNI');
  if (new Set(nets.map((n) => n.networkId)).size !== nets.length) out.push('duplicate network id');
  const subnets = nets.map((n) => parseCidr(n.subnet));
  subnets.forEach((a, i) => {
    const net = nets[i] as NetworkAllocation;
    const gw = parseIp(net.gateway);
    if (!contains(a, gw) || gw === a.base || gw === lastAddress(a)) out.push(`bad gateway ${net.gateway} in ${net.subnet}`);
    for (let j = i + 1; j < subnets.length; j++) if (overlaps(a, subnets[j] as Cidr)) out.push(`overlap ${net.subnet} ${nets[j]?.subnet}`);
    const list = addrs.get(net.networkId) ?? [];
    const ips = list.map((x) => parseIp(x.ip));
    if (new Set(ips).size !== ips.length) out.push(`duplicate IP in ${net.networkId}`);
    if (new Set(list.map((x) => macFromIp(x.ip))).size !== ips.length) out.push(`duplicate MAC in ${net.networkId}`);
    if (new Set(list.map((x) => x.owner)).size !== list.length) out.push(`owner twice in ${net.networkId}`);
    for (const ip of ips) {
      if (!contains(a, ip) || ip === a.base || ip === lastAddress(a) || ip === gw) out.push(`bad address ${ip} in ${net.subnet}`);
    }
  });
  return out;
}

function run(seed: number, steps: number): { nets: NetworkAllocation[]; addrs: Map<string, AddressAllocation[]>; errors: number } {
  const rand = prng(seed);
  // Small pool and subnets so exhaustion and reuse happen often.
  const cfg: PoolConfig = { pools: ['10.20.0.0/24', '10.30.0.0/25'], subnetSize: 28 };
  let nets: NetworkAllocation[] = [];
  const addrs = new Map<string, AddressAllocation[]>();
  let counter = 0;
  let errors = 0;
  for (let step = 0; step < steps; step++) {
    const r = rand();
    try {
      if (r < 0.25 || nets.length === 0) {
        const networkId = `net${counter++}`;
        const request = rand() < 0.2 ? { networkId, subnet: pick(rand, ['10.20.0.32/28', '10.20.0.64/27', '10.30.0.0/26', '192.168.1.0/29']) } : { networkId };
        nets = [...nets, allocateNetwork(nets, cfg, request)];
        addrs.set(networkId, []);
      } else if (r < 0.35) {
        const gone = pick(rand, nets);
        nets = nets.filter((n) => n !== gone);
        addrs.delete(gone.networkId);
      } else if (r < 0.8) {
        const net = pick(rand, nets);
        const list = addrs.get(net.networkId) ?? [];
        const owner = `${rand() < 0.8 ? 'task' : 'vip'}:${Math.floor(rand() * 20)}`;
        const got = allocateAddress(net, list, owner);
        const previous = list.find((a) => a.owner === owner);
        if (previous !== undefined) expect(got).toBe(previous);
        else addrs.set(net.networkId, [...list, got]);
      } else {
        const net = pick(rand, nets);
        const list = addrs.get(net.networkId) ?? [];
        if (list.length > 0) {
          const gone = pick(rand, list);
          addrs.set(net.networkId, list.filter((a) => a !== gone));
        }
      }
    } catch (err) {
      // Only the expected refusals: a requested subnet that is taken, or a full pool or network.
      expect(isIpamError(err, 'overlapping-subnet') || isIpamError(err, 'pool-exhausted') || isIpamError(err, 'address-exhausted')).toBe(true);
      errors++;
    }
    const bad = violations(nets, addrs);
    if (bad.length > 0) expect.fail(`seed ${seed} step ${step}: ${bad.join('; ')}`);
  }
  return { nets, addrs, errors };
}

describe('IPAM property: random allocate/release never duplicates', () => {
  for (const seed of [1, 2, 3, 42, 2024, 0xdecafbad]) {
    it(`seed ${seed}`, () => {
      const { nets, errors } = run(seed, 2000);
      // The pools are small enough that refusals (exhaustion, overlaps) are exercised too.
      expect(errors).toBeGreaterThan(0);
      expect(nets.length).toBeGreaterThan(0);
    });
  }

  it('replays identically for the same seed', () => {
    const a = run(7, 400);
    const b = run(7, 400);
    expect(b.nets).toEqual(a.nets);
    expect([...b.addrs.entries()]).toEqual([...a.addrs.entries()]);
    expect(b.errors).toBe(a.errors);
  });
});
