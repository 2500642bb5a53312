// Seeded random histories: tables that see the same writes, in any order and any number of times,
// end equal; hosts that lose messages still agree after anti-entropy.
import { describe, expect, it } from 'vitest';
import type { EndpointRecord } from '../types.js';
import { PeerTable } from './table.js';
import { prng, shuffled, taskEndpoint } from './test-helpers.js';

const NETS = ['net1', 'net2'];
const NONE: ReadonlySet<string> = new Set();

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

interface Host {
  table: PeerTable;
  /** Owners this host runs, by network. */
  running: Map<string, string>;
}

/** One random local step on a host: write, change, delete or drop a node. Returns what it published. */
function step(host: Host, nodeId: string, hostIndex: number, random: () => number, now: number, seq: { n: number }): EndpointRecord[] {
  const roll = random();
  const keys = [...host.running.keys()];
  if (roll < 0.4 || keys.length === 0) {
    const net = pick(random, NETS);
    const id = `${nodeId}-${seq.n++}`;
    const rec = host.table.setLocal(taskEndpoint(id, `10.${hostIndex}.${seq.n % 250}.${(seq.n >> 8) + 2}`, { net, node: nodeId, ready: random() < 0.5 }));
    host.running.set(`${net}\n${id}`, `task:${id}`);
    return rec ? [rec] : [];
  }
  const key = pick(random, keys);
  const [net, id] = key.split('\n') as [string, string];
  const current = host.table.get(net, `task:${id}`);
  if (roll < 0.7 && current !== undefined) {
    const rec = host.table.setLocal({ ...current, ready: !current.ready });
    return rec ? [rec] : [];
  }
  if (roll < 0.95) {
    host.running.delete(key);
    const rec = host.table.deleteLocal(net, `task:${id}`, now);
    return rec ? [rec] : [];
  }
  return host.table.dropNode(pick(random, ['n0', 'n1', 'n2', 'n3']), now);
}

function localOwners(host: Host): Set<string> {
  return new Set(host.running.values());
}

describe('PeerTable convergence', () => {
  it('receivers of the same writes in random orders with duplicates end equal', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(seed);
      const writers: Host[] = ['n0', 'n1', 'n2'].map((id) => ({ table: new PeerTable(id), running: new Map() }));
      const published: EndpointRecord[] = [];
      const seq = { n: 0 };
      for (let t = 0; t < 120; t++) {
        const i = Math.floor(random() * writers.length);
        const w = writers[i] as Host;
        const out = step(w, `n${i}`, i, random, t, seq);
        published.push(...out);
        // Writers hear a random part of the others' writes, so versions interleave.
        for (const other of writers) {
          if (other !== w && random() < 0.5) published.push(...other.table.merge(out, localOwners(other), t).answers);
        }
      }
      const receivers = [0, 1, 2, 3].map((i) => new PeerTable(`r${i}`));
      for (const r of receivers) {
        const delivery = shuffled([...published, ...published.filter(() => random() < 0.3)], random);
        for (let i = 0; i < delivery.length; ) {
          const n = 1 + Math.floor(random() * 5);
          r.merge(delivery.slice(i, i + n), NONE, 0);
          i += n;
        }
      }
      const [first, ...rest] = receivers as [PeerTable, ...PeerTable[]];
      for (const r of rest) {
        for (const net of NETS) expect(r.all(net), `seed ${seed} ${net}`).toEqual(first.all(net));
        expect(r.clock).toBe(first.clock);
      }
    }
  });

  it('hosts that lose gossip agree after pairwise digest exchanges', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = prng(1000 + seed);
      const hosts: Host[] = ['n0', 'n1', 'n2', 'n3'].map((id) => ({ table: new PeerTable(id), running: new Map() }));
      const seq = { n: 0 };
      const broadcast = (from: Host, records: EndpointRecord[], now: number, loss: number): void => {
        for (const h of hosts) {
          if (h === from || records.length === 0 || random() < loss) continue;
          broadcast(h, h.table.merge(records, localOwners(h), now).answers, now, loss);
        }
      };
      for (let t = 0; t < 150; t++) {
        const i = Math.floor(random() * hosts.length);
        const h = hosts[i] as Host;
        broadcast(h, step(h, `n${i}`, i, random, t, seq), t, 0.6);
        // A host restarts now and then: empty table, containers still running.
        // A host restarts now and then: empty table and clock, containers still running, which
        // it announces again (peers hold newer versions of them from its previous life).
        if (random() < 0.03) {
          const j = Math.floor(random() * hosts.length);
          const old = hosts[j] as Host;
          const fresh: Host = { table: new PeerTable(`n${j}`), running: old.running };
          hosts[j] = fresh;
          const again = [...old.running.keys()].flatMap((key) => {
            const [net, id] = key.split('\n') as [string, string];
            const rec = old.table.get(net, `task:${id}`);
            const out = rec ? fresh.table.setLocal(rec) : undefined;
            return out ? [out] : [];
          });
          broadcast(fresh, again, t, 0.6);
        }
      }
      // Anti-entropy until nothing moves; answers are gossiped without loss.
      for (let round = 0; round < 50; round++) {
        let moved = 0;
        for (const a of hosts) {
          for (const b of hosts) {
            if (a === b) continue;
            for (const net of NETS) {
              const { changed, answers } = a.table.merge(b.table.missingFrom(net, a.table.digest(net)), localOwners(a), 1000);
              moved += changed.length + answers.length;
              broadcast(a, answers, 1000, 0);
            }
          }
        }
        if (moved === 0) break;
      }
      const [first, ...rest] = hosts as [Host, ...Host[]];
      for (const h of rest) {
        for (const net of NETS) expect(h.table.records(net), `seed ${seed} ${net}`).toEqual(first.table.records(net));
      }
      // Each host's running endpoints are live everywhere, with its current payload.
      for (const h of hosts) {
        for (const key of h.running.keys()) {
          const [net, id] = key.split('\n') as [string, string];
          expect(first.table.get(net, `task:${id}`)?.deleted, `seed ${seed} ${key}`).toBe(false);
        }
      }
      const live = NETS.flatMap((net) => first.table.records(net)).length;
      expect(live).toBe(hosts.reduce((n, h) => n + h.running.size, 0));
    }
  });
});
