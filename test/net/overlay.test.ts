import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeObject, ServiceObject, TaskObject } from '../../node/store/types.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { waitFor } from '../cluster/harness.js';
import { httpGetCommand, pageOf } from './http.js';
import { NetnsHarness, type CliResult } from './netns-harness.js';

// The overlay on 3 namespace hosts (1 manager, 2 workers): cross-host traffic between tasks,
// isolation between networks, the embedded DNS, VIP balancing, the routing mesh, peer entries
// withdrawn when a task stops, a host that missed gossip while down catching up, and every daemon
// restarted at once.

let h: NetnsHarness;
const IMAGE = 'busybox:test';
/** A web server whose page is its task's hostname (the task id's first 12 characters). */
const WEB = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];

async function tasks(service: string): Promise<TaskObject[]> {
  const r = await h.api<TaskObject[]>(0, 'GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }))}`);
  if (r.status !== 200) throw new Error(`GET /tasks: ${r.status}`);
  return r.body;
}

async function running(service: string, n: number, states: readonly string[] = ['running']): Promise<TaskObject[]> {
  return waitFor(
    async () => {
      const ts = (await tasks(service)).filter((t) => states.includes(t.Status.State) && t.Status.ContainerStatus?.PID);
      return ts.length === n ? ts : undefined;
    },
    `${n} running tasks of ${service}`,
    60_000,
    200,
  );
}

function ipOn(t: TaskObject, network: string): string {
  const a = t.NetworksAttachments?.find((x) => x.Network.Spec.Name === network);
  if (!a?.Addresses[0]) throw new Error(`task ${t.ID} has no address on ${network}`);
  return a.Addresses[0].split('/')[0]!;
}

/** The page of a GET run through exec or inTask. */
function page(r: CliResult): string | undefined {
  return r.code === 0 ? pageOf(r.stdout) : undefined;
}

/** Runs a shell command inside a task's container (its network and mount namespaces). */
function inTask(t: TaskObject, script: string, timeoutMs = 10_000): CliResult {
  const pid = t.Status.ContainerStatus?.PID;
  if (!pid) throw new Error(`task ${t.ID} has no pid`);
  const r = spawnSync('nsenter', ['-t', String(pid), '-n', '-m', '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * What a task misses of `ips`: those its embedded DNS does not list under any of `names` (it answers
 * from its host's peer table) and those it cannot ping. Async: the daemons' log pipes keep draining.
 */
function missedFrom(t: TaskObject, names: string[], ips: string[]): Promise<{ unresolved: string[]; unreachable: string[] }> {
  const script = [
    `for n in ${names.join(' ')}; do nslookup $n 2>&1; done`,
    `for ip in ${ips.join(' ')}; do ping -c1 -W1 $ip >/dev/null 2>&1 || echo "lost $ip"; done`,
  ].join('; ');
  return new Promise((resolve) => {
    execFile('nsenter', ['-t', String(t.Status.ContainerStatus?.PID), '-n', '-m', '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: 60_000 }, (_err, stdout) => {
      // Answers only: the server's own line ends in its port (Address: 10.0.1.1:53).
      const resolved = new Set([...stdout.matchAll(/^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]!));
      const lost = [...stdout.matchAll(/^lost (\S+)$/gm)].map((m) => m[1]!);
      resolve({ unresolved: ips.filter((ip) => !resolved.has(ip)), unreachable: lost });
    });
  });
}

async function nodeNames(): Promise<Map<string, string>> {
  const r = await h.api<NodeObject[]>(0, 'GET', '/nodes');
  return new Map(r.body.map((n) => [n.ID, n.Description.Hostname]));
}

/** The neighbour entries the overlay programmed on a host (IPs on its vxlan devices). */
async function neighbours(i: number): Promise<Set<string>> {
  const r = await h.exec(i, ['ip', '-j', 'neigh', 'show']);
  const rows = JSON.parse(r.stdout || '[]') as { dst: string; dev: string }[];
  return new Set(rows.filter((x) => x.dev.startsWith('swvx')).map((x) => x.dst));
}

beforeAll(async () => {
  h = NetnsHarness.create('overlay', { hosts: 3 });
  await h.formCluster({ managers: 1 });
  await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: IMAGE, format: 'docker' });
  await h.ok(0, 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
  await h.ok(0, 'network', 'create', '-d', 'overlay', 'appnet');
  await h.ok(0, 'network', 'create', '-d', 'overlay', 'othernet');
  // web: 2 tasks, never on host2, so host2 serves the published port with no task of its own.
  await h.ok(0, 'service', 'create', '-d', '--name', 'web', '--replicas', '2', '--network', 'appnet', '--publish', '8080:8080', '--constraint', 'node.hostname!=host2', '--placement-pref', 'spread=node.hostname', IMAGE, ...WEB);
  await h.ok(0, 'service', 'create', '-d', '--name', 'rr', '--replicas', '2', '--endpoint-mode', 'dnsrr', '--network', 'appnet', IMAGE, 'sleep', '3600');
  await h.ok(0, 'service', 'create', '-d', '--name', 'other', '--replicas', '1', '--stop-grace-period', '1s', '--network', 'othernet', '--constraint', 'node.hostname==host1', IMAGE, ...WEB);
  await h.ok(0, 'service', 'create', '-d', '--name', 'client', '--replicas', '1', '--network', 'appnet', '--network', 'othernet', '--constraint', 'node.hostname==host2', IMAGE, 'sleep', '3600');
}, 120_000);

afterAll(async () => {
  const prefix = h?.prefix;
  await h?.cleanup();
  // Nothing left behind: no host or task namespace, no link of this run in the root namespace.
  if (prefix) {
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(prefix);
    expect(spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout).not.toContain(prefix);
  }
});

describe('overlay networks across namespace hosts', () => {
  it('carries ping and TCP between tasks on different hosts', async () => {
    const web = await running('web', 2);
    const names = await nodeNames();
    expect(new Set(web.map((t) => names.get(t.NodeID!)))).toEqual(new Set(['host0', 'host1']));
    const [a, b] = web as [TaskObject, TaskObject];
    const ipB = ipOn(b, 'appnet');
    await waitFor(() => (inTask(a, `ping -c1 -W1 ${ipB}`).code === 0 ? true : undefined), `ping ${ipB} from the other host`, 15_000, 200);
    expect(page(inTask(a, httpGetCommand(ipB, 8080)))).toBe(b.ID.slice(0, 12));
  });

  it('isolates networks, and a task on two networks reaches both', async () => {
    const [other] = await running('other', 1);
    const [client] = await running('client', 1);
    const web = await running('web', 2);
    const webIp = ipOn(web[0]!, 'appnet');
    const otherIp = ipOn(other!, 'othernet');
    expect(await waitFor(() => page(inTask(client!, httpGetCommand(otherIp, 8080))), 'client reaching other', 15_000, 200)).toBe(other!.ID.slice(0, 12));
    expect(await waitFor(() => page(inTask(client!, httpGetCommand(webIp, 8080))), 'client reaching web', 15_000, 200)).toBe(web[0]!.ID.slice(0, 12));
    expect(inTask(other!, `ping -c1 -W1 ${webIp}`).code).not.toBe(0);
    expect(page(inTask(other!, httpGetCommand(webIp, 8080)))).toBeUndefined();
  });

  it('answers DNS for a VIP, for dnsrr and for tasks.', async () => {
    const [client] = await running('client', 1);
    const web = await running('web', 2);
    const rr = await running('rr', 2);
    const svc = (await h.api<ServiceObject>(0, 'GET', '/services/web')).body;
    const appnet = web[0]!.NetworksAttachments!.find((a) => a.Network.Spec.Name === 'appnet')!.Network.ID;
    const vip = svc.Endpoint!.VirtualIPs!.find((v) => v.NetworkID === appnet)!.Addr.split('/')[0]!;
    const lookup = (name: string): string[] => {
      const r = inTask(client!, `nslookup ${name}`);
      // busybox nslookup: the answer section lists "Address: IP" (or "Address N: IP") after "Name:".
      const answer = r.stdout.split(/^Name:/m).slice(1).join('\n');
      return [...answer.matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
    };
    await waitFor(() => (lookup('web').join() === vip ? true : undefined), `web to resolve to its VIP ${vip}`, 10_000, 200);
    const rrIps = rr.map((t) => ipOn(t, 'appnet')).sort();
    await waitFor(() => (lookup('rr').join() === rrIps.join() ? true : undefined), `rr to resolve to ${rrIps.join(', ')}`, 10_000, 200);
    const webIps = web.map((t) => ipOn(t, 'appnet')).sort();
    expect(lookup('tasks.web')).toEqual(webIps);
  });

  it('spreads connections to a VIP over tasks on two hosts', async () => {
    const [client] = await running('client', 1);
    const web = await running('web', 2);
    const seen = new Set<string>();
    await waitFor(
      () => {
        for (let i = 0; i < 10; i++) {
          const p = page(inTask(client!, httpGetCommand('web', 8080)));
          if (p) seen.add(p);
        }
        return seen.size >= 2 ? true : undefined;
      },
      'answers from both web tasks through the VIP',
      15_000,
      200,
    );
    expect(seen).toEqual(new Set(web.map((t) => t.ID.slice(0, 12))));
  });

  it('serves a published port through a node that runs no task of the service', async () => {
    const web = await running('web', 2);
    const names = await nodeNames();
    expect(web.map((t) => names.get(t.NodeID!))).not.toContain('host2');
    const seen = new Set<string>();
    await waitFor(
      async () => {
        // From host0's namespace to host2's address: the mesh on host2 forwards over the overlay.
        const p = page(await h.exec(0, ['busybox', 'sh', '-c', httpGetCommand(h.host(2).ip, 8080)]));
        if (p) seen.add(p);
        return seen.size >= 2 ? true : undefined;
      },
      'both web tasks answering through host2',
      20_000,
      100,
    );
    expect(seen).toEqual(new Set(web.map((t) => t.ID.slice(0, 12))));
  });

  it("puts a stack on STACK_default, where its services find each other by their short names", async () => {
    const dir = join(h.dir, 'stack');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'compose.yml'),
      ['services:', '  back:', `    image: ${IMAGE}`, `    command: ${JSON.stringify(WEB)}`, '  front:', `    image: ${IMAGE}`, '    command: ["sleep", "3600"]', ''].join('\n'),
    );
    await h.ok(0, 'stack', 'deploy', '-c', join(dir, 'compose.yml'), 'shop');
    const nets = JSON.parse(await h.ok(0, 'network', 'inspect', 'shop_default')) as { Labels: Record<string, string> }[];
    expect(nets[0]!.Labels['com.docker.stack.namespace']).toBe('shop');
    const [back] = await running('shop_back', 1);
    const [front] = await running('shop_front', 1);
    expect(back!.NetworksAttachments!.map((a) => a.Network.Spec.Name)).toEqual(['shop_default']);
    expect(await waitFor(() => page(inTask(front!, httpGetCommand('back', 8080))), 'front reaching back by its short name', 15_000, 200)).toBe(back!.ID.slice(0, 12));
  });

  it('balances only over healthy tasks when the service has a health check', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'hc', '--replicas', '2', '--network', 'appnet', '--constraint', 'node.hostname!=host2', '--health-cmd', 'test -e /tmp/ok', '--health-interval', '300ms', '--health-retries', '1', '--health-start-period', '60s', IMAGE, ...WEB);
    // With a health check a task is STARTING until healthy.
    const hc = await running('hc', 2, ['starting']);
    const [client] = await running('client', 1);
    await waitFor(() => (inTask(client!, 'nslookup hc').code === 0 ? true : undefined), 'hc in DNS', 10_000, 200);
    // Neither is healthy yet: the VIP has no backend and refuses.
    expect(page(inTask(client!, httpGetCommand('hc', 8080)))).toBeUndefined();
    expect(inTask(hc[0]!, 'touch /tmp/ok').code).toBe(0);
    await waitFor(() => page(inTask(client!, httpGetCommand('hc', 8080))), 'the healthy task behind the VIP', 15_000, 200);
    for (let i = 0; i < 6; i++) expect(page(inTask(client!, httpGetCommand('hc', 8080)))).toBe(hc[0]!.ID.slice(0, 12));
    const states = new Map((await tasks('hc')).map((t) => [t.ID, t.Status.State]));
    expect([states.get(hc[0]!.ID), states.get(hc[1]!.ID)]).toEqual(['running', 'starting']);
  });

  it("publishes a host-mode port on its task's node only", async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'hostport', '--replicas', '1', '--network', 'appnet', '--publish', 'published=9090,target=8080,mode=host', '--constraint', 'node.hostname==host1', IMAGE, ...WEB);
    const [t] = await running('hostport', 1);
    const get = async (via: number) => page(await h.exec(0, ['busybox', 'sh', '-c', httpGetCommand(h.host(via).ip, 9090)]));
    expect(await waitFor(() => get(1), 'the host-mode port on host1', 15_000, 200)).toBe(t!.ID.slice(0, 12));
    expect(await get(2)).toBeUndefined();
  });

  it("withdraws a stopped task's peer entries from every host", async () => {
    const [other] = await running('other', 1);
    const ip = ipOn(other!, 'othernet');
    // host2 (client) has othernet too: it holds other's entry while other runs.
    await waitFor(async () => ((await neighbours(2)).has(ip) ? true : undefined), `host2 to learn ${ip}`, 10_000, 100);
    await h.ok(0, 'service', 'rm', 'other');
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (!(await neighbours(i)).has(ip) ? true : undefined), `${ip} gone from host${i}`, 15_000, 100);
    }
  });

  it('a host that was down catches up on what it missed and re-programs its peers', async () => {
    await h.stopDaemon(2, 'SIGKILL');
    // While host2 is down a new task joins appnet on host0.
    await h.ok(0, 'service', 'create', '-d', '--name', 'late', '--replicas', '1', '--network', 'appnet', '--constraint', 'node.hostname==host0', IMAGE, 'sleep', '3600');
    const [late] = await running('late', 1);
    const lateIp = ipOn(late!, 'appnet');
    expect((await neighbours(2)).has(lateIp)).toBe(false);
    await h.startDaemon(2);
    await waitFor(async () => ((await neighbours(2)).has(lateIp) ? true : undefined), `restarted host2 to program ${lateIp}`, 30_000, 200);
    const [client] = await running('client', 1);
    await waitFor(() => (inTask(client!, `ping -c1 -W1 ${lateIp}`).code === 0 ? true : undefined), `client on host2 reaching ${lateIp}`, 15_000, 200);
  });

  it('every daemon killed, the workers back before the manager: each task on appnet knows and reaches every other', async () => {
    const onAppnet = async (): Promise<TaskObject[]> => {
      const r = await h.api<TaskObject[]>(0, 'GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ 'desired-state': ['running'] }))}`);
      return r.body.filter((t) => t.Status.State === 'running' && t.Status.ContainerStatus?.PID && t.NetworksAttachments?.some((a) => a.Network.Spec.Name === 'appnet'));
    };
    const count = (await onAppnet()).length;
    for (let i = 0; i < 3; i++) await h.stopDaemon(i, 'SIGKILL');
    // The workers' first assignment sync finds no manager listening. Unless they try again, the
    // tasks they adopt never re-announce their endpoints: the other hosts' tables (DNS) lack them,
    // and a host that programs its peers from such a table drops their entries.
    await h.startDaemon(1);
    await h.startDaemon(2);
    await new Promise((r) => setTimeout(r, 1_000));
    await h.startDaemon(0);
    let why = '';
    await waitFor(
      async () => {
        const ts = await onAppnet().catch(() => []);
        if (ts.length !== count) {
          why = `${ts.length} of ${count} tasks running`;
          return undefined;
        }
        const ips = ts.map((t) => ipOn(t, 'appnet'));
        const names = [...new Set(ts.map((t) => `tasks.${t.ServiceAnnotations?.Name ?? ''}`))];
        const seen = await Promise.all(ts.map(async (t) => ({ from: ipOn(t, 'appnet'), ...(await missedFrom(t, names, ips)) })));
        why = seen
          .filter((x) => x.unresolved.length + x.unreachable.length > 0)
          .map((x) => `${x.from}: not in DNS ${x.unresolved.join(',') || '-'}, unreachable ${x.unreachable.join(',') || '-'}`)
          .join('; ');
        return why === '' ? true : undefined;
      },
      'every task on appnet in DNS and reachable after the restart',
      45_000,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}: ${why}`);
    });
  }, 90_000);
});
