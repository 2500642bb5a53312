import { join } from 'node:path';
import type { TaskObject } from '../node/store/index.js';
import { writeBusyboxImageArchive } from '../test/fixtures/busybox.js';
import { log, waitFor, type BenchCluster } from './cluster.js';

// Shared by bench:reschedule and bench:converge: workers joined, busybox loaded, tasks counted.

export async function addWorkers(c: BenchCluster, manager: string, names: string[]): Promise<void> {
  const token = (await c.h.ok(manager, 'join-token', '-q', 'worker')).trim();
  for (const n of names) {
    await c.h.add(n);
    await c.h.ok(n, 'join', '--token', token, c.h.node(manager).addr);
    log(`${n} joined as a worker`);
  }
}

/** Loads a busybox image on one node: the others fetch it peer-to-peer when they need it. */
export async function loadImage(c: BenchCluster, on: string): Promise<string> {
  const file = join(c.h.dir, 'busybox.tar');
  await writeBusyboxImageArchive(file, { name: 'busybox:bench', format: 'docker' });
  await c.h.ok(on, 'image', 'load', '-i', file);
  return 'busybox:bench';
}

export async function runningTasks(c: BenchCluster, on: string, service: string): Promise<TaskObject[]> {
  const f = encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }));
  const r = await c.h.api<TaskObject[]>(on, 'GET', `/tasks?filters=${f}`);
  if (r.status !== 200) throw new Error(`GET /tasks: ${r.status}`);
  return r.body.filter((t) => t.Status.State === 'running');
}

export async function waitRunning(c: BenchCluster, on: string, service: string, n: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => ((await runningTasks(c, on, service)).length === n ? true : undefined), `${n} running tasks of ${service}`, timeoutMs, 25);
}

/** Runs a global service once, so every node has the image and its layers before trials. */
export async function warmUp(c: BenchCluster, on: string, image: string, nodes: number): Promise<void> {
  await c.h.ok(on, 'service', 'create', '--name', 'warm', '--mode', 'global', '-d', image, 'sleep', '600');
  await waitRunning(c, on, 'warm', nodes);
  await c.h.ok(on, 'service', 'rm', 'warm');
}
