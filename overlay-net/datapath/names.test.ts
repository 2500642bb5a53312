import { describe, expect, it } from 'vitest';
import type { HostNetworkSpec } from '../types.js';
import { isDatapathError } from './errors.js';
import {
  IFNAME_MAX,
  NETNS_NAME_MAX,
  OWN_DEVICE,
  VNI_LIMIT,
  bridgeName,
  checkAddressIn,
  checkId,
  checkMac,
  checkNetworkSpec,
  checkPort,
  taskNetnsName,
  vethHostName,
  vxlanName,
} from './names.js';
import { thrown } from '../../test/support/rejection.js';


const NET: HostNetworkSpec = { id: 'n1', name: 'web', vni: 4097, subnet: '10.0.1.0/24', gateway: '10.0.1.1', internal: false, ingress: false };

describe('device names', () => {
  it('fit in IFNAMSIZ for the largest VNI and are recognised as ours', () => {
    for (const name of [bridgeName(VNI_LIMIT), vxlanName(VNI_LIMIT), vethHostName('x'.repeat(128), 'y'.repeat(128))]) {
      expect(name.length).toBeLessThanOrEqual(IFNAME_MAX);
      expect(OWN_DEVICE.test(name)).toBe(true);
    }
    expect(OWN_DEVICE.test('swarm0')).toBe(false);
  });

  it('veth host ends are stable per task and network, distinct otherwise', () => {
    const a = vethHostName('task1', 'netA');
    expect(a).toMatch(/^swv[0-9a-f]{8}$/);
    expect(vethHostName('task1', 'netA')).toBe(a);
    expect(vethHostName('task1', 'netB')).not.toBe(a);
    expect(vethHostName('task2', 'netA')).not.toBe(a);
    // The separator keeps ("ab","c") and ("a","bc") apart.
    expect(vethHostName('ab', 'c')).not.toBe(vethHostName('a', 'bc'));
  });

  it('netns names are prefix + task id, shortened but still unique when too long', () => {
    expect(taskNetnsName('swt1a2b-', 'abc123')).toBe('swt1a2b-abc123');
    const long1 = taskNetnsName('swt1a2b-', `${'t'.repeat(80)}1`);
    const long2 = taskNetnsName('swt1a2b-', `${'t'.repeat(80)}2`);
    expect(long1.length).toBeLessThanOrEqual(NETNS_NAME_MAX);
    expect(long1.startsWith('swt1a2b-ttt')).toBe(true);
    expect(long1).not.toBe(long2);
  });
});

describe('argument checks', () => {
  it('reject what would break a batch line or an nft file, naming the field', () => {
    for (const bad of ['', 'a b', 'a\nlink del eth0', 'x"y', '../up']) {
      const err = thrown(() => checkId(bad, 'taskId'));
      expect(isDatapathError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/^taskId: /);
    }
    expect(checkId('4f9c2a.1_b-3', 'taskId')).toBe('4f9c2a.1_b-3');
  });

  it('check network specs', () => {
    expect(checkNetworkSpec(NET).prefix).toBe(24);
    const cases: [Partial<HostNetworkSpec>, RegExp][] = [
      [{ vni: 0 }, /^net\.vni: /],
      [{ vni: VNI_LIMIT + 1 }, /^net\.vni: /],
      [{ subnet: '10.0.1.1/24' }, /^net\.subnet: .*host bits/],
      [{ gateway: '10.0.2.1' }, /^net\.gateway: .*outside/],
      [{ subnet: 'fd00::/64' }, /IPv6/],
    ];
    for (const [over, message] of cases) {
      const err = thrown(() => checkNetworkSpec({ ...NET, ...over }));
      expect(isDatapathError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('check addresses, MACs and ports', () => {
    const cidr = checkNetworkSpec(NET);
    expect(checkAddressIn(NET, cidr, '10.0.1.5', 'ip')).toBe('10.0.1.5');
    expect((thrown(() => checkAddressIn(NET, cidr, '10.0.2.5', 'peers[0].ip')) as Error).message).toMatch(/^peers\[0\]\.ip: .*outside/);
    expect((thrown(() => checkAddressIn(NET, cidr, '10.0.1.1', 'ip')) as Error).message).toMatch(/gateway/);
    expect(checkMac('02:42:0A:00:01:05', 'mac')).toBe('02:42:0a:00:01:05');
    expect(isDatapathError(thrown(() => checkMac('01:00:5e:00:00:01', 'mac')), 'INVALID_ARGUMENT')).toBe(true);
    expect(isDatapathError(thrown(() => checkMac('02:42:0a:00:01', 'mac')), 'INVALID_ARGUMENT')).toBe(true);
    expect(isDatapathError(thrown(() => checkPort(0, 'port')), 'INVALID_ARGUMENT')).toBe(true);
    expect(isDatapathError(thrown(() => checkPort(65536, 'port')), 'INVALID_ARGUMENT')).toBe(true);
  });
});
