import '../polyfill.js';
import { log, median, round1, runClusterBench } from './cluster.js';
import { addWorkers, loadImage, waitRunning, warmUp } from './services.js';

// 3 managers + 2 workers as processes with real containers: create a service of 20 replicas and
// time until all 20 run, then scale it to 60 and time again; median of 3.
// Last line: {"bench": "converge", "create20Ms": ..., "scale60Ms": ...}

const TRIALS = Number(process.argv.find((a) => a.startsWith('--trials='))?.slice(9) ?? 3);

runClusterBench('converge', async (c) => {
    const leader = await c.formManagers(['m1', 'm2', 'm3']);
    await addWorkers(c, leader, ['w1', 'w2']);
    const image = await loadImage(c, leader);
    // Warm every node's image store and layers once, so trials measure scheduling and starting.
    await warmUp(c, leader, image, 5);
    const create: number[] = [];
    const scale: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const name = `conv${i}`;
      let t0 = performance.now();
      await c.h.ok(leader, 'service', 'create', '--name', name, '--replicas', '20', '-d', image, 'sleep', '600');
      await waitRunning(c, leader, name, 20);
      create.push(performance.now() - t0);
      t0 = performance.now();
      await c.h.ok(leader, 'service', 'scale', '-d', `${name}=60`);
      await waitRunning(c, leader, name, 60);
      scale.push(performance.now() - t0);
      log(`trial ${i + 1}: create20 ${round1(create.at(-1)!)} ms, scale60 ${round1(scale.at(-1)!)} ms`);
      await c.h.ok(leader, 'service', 'rm', name);
    }
    return { trials: TRIALS, create20Ms: round1(median(create)), scale60Ms: round1(median(scale)), create20AllMs: create.map(round1), scale60AllMs: scale.map(round1) };
});
