import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBusybox } from '../../../test/fixtures/busybox.js';
import { silentLogger } from '../../log.js';
import { Executor, OciRuntime } from '../executor/index.js';
import { ImageStore } from '../images/index.js';
import { LayerStore } from '../rootfs/index.js';
import { ImageBuilder } from './builder.js';

// Real builds: a busybox base, files from a context, RUN in a real container (crun), and the
// result run again to see what the layers hold.

let dir: string;
let images: ImageStore;
let layers: LayerStore;
let executor: Executor;
let builder: ImageBuilder;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swarm-build-'));
  images = await ImageStore.open(join(dir, 'images'), { logger: silentLogger() });
  layers = await LayerStore.open(join(dir, 'layers'), { logger: silentLogger() });
  executor = await Executor.open({ stateDir: join(dir, 'exec'), runtime: await OciRuntime.detect(), logger: silentLogger() });
  builder = new ImageBuilder({ images, layers, executor, workDir: join(dir, 'build'), logger: silentLogger() });
  await loadBusybox(images, 'busybox:test');
});

afterAll(async () => {
  for (const id of layers.mounted()) await layers.remove(id);
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `cmd` in a container of `ref` and returns its output. */
async function runIn(ref: string, cmd: string[]): Promise<string> {
  const img = images.get(ref);
  for (const [i, l] of img.manifest.layers.entries()) await layers.ensureLayer(img.config.rootfs.diff_ids[i]!, images.blobs.path(l.digest), l.mediaType);
  const id = `check-${Math.random().toString(36).slice(2, 10)}`;
  const { rootfs } = await layers.mount(id, img.config.rootfs.diff_ids);
  let out = '';
  try {
    const exit = await executor.run({ id, rootfs, image: img.config.config, command: cmd }, { stdout: (b) => (out += b.toString()), stderr: (b) => (out += b.toString()), remove: true });
    expect(exit.exitCode).toBe(0);
  } finally {
    await layers.remove(id);
  }
  return out;
}

function context(files: Record<string, string>): string {
  const ctx = mkdtempSync(join(dir, 'ctx-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(ctx, name, '..'), { recursive: true });
    writeFileSync(join(ctx, name), content);
  }
  return ctx;
}

describe('image build', () => {
  it('builds FROM a local image with COPY, RUN, ENV, WORKDIR, CMD, and reuses the cache', async () => {
    const ctx = context({
      Dockerfile: [
        'FROM busybox:test',
        'ARG GREETING=hello',
        'ENV MSG=$GREETING',
        'WORKDIR /app',
        'COPY greeting.txt ./',
        'RUN echo "$MSG from run" > /app/run.txt && cat greeting.txt >> /app/run.txt',
        'LABEL stage=test',
        'EXPOSE 8080',
        'HEALTHCHECK --interval=2s CMD test -f /app/run.txt',
        'CMD ["cat", "/app/run.txt"]',
      ].join('\n'),
      'greeting.txt': 'file from context\n',
    });
    const lines: string[] = [];
    const img = await builder.build({ contextDir: ctx, tags: ['built:1'], buildArgs: { GREETING: 'hi' }, onOutput: (l) => lines.push(l) });
    expect(lines[0]).toBe('Step 1/10 : FROM busybox:test');
    expect(img.config.config.Env).toContain('MSG=hi');
    expect(img.config.config.WorkingDir).toBe('/app');
    expect(img.config.config.Labels).toEqual({ stage: 'test' });
    expect(img.config.config.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(img.config.config.Healthcheck?.Test).toEqual(['CMD-SHELL', 'test -f /app/run.txt']);
    expect(await runIn('built:1', ['cat', '/app/run.txt'])).toBe('hi from run\nfile from context\n');

    const again: string[] = [];
    const img2 = await builder.build({ contextDir: ctx, tags: ['built:2'], buildArgs: { GREETING: 'hi' }, onOutput: (l) => again.push(l) });
    expect(again.filter((l) => l.includes('Using cache')).length).toBe(3); // WORKDIR, COPY, RUN
    expect(img2.config.rootfs.diff_ids).toEqual(img.config.rootfs.diff_ids);
  }, 60_000);

  it('fails a RUN that exits non-zero with the line and the exit code', async () => {
    const ctx = context({ Dockerfile: 'FROM busybox:test\nRUN exit 7\n' });
    await expect(builder.build({ contextDir: ctx, tags: ['broken:1'] })).rejects.toThrow(/Dockerfile:2: RUN .* exited with code 7/);
    expect(images.resolve('broken:1')).toBeUndefined();
  }, 30_000);

  it('records deletions made by RUN as whiteouts', async () => {
    const ctx = context({ Dockerfile: 'FROM busybox:test\nRUN rm /etc/group && mkdir -p /data && echo x > /data/f\n' });
    const img = await builder.build({ contextDir: ctx, tags: ['deleted:1'] });
    // The RUN layer holds what the command changed, not the runtime's mountpoints.
    const last = img.manifest.layers.at(-1)!;
    const listing = execFileSync('tar', ['-tf', images.blobs.path(last.digest)], { encoding: 'utf8' });
    expect(listing).toMatch(/etc\/\.wh\.group/);
    expect(listing).toMatch(/data\/f/);
    expect(listing).not.toMatch(/etc\/hosts|etc\/resolv\.conf|etc\/hostname/);
    expect(await runIn('deleted:1', ['sh', '-c', 'test -e /etc/group && echo present || echo gone; cat /data/f'])).toBe('gone\nx\n');
  }, 30_000);

  it('refuses sources outside the context and unknown base images', async () => {
    await expect(builder.build({ contextDir: context({ Dockerfile: 'FROM busybox:test\nCOPY ../../etc/passwd /x\n' }), tags: ['x:1'] })).rejects.toThrow(/Dockerfile:2: COPY: \.\.\/\.\.\/etc\/passwd is outside the build context/);
    await expect(builder.build({ contextDir: context({ Dockerfile: 'FROM nope:1\n' }), tags: ['x:2'] })).rejects.toThrow(/Dockerfile:1: FROM: image not found: nope:1/);
  });
});
