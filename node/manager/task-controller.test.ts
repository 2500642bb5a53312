import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../../test/support/eventually.js';
import { SwarmError, type SwarmErrorCode } from '../errors.js';
import { silentLogger } from '../log.js';
import { ClusterStore, encodeProposal, type ReplicatedStore, type NodeObject, type ServiceSpec, type StoreAction, type TaskObject } from '../store/index.js';
import { AddressPlanner, allocateEndpoint, ingressNetworkSpec, ipOf, newNetworkObject } from './allocator/index.js';
import { TaskController } from './task-controller.js';

// The leader's loop over a real ClusterStore with commits applied in-process: new tasks carry
// their network attachments, nodes get their routing-mesh address, and a full network holds
// tasks in NEW until addresses are freed.

const POOL = { DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24 };

function setup() {
  const store = new ClusterStore();
  let index = 0;
  const apply = (actions: StoreAction[]): void => {
    const r = store.apply({ term: 1, index: ++index, kind: 'normal', data: encodeProposal({ actions, proposedAt: '2026-01-01T00:00:00Z' }) });
    if (r && !r.ok) throw new SwarmError(r.code as SwarmErrorCode, r.message);
  };
  const replicated = { commit: async (actions: StoreAction[]) => apply(actions) } as unknown as ReplicatedStore;
  const controller = new TaskController(store, replicated, silentLogger());
  const node = (id: string): Omit<NodeObject, 'Version'> => ({
    ID: id,
    CreatedAt: '',
    UpdatedAt: '',
    Spec: { Labels: {}, Role: 'worker', Availability: 'active' },
    Description: { Hostname: id, Platform: { Architecture: 'x86_64', OS: 'linux' }, Resources: { NanoCPUs: 4e9, MemoryBytes: 8e9 }, Engine: { EngineVersion: 'x', Labels: {} } },
    Status: { State: 'ready', Addr: '192.0.2.1' },
    Swarm: { PeerId: id, Multiaddrs: [] },
  });
  const network = (id: string, name: string, subnet?: string, ingress = false): void => {
    const spec = ingress ? ingressNetworkSpec() : { Name: name, Labels: {}, DriverConfiguration: { Name: 'overlay' as const }, ...(subnet ? { IPAMOptions: { Configs: [{ Subnet: subnet }] } } : {}) };
    apply([{ op: 'create', table: 'networks', object: { ...newNetworkObject(id, spec, store.list('networks'), POOL), CreatedAt: '', UpdatedAt: '' } }]);
  };
  /** As the services API creates one: the endpoint allocated in the same commit. */
  const service = (id: string, spec: Partial<ServiceSpec>): void => {
    const planner = new AddressPlanner({ networks: store.list('networks'), services: store.list('services'), tasks: store.list('tasks'), nodes: store.list('nodes') });
    const full: ServiceSpec = { Name: id, Labels: {}, TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: { Replicated: { Replicas: 1 } }, ...spec };
    const a = allocateEndpoint({ serviceId: id, spec: full, services: store.list('services'), planner });
    apply([{ op: 'create', table: 'services', object: { ID: id, CreatedAt: '', UpdatedAt: '', Spec: a.spec, Endpoint: a.endpoint } }, ...planner.networkUpdates()]);
  };
  return { store, apply, controller, node, network, service };
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

const addresses = (tasks: TaskObject[]): string[] => tasks.flatMap((t) => (t.NetworksAttachments ?? []).flatMap((a) => a.Addresses));

describe('TaskController with the allocator', () => {
  it('creates tasks with their attachments, service name and endpoint; nodes get an ingress address; nothing twice', async () => {
    const { store, apply, controller, node, network, service } = setup();
    network('ing', 'ingress', undefined, true);
    network('back', 'back');
    apply([{ op: 'create', table: 'nodes', object: node('n1') }, { op: 'create', table: 'nodes', object: node('n2') }]);
    service('web', { TaskTemplate: { ContainerSpec: { Image: 'nginx' }, Networks: [{ Target: 'back', Aliases: ['w'] }] }, Mode: { Replicated: { Replicas: 3 } }, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } });
    controller.start();
    stop = () => controller.stop();
    const tasks = await eventually(() => {
      const ts = store.list('tasks');
      return ts.length === 3 && ts.every((t) => t.Status.State === 'assigned') && ts;
    }, 'three assigned tasks');
    const web = store.get('services', 'web')!;
    for (const t of tasks) {
      expect(t.ServiceAnnotations).toEqual({ Name: 'web' });
      expect(t.Endpoint).toEqual(web.Endpoint);
      expect(t.NetworksAttachments?.map((a) => [a.Network.ID, a.Aliases])).toEqual([
        ['ing', undefined],
        ['back', ['w']],
      ]);
    }
    const nodes = await eventually(() => {
      const ns = store.list('nodes');
      return ns.every((n) => n.Attachments?.length === 1) && ns;
    }, 'node attachments');
    expect(nodes.map((n) => n.Attachments?.[0]?.Network.ID)).toEqual(['ing', 'ing']);
    // VIPs, task and node addresses: all distinct; LastAllocated is the last one handed out.
    const all = [...(web.Endpoint?.VirtualIPs ?? []).map((v) => v.Addr), ...addresses(tasks), ...nodes.flatMap((n) => n.Attachments![0]!.Addresses)];
    expect(new Set(all).size).toBe(all.length);
    expect(all.filter((a) => a.startsWith('10.0.1.')).sort()).toEqual(['10.0.1.2/24', '10.0.1.3/24', '10.0.1.4/24', '10.0.1.5/24']);
    expect(store.get('networks', 'back')?.LastAllocated).toBe('10.0.1.5');
    expect(all.filter((a) => a.startsWith('10.0.0.')).length).toBe(6);
    // A node that leaves frees its address; one that joins gets a new one (serial: not the freed one).
    const freed = ipOf(store.get('nodes', 'n2')!.Attachments![0]!.Addresses[0]!);
    apply([{ op: 'delete', table: 'nodes', id: 'n2' }, { op: 'create', table: 'nodes', object: node('n3') }]);
    const n3 = await eventually(() => store.get('nodes', 'n3')?.Attachments?.[0]?.Addresses[0], 'n3 attached');
    expect(ipOf(n3)).not.toBe(freed);
  });

  it('a task whose network is full waits in NEW with the reason, and gets its address once one is freed', async () => {
    const { store, apply, controller, node, network, service } = setup();
    network('tiny', 'tiny', '10.9.0.0/29'); // 5 hosts
    apply([{ op: 'create', table: 'nodes', object: node('n1') }]);
    service('a', { TaskTemplate: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'tiny' }] }, Mode: { Replicated: { Replicas: 2 } } }); // VIP + 2
    service('b', { TaskTemplate: { ContainerSpec: { Image: 'x' }, Networks: [{ Target: 'tiny' }] }, Mode: { Replicated: { Replicas: 2 } } }); // VIP + 1 of 2
    controller.start();
    stop = () => controller.stop();
    const waiting = await eventually(() => store.find('tasks', (t) => t.Status.State === 'new')[0], 'a task in NEW');
    expect(waiting.Status.Message).toBe('pending network allocation: ip: network tiny (10.9.0.0/29) has no free address left (5 usable, 5 allocated)');
    expect(waiting.NetworksAttachments).toBeUndefined();
    expect(store.find('tasks', (t) => t.Status.State === 'assigned').length).toBe(3);
    // Service a goes: its VIP is freed at once, its tasks' addresses once they are gone.
    apply([{ op: 'delete', table: 'services', id: 'a' }]);
    const placed = await eventually(() => {
      const t = store.get('tasks', waiting.ID);
      return t?.Status.State === 'assigned' && t;
    }, 'the waiting task placed');
    expect(placed.NetworksAttachments?.[0]?.Addresses).toHaveLength(1);
    const live = store.find('tasks', (t) => t.ServiceID === 'b');
    expect(new Set(addresses(live)).size).toBe(2);
  });
});

describe('TaskController: an automatic rollback', () => {
  it('brings back the old spec with its published ports, as `service rollback` does', async () => {
    const { store, apply, controller, node, network, service } = setup();
    network('ing', 'ingress', undefined, true);
    apply([{ op: 'create', table: 'nodes', object: node('n1') }]);
    service('web', {
      Mode: { Replicated: { Replicas: 2 } },
      EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
      UpdateConfig: { Parallelism: 2, FailureAction: 'rollback', Monitor: 60e9 },
    });
    controller.start();
    stop = () => controller.stop();
    await eventually(() => store.find('tasks', (t) => t.Status.State === 'assigned').length === 2, 'two assigned tasks');
    // An update as the services API writes it: a new image and a new published port.
    const before = store.get('services', 'web')!;
    const planner = new AddressPlanner({ networks: store.list('networks'), services: store.list('services'), tasks: store.list('tasks'), nodes: store.list('nodes') });
    const nextSpec: ServiceSpec = { ...before.Spec, TaskTemplate: { ContainerSpec: { Image: 'broken' } }, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 9090 }] } };
    const a = allocateEndpoint({ serviceId: 'web', spec: nextSpec, current: before, services: store.list('services'), planner });
    expect(a.endpoint.Ports?.[0]?.PublishedPort).toBe(9090);
    // The store stamps objects with the proposal's time (see setup): the update starts then too.
    const now = '2026-01-01T00:00:00Z';
    apply([
      { op: 'update', table: 'services', object: { ...before, Spec: a.spec, PreviousSpec: before.Spec, Endpoint: a.endpoint, UpdateStatus: { State: 'updating', StartedAt: now, Message: 'update in progress' } }, expectVersion: before.Version.Index },
      ...planner.networkUpdates(),
    ]);
    // The new tasks fail.
    const fresh = await eventually(() => {
      const ts = store.find('tasks', (t) => t.Spec.ContainerSpec.Image === 'broken' && t.Status.State === 'assigned');
      return ts.length > 0 && ts;
    }, 'a task of the new spec');
    for (const t of fresh) apply([{ op: 'update', table: 'tasks', object: { ...t, Status: { ...t.Status, State: 'failed', Message: 'exit 1' } }, expectVersion: t.Version.Index }]);
    const back = await eventually(() => {
      const s = store.get('services', 'web')!;
      return s.UpdateStatus?.State === 'rollback_started' && s;
    }, 'the rollback to start');
    expect(back.Spec.TaskTemplate.ContainerSpec.Image).toBe('busybox');
    expect(back.Endpoint?.Ports?.map((p) => p.PublishedPort)).toEqual([8080]);
    expect(back.Endpoint?.Spec?.Ports?.map((p) => p.PublishedPort)).toEqual([8080]);
    expect(back.PreviousSpec?.TaskTemplate.ContainerSpec.Image).toBe('broken');
  });
});
