import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceObject, TaskObject } from '../../node/store/types.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { waitFor } from '../cluster/harness.js';
import { httpGetCommand, RequestLoad } from './http.js';
import { NetnsHarness } from './netns-harness.js';

// Rolling updates on 3 namespace hosts (1 manager, 2 workers) over the overlay: a start-first
// update of 6 healthy replicas under continuous load through the VIP and the routing mesh loses
// no request; a failing update rolls itself back; a paused one is rolled back by hand.

let h: NetnsHarness;
const IMAGE = 'busybox:test';
/** A web server whose page is VERSION and its hostname; healthy once it answers. */
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$VERSION $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'];
const HEALTH = ['--health-cmd', `${httpGetCommand('127.0.0.1', 8080, 1)} | grep -q 200`, '--health-interval', '300ms', '--health-retries', '2'];

async function service(name: string): Promise<ServiceObject> {
  const r = await h.api<ServiceObject>(0, 'GET', `/services/${name}`);
  if (r.status !== 200) throw new Error(`GET /services/${name}: ${r.status}`);
  return r.body;
}

async function tasks(name: string): Promise<TaskObject[]> {
  const r = await h.api<TaskObject[]>(0, 'GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [name], 'desired-state': ['running'] }))}`);
  return r.body;
}

async function running(name: string, n: number): Promise<TaskObject[]> {
  return waitFor(
    async () => {
      const ts = (await tasks(name)).filter((t) => t.Status.State === 'running');
      return ts.length === n ? ts : undefined;
    },
    `${n} running tasks of ${name}`,
    60_000,
    200,
  );
}

async function updateState(name: string, states: string[]): Promise<ServiceObject> {
  return waitFor(
    async () => {
      const s = await service(name);
      return s.UpdateStatus && states.includes(s.UpdateStatus.State) ? s : undefined;
    },
    `${name}'s update to reach ${states.join(' or ')}`,
    90_000,
    200,
  );
}

beforeAll(async () => {
  h = NetnsHarness.create('update', { hosts: 3 });
  await h.formCluster({ managers: 1 });
  await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: IMAGE, format: 'docker' });
  await h.ok(0, 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
  await h.ok(0, 'network', 'create', '-d', 'overlay', 'appnet');
  await h.ok(0, 'service', 'create', '-d', '--name', 'client', '--network', 'appnet', '--constraint', 'node.hostname==host0', '--init', IMAGE, 'sleep', '3600');
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
});

describe('rolling updates over the overlay', () => {
  it('updates 6 healthy replicas start-first with no failed request through the VIP or the routing mesh', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'app', '--replicas', '6', '--network', 'appnet', '-p', '8080:8080', '--env', 'VERSION=v1', '--init', '--stop-grace-period', '2s',
      '--update-order', 'start-first', '--update-parallelism', '2', '--update-monitor', '1s', ...HEALTH, IMAGE, ...WEB);
    await running('app', 6);
    const [client] = await running('client', 1);
    const viaVip = new RequestLoad('vip', ['-t', String(client!.Status.ContainerStatus!.PID), '-n', '-m'], 'app', 8080);
    const viaMesh = new RequestLoad('mesh', [`--net=/var/run/netns/${h.host(2).netns}`], h.host(1).ip, 8080);
    try {
      // Both loads see the service answering before the update starts.
      await waitFor(() => (viaVip.counts().ok > 5 && viaMesh.counts().ok > 5 ? true : undefined), 'requests answered before the update', 20_000, 100);
      const before = { vip: viaVip.counts(), mesh: viaMesh.counts() };
      expect(before.vip.failed + before.mesh.failed).toBe(0);
      await h.ok(0, 'service', 'update', '-d', '--env-add', 'VERSION=v2', 'app');
      const done = await updateState('app', ['completed', 'paused', 'rollback_started', 'rollback_completed']);
      expect(done.UpdateStatus?.State).toBe('completed');
      const now = await running('app', 6);
      expect(now.every((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=v2'))).toBe(true);
    } finally {
      viaVip.stop();
      viaMesh.stop();
    }
    const vip = viaVip.counts();
    const mesh = viaMesh.counts();
    expect(vip.ok).toBeGreaterThan(20);
    expect(mesh.ok).toBeGreaterThan(20);
    expect({ vipFailed: vip.failed, meshFailed: mesh.failed, samples: [...vip.samples, ...mesh.samples] }).toEqual({ vipFailed: 0, meshFailed: 0, samples: [] });
  });

  it('rolls a failing update back by itself (failure_action rollback)', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'auto', '--replicas', '2', '--network', 'appnet', '--init', '--update-failure-action', 'rollback', '--update-monitor', '1s', IMAGE, 'sleep', '3600');
    await running('auto', 2);
    // The new spec exits at once.
    await h.ok(0, 'service', 'update', '-d', '--args', 'false', 'auto');
    const s = await updateState('auto', ['rollback_completed', 'rollback_paused', 'paused', 'completed']);
    expect(s.UpdateStatus?.State).toBe('rollback_completed');
    expect(s.Spec.TaskTemplate.ContainerSpec.Args).toEqual(['sleep', '3600']);
    const ts = await running('auto', 2);
    expect(ts.every((t) => t.Spec.ContainerSpec.Args?.join(' ') === 'sleep 3600')).toBe(true);
  });

  it('pauses a failing update (failure_action pause), and `service rollback` restores the old spec', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'manual', '--replicas', '2', '--network', 'appnet', '--init', '--update-failure-action', 'pause', IMAGE, 'sleep', '3600');
    await running('manual', 2);
    await h.ok(0, 'service', 'update', '-d', '--image', 'nothere:1', 'manual');
    const paused = await updateState('manual', ['paused', 'completed', 'rollback_started']);
    expect(paused.UpdateStatus?.State).toBe('paused');
    expect(paused.UpdateStatus?.Message).toMatch(/^update paused due to failure or early termination of task \w+$/);
    // One slot still runs the old image: the update stopped.
    expect((await tasks('manual')).filter((t) => t.Status.State === 'running' && t.Spec.ContainerSpec.Image === IMAGE).length).toBeGreaterThan(0);
    await h.ok(0, 'service', 'rollback', '-d', 'manual');
    const back = await updateState('manual', ['rollback_completed', 'rollback_paused']);
    expect(back.UpdateStatus?.State).toBe('rollback_completed');
    expect(back.Spec.TaskTemplate.ContainerSpec.Image).toBe(IMAGE);
    await running('manual', 2);
  });
});

describe('canary and blue/green deployments over the overlay', () => {
  /** The versions that answer `n` requests through the VIP from the client task. */
  async function versions(name: string, n: number): Promise<Map<string, number>> {
    const [client] = await running('client', 1);
    const script = `i=0; while [ $i -lt ${n} ]; do ${httpGetCommand(name, 8080)} | tail -n 1; i=$((i+1)); done`;
    const r = spawnSync('nsenter', ['-t', String(client!.Status.ContainerStatus!.PID), '-n', '-m', '--', '/bin/sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    const out = new Map<string, number>();
    for (const line of r.stdout.split('\n')) {
      const v = line.split(' ')[0];
      const key = /^v\d+$/.test(v ?? '') ? v! : line;
      if (key) out.set(key, (out.get(key) ?? 0) + 1);
    }
    if (r.status !== 0 || r.error) out.set(`exit ${r.status} ${String(r.error ?? '')} ${r.stderr}`, 1);
    return out;
  }

  it('canary: the first step sends a quarter of the connections to the new version, promote finishes it', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'can', '--replicas', '4', '--network', 'appnet', '--env', 'VERSION=v1', '--init', '--stop-grace-period', '2s', ...HEALTH, IMAGE, ...WEB);
    await running('can', 4);
    await h.ok(0, 'service', 'update', '-d', '--env-add', 'VERSION=v2', '--strategy', 'canary', '--canary-steps', '25,100', 'can');
    // Step 1: one slot of four on v2, the three others on v1; the weights give v2 25 % of the connections.
    await waitFor(
      async () => {
        const ts = (await tasks('can')).filter((t) => t.Status.State === 'running');
        const v2 = ts.filter((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=v2'));
        return ts.length === 4 && v2.length === 1 ? true : undefined;
      },
      'the first canary step to settle',
      60_000,
      200,
    );
    // The weights that give v2 a quarter of new connections: 3 old tasks at (100 − 25) × 1 new,
    // the new one at 25 × 3 old.
    const weights = async () =>
      JSON.stringify((await tasks('can')).filter((t) => t.Status.State === 'running').map((t) => [t.Spec.ContainerSpec.Env?.includes('VERSION=v2') ? 'v2' : 'v1', t.Traffic?.Weight]).sort());
    await waitFor(async () => ((await weights()) === JSON.stringify([['v1', 75], ['v1', 75], ['v1', 75], ['v2', 75]]) ? true : undefined), 'the canary weights', 15_000, 200);
    // Through the VIP, once the client's host has the weighted rule: any 4 new connections in a
    // row give v2 exactly one (`numgen inc mod 4`); over 100 we allow 25 ± 3.
    await waitFor(
      async () => {
        const seen = await versions('can', 8);
        return seen.get('v2') === 2 && seen.get('v1') === 6 ? true : undefined;
      },
      'the weighted VIP rule to reach the client',
      15_000,
      200,
    );
    const share = await versions('can', 100);
    expect([...share.keys()].sort()).toEqual(['v1', 'v2']);
    expect(share.get('v2')).toBeGreaterThanOrEqual(22);
    expect(share.get('v2')).toBeLessThanOrEqual(28);
    expect((share.get('v1') ?? 0) + (share.get('v2') ?? 0)).toBe(100);
    expect((await service('can')).UpdateStatus?.State).toBe('updating');
    await h.ok(0, 'service', 'promote', 'can');
    const done = await updateState('can', ['completed', 'paused', 'rollback_started', 'rollback_completed']);
    expect(done.UpdateStatus?.State).toBe('completed');
    expect((await running('can', 4)).every((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=v2'))).toBe(true);
    expect((await tasks('can')).filter((t) => t.Status.State === 'running').every((t) => t.Traffic === undefined)).toBe(true);
  });

  it('blue/green: the new version runs beside the old under preview.NAME, and promote switches the VIP with no failed request', async () => {
    await h.ok(0, 'service', 'create', '-d', '--name', 'bg', '--replicas', '2', '--network', 'appnet', '--env', 'VERSION=v1', '--init', '--stop-grace-period', '2s', ...HEALTH, IMAGE, ...WEB);
    await running('bg', 2);
    await h.ok(0, 'service', 'update', '-d', '--env-add', 'VERSION=v2', '--strategy', 'blue-green', 'bg');
    const all = await running('bg', 4);
    const green = all.filter((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=v2'));
    expect(green).toHaveLength(2);
    // The previews run, but the VIP keeps to the old version.
    await waitFor(
      async () => {
        const seen = await versions('bg', 10);
        const answered = [...seen].filter(([k]) => /^v\d+$/.test(k));
        return answered.length === 1 && answered[0]![0] === 'v1' && answered[0]![1] >= 8 ? true : undefined;
      },
      'the VIP to answer with v1 only',
      20_000,
      200,
    );
    const [client] = await running('client', 1);
    const previewIps = green.map((t) => t.NetworksAttachments!.find((a) => a.Network.Spec.Name === 'appnet')!.Addresses[0]!.split('/')[0]!).sort();
    await waitFor(
      () => {
        const r = spawnSync('nsenter', ['-t', String(client!.Status.ContainerStatus!.PID), '-n', '-m', '--', 'nslookup', 'preview.bg'], { encoding: 'utf8' });
        const ips = [...r.stdout.split(/^Name:/m).slice(1).join('\n').matchAll(/Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
        return ips.join() === previewIps.join() ? true : undefined;
      },
      'preview.bg to resolve to the new tasks',
      15_000,
      200,
    );
    const viaVip = new RequestLoad('vip', ['-t', String(client!.Status.ContainerStatus!.PID), '-n', '-m'], 'bg', 8080);
    try {
      await waitFor(() => (viaVip.counts().ok > 5 ? true : undefined), 'requests answered before the switch', 20_000, 100);
      await h.ok(0, 'service', 'promote', 'bg');
      const done = await updateState('bg', ['completed', 'paused', 'rollback_started', 'rollback_completed']);
      expect(done.UpdateStatus?.State).toBe('completed');
      await running('bg', 2);
    } finally {
      viaVip.stop();
    }
    expect(viaVip.counts()).toMatchObject({ failed: 0, samples: [] });
    await waitFor(async () => ((await versions('bg', 8)).get('v2') ?? 0) >= 7 && !(await versions('bg', 4)).has('v1') ? true : undefined, 'the VIP to answer with v2 only', 20_000, 200);
  });
});
