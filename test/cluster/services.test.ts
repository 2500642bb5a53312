import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeObject, TaskObject } from '../../node/store/types.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { ClusterHarness, waitFor } from './harness.js';

// Services on a 1-manager + 2-worker cluster of processes with real containers: a stack of
// three services, scaling, a worker killed with SIGKILL, a drain, restarts, a secret, stack rm.

let h: ClusterHarness;
const ALL = ['m1', 'w1', 'w2'];

async function tasks(filters: Record<string, string[]> = {}): Promise<TaskObject[]> {
  const r = await h.api<TaskObject[]>('m1', 'GET', `/tasks?filters=${encodeURIComponent(JSON.stringify(filters))}`);
  if (r.status !== 200) throw new Error(`GET /tasks: ${r.status}`);
  return r.body;
}

async function nodeIds(): Promise<Map<string, string>> {
  const r = await h.api<NodeObject[]>('m1', 'GET', '/nodes');
  return new Map(r.body.map((n) => [n.Description.Hostname, n.ID]));
}

/** Running tasks of a service, by node hostname. */
async function runningByNode(service: string): Promise<Map<string, number>> {
  const ids = await nodeIds();
  const byId = new Map([...ids].map(([h, id]) => [id, h]));
  const out = new Map<string, number>();
  for (const t of await tasks({ service: [service], 'desired-state': ['running'] })) {
    if (t.Status.State !== 'running') continue;
    const host = byId.get(t.NodeID ?? '') ?? '?';
    out.set(host, (out.get(host) ?? 0) + 1);
  }
  return out;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

beforeAll(async () => {
  h = ClusterHarness.create('services');
  for (const n of ALL) await h.add(n);
  const init = await h.ok('m1', 'init', '--advertise-addr', h.node('m1').addr);
  const token = /swarm join --token (\S+)/.exec(init)![1]!;
  for (const w of ['w1', 'w2']) await h.ok(w, 'join', '--token', token, h.node('m1').addr);
  await h.ok('m1', 'node', 'update', '--label-add', 'disk=ssd', 'w2');
  await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: 'busybox:test', format: 'docker' });
  await h.ok('m1', 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
});

describe('services across a cluster of processes', () => {
  it('deploys a stack of a replicated, a global and a constrained service, with a secret', async () => {
    const dir = join(h.dir, 'stack');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'db_password.txt'), 'hunter2\n');
    writeFileSync(
      join(dir, 'compose.yml'),
      [
        'services:',
        '  web:',
        '    image: busybox:test',
        '    command: ["sleep", "600"]',
        '    deploy: { replicas: 4 }',
        '  agent:',
        '    image: busybox:test',
        '    command: ["sleep", "600"]',
        '    deploy: { mode: global }',
        '  db:',
        '    image: busybox:test',
        '    command: ["sh", "-c", "cat /run/secrets/db_password; sleep 600"]',
        '    secrets: [db_password]',
        '    deploy:',
        '      placement: { constraints: ["node.labels.disk == ssd"] }',
        'secrets:',
        '  db_password: { file: ./db_password.txt }',
      ].join('\n'),
    );
    await h.ok('m1', 'stack', 'deploy', '-c', join(dir, 'compose.yml'), 'shop');
    await waitFor(async () => {
      const web = await runningByNode('shop_web');
      const agent = await runningByNode('shop_agent');
      const db = await runningByNode('shop_db');
      return total(web) === 4 && total(agent) === 3 && db.get('w2') === 1 && total(db) === 1 ? true : undefined;
    }, '4 web, 3 agent (one per node) and 1 db on w2 running', 60_000, 200);
    expect((await runningByNode('shop_agent')).size).toBe(3);
    expect(await h.ok('m1', 'stack', 'ls')).toMatch(/shop\s+3/);
    // The secret is in the db container's tmpfs and nowhere in the store or the API.
    const db = (await tasks({ service: ['shop_db'], 'desired-state': ['running'] }))[0]!;
    const cid = db.Status.ContainerStatus!.ContainerID;
    const logs = await waitFor(async () => {
      const out = await h.ok('w2', 'container', 'logs', cid);
      return out.includes('hunter2') ? out : undefined;
    }, 'the db task to print its secret');
    expect(logs).toContain('hunter2');
    const secrets = await h.api<unknown[]>('m1', 'GET', '/secrets');
    expect(JSON.stringify(secrets.body)).not.toContain('hunter2');
    expect(JSON.stringify(secrets.body)).not.toContain(Buffer.from('hunter2\n').toString('base64'));

    // Deployed again with only the agent changed: only the agent's tasks are replaced.
    const ids = async (svc: string) => (await tasks({ service: [svc], 'desired-state': ['running'] })).map((t) => t.ID).sort();
    const before = { web: await ids('shop_web'), db: await ids('shop_db'), agent: await ids('shop_agent') };
    const file = join(dir, 'compose.yml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  agent:\n    image: busybox:test\n    command: ["sleep", "600"]', '  agent:\n    image: busybox:test\n    command: ["sleep", "601"]'));
    await h.ok('m1', 'stack', 'deploy', '-c', file, 'shop');
    await waitFor(async () => {
      const agent = (await tasks({ service: ['shop_agent'], 'desired-state': ['running'] })).filter((t) => t.Status.State === 'running');
      return agent.length === 3 && agent.every((t) => t.Spec.ContainerSpec.Args?.[1] === '601') ? true : undefined;
    }, 'the agent tasks to run the new command', 60_000, 200);
    expect({ web: await ids('shop_web'), db: await ids('shop_db') }).toEqual({ web: before.web, db: before.db });
    expect((await ids('shop_agent')).some((id) => before.agent.includes(id))).toBe(false);
    const services = (await h.api<{ Spec: { Name: string }; UpdateStatus?: { State: string } }[]>('m1', 'GET', '/services')).body;
    const status = new Map(services.map((x) => [x.Spec.Name, x.UpdateStatus?.State]));
    expect([status.get('shop_web'), status.get('shop_db')]).toEqual([undefined, undefined]);
    expect(['updating', 'completed']).toContain(status.get('shop_agent'));
  }, 150_000);

  it('scales a service up and down', async () => {
    await h.ok('m1', 'service', 'scale', 'shop_web=7');
    await waitFor(async () => (total(await runningByNode('shop_web')) === 7 ? true : undefined), '7 web tasks', 30_000, 200);
    await h.ok('m1', 'service', 'scale', 'shop_web=3');
    await waitFor(async () => (total(await runningByNode('shop_web')) === 3 ? true : undefined), '3 web tasks', 30_000, 200);
  }, 60_000);

  it('replaces the tasks of a worker killed with SIGKILL on the others', async () => {
    const before = await runningByNode('shop_web');
    await h.node('w1').kill('SIGKILL');
    await waitFor(async () => {
      const now = await runningByNode('shop_web');
      return total(now) === 3 && !now.has('w1') ? true : undefined;
    }, 'web tasks of w1 replaced elsewhere', 30_000, 100);
    expect(total(before)).toBe(3);
    // The global service keeps one task per live node.
    expect([...(await runningByNode('shop_agent')).keys()].sort()).toEqual(['m1', 'w2']);
    await h.node('w1').start();
    await waitFor(async () => ((await runningByNode('shop_agent')).has('w1') ? true : undefined), 'the global task back on w1', 30_000, 200);
  }, 90_000);

  it('carries on after the manager restarts, with no duplicate tasks', async () => {
    await h.node('m1').kill('SIGKILL');
    await h.node('m1').start();
    await waitFor(async () => ((await h.api('m1', 'GET', '/tasks')).status === 200 ? true : undefined), 'the manager to lead again', 30_000, 100);
    // The restarted leader's orchestrator works from the store: one more replica takes slot 4,
    // and the existing slots are not filled twice.
    await h.ok('m1', 'service', 'scale', '-d', 'shop_web=4');
    await waitFor(async () => (total(await runningByNode('shop_web')) === 4 ? true : undefined), '4 web running', 30_000, 200);
    const live = (await tasks({ service: ['shop_web'], 'desired-state': ['running'] })).map((t) => t.Slot).sort();
    expect(live).toEqual([1, 2, 3, 4]);
    await h.ok('m1', 'service', 'scale', '-d', 'shop_web=3');
    await waitFor(async () => (total(await runningByNode('shop_web')) === 3 ? true : undefined), '3 web running', 30_000, 200);
    const agents = await tasks({ service: ['shop_agent'], 'desired-state': ['running'] });
    expect(new Set(agents.map((t) => t.NodeID)).size).toBe(agents.length);
    expect(agents.length).toBe(3);
  }, 60_000);

  it('drains a node: its tasks move away and nothing new lands there', async () => {
    await h.ok('m1', 'node', 'update', '--availability', 'drain', 'w2');
    await waitFor(async () => {
      const web = await runningByNode('shop_web');
      return total(web) === 3 && !web.has('w2') ? true : undefined;
    }, 'web tasks off the drained w2', 30_000, 200);
    // db can only run on w2 (constraint): it waits, pending, with the reason.
    const db = await waitFor(async () => {
      const t = (await tasks({ service: ['shop_db'], 'desired-state': ['running'] })).find((x) => x.Status.State === 'pending');
      return t;
    }, 'a pending db task', 30_000, 200);
    expect(db.Status.Message).toMatch(/no suitable node/);
    await h.ok('m1', 'node', 'update', '--availability', 'active', 'w2');
    await waitFor(async () => ((await runningByNode('shop_db')).get('w2') === 1 ? true : undefined), 'db back on w2', 30_000, 200);
  }, 90_000);

  it('restarts failing tasks per the restart policy', async () => {
    await h.ok('m1', 'service', 'create', '--name', 'flaky', '--replicas', '1', '--restart-condition', 'on-failure', '--restart-delay', '100ms', '--restart-max-attempts', '2', '-d', 'busybox:test', 'sh', '-c', 'exit 3');
    const history = await waitFor(async () => {
      const all = await tasks({ service: ['flaky'] });
      const failed = all.filter((t) => t.Status.State === 'failed');
      return failed.length >= 3 ? all : undefined;
    }, 'the first run and two restarts to fail', 30_000, 200);
    expect(history.every((t) => t.Slot === 1)).toBe(true);
    expect(history.find((t) => t.Status.State === 'failed')?.Status.Err).toMatch(/non-zero exit \(3\)/);
    // No more attempts after max_attempts.
    const ps = await h.ok('m1', 'service', 'ps', 'flaky');
    expect(ps.match(/Failed/g)?.length).toBe(3);
    await h.ok('m1', 'service', 'rm', 'flaky');
  }, 60_000);

  it('shows the logs of a service from the nodes that ran its tasks', async () => {
    await h.ok('m1', 'service', 'create', '--name', 'talker', '--replicas', '2', '-d', 'busybox:test', 'sh', '-c', 'echo hello from $(hostname); sleep 600');
    const out = await waitFor(async () => {
      const r = await h.cli('m1', 'service', 'logs', 'talker');
      return r.code === 0 && (r.stdout.match(/hello from/g)?.length ?? 0) === 2 ? r.stdout : undefined;
    }, 'lines of both tasks in service logs', 30_000, 250);
    expect(out).toMatch(/^talker\.\d\.\w+@\S+\s+\| hello from/m);
    await h.ok('m1', 'service', 'rm', 'talker');
  }, 60_000);

  it('honours depends_on: a service starts only once its dependency is healthy', async () => {
    const dir = join(h.dir, 'deps');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'compose.yml'),
      [
        'services:',
        '  db:',
        '    image: busybox:test',
        '    command: ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 600"]',
        '    healthcheck: { test: ["CMD", "test", "-f", "/tmp/ready"], interval: 200ms, retries: 30 }',
        '  app:',
        '    image: busybox:test',
        '    command: ["sleep", "600"]',
        '    depends_on: { db: { condition: service_healthy } }',
      ].join('\n'),
    );
    await h.ok('m1', 'stack', 'deploy', '-c', join(dir, 'compose.yml'), 'deps');
    const db = await waitFor(async () => {
      const t = (await tasks({ service: ['deps_db'], 'desired-state': ['running'] }))[0];
      return t?.Status.Health === 'healthy' ? t : undefined;
    }, 'db healthy', 30_000, 100);
    const app = await waitFor(async () => {
      const t = (await tasks({ service: ['deps_app'] })).find((x) => x.Status.State === 'running');
      return t;
    }, 'app running', 30_000, 100);
    // app was started after db became healthy: its running report is later than db's healthy one.
    expect(Date.parse(app.Status.Timestamp)).toBeGreaterThanOrEqual(Date.parse(db.Status.Timestamp));
    const appTasks = await tasks({ service: ['deps_app'] });
    expect(appTasks.every((t) => t.Status.State !== 'running' || Date.parse(t.Status.Timestamp) >= Date.parse(db.Status.Timestamp))).toBe(true);
    await h.ok('m1', 'stack', 'rm', 'deps');
  }, 60_000);

  it('stack rm removes everything it made', async () => {
    await h.ok('m1', 'stack', 'rm', 'shop');
    await waitFor(async () => ((await tasks()).length === 0 ? true : undefined), 'every task gone', 30_000, 200);
    expect((await h.api<unknown[]>('m1', 'GET', '/services')).body).toEqual([]);
    expect((await h.api<unknown[]>('m1', 'GET', '/secrets')).body).toEqual([]);
    for (const n of ALL) {
      await waitFor(async () => ((await h.ok(n, 'container', 'ls', '-q')).trim() === '' ? true : undefined), `no containers left on ${n}`, 30_000, 200);
    }
  }, 90_000);
});
