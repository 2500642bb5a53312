// Start latency: N sequential containers of `sh -c 'sleep 30'` from a busybox rootfs, per runtime.
// "request → running" is Executor.create (bundle, FIFOs) + Container.start (until the program runs).
//   npx tsx node/runtime/executor/bench-start.ts [count=20]
import type { Container } from './container.js';
import type { RuntimeName } from './runtime.js';
import { Fixture, busyboxConfig, uniq } from './test-helpers.js';

const count = Number(process.argv[2] ?? 20);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const fx = new Fixture();
try {
  for (const rt of ['crun', 'runc'] as RuntimeName[]) {
    const ex = await fx.executor(rt);
    const total: number[] = [];
    const startOnly: number[] = [];
    const started: Container[] = [];
    for (let i = 0; i < count + 2; i++) {
      const t0 = performance.now();
      const c = await ex.create(busyboxConfig(uniq(), fx.rootfs, ['sh', '-c', 'sleep 30']));
      const t1 = performance.now();
      await c.start();
      const t2 = performance.now();
      started.push(c);
      if (i < 2) continue; // warm-up
      total.push(t2 - t0);
      startOnly.push(t2 - t1);
    }
    const f = (x: number): string => x.toFixed(1);
    console.log(`${rt}: create+start p50 ${f(pct(total, 50))} ms, p90 ${f(pct(total, 90))} ms; start alone p50 ${f(pct(startOnly, 50))} ms (n=${count})`);
    for (const c of started) {
      await c.terminate();
      await c.remove();
    }
  }
} finally {
  await fx.clean();
}
