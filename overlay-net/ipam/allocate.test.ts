import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../node/errors.js';
import {
  allocateAddress,
  allocateNetwork,
  DEFAULT_POOL_CONFIG,
  lowestFreeVni,
  VNI_MAX,
  VNI_MIN,
  type AddressAllocation,
  type NetworkAllocation,
  type PoolConfig,
} from './allocate.js';
import { isIpamError, type IpamError, type IpamErrorReason } from './errors.js';

const cfg: PoolConfig = { pools: ['10.0.0.0/8'], subnetSize: 24 };

function expectIpamError(fn: () => unknown, reason: IpamErrorReason, field: string): IpamError {
  try {
    fn();
  } catch (err) {
    expect(isIpamError(err, reason)).toBe(true);
    const e = err as IpamError;
    expect(e.field).toBe(field);
    expect(e.message.startsWith(`${field}: `)).toBe(true);
    return e;
  }
  throw new Error(`expected ${reason}`);
}

function allocateMany(n: number, config: PoolConfig, start: NetworkAllocation[] = []): NetworkAllocation[] {
  const nets = [...start];
  for (let i = 0; i < n; i++) nets.push(allocateNetwork(nets, config, { networkId: `net${nets.length}` }));
  return nets;
}

describe('allocateNetwork', () => {
  it('carves the default pool in order with gateway .1 and VNIs from 4096', () => {
    expect(DEFAULT_POOL_CONFIG).toEqual(cfg);
    const nets = allocateMany(3, DEFAULT_POOL_CONFIG);
    expect(nets).toEqual([
      { networkId: 'net0', subnet: '10.0.0.0/24', gateway: '10.0.0.1', vni: 4096 },
      { networkId: 'net1', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: 4097 },
      { networkId: 'net2', subnet: '10.0.2.0/24', gateway: '10.0.2.1', vni: 4098 },
    ]);
  });

  it('skips user-requested subnets when carving', () => {
    const user = allocateNetwork([], cfg, { networkId: 'user', subnet: '10.0.1.0/24' });
    expect(user).toEqual({ networkId: 'user', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: 4096 });
    const big = allocateNetwork([user], cfg, { networkId: 'big', subnet: '10.0.4.0/22', gateway: '10.0.7.254' });
    expect(big.gateway).toBe('10.0.7.254');
    const nets = allocateMany(4, cfg, [user, big]);
    expect(nets.slice(2).map((n) => n.subnet)).toEqual(['10.0.0.0/24', '10.0.2.0/24', '10.0.3.0/24', '10.0.8.0/24']);
  });

  it('skips a larger user subnet that covers many carving slots in one jump', () => {
    const user = allocateNetwork([], cfg, { networkId: 'user', subnet: '10.0.0.0/9' });
    expect(allocateNetwork([user], cfg, { networkId: 'n' }).subnet).toBe('10.128.0.0/24');
  });

  it('accepts a requested subnet outside the pools', () => {
    expect(allocateNetwork([], cfg, { networkId: 'x', subnet: '192.168.7.0/24' }).subnet).toBe('192.168.7.0/24');
  });

  it('rejects overlapping requested subnets: equal, inside, enclosing', () => {
    const nets = allocateMany(2, cfg);
    for (const subnet of ['10.0.1.0/24', '10.0.1.128/25', '10.0.0.0/16', '10.0.0.0/8']) {
      const err = expectIpamError(() => allocateNetwork(nets, cfg, { networkId: 'x', subnet }), 'overlapping-subnet', 'subnet');
      expect(err.code).toBe('INVALID_ARGUMENT');
      expect(err.status).toBe(400);
    }
    const err = expectIpamError(() => allocateNetwork(nets, cfg, { networkId: 'x', subnet: '10.0.1.0/26' }), 'overlapping-subnet', 'subnet');
    expect(err.message).toBe('subnet: 10.0.1.0/26 overlaps 10.0.1.0/24 of network net1');
  });

  it('validates gateway and subnet', () => {
    const err = expectIpamError(
      () => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/24', gateway: '10.9.1.1' }),
      'gateway-outside-subnet',
      'gateway',
    );
    expect(err.message).toBe('gateway: 10.9.1.1 is outside subnet 10.9.0.0/24');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/24', gateway: '10.9.0.255' }), 'gateway-reserved', 'gateway');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/24', gateway: '10.9.0.0' }), 'gateway-reserved', 'gateway');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/24', gateway: 'nope' }), 'invalid-ip', 'gateway');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/2x' }), 'invalid-cidr', 'subnet');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.1/24' }), 'invalid-cidr', 'subnet');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '10.9.0.0/31' }), 'subnet-too-small', 'subnet');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: 'x', subnet: '2001:db8::/64' }), 'ipv6-unsupported', 'subnet');
    expectIpamError(() => allocateNetwork([], cfg, { networkId: '' }), 'invalid-config', 'networkId');
    // A gateway with an auto-carved subnet is checked against that subnet.
    expect(allocateNetwork([], cfg, { networkId: 'x', gateway: '10.0.0.254' }).gateway).toBe('10.0.0.254');
  });

  it('validates the pool config', () => {
    expectIpamError(() => allocateNetwork([], { pools: ['10.0.0.0/8', '10.1.0.0/33'], subnetSize: 24 }, { networkId: 'x' }), 'invalid-cidr', 'cfg.pools[1]');
    expectIpamError(() => allocateNetwork([], { pools: ['10.0.0.0/28'], subnetSize: 24 }, { networkId: 'x' }), 'invalid-config', 'cfg.pools[0]');
    expectIpamError(() => allocateNetwork([], { pools: [], subnetSize: 24 }, { networkId: 'x' }), 'invalid-config', 'cfg.pools');
    expectIpamError(() => allocateNetwork([], { pools: ['10.0.0.0/8'], subnetSize: 31 }, { networkId: 'x' }), 'invalid-config', 'cfg.subnetSize');
    expectIpamError(() => allocateNetwork([], { pools: ['10.0.0.0/8'], subnetSize: 24.5 }, { networkId: 'x' }), 'invalid-config', 'cfg.subnetSize');
  });

  it('carves custom pools and sizes, moving to the next pool when one is full', () => {
    const custom: PoolConfig = { pools: ['10.20.0.0/16', '172.30.0.0/25'], subnetSize: 26 };
    const nets = allocateMany(3, custom);
    expect(nets.map((n) => [n.subnet, n.gateway])).toEqual([
      ['10.20.0.0/26', '10.20.0.1'],
      ['10.20.0.64/26', '10.20.0.65'],
      ['10.20.0.128/26', '10.20.0.129'],
    ]);
    const full = allocateMany(1024 - 3, custom, nets);
    expect(full.at(-1)?.subnet).toBe('10.20.255.192/26');
    const more = allocateMany(2, custom, full);
    expect(more.slice(-2).map((n) => n.subnet)).toEqual(['172.30.0.0/26', '172.30.0.64/26']);
    const err = expectIpamError(() => allocateNetwork(more, custom, { networkId: 'last' }), 'pool-exhausted', 'subnet');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.status).toBe(503);
    expect(err.message).toBe('subnet: no free /26 subnet left in 10.20.0.0/16, 172.30.0.0/25 (1026 networks allocated)');
    // A requested subnet still works when the pools are full.
    expect(allocateNetwork(more, custom, { networkId: 'own', subnet: '192.168.0.0/24' }).subnet).toBe('192.168.0.0/24');
  });

  it('reuses released subnets and the lowest released VNI', () => {
    const nets = allocateMany(5, cfg);
    const remaining = nets.filter((n) => n.networkId !== 'net1' && n.networkId !== 'net3');
    const again = allocateNetwork(remaining, cfg, { networkId: 'new' });
    expect(again).toEqual({ networkId: 'new', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: 4097 });
    const next = allocateNetwork([...remaining, again], cfg, { networkId: 'new2' });
    expect(next).toEqual({ networkId: 'new2', subnet: '10.0.3.0/24', gateway: '10.0.3.1', vni: 4099 });
  });

  it('reports VNI exhaustion', () => {
    const fixture: NetworkAllocation[] = [
      { networkId: 'a', subnet: '10.0.0.0/24', gateway: '10.0.0.1', vni: VNI_MIN },
      { networkId: 'b', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: VNI_MAX },
    ];
    expect(allocateNetwork(fixture, cfg, { networkId: 'x' }).vni).toBe(VNI_MIN + 1);
    expect(lowestFreeVni([{ vni: 10 }, { vni: 11 }], { min: 10, max: 12 })).toBe(12);
    const err = expectIpamError(() => lowestFreeVni([{ vni: 10 }, { vni: 12 }, { vni: 11 }], { min: 10, max: 12 }), 'vni-exhausted', 'vni');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe('vni: all VNIs 10..12 are in use');
  });

  it('is idempotent for the same networkId and rejects a conflicting retry', () => {
    const nets = allocateMany(2, cfg);
    expect(allocateNetwork(nets, cfg, { networkId: 'net1' })).toBe(nets[1]);
    expect(allocateNetwork(nets, cfg, { networkId: 'net1', subnet: '10.0.1.0/24', gateway: '10.0.1.1' })).toBe(nets[1]);
    expectIpamError(() => allocateNetwork(nets, cfg, { networkId: 'net1', subnet: '10.0.9.0/24' }), 'network-conflict', 'networkId');
  });

  it('is deterministic: same inputs, same output, whatever the order of existing', () => {
    const user = allocateNetwork([], cfg, { networkId: 'user', subnet: '10.0.2.0/24' });
    const nets = allocateMany(6, cfg, [user]).filter((n) => n.networkId !== 'net3');
    const a = allocateNetwork(nets, cfg, { networkId: 'z' });
    const b = allocateNetwork([...nets].reverse(), cfg, { networkId: 'z' });
    expect(b).toEqual(a);
    expect(allocateNetwork(nets, cfg, { networkId: 'z' })).toEqual(a);
  });
});

describe('allocateAddress', () => {
  const net: NetworkAllocation = { networkId: 'n1', subnet: '10.0.1.0/29', gateway: '10.0.1.1', vni: 4096 };

  it('hands out the lowest free host, skipping network, gateway and broadcast, until exhausted', () => {
    const addrs: AddressAllocation[] = [];
    for (let i = 0; i < 5; i++) addrs.push(allocateAddress(net, addrs, `task:t${i}`));
    expect(addrs.map((a) => a.ip)).toEqual(['10.0.1.2', '10.0.1.3', '10.0.1.4', '10.0.1.5', '10.0.1.6']);
    expect(addrs[0]).toEqual({ networkId: 'n1', owner: 'task:t0', ip: '10.0.1.2' });
    const err = expectIpamError(() => allocateAddress(net, addrs, 'vip:svc'), 'address-exhausted', 'ip');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe('ip: network n1 (10.0.1.0/29) has no free address left (5 usable, 5 allocated)');
  });

  it('skips a gateway that is not the first host', () => {
    const custom = { ...net, gateway: '10.0.1.3' };
    const addrs: AddressAllocation[] = [];
    for (let i = 0; i < 4; i++) addrs.push(allocateAddress(custom, addrs, `task:t${i}`));
    expect(addrs.map((a) => a.ip)).toEqual(['10.0.1.1', '10.0.1.2', '10.0.1.4', '10.0.1.5']);
  });

  it('reuses the lowest released address', () => {
    const addrs: AddressAllocation[] = [];
    for (let i = 0; i < 4; i++) addrs.push(allocateAddress(net, addrs, `task:t${i}`));
    const released = addrs.filter((a) => a.owner !== 'task:t1' && a.owner !== 'task:t2');
    expect(allocateAddress(net, released, 'vip:svc').ip).toBe('10.0.1.3');
  });

  it('is idempotent per owner and ignores other networks', () => {
    const other: AddressAllocation = { networkId: 'n2', owner: 'task:x', ip: '10.0.1.2' };
    const a = allocateAddress(net, [other], 'vip:svc');
    expect(a.ip).toBe('10.0.1.2');
    expect(allocateAddress(net, [other, a], 'vip:svc')).toBe(a);
    // The same owner on another network is a different allocation.
    expect(allocateAddress(net, [other], 'task:x').ip).toBe('10.0.1.2');
  });

  it('validates the owner', () => {
    expectIpamError(() => allocateAddress(net, [], 'container:abc'), 'invalid-owner', 'owner');
    expectIpamError(() => allocateAddress(net, [], 'task:'), 'invalid-owner', 'owner');
    expect(isSwarmError((() => { try { allocateAddress(net, [], ''); } catch (e) { return e; } return undefined; })(), 'INVALID_ARGUMENT')).toBe(true);
  });

  it('serial: hands out the next free address after `after`, wrapping, so released ones come back last', () => {
    const addrs: AddressAllocation[] = [];
    let last: string | undefined;
    for (let i = 0; i < 4; i++) {
      const a = allocateAddress(net, addrs, `task:t${i}`, last === undefined ? {} : { after: last });
      addrs.push(a);
      last = a.ip;
    }
    expect(addrs.map((a) => a.ip)).toEqual(['10.0.1.2', '10.0.1.3', '10.0.1.4', '10.0.1.5']);
    // t1 (.3) released: the next goes above the last handed out, not into the hole.
    const kept = addrs.filter((a) => a.owner !== 'task:t1');
    const next = allocateAddress(net, kept, 'task:t4', { after: '10.0.1.5' });
    expect(next.ip).toBe('10.0.1.6');
    // At the top it wraps around to the lowest free one: the hole.
    expect(allocateAddress(net, [...kept, next], 'task:t5', { after: '10.0.1.6' }).ip).toBe('10.0.1.3');
    // A last address outside the subnet (or absent) starts from the bottom.
    expect(allocateAddress(net, kept, 'node:n1', { after: '192.168.0.9' }).ip).toBe('10.0.1.3');
    expectIpamError(() => allocateAddress(net, [...kept, next, { networkId: 'n1', owner: 'vip:x', ip: '10.0.1.3' }], 'task:t6', { after: '10.0.1.2' }), 'address-exhausted', 'ip');
    expectIpamError(() => allocateAddress(net, [], 'task:t6', { after: 'nope' }), 'invalid-ip', 'after');
  });

  it('is deterministic whatever the order of existing', () => {
    const big: NetworkAllocation = { networkId: 'b', subnet: '10.0.0.0/16', gateway: '10.0.0.1', vni: 4097 };
    const addrs: AddressAllocation[] = [];
    for (let i = 0; i < 300; i++) addrs.push(allocateAddress(big, addrs, `task:${i}`));
    const kept = addrs.filter((_, i) => i % 7 !== 3);
    const first = allocateAddress(big, kept, 'vip:s');
    expect(first.ip).toBe('10.0.0.5');
    expect(allocateAddress(big, [...kept].reverse(), 'vip:s')).toEqual(first);
    expect(addrs.at(-1)?.ip).toBe('10.0.1.45');
  });
});
