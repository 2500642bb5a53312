import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeObject, ServiceObject, TaskObject } from '../../node/store/types.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { ClusterHarness, waitFor } from './harness.js';

// A rolling update whose leader dies in the middle: 3 managers and 1 worker as processes on
// loopback. The update's progress lives in the replicated store, so the next leader carries
// on from where the old one stopped: it neither starts over nor replaces a slot twice.

let h: ClusterHarness;
const MANAGERS = ['m1', 'm2', 'm3'];
const SERVICE = 'upd';
const NEW_ENV = 'V=2';

async function get<T>(on: string, path: string): Promise<T> {
  const r = await h.api<T>(on, 'GET', path);
  if (r.status !== 200) throw new Error(`GET ${path} on ${on}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Every task of the service, ended ones included. */
function allTasks(on: string): Promise<TaskObject[]> {
  return get<TaskObject[]>(on, `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [SERVICE] }))}`);
}

const isNew = (t: TaskObject): boolean => t.Spec.ContainerSpec.Env?.includes(NEW_ENV) === true;
const runningNow = (ts: TaskObject[]): TaskObject[] => ts.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

/** The leader's hostname as `on` sees it. */
async function leaderSeenBy(on: string): Promise<string | undefined> {
  return (await get<NodeObject[]>(on, '/nodes')).find((n) => n.ManagerStatus?.Leader === true)?.Description.Hostname;
}

beforeAll(async () => {
  h = ClusterHarness.create('update-failover');
  for (const n of [...MANAGERS, 'w1']) await h.add(n);
  const init = await h.ok('m1', 'init', '--advertise-addr', h.node('m1').addr);
  const m = /swarm join --token (\S+) (\S+)/.exec(init);
  if (!m) throw new Error(`no join command in: ${init}`);
  const managerToken = (await h.ok('m1', 'join-token', '-q', 'manager')).trim();
  for (const n of ['m2', 'm3']) await h.ok(n, 'join', '--token', managerToken, m[2]!);
  await h.ok('w1', 'join', '--token', m[1]!, m[2]!);
  await waitFor(
    async () => {
      const list = await get<NodeObject[]>('m1', '/nodes');
      const ready = list.length === 4 && list.every((n) => n.Status.State === 'ready');
      const reachable = list.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length === 3;
      return ready && reachable && (await leaderSeenBy('m1')) !== undefined ? true : undefined;
    },
    '4 ready nodes, 3 reachable managers and a leader',
    30_000,
    100,
  );
  await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: 'busybox:test', format: 'docker' });
  await h.ok('m1', 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
}, 90_000);

afterAll(async () => {
  await h?.cleanup();
});

describe('a rolling update across a leader failover', () => {
  it('resumes on the new leader: completed, every slot on the new spec, each slot updated once', async () => {
    // On the worker only, so the manager killed below held no task of the service.
    await h.ok('m1', 'service', 'create', '-d', '--name', SERVICE, '--replicas', '4', '--constraint', 'node.role==worker', '--init', 'busybox:test', 'sleep', '3600');
    await waitFor(async () => (runningNow(await allTasks('m1')).length === 4 ? true : undefined), '4 running tasks', 60_000, 200);
    await h.ok('m1', 'service', 'update', '-d', '--env-add', NEW_ENV, '--update-parallelism', '1', '--update-delay', '2s', SERVICE);

    const atKill = await waitFor(
      async () => {
        const s = await get<ServiceObject>('m1', `/services/${SERVICE}`);
        const started = (await allTasks('m1')).filter(isNew);
        return s.UpdateStatus?.State === 'updating' && started.length >= 1 ? started.length : undefined;
      },
      'the update to be under way with a task on the new spec',
      60_000,
      100,
    );
    // Mid-update: some slots still wait for their turn.
    expect(atKill).toBeLessThan(4);
    const leader = await waitFor(() => leaderSeenBy('m1'), 'the leader');
    await h.node(leader).kill('SIGKILL');
    const survivor = MANAGERS.find((n) => n !== leader)!;

    const done = await waitFor(
      async () => {
        const s = await get<ServiceObject>(survivor, `/services/${SERVICE}`);
        return s.UpdateStatus?.State === 'completed' ? s : undefined;
      },
      `the update to complete, seen by ${survivor}`,
      60_000,
      200,
    );
    expect(done.Spec.TaskTemplate.ContainerSpec.Env).toContain(NEW_ENV);
    const running = await waitFor(
      async () => {
        const ts = runningNow(await allTasks(survivor));
        return ts.length === 4 ? ts : undefined;
      },
      '4 running tasks after the update',
      60_000,
      200,
    );
    expect(running.every(isNew)).toBe(true);
    expect(running.map((t) => t.Slot).sort()).toEqual([1, 2, 3, 4]);
    // One new-spec task per slot: the new leader did not restart the update or redo a slot.
    const created = (await allTasks(survivor)).filter(isNew);
    expect(created.map((t) => t.Slot).sort()).toEqual([1, 2, 3, 4]);
  }, 180_000);
});
