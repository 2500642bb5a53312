import { describe, expect, it } from 'vitest';
import { SwarmError, type SwarmErrorCode } from '../errors.js';
import { ClusterStore, encodeProposal, type StoreAction } from '../store/index.js';
import type { NetworkObject, ServiceSpec, TaskObject } from '../store/index.js';
import { decryptSecret } from '../manager/secrets/index.js';
import type { ManagerRole } from './manager-role.js';
import { ServicesApi } from './services-api.js';

// The services API over a real ClusterStore, with commits applied in-process (the Raft path is
// covered by the store's and the cluster's tests).

function setup() {
  const store = new ClusterStore();
  let index = 0;
  const apply = (actions: StoreAction[]) => {
    const r = store.apply({ term: 1, index: ++index, kind: 'normal', data: encodeProposal({ actions, proposedAt: '2026-01-01T00:00:00Z' }) }) as { ok: boolean; message?: string; code?: string };
    // As ReplicatedStore.commit reports a refused transaction.
    if (!r.ok) throw new SwarmError(r.code as SwarmErrorCode, r.message ?? '');
  };
  apply([{ op: 'create', table: 'cluster', object: { ID: 'c', CreatedAt: '', UpdatedAt: '', CAKey: JSON.stringify({ privateKey: Buffer.alloc(32, 7).toString('base64') }) } }]);
  const manager = { store } as unknown as ManagerRole; // only the store is used
  /** Run before the next commits, one each: another manager's write that lands first. */
  const before: (() => void)[] = [];
  const api = new ServicesApi(() => manager, async () => {}, async (_m, actions) => {
    before.shift()?.();
    apply(actions);
  });
  return { store, api, apply, before };
}

const spec = (name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec => ({
  Name: name,
  Labels: {},
  TaskTemplate: { ContainerSpec: { Image: 'busybox:test' } },
  Mode: { Replicated: { Replicas: 2 } },
  ...extra,
});

describe('ServicesApi', () => {
  it('creates, lists with filters, updates with versions and rolls back', async () => {
    const { api } = setup();
    const { ID } = await api.createService(spec('web', { Labels: { tier: 'front' } }));
    await api.createService(spec('agent', { Mode: { Global: {} } }));
    expect((await api.listServices({ label: ['tier=front'] }, false)).map((s) => s.Spec.Name)).toEqual(['web']);
    expect((await api.listServices({ mode: ['global'] }, true))[0]).toMatchObject({ Spec: { Name: 'agent' }, ServiceStatus: { RunningTasks: 0 } });
    const web = await api.inspectService('web');
    await api.updateService(ID, web.Version.Index, { ...web.Spec, Mode: { Replicated: { Replicas: 5 } } }, { rollback: false });
    await expect(api.updateService(ID, web.Version.Index, web.Spec, { rollback: false })).rejects.toThrow(/out of sequence/);
    const now = await api.inspectService(ID);
    expect(now.Spec.Mode.Replicated?.Replicas).toBe(5);
    await api.updateService(ID, now.Version.Index, now.Spec, { rollback: true });
    expect((await api.inspectService('web')).Spec.Mode.Replicated?.Replicas).toBe(2);
  });

  it('rejects bad specs naming the field', async () => {
    const { api } = setup();
    await expect(api.createService(spec('x', { Mode: {} }))).rejects.toThrow(/Mode: exactly one of Replicated, Global/);
    await expect(api.createService(spec('x', { Mode: { Replicated: { Replicas: -1 } } }))).rejects.toThrow(/Replicas: must be a non-negative integer/);
    await expect(api.createService(spec('bad name'))).rejects.toThrow(/Name: "bad name" is not a valid service name/);
    await expect(api.createService(spec('x', { TaskTemplate: { ContainerSpec: { Image: 'i', Secrets: [{ SecretID: '', SecretName: 'nope', File: { Name: 'nope', UID: '0', GID: '0', Mode: 0o444 } }] } } }))).rejects.toThrow(/secret nope not found/);
  });

  it('stores secrets encrypted, never in clear, and refuses removing one in use', async () => {
    const { api, store } = setup();
    const { ID } = await api.createSecret({ Name: 'db_pass', Data: Buffer.from('hunter2').toString('base64') });
    const stored = store.get('secrets', ID)!;
    expect(JSON.stringify(stored)).not.toContain(Buffer.from('hunter2').toString('base64'));
    expect(JSON.stringify(stored)).not.toContain('hunter2');
    expect(decryptSecret(api.dataKey(), stored.EncryptedData).toString()).toBe('hunter2');
    expect(api.secretData(ID).toString()).toBe('hunter2');
    await api.createService(spec('db', { TaskTemplate: { ContainerSpec: { Image: 'i', Secrets: [{ SecretID: '', SecretName: 'db_pass', File: { Name: 'db_pass', UID: '0', GID: '0', Mode: 0o400 } }] } } }));
    expect((await api.inspectService('db')).Spec.TaskTemplate.ContainerSpec.Secrets?.[0]?.SecretID).toBe(ID);
    await expect(api.removeSecret('db_pass')).rejects.toThrow(/in use by the following service: db/);
    await expect(api.createSecret({ Name: 'x', Data: 'not base64!' })).rejects.toThrow(/Data: must be base64/);
  });
});

describe('ServicesApi configs', () => {
  const data = Buffer.from('listen 80;').toString('base64');
  const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err: unknown) => (err instanceof SwarmError ? `${err.code}: ${err.message}` : String(err)));

  it('updates only the labels, conditional on the version; refuses renames and new data naming the field', async () => {
    const { api, store } = setup();
    const { ID } = await api.createConfig({ Name: 'nginx.conf', Labels: { a: 'b' }, Data: data });
    const v = store.get('configs', ID)!.Version.Index;
    expect(await codeOf(api.updateConfig(ID, v, { Name: 'other.conf', Labels: {} }))).toBe('INVALID_ARGUMENT: Name: a config cannot be renamed');
    expect(await codeOf(api.updateConfig(ID, v, { Name: 'nginx.conf', Labels: {}, Data: Buffer.from('listen 81;').toString('base64') }))).toBe(
      'INVALID_ARGUMENT: Data: only the labels of a config can be updated',
    );
    expect(await codeOf(api.updateConfig('nope', v, { Name: 'nope', Labels: {} }))).toBe('NOT_FOUND: config nope not found');
    expect(await codeOf(api.updateConfig(ID, v + 1, { Name: 'nginx.conf', Labels: {} }))).toBe('OUT_OF_SEQUENCE: update out of sequence');
    expect(store.get('configs', ID)!.Version.Index).toBe(v);

    await api.updateConfig('nginx.conf', v, { Name: 'nginx.conf', Labels: { a: 'c' }, Data: data });
    const after = store.get('configs', ID)!;
    expect(after.Spec).toEqual({ Name: 'nginx.conf', Labels: { a: 'c' }, Data: data });
    expect(after.Version.Index).toBeGreaterThan(v);
    expect(await codeOf(api.updateConfig(ID, v, { Name: 'nginx.conf', Labels: {} }))).toBe('OUT_OF_SEQUENCE: update out of sequence');
  });

  it('a write that lands between the read and the commit makes the store refuse it as out of sequence', async () => {
    const { api, store, apply, before } = setup();
    const { ID } = await api.createConfig({ Name: 'nginx.conf', Data: data });
    const read = store.get('configs', ID)!;
    before.push(() => apply([{ op: 'update', table: 'configs', object: { ...read, Spec: { ...read.Spec, Labels: { by: 'another manager' } } } }]));
    expect(await codeOf(api.updateConfig(ID, read.Version.Index, { Name: 'nginx.conf', Labels: { by: 'me' } }))).toBe('OUT_OF_SEQUENCE: update out of sequence');
    expect(store.get('configs', ID)!.Spec.Labels).toEqual({ by: 'another manager' });
  });
});

describe('ServicesApi networks', () => {
  const net = (name: string, o: Partial<Parameters<ServicesApi['createNetwork']>[0]> = {}) => ({ Name: name, Labels: {}, Attachable: false, Internal: false, Ingress: false, IPAMConfig: [], ...o });

  it('creates ingress at init and networks with the next subnets and VNIs; refuses taken names and subnets', async () => {
    const { api, apply, store } = setup();
    apply([api.ingressNetworkAction({ DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24 })]);
    const { ID } = await api.createNetwork(net('shop_default', { Labels: { a: 'b' }, Attachable: true }));
    const n = store.get('networks', ID)!;
    expect(n).toMatchObject({ Spec: { Name: 'shop_default', Labels: { a: 'b' }, Attachable: true }, IPAM: { Configs: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] } });
    expect((await api.inspectNetwork('ingress')).DriverState.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4096');
    expect(n.DriverState.Options['com.docker.network.driver.overlay.vxlanid_list']).toBe('4097');
    await expect(api.createNetwork(net('shop_default'))).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: 'network with name shop_default already exists' });
    await expect(api.createNetwork(net('x', { IPAMConfig: [{ Subnet: '10.0.1.0/25' }] }))).rejects.toMatchObject({ code: 'CONFLICT', message: 'IPAM.Config[0].Subnet: 10.0.1.0/25 overlaps 10.0.1.0/24 of network shop_default' });
    await expect(api.createNetwork(net('x', { Ingress: true }))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await api.listNetworks({ label: ['a=b'] })).map((x) => x.Spec.Name)).toEqual(['shop_default']);
    expect(store.count('networks')).toBe(2);
  });

  it('allocates again when another manager created a network with the same subnet first', async () => {
    const { api, apply, before, store } = setup();
    before.push(() =>
      apply([{ op: 'create', table: 'networks', object: { ID: 'other', Spec: { Name: 'other', Labels: {} }, DriverState: { Name: 'overlay', Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' } }, IPAM: { Driver: { Name: 'default' }, Configs: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }] } } }]),
    );
    const { ID } = await api.createNetwork(net('mine'));
    expect(store.get('networks', ID)).toMatchObject({ IPAM: { Configs: [{ Subnet: '10.0.1.0/24' }] }, DriverState: { Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' } } });
  });

  it('services get VIPs and ports; the network set is normalised to IDs; an address race is retried', async () => {
    const { api, apply, before, store } = setup();
    apply([api.ingressNetworkAction({ DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24 })]);
    const back = (await api.createNetwork(net('back'))).ID;
    await expect(api.createService(spec('x', { TaskTemplate: { ContainerSpec: { Image: 'i' }, Networks: [{ Target: 'nope' }] } }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'TaskTemplate.Networks[0].Target: network nope not found',
    });
    // Another manager hands out an address on "back" between our read and our write.
    before.push(() => {
      const b = store.get('networks', back)!;
      apply([{ op: 'update', table: 'networks', object: { ...b, LastAllocated: '10.0.1.2' }, expectVersion: b.Version.Index }]);
    });
    const { ID, Warnings } = await api.createService(spec('web', { TaskTemplate: { ContainerSpec: { Image: 'i' }, Networks: [{ Target: 'back', Aliases: ['w'] }] }, EndpointSpec: { Ports: [{ TargetPort: 80 }] } }));
    expect(Warnings).toEqual([]);
    const web = store.get('services', ID)!;
    expect(web.Spec.TaskTemplate.Networks).toEqual([{ Target: back, Aliases: ['w'] }]);
    const ingress = store.getByName('networks', 'ingress')!;
    expect(web.Endpoint).toEqual({
      Spec: { Ports: [{ TargetPort: 80 }] },
      Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', PublishedPort: 30000 }],
      VirtualIPs: [
        { NetworkID: ingress.ID, Addr: '10.0.0.2/24' },
        { NetworkID: back, Addr: '10.0.1.3/24' },
      ],
    });
    expect(store.get('networks', back)?.LastAllocated).toBe('10.0.1.3');
    // An unrelated update keeps them; a published port in use is refused naming the service.
    await api.updateService(ID, web.Version.Index, { ...web.Spec, Labels: { v: '2' } }, { rollback: false });
    expect(store.get('services', ID)?.Endpoint).toEqual(web.Endpoint);
    await expect(api.createService(spec('api', { EndpointSpec: { Ports: [{ TargetPort: 8080, PublishedPort: 30000 }] } }))).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'EndpointSpec.Ports[0].PublishedPort: port 30000/tcp is already in use by service web as an ingress port',
    });
    // The networks cannot go while used: back by the service, ingress while it publishes, and by a task that still runs.
    await expect(api.removeNetwork('back')).rejects.toMatchObject({ code: 'CONFLICT', message: 'network back is in use by service web' });
    await expect(api.removeNetwork('ingress')).rejects.toMatchObject({ code: 'CONFLICT', message: 'ingress network cannot be removed because service web depends on it' });
    const task: Partial<TaskObject> & { ID: string } = {
      ID: 't1',
      ServiceID: ID,
      Status: { State: 'running', Timestamp: '', Message: '' },
      DesiredState: 'remove',
      NetworksAttachments: [{ Network: store.get('networks', back) as NetworkObject, Addresses: ['10.0.1.4/24'] }],
    };
    apply([{ op: 'create', table: 'tasks', object: task }]);
    await api.removeService('web');
    await expect(api.removeNetwork('back')).rejects.toMatchObject({ code: 'CONFLICT', message: 'network back is in use by task t1' });
    apply([{ op: 'delete', table: 'tasks', id: 't1' }]);
    await api.removeNetwork(back);
    await api.removeNetwork('ingress');
    expect(store.count('networks')).toBe(0);
  });
});
