import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeObject } from '../../node/store/types.js';
import { ClusterHarness, waitFor } from './harness.js';

// 3 managers and 2 workers as separate processes on loopback, driven through the real CLI.
// The tests run in order: each starts from the cluster the previous one left.

let h: ClusterHarness;
const MANAGERS = ['m1', 'm2', 'm3'];
const WORKERS = ['w1', 'w2'];

async function nodes(on: string): Promise<NodeObject[]> {
  const r = await h.api<NodeObject[]>(on, 'GET', '/nodes');
  if (r.status !== 200) throw new Error(`GET /nodes on ${on}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function leaderName(among: string[]): Promise<string | undefined> {
  for (const name of among) {
    if (!h.node(name).running()) continue;
    try {
      const list = await nodes(name);
      const leader = list.find((n) => n.ManagerStatus?.Leader);
      if (leader) return leader.Description.Hostname;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function joinCommand(initOutput: string): { token: string; addr: string } {
  const m = /swarm join --token (\S+) (\S+)/.exec(initOutput);
  if (!m) throw new Error(`no join command in: ${initOutput}`);
  return { token: m[1]!, addr: m[2]! };
}

beforeAll(async () => {
  h = ClusterHarness.create('cluster');
  for (const n of [...MANAGERS, ...WORKERS]) await h.add(n);
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
});

describe('a cluster of separate processes', () => {
  it('forms from the CLI: init, join as managers and workers; node ls agrees on every manager', async () => {
    const init = await h.ok('m1', 'init', '--advertise-addr', h.node('m1').addr);
    expect(init).toMatch(/Swarm initialized: current node \(\w+\) is now a manager/);
    const { token: workerToken, addr } = joinCommand(init);
    const managerToken = (await h.ok('m1', 'join-token', '-q', 'manager')).trim();
    expect(managerToken).toMatch(/^SWMTKN-1-/);
    for (const m of ['m2', 'm3']) {
      expect(await h.ok(m, 'join', '--token', managerToken, addr)).toMatch(/joined a swarm as a manager/);
    }
    for (const w of WORKERS) {
      expect(await h.ok(w, 'join', '--token', workerToken, addr)).toMatch(/joined a swarm as a worker/);
    }
    await waitFor(async () => {
      for (const m of MANAGERS) {
        const list = await nodes(m);
        if (list.length !== 5 || list.some((n) => n.Status.State !== 'ready')) return undefined;
        if (list.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length !== 3) return undefined;
        if (list.filter((n) => n.ManagerStatus?.Leader).length !== 1) return undefined;
      }
      return true;
    }, 'all 5 nodes ready and 3 reachable managers with one leader, on every manager');
    const views = await Promise.all(MANAGERS.map(async (m) => (await nodes(m)).map((n) => `${n.ID}:${n.Spec.Role}`).sort().join(',')));
    expect(new Set(views).size).toBe(1);
    const table = await h.ok('m2', 'node', 'ls');
    expect(table).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION/);
    expect(table).toMatch(/\*\s+m2\s+Ready\s+Active\s+(Leader|Reachable)/);
    expect(table.match(/Ready/g)?.length).toBe(5);
  }, 90_000);

  it('refuses a second init, a bad token and a worker asking for cluster state', async () => {
    const again = await h.cli('m1', 'init');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already part of a swarm/);
    const onWorker = await h.cli('w1', 'node', 'ls');
    expect(onWorker.code).not.toBe(0);
    expect(onWorker.stderr).toMatch(/not a swarm manager/);
  });

  it('GET /swarm/raft: the managers agree on one leader; after a write they reach the same applied index and store digest', async () => {
    type RaftView = { NodeID: string; Role: string; Term: number; Leader: string; CommitIndex: number; AppliedIndex: number; StoreDigest: string };
    const raft = async (on: string): Promise<RaftView> => {
      const r = await h.api<RaftView>(on, 'GET', '/swarm/raft');
      if (r.status !== 200) throw new Error(`GET /swarm/raft on ${on}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const views = await waitFor(async () => {
      const all = await Promise.all(MANAGERS.map(raft));
      const leaders = all.filter((v) => v.Role === 'leader');
      return leaders.length === 1 && all.every((v) => v.Leader === leaders[0]!.NodeID) ? all : undefined;
    }, 'exactly one manager to lead and every manager to believe in it');
    for (const v of views) {
      expect(v).toEqual({
        NodeID: expect.any(String),
        Role: expect.stringMatching(/^(leader|follower)$/),
        Term: expect.any(Number),
        Leader: views.find((x) => x.Role === 'leader')!.NodeID,
        CommitIndex: expect.any(Number),
        AppliedIndex: expect.any(Number),
        StoreDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
    }
    const managerIds = (await nodes('m1')).filter((n) => n.Spec.Role === 'manager').map((n) => n.ID);
    expect(views.map((v) => v.NodeID).sort()).toEqual(managerIds.sort());

    // Writes through a follower (forwarded to the leader, applied here before it answers): a
    // config, then a change of its labels, which is conditional on the version read.
    const follower = MANAGERS[views.findIndex((v) => v.Role === 'follower')]!;
    const created = await h.api<{ ID: string }>(follower, 'POST', '/configs/create', { Name: 'raft-check', Data: Buffer.from('x').toString('base64') });
    expect(created.status).toBe(201);
    const read = (await h.api<{ Version: { Index: number } }>(follower, 'GET', '/configs/raft-check')).body.Version.Index;
    await h.ok(follower, 'config', 'update', '--label-add', 'checked=yes', 'raft-check');
    const stale = await h.api(follower, 'POST', `/configs/${created.body.ID}/update?version=${read}`, { Name: 'raft-check', Labels: {} });
    expect([stale.status, stale.body]).toEqual([409, { message: 'update out of sequence', hint: 'the config changed since it was read: read it again and retry' }]);
    const leader = MANAGERS[views.findIndex((v) => v.Role === 'leader')]!;
    expect((await h.api<{ Spec: object }>(leader, 'GET', '/configs/raft-check')).body.Spec).toEqual({ Name: 'raft-check', Labels: { checked: 'yes' }, Data: Buffer.from('x').toString('base64') });
    const written = (await raft(follower)).AppliedIndex;
    const same = await waitFor(async () => {
      const all = await Promise.all(MANAGERS.map(raft));
      const first = all[0]!;
      return all.every((v) => v.AppliedIndex >= written && v.AppliedIndex === first.AppliedIndex && v.StoreDigest === first.StoreDigest) ? all : undefined;
    }, 'all three managers to reach the same applied index with the same store digest');
    // The write is a new entry: past what any manager had applied before it, and the state changed.
    expect(same[0]!.AppliedIndex).toBeGreaterThan(Math.max(...views.map((v) => v.AppliedIndex)));
    expect(views.map((v) => v.StoreDigest)).not.toContain(same[0]!.StoreDigest);

    const onWorker = await h.api<{ message: string }>('w1', 'GET', '/swarm/raft');
    expect(onWorker.status).toBe(503);
    expect(onWorker.body.message).toMatch(/not a swarm manager/);
  }, 30_000);

  it('elects a new leader after kill -9 of the leader; writes continue; the old leader rejoins as a follower', async () => {
    const old = await waitFor(() => leaderName(MANAGERS), 'a leader');
    await h.node(old).kill('SIGKILL');
    const rest = MANAGERS.filter((m) => m !== old);
    const killedAt = Date.now();
    const next = await waitFor(async () => {
      const l = await leaderName(rest);
      return l && l !== old ? l : undefined;
    }, 'a new leader', 10_000, 50);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    await h.ok(next, 'node', 'update', '--label-add', 'zone=a', 'w1');
    await h.node(old).start();
    await waitFor(async () => {
      const list = await nodes(old);
      const me = list.find((n) => n.Description.Hostname === old);
      const w1 = list.find((n) => n.Description.Hostname === 'w1');
      return me && !me.ManagerStatus?.Leader && me.Status.State === 'ready' && w1?.Spec.Labels['zone'] === 'a' ? true : undefined;
    }, `${old} to rejoin as a follower and see the write made while it was down`);
  }, 60_000);

  it('fails writes with "no quorum" when 2 of 3 managers are killed, and recovers with nothing lost', async () => {
    const survivor = 'm1';
    await h.ok(survivor, 'node', 'update', '--label-add', 'before=quorum-loss', 'w2');
    const victims = MANAGERS.filter((m) => m !== survivor);
    for (const v of victims) await h.node(v).kill('SIGKILL');
    const failed = await waitFor(async () => {
      const r = await h.cli(survivor, 'node', 'update', '--label-add', 'during=outage', 'w2');
      return r.code !== 0 ? r : undefined;
    }, 'a write to fail', 30_000, 200);
    expect(failed.stderr).toMatch(/no quorum/i);
    // Without a quorum the survivor still reports its own Raft view (no quorum round trip).
    const alone = await h.api<{ NodeID: string; StoreDigest: string }>(survivor, 'GET', '/swarm/raft');
    expect(alone.status).toBe(200);
    expect(alone.body.StoreDigest).toMatch(/^[0-9a-f]{64}$/);
    for (const v of victims) await h.node(v).start();
    await waitFor(async () => ((await h.cli(survivor, 'node', 'update', '--label-add', 'after=recovery', 'w2')).code === 0 ? true : undefined), 'writes to work again', 30_000, 200);
    const w2 = (await nodes(survivor)).find((n) => n.Description.Hostname === 'w2')!;
    expect(w2.Spec.Labels['before']).toBe('quorum-loss');
    expect(w2.Spec.Labels['after']).toBe('recovery');
  }, 90_000);

  it('promotes, demotes, drains and removes nodes', async () => {
    await h.ok('m1', 'node', 'update', '--availability', 'drain', 'w1');
    await waitFor(async () => ((await nodes('m2')).find((n) => n.Description.Hostname === 'w1')?.Spec.Availability === 'drain' ? true : undefined), 'w1 drained');
    await h.ok('m1', 'node', 'promote', 'w2');
    await waitFor(async () => {
      const w2 = (await nodes('m1')).find((n) => n.Description.Hostname === 'w2');
      return w2?.ManagerStatus?.Reachability === 'reachable' ? true : undefined;
    }, 'w2 to become a reachable manager');
    // The promoted node serves manager requests itself.
    await waitFor(async () => ((await h.cli('w2', 'node', 'ls')).code === 0 ? true : undefined), 'w2 to answer node ls as a manager');
    // Demoting the leader itself: it hands leadership over first, then leaves the voters.
    const oldLeader = await waitFor(() => leaderName(MANAGERS), 'a leader');
    const other = MANAGERS.find((m) => m !== oldLeader)!;
    await h.ok(other, 'node', 'demote', oldLeader);
    await waitFor(async () => {
      const list = await nodes(other);
      const l = list.find((n) => n.ManagerStatus?.Leader);
      const demoted = list.find((n) => n.Description.Hostname === oldLeader);
      return l && l.Description.Hostname !== oldLeader && demoted?.Spec.Role === 'worker' ? true : undefined;
    }, `leadership to move off the demoted ${oldLeader}`);
    await waitFor(async () => ((await h.cli(oldLeader, 'node', 'ls')).code !== 0 ? true : undefined), `${oldLeader} to stop serving as a manager`);
    await h.ok(other, 'node', 'promote', oldLeader);
    await waitFor(async () => {
      const n = (await nodes(other)).find((x) => x.Description.Hostname === oldLeader);
      return n?.ManagerStatus?.Reachability === 'reachable' ? true : undefined;
    }, `${oldLeader} to vote again`);
    await h.ok('m1', 'node', 'demote', 'w2');
    await waitFor(async () => ((await h.cli('w2', 'node', 'ls')).code !== 0 ? true : undefined), 'w2 to stop being a manager');
    const rmRunning = await h.cli('m1', 'node', 'rm', 'w1');
    expect(rmRunning.code).not.toBe(0);
    expect(rmRunning.stderr).toMatch(/not down/);
    const rmManager = await h.cli('m1', 'node', 'rm', 'm3');
    expect(rmManager.stderr).toMatch(/must be demoted/);
    await h.node('w1').kill('SIGKILL');
    await waitFor(async () => ((await nodes('m1')).find((n) => n.Description.Hostname === 'w1')?.Status.State === 'down' ? true : undefined), 'w1 to be marked down', 10_000, 50);
    // Workers learn it too, by gossip, without asking a manager.
    const w1Id = (await nodes('m1')).find((n) => n.Description.Hostname === 'w1')!.ID;
    await waitFor(async () => {
      const peers = await h.api<{ nodes: { nodeId: string; state: string }[] }>('w2', 'GET', '/swarm/peers');
      return peers.body.nodes.find((n) => n.nodeId === w1Id)?.state === 'down' ? true : undefined;
    }, 'w2 to learn by gossip that w1 is down');
    await h.ok('m1', 'node', 'rm', 'w1');
    expect((await nodes('m1')).some((n) => n.Description.Hostname === 'w1')).toBe(false);
  }, 90_000);

  it('rotates join tokens: the old one is refused, the new one works', async () => {
    const old = (await h.ok('m1', 'join-token', '-q', 'worker')).trim();
    await h.ok('m1', 'join-token', '--rotate', 'worker');
    const fresh = (await h.ok('m1', 'join-token', '-q', 'worker')).trim();
    expect(fresh).not.toBe(old);
    const w3 = await h.add('w3');
    const refused = await h.cli('w3', 'join', '--token', old, h.node('m1').addr);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/token/i);
    expect((await nodes('m1')).some((n) => n.Description.Hostname === 'w3')).toBe(false);
    await h.ok('w3', 'join', '--token', fresh, h.node('m1').addr);
    void w3;
  }, 60_000);

  it('fails a join to an unreachable manager after a bounded wait, with a hint', async () => {
    const lone = await h.add('lone');
    const token = (await h.ok('m1', 'join-token', '-q', 'worker')).trim();
    const started = Date.now();
    const r = await h.cli('lone', 'join', '--token', token, '127.0.0.1:9');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/could not reach a manager at 127\.0\.0\.1:9/);
    expect(r.stderr).toMatch(/Hint:/);
    expect(Date.now() - started).toBeLessThan(30_000);
    // Nothing was joined: the node can still join for real.
    expect((await h.api<{ Swarm: { LocalNodeState: string } }>('lone', 'GET', '/info')).body.Swarm.LocalNodeState).toBe('inactive');
    await lone.kill();
  }, 60_000);

  it('renews certificates before they expire', async () => {
    type Info = { Swarm: { LocalNodeState: string; NodeCertificate?: { Serial: string; IssuedAt: string; ExpiresAt: string } } };
    const certOf = async (n: string) => (await h.api<Info>(n, 'GET', '/info')).body.Swarm.NodeCertificate!;
    const first = await certOf('w3');
    const swarm = await h.api<{ Version: { Index: number }; Spec: Record<string, unknown> }>('m1', 'GET', '/swarm');
    const upd = await h.api('m1', 'POST', `/swarm/update?version=${swarm.body.Version.Index}`, { ...swarm.body.Spec, CAConfig: { NodeCertExpiry: 3e9 } });
    expect(upd.status).toBe(200);
    // A shorter policy makes nodes renew at once; then each renews at half life, before expiry.
    const serials = new Set([first.Serial]);
    const short = await waitFor(async () => {
      const c = await certOf('w3');
      serials.add(c.Serial);
      return Date.parse(c.ExpiresAt) - Date.parse(c.IssuedAt) <= 3000 ? c : undefined;
    }, 'w3 to hold a certificate under the 3 s policy');
    await waitFor(async () => {
      const c = await certOf('w3');
      serials.add(c.Serial);
      return c.Serial !== short.Serial && serials.size >= 3 ? true : undefined;
    }, 'w3 to renew again before its short certificate expires', 10_000, 100);
    // Still trusted: the node stays ready and its managers still accept writes about it.
    expect((await nodes('m1')).find((n) => n.Description.Hostname === 'w3')?.Status.State).toBe('ready');
    await h.ok('m2', 'node', 'update', '--label-add', 'renewed=yes', 'w3');
    const back = await h.api('m1', 'POST', `/swarm/update?version=${(await h.api<{ Version: { Index: number } }>('m1', 'GET', '/swarm')).body.Version.Index}`, { ...swarm.body.Spec, CAConfig: { NodeCertExpiry: 90 * 24 * 3600 * 1e9 } });
    expect(back.status).toBe(200);
  }, 60_000);

  it('keeps a restarted worker identity', async () => {
    const before = (await nodes('m1')).find((n) => n.Description.Hostname === 'w2')!;
    await h.node('w2').kill('SIGKILL');
    await h.node('w2').start();
    await waitFor(async () => {
      const list = (await nodes('m1')).filter((n) => n.Description.Hostname === 'w2');
      return list.length === 1 && list[0]!.ID === before.ID && list[0]!.Status.State === 'ready' ? true : undefined;
    }, 'w2 back as the same node');
  }, 60_000);

  it('forces a new cluster on the survivor of a lost quorum', async () => {
    for (const v of ['m2', 'm3']) await h.node(v).kill('SIGKILL');
    const out = await h.ok('m1', 'init', '--force-new-cluster');
    expect(out).toMatch(/Swarm initialized/);
    await waitFor(async () => ((await h.cli('m1', 'node', 'update', '--label-add', 'reborn=yes', 'w2')).code === 0 ? true : undefined), 'writes on the new one-manager cluster');
    const list = await nodes('m1');
    expect(list.filter((n) => n.Spec.Role === 'manager').map((n) => n.Description.Hostname)).toEqual(['m1']);
    expect(list.find((n) => n.Description.Hostname === 'w2')?.Spec.Labels['before']).toBe('quorum-loss');
  }, 60_000);
});
