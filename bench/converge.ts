import '../polyfill.js';
import { BenchCluster, log, median, round1 } from './cluster.js';
import { addWorkers, loadImage, waitRunning } from './services.js';

// 3 managers + 2 workers as processes with real containers: create a service of 20 replicas and
// time until all 20 run, then scale it to 60 and time again; median of 3.
// Last line: {"bench": "converge", "create20Ms": ..., "scale60Ms": ...}

const TRIALS = Number(process.argv.find((a) => a.startsWith('--trials='))?.slice(9) ?? 3);

async function main(): Promise<void> {
  const c = new BenchCluster('converge');
  try {
    const leader = await c.formManagers(['m1', 'm2', 'm3']);
    await addWorkers(c, leader, ['w1', 'w2']);
    const image = await loadImage(c, leader);
    // Warm every node's image store and layers once, so trials measure scheduling and starting.
    await c.h.ok(leader, 'service', 'create', '--name', 'warm', '--mode', 'global', '-d', image, 'sleep', '600');
    await waitRunning(c, leader, 'warm', 5);
    await c.h.ok(leader, 'service', 'rm', 'warm');
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
    process.stdout.write(`${JSON.stringify({ bench: 'converge', trials: TRIALS, create20Ms: round1(median(create)), scale60Ms: round1(median(scale)), create20AllMs: create.map(round1), scale60AllMs: scale.map(round1) })}\n`);
  } catch (err) {
    c.logTails();
    throw err;
  } finally {
    await c.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:converge failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
