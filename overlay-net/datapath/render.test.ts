import { describe, expect, it } from 'vitest';
import { parseCidr } from '../ipam/index.js';
import type { HostNetworkSpec } from '../types.js';
import {
  chooseDefaultRoute,
  fdbFromKernel,
  neighFromKernel,
  planPeers,
  renderDeleteTables,
  renderHostPorts,
  renderIsolation,
  renderIsolationBase,
  renderMesh,
  renderNetworkLines,
  renderTaskBalancing,
  weightSlots,
} from './render.js';

function net(over: Partial<HostNetworkSpec> & { vni: number; subnet: string; gateway: string }): HostNetworkSpec {
  return { id: `n${over.vni}`, name: `net${over.vni}`, internal: false, ingress: false, ...over };
}

const A = net({ vni: 4097, subnet: '10.0.1.0/24', gateway: '10.0.1.1' });
const B = net({ vni: 4098, subnet: '10.0.2.0/24', gateway: '10.0.2.1' });
const INTERNAL = net({ vni: 4099, subnet: '10.0.3.0/24', gateway: '10.0.3.1', internal: true });
const INGRESS = net({ vni: 4096, subnet: '10.255.0.0/16', gateway: '10.255.0.1', ingress: true });
const built = (n: HostNetworkSpec) => ({ spec: n, cidr: parseCidr(n.subnet) });

describe('table ip swarm (isolation and gateway NAT)', () => {
  it('replaces the table atomically: add, delete, define, in one file', () => {
    const text = renderIsolation([built(A)]);
    expect(text.split('\n').slice(0, 3)).toEqual(['table ip swarm {}', 'delete table ip swarm', 'table ip swarm {']);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it('drops traffic between bridges, one rule per network, sorted by VNI', () => {
    const text = renderIsolation([built(B), built(A)]);
    const a = text.indexOf('iifname "swbr4097" oifname "swbr*" oifname != "swbr4097" drop');
    const b = text.indexOf('iifname "swbr4098" oifname "swbr*" oifname != "swbr4098" drop');
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
  });

  it('cuts an internal network off from every other interface and never NATs it', () => {
    const text = renderIsolation([built(A), built(INTERNAL)]);
    expect(text).toContain('iifname "swbr4099" oifname != "swbr4099" drop');
    expect(text).toContain('oifname "swbr4099" iifname != "swbr4099" drop');
    expect(text).toContain('ip saddr 10.0.1.0/24 oifname != "swbr*" masquerade');
    expect(text).not.toContain('ip saddr 10.0.3.0/24');
  });

  it('lets the outside in only through DNAT, replies to tasks excepted', () => {
    const text = renderIsolation([built(INGRESS)]);
    expect(text).toContain('iifname != "swbr*" ip daddr 10.255.0.0/16 ct direction original ct status & dnat == 0 drop');
    expect(text).toContain('type filter hook forward priority filter; policy accept;');
    expect(text).toContain('type nat hook postrouting priority srcnat; policy accept;');
  });

  it('with no networks keeps empty base chains; the base install merges instead of replacing', () => {
    expect(renderIsolation([])).toContain('chain forward {');
    expect(renderIsolationBase()).not.toContain('delete');
  });
});

describe('table ip swarm_lb (VIPs inside a task)', () => {
  it('DNATs each VIP round-robin over its backends in output and prerouting', () => {
    const text = renderTaskBalancing([{ vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.6', '10.0.1.7'] }]);
    const rule = 'ip daddr 10.0.1.2 dnat ip to numgen inc mod 3 map { 0 : 10.0.1.5, 1 : 10.0.1.6, 2 : 10.0.1.7 }';
    expect(text.split(rule).length - 1).toBe(2);
    expect(text).toContain('type nat hook output priority -100;');
    expect(text).toContain('type nat hook prerouting priority dstnat;');
  });

  it('uses a plain DNAT for one backend and rejects a VIP without any', () => {
    const text = renderTaskBalancing([
      { vip: '10.0.1.2', backends: ['10.0.1.5'] },
      { vip: '10.0.1.3', backends: [] },
    ]);
    expect(text).toContain('ip daddr 10.0.1.2 dnat ip to 10.0.1.5\n');
    // Rejects live in a filter chain (in a nat chain they only drop); TCP gets a reset to fail at once.
    const rejects = text.slice(text.indexOf('chain reject_output {'));
    expect(rejects).toContain('type filter hook output priority filter;');
    expect(rejects).toContain('ip daddr 10.0.1.3 meta l4proto tcp reject with tcp reset');
    expect(rejects).toContain('ip daddr 10.0.1.3 reject with icmp type host-unreachable');
    expect(text.slice(0, text.indexOf('chain reject_output {'))).not.toContain('10.0.1.3');
  });

  it('an empty list only removes the table', () => {
    expect(renderTaskBalancing([])).toBe('table ip swarm_lb {}\ndelete table ip swarm_lb\n');
  });

  it('spreads by weight: contiguous numgen ranges, sized in proportion', () => {
    const text = renderTaskBalancing([{ vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.6', '10.0.1.7'], weights: [10, 30, 60] }]);
    const rule = 'ip daddr 10.0.1.2 dnat ip to numgen inc mod 10 map { 0 : 10.0.1.5, 1-3 : 10.0.1.6, 4-9 : 10.0.1.7 }';
    expect(text.split(rule).length - 1).toBe(2);
    // Equal weights are plain round-robin, as without weights.
    expect(renderTaskBalancing([{ vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.6'], weights: [4, 4] }])).toBe(
      renderTaskBalancing([{ vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.6'] }]),
    );
  });

  it('skips weight-0 backends, and rejects a VIP whose every weight is 0', () => {
    const text = renderTaskBalancing([
      { vip: '10.0.1.2', backends: ['10.0.1.5', '10.0.1.6', '10.0.1.7'], weights: [0, 2, 1] },
      { vip: '10.0.1.3', backends: ['10.0.1.5', '10.0.1.8'], weights: [0, 5] },
      { vip: '10.0.1.4', backends: ['10.0.1.5'], weights: [0] },
    ]);
    expect(text).toContain('ip daddr 10.0.1.2 dnat ip to numgen inc mod 3 map { 0-1 : 10.0.1.6, 2 : 10.0.1.7 }');
    expect(text).toContain('ip daddr 10.0.1.3 dnat ip to 10.0.1.8\n');
    const rejects = text.slice(text.indexOf('chain reject_output {'));
    expect(rejects).toContain('ip daddr 10.0.1.4 meta l4proto tcp reject with tcp reset');
    expect(text.slice(0, text.indexOf('chain reject_output {'))).not.toContain('10.0.1.4');
    expect(text).not.toMatch(/: 10\.0\.1\.5\b/);
  });
});

describe('table ip swarm_mesh (ingress routing mesh)', () => {
  const ports = [
    { protocol: 'tcp' as const, port: 30080, backends: [{ ip: '10.255.0.5', port: 80 }, { ip: '10.255.0.6', port: 8080 }] },
    { protocol: 'udp' as const, port: 30053, backends: [{ ip: '10.255.0.7', port: 53 }] },
    { protocol: 'tcp' as const, port: 30081, backends: [] },
  ];

  it('DNATs local-address traffic to address . port pairs, in prerouting and output', () => {
    const text = renderMesh(ports, { ip: '10.255.0.2', bridge: 'swbr4096' });
    const rule = 'fib daddr type local tcp dport 30080 dnat ip to numgen inc mod 2 map { 0 : 10.255.0.5 . 80, 1 : 10.255.0.6 . 8080 }';
    expect(text.split(rule).length - 1).toBe(2);
    expect(text).toContain('fib daddr type local udp dport 30053 dnat ip to 10.255.0.7:53');
  });

  it('rejects a port without backends from outside (input) and from the host itself (output)', () => {
    const text = renderMesh([...ports, { protocol: 'udp', port: 30082, backends: [] }], undefined);
    const input = text.slice(text.indexOf('chain reject_input {'), text.indexOf('chain reject_output {'));
    expect(input).toContain('type filter hook input priority filter;');
    expect(input).toContain('tcp dport 30081 reject with tcp reset');
    expect(input).toContain('udp dport 30082 reject with icmp type port-unreachable');
    expect(text.slice(text.indexOf('chain reject_output {'))).toContain('fib daddr type local tcp dport 30081 reject with tcp reset');
    expect(renderMesh(ports.slice(0, 2), undefined)).not.toContain('reject');
  });

  it('spreads by weight over address . port pairs; all weights 0 rejects', () => {
    const weighted = [
      { protocol: 'tcp' as const, port: 30080, backends: [{ ip: '10.255.0.5', port: 80, weight: 1 }, { ip: '10.255.0.6', port: 8080, weight: 3 }, { ip: '10.255.0.7', port: 80, weight: 0 }] },
      { protocol: 'tcp' as const, port: 30081, backends: [{ ip: '10.255.0.5', port: 80, weight: 0 }] },
      { protocol: 'udp' as const, port: 30053, backends: [{ ip: '10.255.0.7', port: 53 }, { ip: '10.255.0.8', port: 53, weight: 2 }] },
    ];
    const text = renderMesh(weighted, undefined);
    const rule = 'fib daddr type local tcp dport 30080 dnat ip to numgen inc mod 4 map { 0 : 10.255.0.5 . 80, 1-3 : 10.255.0.6 . 8080 }';
    expect(text.split(rule).length - 1).toBe(2);
    expect(text).toContain('fib daddr type local udp dport 30053 dnat ip to numgen inc mod 3 map { 0 : 10.255.0.7 . 53, 1-2 : 10.255.0.8 . 53 }');
    expect(text.slice(text.indexOf('chain reject_input {'))).toContain('tcp dport 30081 reject with tcp reset');
    expect(text).not.toContain('dport 30081 dnat');
  });

  it('SNATs DNATed traffic leaving through the ingress bridge to this host', () => {
    expect(renderMesh(ports, { ip: '10.255.0.2', bridge: 'swbr4096' })).toContain('oifname "swbr4096" ct status dnat snat ip to 10.255.0.2');
    expect(renderMesh(ports, undefined)).not.toContain('postrouting');
  });

  it('no ports: no table', () => {
    expect(renderMesh([], { ip: '10.255.0.2', bridge: 'swbr4096' })).toBe('table ip swarm_mesh {}\ndelete table ip swarm_mesh\n');
  });
});

describe('weightSlots (numgen values per weight)', () => {
  it('keeps small weights exactly, divided by their common divisor', () => {
    expect(weightSlots([1, 3])).toEqual([1, 3]);
    expect(weightSlots([10, 90])).toEqual([1, 9]);
    expect(weightSlots([6, 0, 4])).toEqual([3, 0, 2]);
    expect(weightSlots([7, 7, 7])).toEqual([1, 1, 1]);
    expect(weightSlots([1, 9999])).toEqual([1, 9999]);
    expect(weightSlots([0, 0])).toEqual([0, 0]);
    expect(weightSlots([])).toEqual([]);
  });

  it('scales larger sums to 10000 values, at least one per positive weight', () => {
    // 1 : 10^6 would starve the first: it keeps one value, taken from the second.
    expect(weightSlots([1, 1_000_000])).toEqual([1, 9999]);
    expect(weightSlots([1, 10_000])).toEqual([1, 9999]);
    expect(weightSlots([1, 1, 10_000, 0])).toEqual([1, 1, 9998, 0]);
    // Exact shares 999.9, 1999.8, 7000.3: the two values left go to the largest fractions.
    expect(weightSlots([1_000, 2_000, 7_001])).toEqual([1, 2, 7]);
    // Shares 0.1 (three times) and 9999.7: the raised ones' values come from the largest count.
    expect(weightSlots([1, 1, 1, 99_997])).toEqual([1, 1, 1, 9997]);
    // Ties: a value left goes to the earlier weight, a value taken back comes from the later.
    expect(weightSlots([5_000, 5_000, 1])).toEqual([5000, 4999, 1]);
    expect(weightSlots([1, 1, 1, 49_998, 49_999])).toEqual([1, 1, 1, 4999, 4998]);
    // Sums past 2^53 stay exact.
    expect(weightSlots([Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1])).toEqual([1, 1]);
    // Many equal weights stay one value each, however many.
    expect(weightSlots(Array.from({ length: 12_000 }, () => 3))).toEqual(Array.from({ length: 12_000 }, () => 1));
  });

  it('stays within 10000 values and close to the exact shares', () => {
    let seed = 7;
    const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const weights = Array.from({ length: 1 + (next() % 20) }, () => (next() % 4 === 0 ? 0 : next() % (round < 100 ? 1000 : 1_000_000)));
      const slots = weightSlots(weights);
      const n = slots.reduce((a, b) => a + b, 0);
      const sum = weights.reduce((a, b) => a + b, 0);
      expect(n).toBeLessThanOrEqual(10_000);
      if (sum === 0) {
        expect(n).toBe(0);
        continue;
      }
      weights.forEach((w, i) => {
        expect(slots[i]! > 0).toBe(w > 0);
        const positive = weights.filter((x) => x > 0).length;
        expect(Math.abs(slots[i]! / n - w / sum)).toBeLessThan((positive + 1) / 10_000 + 1e-12);
      });
    }
  });
});

describe('table ip swarm_hostports', () => {
  it('DNATs a host port to the local task', () => {
    const text = renderHostPorts([{ protocol: 'tcp', port: 8080, ip: '10.0.1.5', targetPort: 80 }]);
    expect(text.split('fib daddr type local tcp dport 8080 dnat ip to 10.0.1.5:80').length - 1).toBe(2);
    expect(renderHostPorts([])).toBe('table ip swarm_hostports {}\ndelete table ip swarm_hostports\n');
  });

  it('teardown removes tables whether or not they exist', () => {
    expect(renderDeleteTables(['swarm', 'swarm_mesh'])).toBe(
      'table ip swarm {}\ndelete table ip swarm\ntable ip swarm_mesh {}\ndelete table ip swarm_mesh\n',
    );
  });
});

describe('network batch lines', () => {
  const underlay = { dev: 'eth0', ip: '10.220.5.1' };

  it('creates the bridge and a vxlan bound to the underlay, then asserts the rest', () => {
    const lines = renderNetworkLines(A, parseCidr(A.subnet), underlay, { bridge: false, vxlan: false });
    expect(lines).toEqual([
      'link add swbr4097 address 02:42:0a:00:01:01 type bridge',
      'link add swvx4097 type vxlan id 4097 dstport 4789 local 10.220.5.1 dev eth0 nolearning proxy',
      'link set swbr4097 mtu 1450',
      'link set swvx4097 master swbr4097',
      'link set swvx4097 up',
      'link set swbr4097 alias swarm-net:n4097',
      'link set swbr4097 up',
      'addr replace 10.0.1.1/24 dev swbr4097',
    ]);
  });

  it('re-running on existing devices adds nothing (every other line is idempotent)', () => {
    const lines = renderNetworkLines(A, parseCidr(A.subnet), underlay, { bridge: true, vxlan: true });
    expect(lines.some((l) => l.startsWith('link add'))).toBe(false);
  });
});

describe('default route of a task', () => {
  it('goes via the first network with a way out', () => {
    expect(chooseDefaultRoute([{ net: INTERNAL, ip: '10.0.3.5' }, { net: INGRESS, ip: '10.255.0.5' }, { net: B, ip: '10.0.2.5' }, { net: A, ip: '10.0.1.5' }])).toEqual({
      dev: 'eth2',
      gateway: '10.0.2.1',
    });
  });

  it('via ingress when it is the only way out, none when all are internal', () => {
    expect(chooseDefaultRoute([{ net: INTERNAL, ip: '10.0.3.5' }, { net: INGRESS, ip: '10.255.0.5' }])).toEqual({ dev: 'eth1', gateway: '10.255.0.1' });
    expect(chooseDefaultRoute([{ net: INTERNAL, ip: '10.0.3.5' }])).toBeUndefined();
    expect(chooseDefaultRoute([])).toBeUndefined();
  });
});

describe('peer diff', () => {
  const dev = 'swvx4097';
  const p1 = { ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: '10.220.5.2' };
  const p2 = { ip: '10.0.1.6', mac: '02:42:0a:00:01:06', vtep: '10.220.5.3' };

  it('adds everything to an empty device with replace lines', () => {
    const plan = planPeers(dev, [p1, p2], new Map(), new Map());
    expect(plan.bridgeLines).toEqual([
      'fdb replace 02:42:0a:00:01:05 dev swvx4097 dst 10.220.5.2 self static',
      'fdb replace 02:42:0a:00:01:06 dev swvx4097 dst 10.220.5.3 self static',
    ]);
    expect(plan.ipLines).toEqual([
      'neigh replace 10.0.1.5 lladdr 02:42:0a:00:01:05 dev swvx4097 nud permanent',
      'neigh replace 10.0.1.6 lladdr 02:42:0a:00:01:06 dev swvx4097 nud permanent',
    ]);
    expect([...plan.fdb]).toEqual([
      [p1.mac, p1.vtep],
      [p2.mac, p2.vtep],
    ]);
  });

  it('touches nothing that is already right', () => {
    const plan = planPeers(dev, [p1], new Map([[p1.mac, p1.vtep]]), new Map([[p1.ip, p1.mac]]));
    expect(plan.bridgeLines).toEqual([]);
    expect(plan.ipLines).toEqual([]);
  });

  it('deletes (only) what exists and is no longer wanted, before adding', () => {
    const plan = planPeers(dev, [p2], new Map([[p1.mac, p1.vtep]]), new Map([[p1.ip, p1.mac]]));
    expect(plan.bridgeLines).toEqual(['fdb del 02:42:0a:00:01:05 dev swvx4097', 'fdb replace 02:42:0a:00:01:06 dev swvx4097 dst 10.220.5.3 self static']);
    expect(plan.ipLines[0]).toBe('neigh del 10.0.1.5 dev swvx4097');
    expect(planPeers(dev, [], new Map(), new Map())).toMatchObject({ bridgeLines: [], ipLines: [] });
  });

  it('moves a MAC to its new VTEP in place and re-points an IP to a new MAC', () => {
    const plan = planPeers(dev, [{ ...p1, vtep: '10.220.5.9' }], new Map([[p1.mac, p1.vtep]]), new Map([[p1.ip, '02:42:0a:00:01:99']]));
    expect(plan.bridgeLines).toEqual(['fdb replace 02:42:0a:00:01:05 dev swvx4097 dst 10.220.5.9 self static']);
    expect(plan.ipLines).toEqual(['neigh replace 10.0.1.5 lladdr 02:42:0a:00:01:05 dev swvx4097 nud permanent']);
  });

  it('reads the kernel: remote fdb entries only, neighbours replaced unless permanent', () => {
    const fdb = fdbFromKernel([
      { mac: '52:df:97:7e:e6:25', flags: [], master: 'swbr4097' },
      { mac: '02:42:0A:00:01:05', dst: '10.220.5.2', flags: ['self'] },
      { mac: '00:00:00:00:00:00', dst: '10.220.5.7', flags: ['self'] },
    ]);
    expect([...fdb]).toEqual([['02:42:0a:00:01:05', '10.220.5.2']]);
    const neigh = neighFromKernel([
      { dst: '10.0.1.5', lladdr: '02:42:0a:00:01:05', state: ['PERMANENT'] },
      { dst: '10.0.1.6', lladdr: '02:42:0a:00:01:06', state: ['STALE'] },
    ]);
    const plan = planPeers(dev, [p1, p2], fdb, neigh);
    expect(plan.ipLines).toEqual(['neigh replace 10.0.1.6 lladdr 02:42:0a:00:01:06 dev swvx4097 nud permanent']);
  });

  it('plans 200 peers as one line each per batch', () => {
    const many = Array.from({ length: 200 }, (_, i) => ({ ip: `10.0.1.${i + 2}`, mac: `02:42:0a:00:01:${(i + 2).toString(16).padStart(2, '0')}`, vtep: '10.220.5.2' }));
    const plan = planPeers(dev, many, new Map(), new Map());
    expect(plan.bridgeLines).toHaveLength(200);
    expect(plan.ipLines).toHaveLength(200);
  });
});
