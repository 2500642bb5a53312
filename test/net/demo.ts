import '../../polyfill.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeObject, TaskObject } from '../../node/store/types.js';
import { waitFor } from '../cluster/harness.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { httpGetCommand, pageOf } from './http.js';
import { NetnsHarness } from './netns-harness.js';

// The demo: 5 hosts, each a network namespace on a private bridge running its own `swarm daemon`
// (3 managers, 2 workers), formed with the real CLI. The leader is killed with SIGKILL and the
// rest elect a new one; a stack with a published web page is deployed over the overlay and
// fetched through a host that runs none of its tasks; a worker is killed and its tasks come back
// elsewhere. Everything is removed at the end, even on failure.

const started = Date.now();
function say(line: string): void {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
}
function show(block: string): void {
  process.stdout.write(`${block.trimEnd().replace(/^/gm, '        ')}\n`);
}

const NAMES = ['manager1', 'manager2', 'manager3', 'worker1', 'worker2'];

async function main(): Promise<void> {
  const h = NetnsHarness.create('demo', { hosts: NAMES.length });
  const stop = () => void h.cleanup().then(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Host i's node is named host<i>; the demo's names are for the reader.
  const nameOf = (hostname: string) => NAMES[Number(hostname.replace('host', ''))] ?? hostname;
  const index = (name: string) => NAMES.indexOf(name);
  try {
    say(`building ${NAMES.length} hosts as network namespaces on bridge ${h.bridge} (${h.subnet}, no route out)`);
    for (let i = 0; i < NAMES.length; i++) say(`  ${NAMES[i]}: ${h.host(i).ip}`);
    say('$ swarm init, then swarm join on the others (3 managers, 2 workers)');
    await h.formCluster({ managers: 3 });
    show(await h.ok(1, 'node', 'ls'));

    const nodes = async (i: number) => (await h.api<NodeObject[]>(i, 'GET', '/nodes')).body;
    const leaderHost = (await nodes(1)).find((n) => n.ManagerStatus?.Leader)!.Description.Hostname;
    const leader = Number(leaderHost.replace('host', ''));
    say(`killing the leader ${nameOf(leaderHost)} with SIGKILL`);
    await h.stopDaemon(leader, 'SIGKILL');
    const killed = Date.now();
    const others = [0, 1, 2].filter((i) => i !== leader);
    const next = await waitFor(
      async () => {
        for (const i of others) {
          const r = await h.api<NodeObject[]>(i, 'GET', '/nodes').catch(() => undefined);
          const l = r?.status === 200 ? r.body.find((n) => n.ManagerStatus?.Leader) : undefined;
          if (l && l.Description.Hostname !== leaderHost) return Number(l.Description.Hostname.replace('host', ''));
        }
        return undefined;
      },
      'a new leader',
      20_000,
      25,
    );
    say(`${NAMES[next]} is the new leader, ${Date.now() - killed} ms after the kill`);
    say(`restarting ${nameOf(leaderHost)}: it keeps its identity and rejoins as a follower`);
    await h.startDaemon(leader);
    await waitFor(async () => {
      const n = (await nodes(next)).find((x) => x.Description.Hostname === leaderHost);
      return n?.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable' ? true : undefined;
    }, `${nameOf(leaderHost)} to rejoin`);
    show(await h.ok(next, 'node', 'ls'));

    // The image is loaded on one host only: the others fetch it from it, no registry.
    const dir = join(h.dir, 'stack');
    mkdirSync(dir, { recursive: true });
    await writeBusyboxImageArchive(join(dir, 'busybox.tar'), { name: 'busybox:demo', format: 'docker' });
    say('$ swarm image load -i busybox.tar   (on manager1 only)');
    show(await h.ok(0, 'image', 'load', '-i', join(dir, 'busybox.tar')));
    writeFileSync(
      join(dir, 'compose.yml'),
      [
        'services:',
        '  web:',
        '    image: busybox:demo',
        '    command: ["sh", "-c", "mkdir -p /www && echo hello from $$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]',
        '    ports: ["8080:80"]',
        '    init: true',
        '    deploy:',
        '      replicas: 3',
        '      placement: { constraints: ["node.role == worker"] }',
        '  agent:',
        '    image: busybox:demo',
        '    command: ["sleep", "3600"]',
        '    init: true',
        '    deploy: { mode: global }',
        '',
      ].join('\n'),
    );
    say('$ cat compose.yml');
    show(readFileSync(join(dir, 'compose.yml'), 'utf8'));
    say('$ swarm stack deploy -c compose.yml demo');
    show(await h.ok(next, 'stack', 'deploy', '-c', join(dir, 'compose.yml'), 'demo'));
    const running = async (): Promise<TaskObject[]> => (await h.api<TaskObject[]>(next, 'GET', '/tasks')).body.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
    await waitFor(async () => ((await running()).length === 3 + NAMES.length ? true : undefined), `3 web + ${NAMES.length} agent tasks running`, 90_000, 100);
    say('$ swarm service ps demo_web');
    show(await h.ok(next, 'service', 'ps', 'demo_web'));

    // manager1 runs no web task (workers only): the routing mesh carries the request over the overlay.
    const fetchPage = async (from: number, via: number): Promise<string> => {
      const r = await h.exec(from, ['sh', '-c', httpGetCommand(h.host(via).ip, 8080)]);
      const body = pageOf(r.stdout);
      if (r.code !== 0 || body === undefined) throw new Error(`no page: ${r.stderr}${r.stdout}`);
      return body;
    };
    say(`$ curl http://${h.host(0).ip}:8080/   (from manager2; manager1 runs no web task), 6 times`);
    const pages: string[] = [];
    for (let k = 0; k < 6; k++) pages.push(await waitFor(() => fetchPage(1, 0).catch(() => undefined), 'the published page', 20_000, 100));
    show(pages.join('\n'));

    say('killing worker1 with SIGKILL: its web tasks must run elsewhere');
    const w1 = index('worker1');
    await h.stopDaemon(w1, 'SIGKILL');
    const t1 = Date.now();
    const w1Id = (await nodes(next)).find((n) => n.Description.Hostname === h.host(w1).name)!.ID;
    await waitFor(async () => {
      const web = (await running()).filter((t) => t.Slot !== undefined);
      return web.length === 3 && web.every((t) => t.NodeID !== w1Id) ? true : undefined;
    }, 'the web tasks of worker1 replaced', 60_000, 50);
    say(`all 3 web tasks running again without worker1, ${Date.now() - t1} ms after the kill`);
    show(await h.ok(next, 'service', 'ps', 'demo_web'));
    say(`$ curl http://${h.host(0).ip}:8080/   (3 times: only live tasks answer)`);
    const after: string[] = [];
    for (let k = 0; k < 3; k++) after.push(await waitFor(() => fetchPage(1, 0).catch(() => undefined), 'the page after the kill', 20_000, 100));
    show(after.join('\n'));
    say('$ swarm stack rm demo');
    show(await h.ok(next, 'stack', 'rm', 'demo'));
  } finally {
    await h.cleanup();
    say('cleaned up: namespaces, bridge, daemons, containers');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
