import { describe, expect, it } from 'vitest';
import { ClusterStore, encodeProposal, type StoreAction } from '../store/index.js';
import type { ServiceSpec } from '../store/index.js';
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
    if (!r.ok) throw Object.assign(new Error(r.message), { code: r.code });
  };
  apply([{ op: 'create', table: 'cluster', object: { ID: 'c', CreatedAt: '', UpdatedAt: '', CAKey: JSON.stringify({ privateKey: Buffer.alloc(32, 7).toString('base64') }) } }]);
  const manager = { store } as unknown as ManagerRole; // only the store is used
  const api = new ServicesApi(() => manager, async () => {}, async (_m, actions) => apply(actions));
  return { store, api };
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
