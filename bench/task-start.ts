import '../polyfill.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../node/log.js';
import { LocalRuntime } from '../node/runtime/index.js';
import { loadBusybox } from '../test/fixtures/busybox.js';

// Container start latency on one node, from an image already present: 50 containers one after
// another, then 50 at once. Measured from the create request to the process running (the
// rootfs stacked, the bundle written, the runtime started). Last line: one JSON object.

const N = Number(process.argv.find((a) => a.startsWith('--count='))?.slice(8) ?? 50);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-bench-start-'));
  const rt = await LocalRuntime.open({ dir, logger: silentLogger() });
  const ids: string[] = [];
  const start = async (): Promise<number> => {
    const t0 = performance.now();
    const { Id } = await rt.createContainer(undefined, { Image: 'busybox:test', Cmd: ['sleep', '300'] });
    await rt.startContainer(Id);
    ids.push(Id);
    return performance.now() - t0;
  };
  try {
    await loadBusybox(rt.images, 'busybox:test');
    await start(); // warm up: unpacks the layer once
    const sequential: number[] = [];
    for (let i = 0; i < N; i++) sequential.push(await start());
    process.stderr.write(`sequential: ${N} started\n`);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: N }, () => start()));
    const concurrentTotal = performance.now() - t0;
    sequential.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 10) / 10;
    process.stdout.write(
      `${JSON.stringify({
        bench: 'task-start',
        runtime: rt.executor.runtime.name,
        count: N,
        p50Ms: round(percentile(sequential, 50)),
        p90Ms: round(percentile(sequential, 90)),
        p99Ms: round(percentile(sequential, 99)),
        [`concurrent${N}TotalMs`]: round(concurrentTotal),
      })}\n`,
    );
  } finally {
    await Promise.all(ids.map((id) => rt.removeContainer(id, true).catch(() => {})));
    rt.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:task-start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
