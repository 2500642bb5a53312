import { describe, expect, it } from 'vitest';
import { isSwarmError, type SwarmError } from '../../errors.js';
import type { NetworkObject, NodeObject, ServiceObject, ServiceSpec, StoreAction, TaskObject } from '../../store/index.js';
import { mkService, mkTask } from '../test-helpers.js';
import {
  AddressPlanner,
  allocateEndpoint,
  allocatePorts,
  allocateTaskNetworking,
  holdsAddresses,
  ingressNetworkSpec,
  newNetworkObject,
  NO_INGRESS_WARNING,
  planNodeAttachments,
  type AllocatorView,
} from './index.js';
import { thrown } from '../../../test/support/rejection.js';

const POOL = { DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24 };

function stored<T extends object>(draft: T, version = 1): T & { Version: { Index: number }; CreatedAt: string; UpdatedAt: string } {
  return { ...draft, Version: { Index: version }, CreatedAt: '2024-01-01T00:00:00Z', UpdatedAt: '2024-01-01T00:00:00Z' };
}

/** A network as the store would hold it, allocated after `existing`. */
function network(id: string, name: string, existing: NetworkObject[] = [], extra: { subnet?: string; ingress?: boolean } = {}): NetworkObject {
  const spec = extra.ingress ? ingressNetworkSpec() : { Name: name, Labels: {}, DriverConfiguration: { Name: 'overlay' as const }, ...(extra.subnet ? { IPAMOptions: { Configs: [{ Subnet: extra.subnet }] } } : {}) };
  return stored(newNetworkObject(id, spec, existing, POOL));
}

function caught(fn: () => unknown): SwarmError {
  const err = thrown(fn);
  if (isSwarmError(err)) return err;
  throw err;
}

function view(o: Partial<AllocatorView>): AllocatorView {
  return { networks: [], services: [], tasks: [], nodes: [], ...o };
}

const lastAllocated = (actions: StoreAction[]): Record<string, unknown> =>
  Object.fromEntries(actions.map((a) => (a.op === 'update' ? [a.object.ID, [(a.object as NetworkObject).LastAllocated, a.expectVersion]] : ['?', a.op])));

function attachedTask(id: string, net: NetworkObject, address: string, o: Parameters<typeof mkTask>[2] = {}): TaskObject {
  return { ...mkTask(id, 'svc', o), NetworksAttachments: [{ Network: net, Addresses: [address] }] };
}

function mkNodeObject(id: string, attachments?: NodeObject['Attachments']): NodeObject {
  return stored({
    ID: id,
    Spec: { Labels: {}, Role: 'worker' as const, Availability: 'active' as const },
    Description: { Hostname: id, Platform: { Architecture: 'x86_64', OS: 'linux' }, Resources: { NanoCPUs: 1e9, MemoryBytes: 1e9 }, Engine: { EngineVersion: 'x', Labels: {} } },
    Status: { State: 'ready' as const, Addr: '192.0.2.1' },
    Swarm: { PeerId: 'p', Multiaddrs: [] },
    ...(attachments ? { Attachments: attachments } : {}),
  });
}

describe('newNetworkObject', () => {
  it('gives ingress the first /24 of the pool and VNI 4096, and the next networks the next ones', () => {
    const ingress = network('ing', 'ingress', [], { ingress: true });
    expect(ingress).toMatchObject({
      Spec: { Name: 'ingress', Ingress: true, DriverConfiguration: { Name: 'overlay' } },
      DriverState: { Name: 'overlay', Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' } },
      IPAM: { Driver: { Name: 'default' }, Configs: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }] },
    });
    const a = network('a', 'shop_default', [ingress]);
    expect(a.IPAM.Configs).toEqual([{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }]);
    expect(a.DriverState.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4097');
    const own = network('b', 'own', [ingress, a], { subnet: '10.0.2.0/24' });
    expect(own.Spec.IPAMOptions).toEqual({ Driver: { Name: 'default' }, Configs: [{ Subnet: '10.0.2.0/24' }] });
    expect(network('c', 'next', [ingress, a, own]).IPAM.Configs[0]?.Subnet).toBe('10.0.3.0/24');
    const custom = newNetworkObject('x', { Name: 'x', Labels: {}, DriverConfiguration: { Name: 'overlay' } }, [], { DefaultAddrPool: ['172.20.0.0/16'], SubnetSize: 26 });
    expect(custom.IPAM.Configs[0]).toEqual({ Subnet: '172.20.0.0/26', Gateway: '172.20.0.1' });
  });

  it('refuses an overlapping subnet (CONFLICT naming the network), a second ingress, bad names and bad addresses', () => {
    const ingress = network('ing', 'ingress', [], { ingress: true });
    const a = network('a', 'shop_default', [ingress]);
    const overlap = caught(() => network('b', 'b', [ingress, a], { subnet: '10.0.1.128/25' }));
    expect([overlap.code, overlap.message]).toEqual(['CONFLICT', 'IPAM.Config[0].Subnet: 10.0.1.128/25 overlaps 10.0.1.0/24 of network shop_default']);
    const second = caught(() => network('i2', 'ingress2', [ingress, a], { ingress: true }));
    expect([second.code, second.message]).toEqual(['CONFLICT', 'ingress network ingress (ing) is already present']);
    expect(caught(() => network('n', 'bad name', [])).message).toBe('Name: "bad name" is not a valid network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)');
    const gw = caught(() => newNetworkObject('n', { Name: 'n', Labels: {}, DriverConfiguration: { Name: 'overlay' }, IPAMOptions: { Configs: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.1.1' }] } }, [], POOL));
    expect([gw.code, gw.message]).toEqual(['INVALID_ARGUMENT', 'IPAM.Config[0].Gateway: 10.9.1.1 is outside subnet 10.9.0.0/24']);
    expect(caught(() => network('n', 'n', [], { subnet: '10.9.0.1/24' })).message).toBe('IPAM.Config[0].Subnet: "10.9.0.1/24" has host bits set');
    const two = caught(() => newNetworkObject('n', { Name: 'n', Labels: {}, DriverConfiguration: { Name: 'overlay' }, IPAMOptions: { Configs: [{ Subnet: '10.9.0.0/24' }, { Subnet: '10.9.1.0/24' }] } }, [], POOL));
    expect(two.message).toBe('IPAM.Config: only one subnet per network is supported');
  });
});

describe('AddressPlanner', () => {
  const net = network('n1', 'tiny', [], { subnet: '10.0.9.0/29' }); // hosts .2-.6 (gateway .1)

  it('hands out addresses serially after LastAllocated, wrapping, and records the move conditionally', () => {
    const p = new AddressPlanner(view({ networks: [{ ...net, LastAllocated: '10.0.9.4' }] }));
    expect(p.allocate('n1', 'task:a')).toBe('10.0.9.5/29');
    expect(p.allocate('n1', 'task:b')).toBe('10.0.9.6/29');
    expect(p.allocate('n1', 'task:c')).toBe('10.0.9.2/29');
    expect(p.allocate('n1', 'task:a')).toBe('10.0.9.5/29'); // an owner keeps its address
    expect(lastAllocated(p.networkUpdates())).toEqual({ n1: ['10.0.9.2', 1] });
    expect(new AddressPlanner(view({ networks: [net] })).networkUpdates()).toEqual([]);
  });

  it('never hands out an address a live task, a VIP or a node holds; exhaustion names the network', () => {
    const svc: ServiceObject = { ...mkService('svc'), Endpoint: { Spec: {}, VirtualIPs: [{ NetworkID: 'n1', Addr: '10.0.9.2/29' }] } };
    const running = attachedTask('t1', net, '10.0.9.3/29', { state: 'running', node: 'x' });
    const stopping = attachedTask('t2', net, '10.0.9.4/29', { state: 'running', desired: 'shutdown', node: 'x' }); // not stopped yet
    const node = mkNodeObject('nodeA', [{ Network: net, Addresses: ['10.0.9.5/29'] }]);
    const p = new AddressPlanner(view({ networks: [net], services: [svc], tasks: [running, stopping], nodes: [node] }));
    expect(p.allocate('n1', 'task:new')).toBe('10.0.9.6/29');
    const full = caught(() => p.allocate('n1', 'task:more'));
    expect([full.code, full.message]).toEqual(['UNAVAILABLE', 'ip: network tiny (10.0.9.0/29) has no free address left (5 usable, 5 allocated)']);
    expect(caught(() => p.allocate('nope', 'task:x')).code).toBe('NOT_FOUND');
  });

  it('frees the addresses of tasks that ended and were told to stop, and of unplaced ones told to stop', () => {
    expect(holdsAddresses(mkTask('a', 's', { state: 'pending' }))).toBe(true);
    expect(holdsAddresses(mkTask('a', 's', { state: 'failed', desired: 'running' }))).toBe(true);
    expect(holdsAddresses(mkTask('a', 's', { state: 'running', desired: 'shutdown' }))).toBe(true);
    expect(holdsAddresses(mkTask('a', 's', { state: 'failed', desired: 'shutdown' }))).toBe(false);
    expect(holdsAddresses(mkTask('a', 's', { state: 'pending', desired: 'shutdown' }))).toBe(false);
    // On a node that is down nothing will use them once the task is told to stop.
    const stranded = { ...mkTask('a', 's', { state: 'running', desired: 'shutdown' }), NodeID: 'gone' };
    expect(holdsAddresses(stranded, new Set(['gone']))).toBe(false);
    expect(holdsAddresses({ ...stranded, DesiredState: 'running' }, new Set(['gone']))).toBe(true);
    const done = attachedTask('t1', net, '10.0.9.2/29', { state: 'complete', desired: 'shutdown' });
    const p = new AddressPlanner(view({ networks: [{ ...net, LastAllocated: '10.0.9.6' }], tasks: [done] }));
    expect(p.allocate('n1', 'task:new')).toBe('10.0.9.2/29');
  });
});

describe('allocatePorts', () => {
  const publishing = (id: string, ports: ServiceSpec['EndpointSpec']): ServiceObject => ({ ...mkService(id), Endpoint: { Spec: {}, Ports: allocatePorts(ports?.Ports ?? [], undefined, []) } });

  it('fills in protocol and mode and gives ingress ports without a number the lowest free one from 30000', () => {
    const other = publishing('other', { Ports: [{ TargetPort: 1, PublishedPort: 30000 }, { TargetPort: 2, PublishedPort: 30002 }, { TargetPort: 3, PublishedPort: 30001, Protocol: 'udp' }] });
    expect(allocatePorts([{ TargetPort: 80 }, { TargetPort: 81 }, { TargetPort: 53, Protocol: 'udp' }, { TargetPort: 90, PublishMode: 'host' }], undefined, [other])).toEqual([
      { Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', PublishedPort: 30001 },
      { Protocol: 'tcp', TargetPort: 81, PublishMode: 'ingress', PublishedPort: 30003 },
      { Protocol: 'udp', TargetPort: 53, PublishMode: 'ingress', PublishedPort: 30000 },
      { Protocol: 'tcp', TargetPort: 90, PublishMode: 'host' },
    ]);
  });

  it('refuses a published ingress port another service uses, naming it; host mode and other protocols are free', () => {
    const web = { ...publishing('web', { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] }), Spec: { ...mkService('web').Spec, Name: 'web' } };
    const err = caught(() => allocatePorts([{ TargetPort: 81 }, { TargetPort: 80, PublishedPort: 8080 }], undefined, [web]));
    expect([err.code, err.message]).toEqual(['CONFLICT', 'EndpointSpec.Ports[1].PublishedPort: port 8080/tcp is already in use by service web as an ingress port']);
    expect(allocatePorts([{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }, { TargetPort: 80, PublishedPort: 8080, Protocol: 'udp' }], undefined, [web])).toHaveLength(2);
  });

  it('keeps the auto-assigned port over an update', () => {
    const before = allocatePorts([{ TargetPort: 80 }], undefined, [publishing('a', { Ports: [{ TargetPort: 1 }] })]);
    expect(before[0]?.PublishedPort).toBe(30001);
    // Meanwhile 30000 became free; the service keeps 30001.
    expect(allocatePorts([{ TargetPort: 80 }, { TargetPort: 443 }], before, [])).toMatchObject([{ PublishedPort: 30001 }, { PublishedPort: 30000 }]);
  });
});

describe('allocateEndpoint', () => {
  const ingress = network('ing', 'ingress', [], { ingress: true });
  const front = network('front', 'shop_front', [ingress]);
  const back = network('back', 'shop_back', [ingress, front]);
  const networks = [ingress, front, back];
  const spec = (o: Partial<ServiceSpec> = {}, nets = [{ Target: 'shop_front', Aliases: ['web'] }, { Target: 'back' }]): ServiceSpec => ({
    ...mkService('web').Spec,
    TaskTemplate: { ContainerSpec: { Image: 'nginx' }, Networks: nets },
    ...o,
  });

  it('one VIP per network (ingress first when publishing), targets normalised to IDs, network LastAllocated moved', () => {
    const planner = new AddressPlanner(view({ networks }));
    const r = allocateEndpoint({ serviceId: 'svc1', spec: spec({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } }), services: [], planner });
    expect(r.spec.TaskTemplate.Networks).toEqual([{ Target: 'front', Aliases: ['web'] }, { Target: 'back' }]);
    expect(r.endpoint).toEqual({
      Spec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
      Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', PublishedPort: 8080 }],
      VirtualIPs: [
        { NetworkID: 'ing', Addr: '10.0.0.2/24' },
        { NetworkID: 'front', Addr: '10.0.1.2/24' },
        { NetworkID: 'back', Addr: '10.0.2.2/24' },
      ],
    });
    expect(r.warnings).toEqual([]);
    expect(lastAllocated(planner.networkUpdates())).toEqual({ ing: ['10.0.0.2', 1], front: ['10.0.1.2', 1], back: ['10.0.2.2', 1] });
  });

  it('keeps the VIPs over an unrelated update, frees those of networks left; dnsrr has none', () => {
    const first = allocateEndpoint({ serviceId: 'svc1', spec: spec(), services: [], planner: new AddressPlanner(view({ networks })) });
    const current: ServiceObject = { ...mkService('svc1'), Spec: first.spec, Endpoint: first.endpoint };
    // Other allocations moved LastAllocated on; the service's VIPs stay what they were.
    const moved = networks.map((n) => ({ ...n, LastAllocated: n.IPAM.Configs[0]!.Subnet.replace('0/24', '9') }));
    const planner = new AddressPlanner(view({ networks: moved, services: [current] }));
    const again = allocateEndpoint({ serviceId: 'svc1', spec: { ...first.spec, Labels: { changed: 'yes' } }, current, services: [current], planner });
    expect(again.endpoint).toEqual(first.endpoint);
    expect(planner.networkUpdates()).toEqual([]);
    const fewer = allocateEndpoint({ serviceId: 'svc1', spec: spec({}, [{ Target: 'back' }]), current, services: [current], planner: new AddressPlanner(view({ networks: moved, services: [current] })) });
    expect(fewer.endpoint.VirtualIPs).toEqual([{ NetworkID: 'back', Addr: '10.0.2.2/24' }]);
    const dnsrr = allocateEndpoint({ serviceId: 'svc1', spec: spec({ EndpointSpec: { Mode: 'dnsrr' } }), current, services: [current], planner: new AddressPlanner(view({ networks })) });
    expect(dnsrr.endpoint).toEqual({ Spec: { Mode: 'dnsrr' } });
  });

  it('refuses unknown networks, the ingress network and duplicates, naming the field; warns without an ingress network', () => {
    const planner = new AddressPlanner(view({ networks }));
    const unknown = caught(() => allocateEndpoint({ serviceId: 's', spec: spec({}, [{ Target: 'shop_front' }, { Target: 'nope' }]), services: [], planner }));
    expect([unknown.code, unknown.message]).toEqual(['INVALID_ARGUMENT', 'TaskTemplate.Networks[1].Target: network nope not found']);
    expect(caught(() => allocateEndpoint({ serviceId: 's', spec: spec({}, [{ Target: 'ingress' }]), services: [], planner })).message).toMatch(/^TaskTemplate.Networks\[0\].Target: ingress is the ingress network/);
    expect(caught(() => allocateEndpoint({ serviceId: 's', spec: spec({}, [{ Target: 'front' }, { Target: 'shop_front' }]), services: [], planner })).message).toBe(
      'TaskTemplate.Networks[1].Target: network shop_front is listed more than once',
    );
    const bare = allocateEndpoint({ serviceId: 's', spec: spec({ EndpointSpec: { Ports: [{ TargetPort: 80 }] } }, []), services: [], planner: new AddressPlanner(view({ networks: [front] })) });
    expect(bare.warnings).toEqual([NO_INGRESS_WARNING]);
    expect(bare.endpoint.Ports?.[0]?.PublishedPort).toBe(30000);
    expect(bare.endpoint.VirtualIPs).toBeUndefined();
  });
});

describe('allocateTaskNetworking', () => {
  const ingress = network('ing', 'ingress', [], { ingress: true });
  const front = network('front', 'shop_front', [ingress]);
  const tiny = network('tiny', 'tiny', [ingress, front], { subnet: '10.9.0.0/30' }); // one host: .2

  it('attaches to the ingress network first when publishing, then each network with its aliases, with the service name and endpoint', () => {
    const svc: ServiceObject = { ...mkService('svc'), Spec: { ...mkService('svc').Spec, Name: 'shop_web' }, Endpoint: { Spec: {}, Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }], VirtualIPs: [{ NetworkID: 'ing', Addr: '10.0.0.2/24' }] } };
    const planner = new AddressPlanner(view({ networks: [{ ...ingress, LastAllocated: '10.0.0.2' }, front], services: [svc] }));
    const r = allocateTaskNetworking(planner, { ID: 't1', Spec: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'front', Aliases: ['web'] }] } }, svc);
    expect(r).toEqual({
      NetworksAttachments: [
        { Network: ingress, Addresses: ['10.0.0.3/24'] },
        { Network: front, Addresses: ['10.0.1.2/24'], Aliases: ['web'] },
      ],
      ServiceAnnotations: { Name: 'shop_web' },
      Endpoint: svc.Endpoint,
    });
    expect(r.NetworksAttachments?.[0]?.Network).not.toHaveProperty('LastAllocated');
  });

  it('keeps nothing when a network is full', () => {
    const planner = new AddressPlanner(view({ networks: [front, tiny] }));
    const task = (id: string) => ({ ID: id, Spec: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'front' }, { Target: 'tiny' }] } });
    allocateTaskNetworking(planner, task('t1'), undefined);
    const err = caught(() => allocateTaskNetworking(planner, task('t2'), undefined));
    expect(err.message).toBe('ip: network tiny (10.9.0.0/30) has no free address left (1 usable, 1 allocated)');
    // t2 holds nothing (its address on front was given back; serial allocation goes on past it).
    planner.release('tiny', 'task:t1');
    expect(allocateTaskNetworking(planner, task('t3'), undefined).NetworksAttachments?.map((a) => a.Addresses[0])).toEqual(['10.0.1.4/24', '10.9.0.2/30']);
  });
});

describe('planNodeAttachments', () => {
  const ingress = network('ing', 'ingress', [], { ingress: true });

  it('gives nodes without one an ingress address, keeps those that have one, drops attachments to networks gone', () => {
    const gone = network('old', 'old-ingress', [], { ingress: true });
    const has = mkNodeObject('a', [{ Network: ingress, Addresses: ['10.0.0.2/24'] }]);
    const lacks = mkNodeObject('b');
    const stale = mkNodeObject('c', [{ Network: gone, Addresses: ['10.0.0.9/24'] }]);
    const plan = planNodeAttachments(view({ networks: [ingress], nodes: [has, lacks, stale] }));
    expect(plan.nodes.map((n) => [n.object.ID, n.object.Attachments?.map((a) => a.Addresses[0]), n.expectVersion])).toEqual([
      ['b', ['10.0.0.3/24'], 1],
      ['c', ['10.0.0.4/24'], 1],
    ]);
    expect(lastAllocated(plan.planner!.networkUpdates())).toEqual({ ing: ['10.0.0.4', 1] });
    // Without an ingress network nodes lose theirs; with all set, nothing to do.
    expect(planNodeAttachments(view({ networks: [], nodes: [has] })).nodes[0]?.object).not.toHaveProperty('Attachments');
    expect(planNodeAttachments(view({ networks: [ingress], nodes: [has] }))).toEqual({ nodes: [], planner: undefined, failures: [] });
  });

  it('reports nodes the full ingress network has no room for', () => {
    const small = stored(newNetworkObject('ing', { ...ingressNetworkSpec(), IPAMOptions: { Configs: [{ Subnet: '10.0.0.0/30' }] } }, [], POOL));
    const plan = planNodeAttachments(view({ networks: [small], nodes: [mkNodeObject('a'), mkNodeObject('b')] }));
    expect(plan.nodes.map((n) => n.object.ID)).toEqual(['a']);
    expect(plan.failures).toEqual([{ nodeId: 'b', message: 'ip: network ingress (10.0.0.0/30) has no free address left (1 usable, 1 allocated)' }]);
  });
});
