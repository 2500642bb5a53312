import { describe, expect, it } from 'vitest';
import { stamped, taskEndpoint } from '../peers/test-helpers.js';
import type { EndpointRecord, EndpointService, PublishedPort } from '../types.js';
import { ingressPorts, remotePeers, taskBalancing } from './plan.js';

const SELF = '192.168.1.1';
const OTHER = '192.168.1.2';

function task(
  id: string,
  ip: string,
  opts: { net?: string; vtep?: string; ready?: boolean; service?: Partial<EndpointService>; version?: number; deleted?: boolean } = {},
): EndpointRecord {
  return stamped(taskEndpoint(id, ip, { ...opts, node: opts.vtep === SELF ? 'n1' : 'n2' }), opts.version ?? 1, 'n1', opts.deleted ?? false);
}

describe('remotePeers', () => {
  it('lists live endpoints on other hosts, sorted by address numerically', () => {
    const records = [
      task('a', '10.0.1.10', { vtep: OTHER }),
      task('b', '10.0.1.9', { vtep: '192.168.1.3', ready: false }),
      task('c', '10.0.1.11', { vtep: SELF }),
      task('d', '10.0.1.12', { vtep: OTHER, deleted: true }),
      { ...task('n', '10.0.1.2', { vtep: OTHER }), owner: 'node:n2', service: undefined },
    ];
    expect(remotePeers(records, SELF)).toEqual([
      { ip: '10.0.1.2', mac: '02:42:0a:00:01:02', vtep: OTHER },
      { ip: '10.0.1.9', mac: '02:42:0a:00:01:09', vtep: '192.168.1.3' },
      { ip: '10.0.1.10', mac: '02:42:0a:00:01:0a', vtep: OTHER },
    ]);
  });

  it('gives an address claimed twice to the newer write, local ones included', () => {
    const stale = task('old', '10.0.1.5', { vtep: '192.168.1.3', version: 2 });
    const moved = task('new', '10.0.1.5', { vtep: OTHER, version: 7 });
    expect(remotePeers([moved, stale], SELF)).toEqual([{ ip: '10.0.1.5', mac: '02:42:0a:00:01:05', vtep: OTHER }]);
    expect(remotePeers([stale, moved], SELF)).toEqual(remotePeers([moved, stale], SELF));
    // The address is used here now: no remote entry for it at all.
    expect(remotePeers([stale, task('mine', '10.0.1.5', { vtep: SELF, version: 9 })], SELF)).toEqual([]);
    expect(remotePeers([], SELF)).toEqual([]);
  });
});

describe('taskBalancing', () => {
  const web: Partial<EndpointService> = { id: 'web', name: 'app_web', vip: '10.0.1.100', mode: 'vip' };
  const db: Partial<EndpointService> = { id: 'db', name: 'app_db', vip: '10.0.2.100', mode: 'vip' };

  it('maps each VIP on the task networks to its ready tasks there, sorted', () => {
    const byNet = new Map([
      [
        'net1',
        [
          task('w1', '10.0.1.20', { service: web }),
          task('w2', '10.0.1.3', { service: web, vtep: SELF }),
          task('w3', '10.0.1.4', { service: web, ready: false }),
          task('w4', '10.0.1.5', { service: web, deleted: true }),
          task('r1', '10.0.1.6', { service: { id: 'rr', name: 'rr', mode: 'dnsrr' } }),
        ],
      ],
      ['net2', [task('d1', '10.0.2.3', { net: 'net2', service: db, ready: false })]],
      ['net3', [task('x1', '10.0.3.3', { net: 'net3', service: { id: 'x', name: 'x', vip: '10.0.3.100' } })]],
    ]);
    expect(taskBalancing(byNet, ['net2', 'net1', 'net1'])).toEqual([
      { vip: '10.0.1.100', backends: ['10.0.1.3', '10.0.1.20'] },
      { vip: '10.0.2.100', backends: [] },
    ]);
    expect(taskBalancing(byNet, ['nope'])).toEqual([]);
  });

  it("takes a service's VIP and mode from its newest record", () => {
    const byNet = new Map([
      [
        'net1',
        [
          task('w1', '10.0.1.3', { service: { ...web, vip: '10.0.1.99' }, version: 1 }),
          task('w2', '10.0.1.4', { service: web, version: 5 }),
        ],
      ],
    ]);
    expect(taskBalancing(byNet, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: ['10.0.1.3', '10.0.1.4'] }]);
    const toDnsrr = new Map([['net1', [task('w1', '10.0.1.3', { service: web, version: 1 }), task('w2', '10.0.1.4', { service: { ...web, mode: 'dnsrr', vip: undefined }, version: 2 })]]]);
    expect(taskBalancing(toDnsrr, ['net1'])).toEqual([]);
  });

  it('gives a VIP two services claim to the lower service id', () => {
    const byNet = new Map([['net1', [task('b1', '10.0.1.3', { service: { ...web, id: 'b' } }), task('a1', '10.0.1.4', { service: { ...web, id: 'a' } })]]]);
    expect(taskBalancing(byNet, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: ['10.0.1.4'] }]);
  });

  it('carries weights parallel to the sorted backends, only when some differs from 1', () => {
    const byNet = new Map([
      [
        'net1',
        [
          task('w1', '10.0.1.20', { service: { ...web, weight: 9 } }),
          task('w2', '10.0.1.3', { service: { ...web, weight: 1 } }),
          task('w3', '10.0.1.4', { service: web }),
          task('w4', '10.0.1.5', { service: { ...web, weight: 50 }, ready: false }),
        ],
      ],
    ]);
    expect(taskBalancing(byNet, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: ['10.0.1.3', '10.0.1.4', '10.0.1.20'], weights: [1, 1, 9] }]);
    // Explicit 1s are equal shares: no weights at all.
    const equal = new Map([['net1', [task('w1', '10.0.1.3', { service: { ...web, weight: 1 } }), task('w2', '10.0.1.4', { service: web })]]]);
    expect(taskBalancing(equal, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: ['10.0.1.3', '10.0.1.4'] }]);
  });

  it('leaves weight-0 and preview tasks out of the VIP; with only those ready it has no backends', () => {
    const byNet = new Map([
      [
        'net1',
        [
          task('old', '10.0.1.3', { service: web }),
          task('zero', '10.0.1.4', { service: { ...web, weight: 0 } }),
          task('blue', '10.0.1.5', { service: { ...web, preview: true } }),
          task('blue2', '10.0.1.6', { service: { ...web, preview: true, weight: 5 } }),
        ],
      ],
    ]);
    // Only the old task is left, at weight 1: no weights.
    expect(taskBalancing(byNet, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: ['10.0.1.3'] }]);
    const onlyDark = new Map([['net1', [task('zero', '10.0.1.4', { service: { ...web, weight: 0 } }), task('blue', '10.0.1.5', { service: { ...web, preview: true } })]]]);
    expect(taskBalancing(onlyDark, ['net1'])).toEqual([{ vip: '10.0.1.100', backends: [] }]);
  });

  it('counts a malformed weight as 1 and takes an address claimed twice from the newer record', () => {
    const byNet = new Map([
      [
        'net1',
        [
          task('w1', '10.0.1.3', { service: { ...web, weight: -2 } }),
          task('w2', '10.0.1.4', { service: { ...web, weight: 1.5 } }),
          task('w3', '10.0.1.5', { service: { ...web, weight: Number.NaN } }),
          task('w4', '10.0.1.6', { service: { ...web, weight: 4 } }),
          task('old', '10.0.1.7', { service: { ...web, weight: 7 }, version: 1 }),
          task('new', '10.0.1.7', { service: { ...web, weight: 2 }, version: 3 }),
        ],
      ],
    ]);
    const expected = [{ vip: '10.0.1.100', backends: ['10.0.1.3', '10.0.1.4', '10.0.1.5', '10.0.1.6', '10.0.1.7'], weights: [1, 1, 1, 4, 2] }];
    expect(taskBalancing(byNet, ['net1'])).toEqual(expected);
    // In any order.
    expect(taskBalancing(new Map([['net1', [...byNet.get('net1')!].reverse()]]), ['net1'])).toEqual(expected);
  });
});

describe('ingressPorts', () => {
  const ingress = (publishedPort: number, targetPort: number, protocol: 'tcp' | 'udp' = 'tcp', mode: PublishedPort['mode'] = 'ingress'): PublishedPort => ({
    protocol,
    publishedPort,
    targetPort,
    mode,
  });

  it('groups ready tasks by published port, to their target ports', () => {
    const web: Partial<EndpointService> = { id: 'web', ports: [ingress(8080, 80), ingress(53, 5353, 'udp'), ingress(9000, 9000, 'tcp', 'host')] };
    const records = [
      task('w1', '10.0.0.12', { service: web }),
      task('w2', '10.0.0.3', { service: web }),
      task('w3', '10.0.0.4', { service: web, ready: false }),
      task('w4', '10.0.0.5', { service: web, deleted: true }),
      { ...task('n', '10.0.0.2'), owner: 'node:n2', service: undefined },
      task('s1', '10.0.0.6', { service: { id: 'api', ports: [ingress(443, 8443)] } }),
    ];
    expect(ingressPorts(records)).toEqual([
      { protocol: 'tcp', port: 443, backends: [{ ip: '10.0.0.6', port: 8443 }] },
      { protocol: 'tcp', port: 8080, backends: [{ ip: '10.0.0.3', port: 80 }, { ip: '10.0.0.12', port: 80 }] },
      { protocol: 'udp', port: 53, backends: [{ ip: '10.0.0.3', port: 5353 }, { ip: '10.0.0.12', port: 5353 }] },
    ]);
  });

  it('keeps a port claimed with no backends while its tasks are not ready', () => {
    const records = [task('w1', '10.0.0.3', { service: { id: 'web', ports: [ingress(8080, 80)] }, ready: false })];
    expect(ingressPorts(records)).toEqual([{ protocol: 'tcp', port: 8080, backends: [] }]);
    expect(ingressPorts([])).toEqual([]);
  });

  it('uses each task record’s own target port during a rolling update', () => {
    const records = [
      task('old', '10.0.0.3', { service: { id: 'web', ports: [ingress(8080, 80)] } }),
      task('new', '10.0.0.4', { service: { id: 'web', ports: [ingress(8080, 8000)] } }),
    ];
    expect(ingressPorts(records)).toEqual([{ protocol: 'tcp', port: 8080, backends: [{ ip: '10.0.0.3', port: 80 }, { ip: '10.0.0.4', port: 8000 }] }]);
  });

  it('carries weights other than 1 and leaves weight-0 and preview tasks out', () => {
    const web = (over: Partial<EndpointService> = {}): Partial<EndpointService> => ({ id: 'web', ports: [ingress(8080, 80)], ...over });
    const records = [
      task('w1', '10.0.0.3', { service: web({ weight: 1 }) }),
      task('w2', '10.0.0.4', { service: web({ weight: 3 }) }),
      task('w3', '10.0.0.5', { service: web({ weight: 0 }) }),
      task('w4', '10.0.0.6', { service: web({ preview: true }) }),
      task('w5', '10.0.0.7', { service: web() }),
    ];
    expect(ingressPorts(records)).toEqual([
      { protocol: 'tcp', port: 8080, backends: [{ ip: '10.0.0.3', port: 80 }, { ip: '10.0.0.4', port: 80, weight: 3 }, { ip: '10.0.0.7', port: 80 }] },
    ]);
    // Previews and weight-0 tasks still claim the port: nobody else may take it, and it rejects.
    const dark = [task('w3', '10.0.0.5', { service: web({ weight: 0 }) }), task('w4', '10.0.0.6', { service: web({ preview: true }) })];
    expect(ingressPorts(dark)).toEqual([{ protocol: 'tcp', port: 8080, backends: [] }]);
    // Two records of one address and port: the newer one's weight, in any order.
    const old = task('old', '10.0.0.8', { service: web({ weight: 5 }), version: 1 });
    const next = task('next', '10.0.0.8', { service: web({ weight: 0 }), version: 2 });
    expect(ingressPorts([old, next])).toEqual([{ protocol: 'tcp', port: 8080, backends: [] }]);
    expect(ingressPorts([next, old])).toEqual(ingressPorts([old, next]));
  });

  it('gives a port two services claim to the lower service id, in any order', () => {
    const b = task('b1', '10.0.0.3', { service: { id: 'svc-b', ports: [ingress(8080, 80)] } });
    const a = task('a1', '10.0.0.4', { service: { id: 'svc-a', ports: [ingress(8080, 81)] }, ready: false });
    const b2 = task('b2', '10.0.0.5', { service: { id: 'svc-b', ports: [ingress(8080, 80)] } });
    expect(ingressPorts([b, a, b2])).toEqual([{ protocol: 'tcp', port: 8080, backends: [] }]);
    expect(ingressPorts([a, b2, b])).toEqual(ingressPorts([b, a, b2]));
    // The same port number over udp is another port.
    const u = task('u1', '10.0.0.6', { service: { id: 'svc-u', ports: [ingress(8080, 80, 'udp')] } });
    expect(ingressPorts([b, u]).map((p) => `${p.protocol}/${p.port}`)).toEqual(['tcp/8080', 'udp/8080']);
  });
});
