import { describe, expect, it } from 'vitest';
import { encodeProposal, ClusterStore, type ReplicatedStore, type StoreAction } from '../../store/index.js';
import type { NodeObject } from '../../store/index.js';
import { silentLogger } from '../../log.js';
import { Dispatcher, NEW_LEADER_GRACE_MS } from './dispatcher.js';
import { MIN_SILENCE_FOR_DOWN_MS } from './liveness.js';

function node(id: string, state: NodeObject['Status']['State']): Omit<NodeObject, 'Version'> {
  return {
    ID: id,
    CreatedAt: '2026-01-01T00:00:00Z',
    UpdatedAt: '2026-01-01T00:00:00Z',
    Spec: { Labels: {}, Role: 'worker', Availability: 'active' },
    Description: { Hostname: id, Platform: { Architecture: 'x86_64', OS: 'linux' }, Resources: { NanoCPUs: 1e9, MemoryBytes: 1 << 30 }, Engine: { EngineVersion: '0', Labels: {} } },
    Status: { State: state, Addr: '127.0.0.1' },
    Swarm: { PeerId: `peer-${id}`, Multiaddrs: [] },
  };
}

/** A store applied in-process, and a replicated store that applies commits straight to it. */
function setup(ids: string[]) {
  const store = new ClusterStore();
  let index = 0;
  const apply = (actions: StoreAction[]) =>
    store.apply({ term: 1, index: ++index, kind: 'normal', data: encodeProposal({ actions, proposedAt: '2026-01-01T00:00:00Z' }) });
  apply(ids.map((id) => ({ op: 'create', table: 'nodes', object: node(id, 'ready') })));
  const commits: StoreAction[][] = [];
  const replicated = {
    commit: async (actions: StoreAction[]) => {
      commits.push(actions);
      apply(actions);
      return [];
    },
  } as unknown as ReplicatedStore; // only commit() is used by the dispatcher
  let now = 0;
  const d = new Dispatcher({ selfId: ids[0]!, store, replicated, logger: silentLogger(), now: () => now });
  return { store, d, commits, advance: (ms: number) => (now += ms) };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('Dispatcher', () => {
  it('never marks the leader itself down, however long it runs', async () => {
    const { store, d, advance } = setup(['leader', 'w1']);
    d.start();
    for (let i = 0; i < 40; i++) {
      advance(250);
      d.heartbeat('w1');
      d.check();
      await settle();
    }
    d.stop();
    expect(store.get('nodes', 'leader')?.Status.State).toBe('ready');
    expect(store.get('nodes', 'w1')?.Status.State).toBe('ready');
  });

  it('writes a silent node down and a returning node ready, each once', async () => {
    const { store, d, commits, advance } = setup(['leader', 'w1']);
    d.start();
    // A new leader gives nodes time to find it: still ready after a second of silence.
    advance(1000);
    d.check();
    await settle();
    expect(store.get('nodes', 'w1')?.Status.State).toBe('ready');
    advance(NEW_LEADER_GRACE_MS + MIN_SILENCE_FOR_DOWN_MS - 1000);
    d.check();
    await settle();
    expect(store.get('nodes', 'w1')?.Status.State).toBe('down');
    expect(store.get('nodes', 'w1')?.Status.Message).toMatch(/heartbeat failure/);
    d.check();
    await settle();
    d.heartbeat('w1');
    await settle();
    d.stop();
    expect(store.get('nodes', 'w1')?.Status.State).toBe('ready');
    expect(commits.map((c) => c.map((a) => (a.op === 'delete' ? '' : `${a.object.ID}`)).join())).toEqual(['w1', 'w1']);
  });
});
