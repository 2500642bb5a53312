import '../../polyfill.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeObject, TaskObject } from '../../node/store/types.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
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

    // A stack: the image is loaded on one node only; the others fetch it from it, no registry.
    const dir = join(h.dir, 'stack');
    mkdirSync(dir, { recursive: true });
    await writeBusyboxImageArchive(join(dir, 'busybox.tar'), { name: 'busybox:demo', format: 'docker' });
    say('$ swarm image load -i busybox.tar   (on manager1 only)');
    show(await h.ok('manager1', 'image', 'load', '-i', join(dir, 'busybox.tar')));
    writeFileSync(
      join(dir, 'compose.yml'),
      ['services:', '  web:', '    image: busybox:demo', '    command: ["sleep", "3600"]', '    deploy: { replicas: 6 }', '  agent:', '    image: busybox:demo', '    command: ["sleep", "3600"]', '    deploy: { mode: global }', ''].join('\n'),
    );
    say('$ swarm stack deploy -c compose.yml demo');
    show(await h.ok(next, 'stack', 'deploy', '-c', join(dir, 'compose.yml'), 'demo'));
    const running = async (): Promise<TaskObject[]> =>
      (await h.api<TaskObject[]>(next, 'GET', '/tasks')).body.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
    await waitFor(async () => ((await running()).length === 11 ? true : undefined), '6 web + 5 agent tasks running', 60_000, 100);
    say('$ swarm service ls');
    show(await h.ok(next, 'service', 'ls'));
    say('$ swarm service ps demo_web');
    show(await h.ok(next, 'service', 'ps', 'demo_web'));
    say('killing worker1 with SIGKILL: its web tasks must run elsewhere');
    await h.node('worker1').kill('SIGKILL');
    const t1 = Date.now();
    const w1 = (await h.api<NodeObject[]>(next, 'GET', '/nodes')).body.find((n) => n.Description.Hostname === 'worker1')!.ID;
    await waitFor(async () => {
      const web = (await running()).filter((t) => t.Slot !== undefined);
      return web.length === 6 && web.every((t) => t.NodeID !== w1) ? true : undefined;
    }, 'the web tasks of worker1 replaced', 60_000, 50);
    say(`all 6 web tasks running again without worker1, ${Date.now() - t1} ms after the kill`);
    show(await h.ok(next, 'service', 'ps', 'demo_web'));
    say('$ swarm stack rm demo');
    show(await h.ok(next, 'stack', 'rm', 'demo'));
  } finally {
    await h.cleanup();
    say('cleaned up');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
