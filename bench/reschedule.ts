import '../polyfill.js';
import { log, median, round1, runClusterBench, waitFor } from './cluster.js';
import { addWorkers, loadImage, runningTasks, waitRunning, warmUp } from './services.js';

// kill -9 of a worker running 10 tasks; time until all 10 replacements run elsewhere; median
// of 5. A manager (drained, so it runs no tasks) and three workers as processes.
// Last line: {"bench": "reschedule", "medianMs": ...}

const TRIALS = Number(process.argv.find((a) => a.startsWith('--trials='))?.slice(9) ?? 5);

runClusterBench('reschedule', async (c) => {
    const manager = await c.formManagers(['m1']);
    await addWorkers(c, manager, ['w1', 'w2', 'w3']);
    await c.h.ok(manager, 'node', 'update', '--availability', 'drain', manager);
    const image = await loadImage(c, manager);
    await warmUp(c, manager, image, 3);
    const ids = new Map((await c.listNodes(manager)).map((n) => [n.Description.Hostname, n.ID]));
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const name = `res${i}`;
      // 30 replicas over 3 workers: 10 each.
      await c.h.ok(manager, 'service', 'create', '--name', name, '--replicas', '30', '-d', image, 'sleep', '600');
      await waitRunning(c, manager, name, 30);
      const victim = ['w1', 'w2', 'w3'][i % 3]!;
      const onVictim = (await runningTasks(c, manager, name)).filter((t) => t.NodeID === ids.get(victim)).length;
      const t0 = performance.now();
      await c.h.node(victim).kill('SIGKILL');
      await waitFor(async () => {
        const run = await runningTasks(c, manager, name);
        return run.length === 30 && run.every((t) => t.NodeID !== ids.get(victim)) ? true : undefined;
      }, `the ${onVictim} tasks of ${victim} replaced`, 60_000, 10);
      times.push(performance.now() - t0);
      log(`trial ${i + 1}: ${onVictim} tasks of ${victim} replaced in ${round1(times.at(-1)!)} ms`);
      await c.h.ok(manager, 'service', 'rm', name);
      await c.h.node(victim).start();
      await waitFor(async () => ((await c.listNodes(manager)).find((n) => n.Description.Hostname === victim)?.Status.State === 'ready' ? true : undefined), `${victim} back`, 30_000, 50);
    }
    return { trials: TRIALS, tasksPerWorker: 10, medianMs: round1(median(times)), allMs: times.map(round1) };
});
