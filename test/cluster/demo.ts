import '../../polyfill.js';
import type { NodeObject } from '../../node/store/types.js';
import { ClusterHarness, waitFor } from './harness.js';

// The demo: 3 managers and 2 workers as separate `swarm daemon` processes on this machine,
// formed with the real CLI; the leader is killed with SIGKILL, the rest elect a new one and mark
// it down; it restarts and rejoins. Everything is removed at the end.

const started = Date.now();
function say(line: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
}
function show(block: string): void {
  process.stdout.write(`${block.trimEnd().replace(/^/gm, '        ')}\n`);
}

async function main(): Promise<void> {
  const h = ClusterHarness.create('demo');
  const stop = () => void h.cleanup().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const names = ['manager1', 'manager2', 'manager3', 'worker1', 'worker2'];
    say(`starting ${names.length} daemons (one process and data dir each) under ${h.dir}`);
    for (const n of names) await h.add(n);

    say('$ swarm init');
    const init = await h.ok('manager1', 'init', '--advertise-addr', h.node('manager1').addr);
    show(init);
    const addr = h.node('manager1').addr;
    const managerToken = (await h.ok('manager1', 'join-token', '-q', 'manager')).trim();
    const workerToken = (await h.ok('manager1', 'join-token', '-q', 'worker')).trim();
    for (const m of ['manager2', 'manager3']) {
      say(`$ swarm join --token <manager token> ${addr}   (on ${m})`);
      show(await h.ok(m, 'join', '--token', managerToken, addr));
    }
    for (const w of ['worker1', 'worker2']) {
      say(`$ swarm join --token <worker token> ${addr}   (on ${w})`);
      show(await h.ok(w, 'join', '--token', workerToken, addr));
    }
    await waitFor(async () => {
      const r = await h.api<NodeObject[]>('manager1', 'GET', '/nodes');
      const ok = r.body.filter((n) => n.Status.State === 'ready').length === 5 && r.body.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length === 3;
      return ok ? true : undefined;
    }, 'every node ready');
    say('$ swarm node ls   (on manager2)');
    show(await h.ok('manager2', 'node', 'ls'));

    const leader = (await h.api<NodeObject[]>('manager2', 'GET', '/nodes')).body.find((n) => n.ManagerStatus?.Leader)!.Description.Hostname;
    say(`killing the leader ${leader} with SIGKILL`);
    await h.node(leader).kill('SIGKILL');
    const killed = Date.now();
    const others = ['manager1', 'manager2', 'manager3'].filter((m) => m !== leader);
    const next = await waitFor(async () => {
      for (const m of others) {
        const r = await h.api<NodeObject[]>(m, 'GET', '/nodes').catch(() => undefined);
        const l = r?.status === 200 ? r.body.find((n) => n.ManagerStatus?.Leader) : undefined;
        if (l && l.Description.Hostname !== leader) return l.Description.Hostname;
      }
      return undefined;
    }, 'a new leader', 20_000, 25);
    say(`${next} is the new leader, ${Date.now() - killed} ms after the kill`);
    await waitFor(async () => {
      const r = await h.api<NodeObject[]>(others[0]!, 'GET', '/nodes');
      return r.body.find((n) => n.Description.Hostname === leader)?.Status.State === 'down' ? true : undefined;
    }, `${leader} to be marked down`, 20_000, 25);
    say(`${leader} marked Down, ${Date.now() - killed} ms after the kill`);
    show(await h.ok(others[0]!, 'node', 'ls'));

    say(`restarting ${leader}: it keeps its identity and rejoins as a follower`);
    await h.node(leader).start();
    await waitFor(async () => {
      const r = await h.api<NodeObject[]>(others[0]!, 'GET', '/nodes');
      const n = r.body.find((x) => x.Description.Hostname === leader);
      return n?.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable' ? true : undefined;
    }, `${leader} to rejoin`);
    show(await h.ok(leader, 'node', 'ls'));
    say('the cluster healed');
  } finally {
    await h.cleanup();
    say('cleaned up');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
