import { describe, expect, it, vi } from 'vitest';
import type { Entry } from '../../raft/index.js';
import { isSwarmError } from '../errors.js';
import { ClusterStore } from './cluster-store.js';
import { encodeProposal } from './proposal.js';
import { TABLE_NAMES, type ApplyResult, type ObjectInput, type StoreAction, type StoreEvent } from './types.js';

const T1 = '2024-05-01T10:00:00.000Z';
const T2 = '2024-05-01T11:00:00.000Z';

/** Applies entries at increasing indexes, as Raft would. */
class Log {
  index = 0;
  constructor(readonly store = new ClusterStore()) {}

  tx(actions: StoreAction[], proposedAt = T1): ApplyResult {
    const result = this.store.apply(this.entry(actions, proposedAt));
    if (!result) throw new Error('a proposal gave no result');
    return result;
  }

  entry(actions: StoreAction[], proposedAt = T1): Entry {
    return { term: 1, index: ++this.index, kind: 'normal', data: encodeProposal({ actions, proposedAt }) };
  }
}

const service = (ID: string, name: string, extra: Record<string, unknown> = {}): ObjectInput => ({ ID, Spec: { Name: name, Labels: {} }, ...extra });
const create = (table: StoreAction['table'], object: ObjectInput): StoreAction => ({ op: 'create', table, object });
const update = (table: StoreAction['table'], object: ObjectInput, expectVersion?: number): StoreAction =>
  expectVersion === undefined ? { op: 'update', table, object } : { op: 'update', table, object, expectVersion };
const del = (table: StoreAction['table'], id: string, expectVersion?: number): StoreAction =>
  expectVersion === undefined ? { op: 'delete', table, id } : { op: 'delete', table, id, expectVersion };

function contents(store: ClusterStore): unknown {
  return Object.fromEntries(TABLE_NAMES.map((t) => [t, store.list(t)]));
}

function failure(r: ApplyResult): { code: string; message: string } {
  if (r.ok) throw new Error('expected the transaction to fail');
  return { code: r.code, message: r.message };
}

describe('ClusterStore.apply', () => {
  it('treats empty and membership entries as no-ops that still advance the index', () => {
    const store = new ClusterStore();
    const events: StoreEvent[] = [];
    store.watch((e) => events.push(e));
    expect(store.apply({ term: 1, index: 1, kind: 'normal', data: new Uint8Array() })).toBeUndefined();
    expect(store.apply({ term: 1, index: 2, kind: 'conf', change: { type: 'addVoter', member: 'm2' } })).toBeUndefined();
    expect(store.lastIndex()).toBe(2);
    expect(events).toEqual([]);
  });

  it('creates with Version.Index = entry index and both timestamps = proposedAt, ignoring given ones', () => {
    const log = new Log();
    log.index = 41;
    const r = log.tx([create('services', service('s1', 'web', { Version: { Index: 3 }, CreatedAt: 'then', UpdatedAt: 'then' }))]);
    expect(r.ok).toBe(true);
    const s = log.store.get('services', 's1')!;
    expect(s).toEqual({ ID: 's1', Version: { Index: 42 }, CreatedAt: T1, UpdatedAt: T1, Spec: { Name: 'web', Labels: {} } });
    // Docker's field order: the store's fields first.
    expect(Object.keys(s).slice(0, 4)).toEqual(['ID', 'Version', 'CreatedAt', 'UpdatedAt']);
    expect(r).toEqual({ ok: true, index: 42, objects: [s] });
    expect(log.store.lastIndex()).toBe(42);
  });

  it('refuses to create an ID that exists', () => {
    const log = new Log();
    log.tx([create('tasks', { ID: 't1' })]);
    expect(failure(log.tx([create('tasks', { ID: 't1' })]))).toEqual({ code: 'ALREADY_EXISTS', message: 'task t1 already exists' });
  });

  it('updates with a new version and UpdatedAt, keeping CreatedAt', () => {
    const log = new Log();
    log.tx([create('services', service('s1', 'web'))], T1);
    const r = log.tx([update('services', service('s1', 'web', { Replicas: 3 }))], T2);
    expect(r.ok).toBe(true);
    expect(log.store.get('services', 's1')).toMatchObject({ Version: { Index: 2 }, CreatedAt: T1, UpdatedAt: T2, Replicas: 3 });
  });

  it('fails updates and deletes of missing objects with NOT_FOUND', () => {
    const log = new Log();
    expect(failure(log.tx([update('services', service('nope', 'x'))]))).toEqual({ code: 'NOT_FOUND', message: 'service nope not found' });
    expect(failure(log.tx([del('nodes', 'gone')]))).toEqual({ code: 'NOT_FOUND', message: 'node gone not found' });
  });

  it('fails a stale expectVersion with OUT_OF_SEQUENCE, "update out of sequence"', () => {
    const log = new Log();
    log.tx([create('services', service('s1', 'web'))]); // version 1
    log.tx([update('services', service('s1', 'web', { Replicas: 2 }), 1)]); // version 2
    expect(failure(log.tx([update('services', service('s1', 'web', { Replicas: 5 }), 1)]))).toEqual({
      code: 'OUT_OF_SEQUENCE',
      message: 'update out of sequence',
    });
    expect(failure(log.tx([del('services', 's1', 1)]))).toEqual({ code: 'OUT_OF_SEQUENCE', message: 'update out of sequence' });
    expect(log.store.get('services', 's1')).toMatchObject({ Version: { Index: 2 }, Replicas: 2 });
    expect(log.tx([del('services', 's1', 2)]).ok).toBe(true);
    expect(log.store.count('services')).toBe(0);
  });

  it('keeps Spec.Name unique per named table, case-insensitively', () => {
    const log = new Log();
    log.tx([create('services', service('s1', 'web')), create('services', service('s2', 'db'))]);
    expect(failure(log.tx([create('services', service('s3', 'WEB'))]))).toEqual({
      code: 'ALREADY_EXISTS',
      message: 'name conflicts with an existing object: service "WEB" is s1',
    });
    // Renaming onto a taken name fails; keeping one's own name does not.
    expect(failure(log.tx([update('services', service('s2', 'web'))])).code).toBe('ALREADY_EXISTS');
    expect(log.tx([update('services', service('s1', 'web', { Replicas: 2 }))]).ok).toBe(true);
    // Other tables have their own names; tasks have none that must be unique.
    expect(log.tx([create('networks', service('n1', 'web')), create('secrets', service('x1', 'web')), create('configs', service('c1', 'web'))]).ok).toBe(true);
    expect(log.tx([create('tasks', service('t1', 'web')), create('tasks', service('t2', 'web'))]).ok).toBe(true);
    expect(failure(log.tx([create('nodes', service('h1', 'web')), create('nodes', service('h2', 'Web'))])).code).toBe('ALREADY_EXISTS');
    // Nodes without a name do not collide.
    expect(log.tx([create('nodes', { ID: 'h3', Spec: { Role: 'worker' } }), create('nodes', { ID: 'h4', Spec: { Name: '' } })]).ok).toBe(true);
    // A name freed by a delete, or by a rename earlier in the same transaction, can be taken.
    expect(log.tx([del('services', 's2'), create('services', service('s4', 'db'))]).ok).toBe(true);
    expect(log.tx([update('services', service('s1', 'frontend')), create('services', service('s5', 'web'))]).ok).toBe(true);
    expect(log.store.getByName('services', 'WEB')?.ID).toBe('s5');
    expect(log.store.getByName('services', 'frontend')?.ID).toBe('s1');
    expect(log.store.getByName('services', 'db')?.ID).toBe('s4');
    // Two objects of one transaction may not take the same new name.
    expect(failure(log.tx([create('services', service('s6', 'api')), create('services', service('s7', 'api'))])).code).toBe('ALREADY_EXISTS');
    expect(log.store.getByName('services', 'api')).toBeUndefined();
  });

  it('refuses a network whose subnet overlaps another\'s or whose VNI is taken (two managers allocating at once)', () => {
    const net = (ID: string, name: string, subnet: string, vni: string): ObjectInput => ({
      ID,
      Spec: { Name: name, Labels: {} },
      DriverState: { Name: 'overlay', Options: { 'com.docker.network.driver.overlay.vxlanid_list': vni } },
      IPAM: { Driver: { Name: 'default' }, Configs: [{ Subnet: subnet, Gateway: subnet.replace(/0\/\d+$/, '1') }] },
    });
    const log = new Log();
    expect(log.tx([create('networks', net('n1', 'a', '10.0.1.0/24', '4097'))]).ok).toBe(true);
    expect(failure(log.tx([create('networks', net('n2', 'b', '10.0.1.0/24', '4098'))]))).toEqual({ code: 'CONFLICT', message: 'subnet 10.0.1.0/24 overlaps 10.0.1.0/24 of network a' });
    expect(failure(log.tx([create('networks', net('n2', 'b', '10.0.0.0/16', '4098'))])).message).toBe('subnet 10.0.0.0/16 overlaps 10.0.1.0/24 of network a');
    expect(failure(log.tx([create('networks', net('n2', 'b', '10.0.2.0/24', '4097'))]))).toEqual({ code: 'CONFLICT', message: 'VNI 4097 is already used by network a' });
    // Within one transaction too; and a network's own update is no conflict with itself.
    expect(failure(log.tx([create('networks', net('n2', 'b', '10.0.2.0/24', '4098')), create('networks', net('n3', 'c', '10.0.2.128/25', '4099'))])).code).toBe('CONFLICT');
    expect(log.tx([update('networks', { ...net('n1', 'a', '10.0.1.0/24', '4097'), LastAllocated: '10.0.1.2' })]).ok).toBe(true);
    expect(failure(log.tx([create('networks', net('n2', 'b', '10.0.2.0/33', '4098'))]))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Freed by delete.
    expect(log.tx([del('networks', 'n1'), create('networks', net('n2', 'b', '10.0.1.0/24', '4097'))]).ok).toBe(true);
  });

  it('refuses a service whose allocated ingress port another service publishes', () => {
    const svc = (ID: string, name: string, ports: unknown[]): ObjectInput => service(ID, name, { Endpoint: { Spec: {}, Ports: ports } });
    const log = new Log();
    expect(log.tx([create('services', svc('s1', 'web', [{ TargetPort: 80, PublishedPort: 8080, Protocol: 'tcp', PublishMode: 'ingress' }]))]).ok).toBe(true);
    expect(failure(log.tx([create('services', svc('s2', 'api', [{ TargetPort: 81, PublishedPort: 8080, Protocol: 'tcp', PublishMode: 'ingress' }]))]))).toEqual({
      code: 'CONFLICT',
      message: 'port 8080/tcp is already in use by service web as an ingress port',
    });
    // Another protocol, host mode or no published port: no conflict.
    const ok = [
      { TargetPort: 81, PublishedPort: 8080, Protocol: 'udp', PublishMode: 'ingress' },
      { TargetPort: 82, PublishedPort: 8080, Protocol: 'tcp', PublishMode: 'host' },
      { TargetPort: 83, Protocol: 'tcp', PublishMode: 'ingress' },
    ];
    expect(log.tx([create('services', svc('s2', 'api', ok))]).ok).toBe(true);
    expect(log.tx([update('services', svc('s1', 'web', [{ TargetPort: 80, PublishedPort: 8080, Protocol: 'tcp', PublishMode: 'ingress' }]))]).ok).toBe(true);
  });

  it('holds exactly one cluster object', () => {
    const log = new Log();
    expect(log.tx([create('cluster', { ID: 'c1', Spec: { Name: 'default' } })]).ok).toBe(true);
    expect(failure(log.tx([create('cluster', { ID: 'c2', Spec: { Name: 'default' } })])).code).toBe('ALREADY_EXISTS');
    expect(failure(log.tx([del('cluster', 'c1')])).code).toBe('INVALID_ARGUMENT');
    expect(log.tx([update('cluster', { ID: 'c1', Spec: { Name: 'default', Labels: { x: '1' } } })]).ok).toBe(true);
    expect(log.store.count('cluster')).toBe(1);
  });

  it('applies a transaction whole or not at all: a failing third action leaves nothing changed and emits nothing', () => {
    const log = new Log();
    log.tx([create('services', service('s1', 'web')), create('tasks', { ID: 't1', ServiceID: 's1' })]);
    const before = contents(log.store);
    const events: StoreEvent[] = [];
    log.store.watch((e) => events.push(e));
    const r = log.tx([
      update('services', service('s1', 'web', { Replicas: 9 })),
      create('tasks', { ID: 't2', ServiceID: 's1' }),
      del('tasks', 'missing'),
    ]);
    expect(failure(r)).toEqual({ code: 'NOT_FOUND', message: 'task missing not found' });
    expect(contents(log.store)).toEqual(before);
    expect(events).toEqual([]);
    // The entry was applied (as a failure): the index moves on.
    expect(log.store.lastIndex()).toBe(2);
    // The names of the failed transaction's objects were not taken either.
    expect(log.tx([create('services', service('s9', 'web2'))]).ok).toBe(true);
  });

  it('returns a failure, never throws, for an entry that is not a valid proposal', () => {
    const store = new ClusterStore();
    const r = store.apply({ term: 1, index: 1, kind: 'normal', data: new Uint8Array([1, 2, 3]) });
    expect(r).toMatchObject({ ok: false, index: 1, code: 'INVALID_ARGUMENT' });
    expect(store.lastIndex()).toBe(1);
  });

  it('ignores an entry at or below the last applied index (a log replayed into a reused store)', () => {
    const log = new Log();
    const e = log.entry([create('tasks', { ID: 't1' })]);
    expect(log.store.apply(e)?.ok).toBe(true);
    expect(log.store.apply(e)).toBeUndefined();
    expect(log.store.count('tasks')).toBe(1);
  });

  it('reaches the same state and results on every member from the same log', () => {
    const a = new Log();
    const entries = [
      a.entry([create('services', service('s1', 'web'))]),
      a.entry([create('services', service('s2', 'web'))]),
      a.entry([update('services', service('s1', 'web', { Replicas: 2 }), 1), create('tasks', { ID: 't1' })]),
      a.entry([del('tasks', 't1')], T2),
    ];
    const results = (s: ClusterStore): unknown[] => entries.map((e) => s.apply(e));
    const [x, y] = [new ClusterStore(), new ClusterStore()];
    expect(results(x)).toEqual(results(y));
    expect(Buffer.from(x.snapshot()).equals(Buffer.from(y.snapshot()))).toBe(true);
  });
});

describe('ClusterStore watches', () => {
  it('delivers one event per action, in commit order, with the index and the previous object', () => {
    const log = new Log();
    const events: StoreEvent[] = [];
    log.store.watch((e) => events.push(e));
    log.tx([create('services', service('s1', 'web')), create('tasks', { ID: 't1' }), create('tasks', { ID: 't2' })]);
    log.tx([update('services', service('s1', 'web', { Replicas: 2 })), del('tasks', 't1')]);
    expect(events.map((e) => [e.index, e.op, e.table, e.object.ID])).toEqual([
      [1, 'create', 'services', 's1'],
      [1, 'create', 'tasks', 't1'],
      [1, 'create', 'tasks', 't2'],
      [2, 'update', 'services', 's1'],
      [2, 'delete', 'tasks', 't1'],
    ]);
    expect(events[3]!.previous).toMatchObject({ Version: { Index: 1 } });
    expect(events[3]!.object).toMatchObject({ Version: { Index: 2 }, Replicas: 2 });
    expect(events[4]!.object).toMatchObject({ ID: 't1', Version: { Index: 1 } });
  });

  it('delivers synchronously, after the whole transaction, and stops after unsubscribe', () => {
    const log = new Log();
    const seen: number[] = [];
    const off = log.store.watch(() => seen.push(log.store.count('tasks')));
    log.tx([create('tasks', { ID: 't1' }), create('tasks', { ID: 't2' })]);
    expect(seen).toEqual([2, 2]);
    off();
    log.tx([create('tasks', { ID: 't3' })]);
    expect(seen).toEqual([2, 2]);
  });

  it('keeps delivering to others when a listener throws or unsubscribes another', () => {
    const errors: unknown[] = [];
    const log = new Log(new ClusterStore({ onListenerError: (err) => errors.push(err) }));
    const got: string[] = [];
    log.store.watch(() => {
      throw new Error('listener bug');
    });
    let offC = (): void => {};
    log.store.watch((e) => {
      got.push(`b:${e.object.ID}`);
      offC();
    });
    offC = log.store.watch((e) => got.push(`c:${e.object.ID}`));
    const r = log.tx([create('tasks', { ID: 't1' })]);
    expect(r.ok).toBe(true);
    expect(got).toEqual(['b:t1']);
    expect(errors).toHaveLength(1);
  });

  it('tells apply listeners of every entry, whatever its kind', () => {
    const log = new Log();
    const seen = vi.fn();
    log.store.onApplied(seen);
    log.store.apply({ term: 1, index: ++log.index, kind: 'normal', data: new Uint8Array() });
    log.tx([del('tasks', 'missing')]);
    log.tx([create('tasks', { ID: 't1' })]);
    expect(seen.mock.calls).toEqual([[1], [2], [3]]);
  });
});

describe('ClusterStore reads', () => {
  it('gets, lists in creation order, finds and counts by table', () => {
    const log = new Log();
    log.tx([create('tasks', { ID: 't2', Slot: 2 }), create('tasks', { ID: 't1', Slot: 1 }), create('services', service('s1', 'web'))]);
    expect(log.store.get('tasks', 't1')).toMatchObject({ Slot: 1 });
    expect(log.store.get('tasks', 'nope')).toBeUndefined();
    expect(log.store.get('services', 't1')).toBeUndefined();
    expect(log.store.list('tasks').map((t) => t.ID)).toEqual(['t2', 't1']);
    expect(log.store.find('tasks', (t) => t.Slot === 1).map((t) => t.ID)).toEqual(['t1']);
    expect(log.store.count('tasks')).toBe(2);
    expect(log.store.count('nodes')).toBe(0);
  });

  it('hands out deep-frozen objects, so readers cannot change the store', () => {
    const log = new Log();
    const r = log.tx([create('services', service('s1', 'web', { Endpoint: { Ports: [{ Published: 80 }] } }))]);
    const s = log.store.get('services', 's1')!;
    expect(Object.isFrozen(s)).toBe(true);
    expect(() => {
      (s as unknown as Record<string, unknown>).Replicas = 3;
    }).toThrow(TypeError);
    expect(() => {
      (s.Spec as { Name: string }).Name = 'evil';
    }).toThrow(TypeError);
    expect(() => (s.Endpoint as { Ports: unknown[] }).Ports.push({})).toThrow(TypeError);
    expect(Object.isFrozen(s.Version)).toBe(true);
    expect(r.ok && Object.isFrozen(r.objects[0])).toBe(true);
    expect(log.store.get('services', 's1')).toMatchObject({ Spec: { Name: 'web' } });
    // The way to change one: copy, then commit an update.
    const copy = structuredClone(s) as typeof s & { Replicas?: number };
    copy.Replicas = 3;
    expect(log.tx([update('services', copy, s.Version.Index)]).ok).toBe(true);
  });

  it('hands watchers frozen events', () => {
    const log = new Log();
    let event: StoreEvent | undefined;
    log.store.watch((e) => (event = e));
    log.tx([create('tasks', { ID: 't1' })]);
    expect(Object.isFrozen(event)).toBe(true);
    expect(Object.isFrozen(event!.object)).toBe(true);
  });
});

describe('ClusterStore snapshots', () => {
  it('round-trips every table through snapshot and restore, signalling a reset instead of events', () => {
    const log = new Log();
    log.tx([
      create('cluster', { ID: 'c1', Spec: { Name: 'default' } }),
      create('nodes', { ID: 'n1', Spec: { Name: 'host1', Role: 'manager' }, Blob: new Uint8Array([1, 2, 3]) }),
      create('services', service('s1', 'web')),
      create('tasks', { ID: 't1' }),
      create('networks', service('net1', 'front')),
      create('secrets', service('sec1', 'pw')),
      create('configs', service('cfg1', 'conf')),
    ]);
    log.tx([update('services', service('s1', 'web', { Replicas: 4 }))], T2);

    const other = new ClusterStore();
    other.apply({ term: 1, index: 1, kind: 'normal', data: encodeProposal({ proposedAt: T1, actions: [create('tasks', { ID: 'stale' })] }) });
    const events: StoreEvent[] = [];
    const resets: number[] = [];
    other.watch((e) => events.push(e));
    other.onReset((i) => resets.push(i));
    other.restore(log.store.snapshot());

    expect(contents(other)).toEqual(contents(log.store));
    expect(other.get('tasks', 'stale')).toBeUndefined();
    expect(other.lastIndex()).toBe(2);
    expect(resets).toEqual([2]);
    expect(events).toEqual([]);
    expect(Object.isFrozen(other.get('services', 's1'))).toBe(true);
    expect(Buffer.from(other.snapshot()).equals(Buffer.from(log.store.snapshot()))).toBe(true);

    // The name index came back too, and the restored store keeps applying where it left off.
    const next = new Log(other);
    next.index = 2;
    expect(failure(next.tx([create('services', service('s2', 'Web'))])).code).toBe('ALREADY_EXISTS');
    expect(next.tx([update('services', service('s1', 'web', { Replicas: 5 }), 2)]).ok).toBe(true);
  });

  it('restores empty data to an empty store and refuses a corrupt snapshot', () => {
    const log = new Log();
    log.tx([create('tasks', { ID: 't1' })]);
    log.store.restore(new Uint8Array());
    expect(log.store.count('tasks')).toBe(0);
    expect(log.store.lastIndex()).toBe(0);
    let err: unknown;
    try {
      log.store.restore(encodeProposal({ proposedAt: T1, actions: [] }));
    } catch (e) {
      err = e;
    }
    expect(isSwarmError(err, 'INTERNAL')).toBe(true);
  });
});
