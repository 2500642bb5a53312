import { describe, expect, it } from 'vitest';
import { PeerTable } from './table.js';
import { stamped, taskEndpoint } from './test-helpers.js';

const NONE: ReadonlySet<string> = new Set();

describe('PeerTable local writes', () => {
  it('stamps a write with the next clock value and this node as origin', () => {
    const t = new PeerTable('n1');
    const rec = t.setLocal(taskEndpoint('a', '10.0.1.2'));
    expect(rec).toMatchObject({ owner: 'task:a', version: 1, origin: 'n1', deleted: false });
    expect(t.clock).toBe(1);
    expect(t.records('net1')).toEqual([rec]);
  });

  it('returns undefined for an unchanged write, and a new version for a changed one', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('a', '10.0.1.2', { ready: false }));
    expect(t.setLocal(taskEndpoint('a', '10.0.1.2', { ready: false }))).toBeUndefined();
    expect(t.clock).toBe(1);
    expect(t.setLocal(taskEndpoint('a', '10.0.1.2', { ready: true }))).toMatchObject({ version: 2, ready: true });
    expect(t.setLocal(taskEndpoint('a', '10.0.1.2', { service: { aliases: ['app'] } }))).toMatchObject({ version: 3 });
  });

  it('tombstones on delete; a second delete has nothing to send', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('a', '10.0.1.2'));
    const tomb = t.deleteLocal('net1', 'task:a', 100);
    expect(tomb).toMatchObject({ owner: 'task:a', ip: '10.0.1.2', version: 2, origin: 'n1', deleted: true });
    expect(t.records('net1')).toEqual([]);
    expect(t.all('net1')).toEqual([tomb]);
    expect(t.deleteLocal('net1', 'task:a', 101)).toBeUndefined();
    expect(t.deleteLocal('net1', 'task:none', 101)).toBeUndefined();
  });

  it('writes again after its own tombstone with a newer version', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('a', '10.0.1.2'));
    t.deleteLocal('net1', 'task:a', 0);
    expect(t.setLocal(taskEndpoint('a', '10.0.1.2'))).toMatchObject({ version: 3, deleted: false });
  });

  it('refuses a malformed local endpoint naming the field', () => {
    const t = new PeerTable('n1');
    expect(() => t.setLocal({ ...taskEndpoint('a', '10.0.1.2'), mac: 'nope' })).toThrow(TypeError);
    expect(() => t.setLocal({ ...taskEndpoint('a', '10.0.1.2'), ip: '10.0.0' })).toThrow('setLocal: endpoint.ip: "10.0.0" is not an IPv4 address');
    expect(() => t.setLocal({ ...taskEndpoint('a', '10.0.1.2'), owner: 'a' })).toThrow(/endpoint\.owner/);
  });

  it('hands out frozen records, so callers cannot change the table by accident', () => {
    const t = new PeerTable('n1');
    const rec = t.setLocal(taskEndpoint('a', '10.0.1.2', { service: { aliases: ['x'] } }));
    expect(Object.isFrozen(rec)).toBe(true);
    expect(Object.isFrozen(rec?.service?.aliases)).toBe(true);
    const input = stamped(taskEndpoint('b', '10.0.1.3', { node: 'n2' }), 5);
    t.merge([input], NONE, 0);
    input.ip = '10.0.1.99';
    expect(t.get('net1', 'task:b')?.ip).toBe('10.0.1.3');
  });

  it('can restore a saved clock', () => {
    const t = new PeerTable('n1', { clock: 41 });
    expect(t.setLocal(taskEndpoint('a', '10.0.1.2'))?.version).toBe(42);
    expect(() => new PeerTable('n1', { clock: -1 })).toThrow(RangeError);
    expect(() => new PeerTable('')).toThrow(TypeError);
  });
});

describe('PeerTable merge (last writer wins)', () => {
  const a = taskEndpoint('a', '10.0.1.2', { node: 'n2', vtep: '192.168.1.2' });

  it('keeps the newer write, reports only what changed, and advances the clock', () => {
    const t = new PeerTable('n1');
    const v3 = stamped(a, 3);
    expect(t.merge([v3], NONE, 0)).toEqual({ changed: [v3], answers: [] });
    expect(t.clock).toBe(3);
    expect(t.merge([v3, stamped(a, 2)], NONE, 0).changed).toEqual([]);
    const v7 = stamped({ ...a, ready: false }, 7);
    expect(t.merge([v7, v7], NONE, 0).changed).toEqual([v7]);
    expect(t.get('net1', 'task:a')).toEqual(v7);
    expect(t.setLocal(taskEndpoint('mine', '10.0.1.9'))?.version).toBe(8);
  });

  it('reports a key once per batch, holding the last write', () => {
    const t = new PeerTable('n1');
    const { changed } = t.merge([stamped(a, 1), stamped(a, 4), stamped(a, 2)], NONE, 0);
    expect(changed.map((r) => r.version)).toEqual([4]);
  });

  it('breaks version ties by origin', () => {
    const t = new PeerTable('n1');
    t.merge([stamped(a, 5, 'n3')], NONE, 0);
    expect(t.merge([stamped(a, 5, 'n2')], NONE, 0).changed).toEqual([]);
    expect(t.merge([stamped(a, 5, 'n4')], NONE, 0).changed).toHaveLength(1);
    expect(t.get('net1', 'task:a')?.origin).toBe('n4');
  });

  it('settles two different writes with one stamp the same way in either order', () => {
    const x = stamped(a, 5);
    const y = stamped({ ...a, ready: false }, 5);
    const t1 = new PeerTable('r1');
    const t2 = new PeerTable('r2');
    t1.merge([x, y], NONE, 0);
    t2.merge([y, x], NONE, 0);
    expect(t1.all('net1')).toEqual(t2.all('net1'));
  });

  it('lets a tombstone beat an older write, and a newer write beat the tombstone', () => {
    const t = new PeerTable('n1');
    t.merge([stamped(a, 2)], NONE, 0);
    const tomb = stamped(a, 3, 'n2', true);
    expect(t.merge([tomb], NONE, 10).changed).toEqual([tomb]);
    expect(t.records('net1')).toEqual([]);
    expect(t.merge([stamped(a, 2)], NONE, 11).changed).toEqual([]);
    expect(t.records('net1')).toEqual([]);
    const back = stamped(a, 4);
    expect(t.merge([back], NONE, 12).changed).toEqual([back]);
    expect(t.records('net1')).toEqual([back]);
  });

  it('keeps networks apart', () => {
    const t = new PeerTable('n1');
    t.merge([stamped(a, 1), stamped({ ...a, networkId: 'net2' }, 1)], NONE, 0);
    t.merge([stamped({ ...a, networkId: 'net2' }, 2, 'n2', true)], NONE, 0);
    expect(t.records('net1')).toHaveLength(1);
    expect(t.records('net2')).toHaveLength(0);
    expect(t.networks()).toEqual(['net1', 'net2']);
  });
});

describe('PeerTable after a restart', () => {
  const x = taskEndpoint('x', '10.0.1.2');
  const y = taskEndpoint('y', '10.0.1.3');

  /** Host n1 wrote x and y, a peer learned them, then n1 restarted with an empty table. */
  function before(): { peer: PeerTable; old: ReturnType<PeerTable['all']> } {
    const old = new PeerTable('n1');
    old.setLocal(x);
    old.setLocal(y);
    old.setLocal({ ...x, ready: false });
    const peer = new PeerTable('n2');
    peer.merge(old.all('net1'), NONE, 0);
    return { peer, old: old.all('net1') };
  }

  it('tombstones its old endpoints it no longer runs, past their versions', () => {
    const { old } = before();
    const fresh = new PeerTable('n1');
    const { changed, answers } = fresh.merge(old, NONE, 50);
    expect(answers.map((r) => [r.owner, r.deleted, r.origin])).toEqual([
      ['task:x', true, 'n1'],
      ['task:y', true, 'n1'],
    ]);
    expect(changed).toEqual(answers);
    expect(Math.min(...answers.map((r) => r.version))).toBeGreaterThan(3);
    expect(fresh.clock).toBe(5);
  });

  it('keeps an old endpoint it still runs (named by the caller) and corrects it on setLocal', () => {
    const { old } = before();
    const fresh = new PeerTable('n1');
    const { changed, answers } = fresh.merge(old, new Set(['task:x']), 50);
    expect(answers.map((r) => r.owner)).toEqual(['task:y']);
    expect(changed.find((r) => r.owner === 'task:x')).toMatchObject({ version: 3, deleted: false, ready: false });
    // Same payload as the old write: nothing to send.
    expect(fresh.setLocal({ ...x, ready: false })).toBeUndefined();
    // The endpoint changed while the host was down: the new write goes past the old one.
    expect(fresh.setLocal({ ...x, ready: true })).toMatchObject({ version: 5, ready: true });
  });

  it('re-asserts an endpoint it wrote since the restart over its own older life', () => {
    const { peer, old } = before();
    const fresh = new PeerTable('n1');
    // Written after the restart with a fresh clock: version 1, under the old version 3.
    const mine = fresh.setLocal({ ...x, ready: true });
    expect(mine?.version).toBe(1);
    expect(peer.merge(mine ? [mine] : [], NONE, 0).changed).toEqual([]);
    const { answers } = fresh.merge(old, NONE, 50);
    const restated = answers.find((r) => r.owner === 'task:x');
    expect(restated).toMatchObject({ version: 4, ready: true, deleted: false, origin: 'n1' });
    peer.merge(answers, NONE, 60);
    expect(peer.records('net1')).toEqual(fresh.records('net1'));
    expect(peer.records('net1').map((r) => r.owner)).toEqual(['task:x']);
  });

  it('refutes another host declaring it dead while it runs the endpoint', () => {
    const n1 = new PeerTable('n1');
    const n2 = new PeerTable('n2');
    n2.merge([n1.setLocal(x)!], NONE, 0);
    const tombs = n2.dropNode('n1', 100);
    expect(tombs).toMatchObject([{ owner: 'task:x', deleted: true, origin: 'n2', version: 2 }]);
    const { changed, answers } = n1.merge(tombs, NONE, 100);
    expect(changed).toEqual([]);
    expect(answers).toMatchObject([{ owner: 'task:x', deleted: false, origin: 'n1', version: 3 }]);
    expect(n2.merge(answers, NONE, 101).changed).toHaveLength(1);
    expect(n2.records('net1')).toEqual(n1.records('net1'));
  });
});

describe('PeerTable dropNode, prune and forgetNetwork', () => {
  it('tombstones every live record of the node, in every network, never its own', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('mine', '10.0.1.9'));
    t.merge(
      [
        stamped(taskEndpoint('a', '10.0.1.2', { node: 'n2' }), 1),
        stamped(taskEndpoint('b', '10.0.2.2', { node: 'n2', net: 'net2' }), 2),
        stamped(taskEndpoint('c', '10.0.1.3', { node: 'n3' }), 3),
        stamped(taskEndpoint('d', '10.0.1.4', { node: 'n2' }), 4, 'n2', true),
      ],
      NONE,
      0,
    );
    const tombs = t.dropNode('n2', 5);
    expect(tombs.map((r) => [r.networkId, r.owner, r.deleted, r.origin])).toEqual([
      ['net1', 'task:a', true, 'n1'],
      ['net2', 'task:b', true, 'n1'],
    ]);
    expect(t.records('net1').map((r) => r.owner)).toEqual(['task:c', 'task:mine']);
    expect(t.dropNode('n1', 5)).toEqual([]);
  });

  it('drops tombstones once they are old enough, dated by when they were learned', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('a', '10.0.1.2'));
    t.deleteLocal('net1', 'task:a', 100);
    t.merge([stamped(taskEndpoint('b', '10.0.1.3', { node: 'n2' }), 1, 'n2', true)], NONE, 150);
    t.merge([stamped(taskEndpoint('c', '10.0.2.3', { node: 'n2', net: 'net2' }), 1, 'n2', true)], NONE, 100);
    t.merge([stamped(taskEndpoint('d', '10.0.1.4', { node: 'n2' }), 1)], NONE, 0);
    expect(t.prune(undefined, 100, 199)).toBe(0);
    expect(t.prune('net1', 100, 200)).toBe(1);
    expect(t.all('net1').map((r) => r.owner)).toEqual(['task:b', 'task:d']);
    expect(t.networks()).toEqual(['net1', 'net2']);
    expect(t.prune(undefined, 100, 250)).toBe(2);
    expect(t.all('net1').map((r) => r.owner)).toEqual(['task:d']);
    expect(t.networks()).toEqual(['net1']);
  });

  it('forgets a network and its local endpoints', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('a', '10.0.1.2'));
    t.forgetNetwork('net1');
    expect(t.networks()).toEqual([]);
    // No longer local: an echo of the old write is answered with a tombstone.
    const { answers } = t.merge([stamped(taskEndpoint('a', '10.0.1.2'), 1, 'n1')], NONE, 0);
    expect(answers).toMatchObject([{ owner: 'task:a', deleted: true }]);
  });
});

describe('PeerTable anti-entropy', () => {
  it('digest lists every key with its stamp and fingerprint, sorted by owner', () => {
    const t = new PeerTable('n1');
    t.setLocal(taskEndpoint('b', '10.0.1.3'));
    t.setLocal(taskEndpoint('a', '10.0.1.2'));
    t.deleteLocal('net1', 'task:b', 0);
    const d = t.digest('net1');
    expect(d.map(([owner, version, origin]) => [owner, version, origin])).toEqual([
      ['task:a', 2, 'n1'],
      ['task:b', 3, 'n1'],
    ]);
    expect(d.every(([, , , fp]) => Number.isInteger(fp) && fp >= 0 && fp < 2 ** 32)).toBe(true);
    expect(t.digest('nope')).toEqual([]);
  });

  it('sends what the other side lacks or holds older, and nothing more', () => {
    const n1 = new PeerTable('n1');
    const n2 = new PeerTable('n2');
    const shared = n1.setLocal(taskEndpoint('s', '10.0.1.2'))!;
    n2.merge([shared], NONE, 0);
    const onlyN1 = n1.setLocal(taskEndpoint('x', '10.0.1.3'))!;
    const newer = n1.setLocal(taskEndpoint('s', '10.0.1.2', { ready: false }))!;
    expect(n1.missingFrom('net1', n2.digest('net1'))).toEqual([newer, onlyN1]);
    expect(n2.missingFrom('net1', n1.digest('net1'))).toEqual([]);
    expect(n1.missingFrom('other', n2.digest('other'))).toEqual([]);
  });

  it('brings two diverged tables to the same table', () => {
    const n1 = new PeerTable('n1');
    const n2 = new PeerTable('n2');
    n1.setLocal(taskEndpoint('a', '10.0.1.2'));
    n1.setLocal(taskEndpoint('b', '10.0.1.3'));
    n2.merge(n1.all('net1'), NONE, 0);
    n1.deleteLocal('net1', 'task:a', 0);
    n1.setLocal(taskEndpoint('c', '10.0.1.4'));
    n2.setLocal(taskEndpoint('d', '10.0.1.5', { node: 'n2' }));
    n2.merge([stamped(taskEndpoint('e', '10.0.1.6', { node: 'n3' }), 9, 'n3')], NONE, 0);

    n2.merge(n1.missingFrom('net1', n2.digest('net1')), new Set(['task:d']), 0);
    n1.merge(n2.missingFrom('net1', n1.digest('net1')), new Set(['task:b', 'task:c']), 0);
    expect(n1.all('net1')).toEqual(n2.all('net1'));
    expect(n1.records('net1').map((r) => r.owner)).toEqual(['task:b', 'task:c', 'task:d', 'task:e']);
    expect(n1.missingFrom('net1', n2.digest('net1'))).toEqual([]);
    expect(n2.missingFrom('net1', n1.digest('net1'))).toEqual([]);
  });

  it('resolves two writes with one stamp through the fingerprint', () => {
    const e = taskEndpoint('a', '10.0.1.2', { node: 'n3' });
    const n1 = new PeerTable('n1');
    const n2 = new PeerTable('n2');
    n1.merge([stamped(e, 4, 'n3')], NONE, 0);
    n2.merge([stamped({ ...e, ready: false }, 4, 'n3')], NONE, 0);
    n1.merge(n2.missingFrom('net1', n1.digest('net1')), NONE, 0);
    n2.merge(n1.missingFrom('net1', n2.digest('net1')), NONE, 0);
    expect(n1.all('net1')).toEqual(n2.all('net1'));
    expect(n1.missingFrom('net1', n2.digest('net1'))).toEqual([]);
  });

  it('does not hand a pruned tombstone back to the host that pruned it', () => {
    const n1 = new PeerTable('n1');
    const n2 = new PeerTable('n2');
    n1.setLocal(taskEndpoint('a', '10.0.1.2'));
    n2.merge(n1.all('net1'), NONE, 0);
    n2.merge([n1.deleteLocal('net1', 'task:a', 0)!], NONE, 0);
    n1.prune(undefined, 10, 10);
    expect(n1.all('net1')).toEqual([]);
    expect(n2.missingFrom('net1', n1.digest('net1'))).toEqual([]);
    // A host that still holds the live record is sent the tombstone.
    const n3 = new PeerTable('n3');
    n3.merge([stamped(taskEndpoint('a', '10.0.1.2'), 1, 'n1')], NONE, 0);
    expect(n2.missingFrom('net1', n3.digest('net1'))).toMatchObject([{ owner: 'task:a', deleted: true }]);
  });
});
