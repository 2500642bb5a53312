// Daemon restarts: an Executor is closed (as a daemon exiting) while containers run, and a new one
// over the same state dir adopts what still runs and cleans what died.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerMeta } from './container.js';
import { cgroupDirs, isAlive } from './proc.js';
import type { RuntimeName } from './runtime.js';
import { Fixture, busyboxConfig, eventually, uniq } from './test-helpers.js';
import type { ExitInfo } from './types.js';

let fx: Fixture;
beforeAll(() => {
  fx = new Fixture();
});
afterAll(async () => {
  await fx?.clean();
});

function ctlDir(): string {
  const d = join(fx.dir, uniq('ctl'));
  mkdirSync(d);
  return d;
}

const waitFor = (f: string): string => `while [ ! -f /ctl/${f} ]; do sleep 0.02; done`;

describe.each(['crun', 'runc'] as RuntimeName[])('%s', (rt) => {
  it('a running container is re-adopted: same process, output written meanwhile and later is logged, its exit observed', async () => {
    const stateDir = join(fx.dir, uniq('state'));
    const ctl = ctlDir();
    const ex1 = await fx.executor(rt, { stateDir, adoptPollMs: 50 });
    const c1 = await ex1.create(
      busyboxConfig(uniq(), fx.rootfs, ['sh', '-c', `echo before; ${waitFor('a')}; echo during; touch /ctl/wrote; ${waitFor('b')}; echo after; exit 7`], {
        mounts: [{ type: 'bind', source: ctl, target: '/ctl' }],
      }),
    );
    await c1.start();
    const pid = c1.pid()!;
    await eventually(async () => {
      for await (const e of c1.logs()) if (e.line === 'before') return true;
      return false;
    }, 'first output');

    await ex1.close(); // the daemon goes away; the container must not notice
    writeFileSync(join(ctl, 'a'), '');
    await eventually(() => existsSync(join(ctl, 'wrote')), 'output written while no daemon reads');
    expect(isAlive(pid)).toBe(true);

    const ex2 = await fx.executor(rt, { stateDir, adoptPollMs: 50 });
    const exited: string[] = [];
    const adopted = await ex2.adopt({ onExited: (id) => exited.push(id) });
    expect(adopted.map((c) => c.id)).toEqual([c1.id]);
    expect(exited).toEqual([]);
    const c2 = adopted[0]!;
    expect(c2.status()).toBe('running');
    expect(c2.pid()).toBe(pid);
    expect(await ex2.adopt()).toEqual([]); // nothing duplicated
    expect(ex2.list()).toEqual([c2]);

    const lines: string[] = [];
    const following = (async () => {
      for await (const e of c2.logs({ follow: true })) lines.push(e.line);
    })();
    await eventually(() => lines.includes('during'), 'output written while the daemon was down');
    const exits: ExitInfo[] = [];
    c2.on('exit', (e) => exits.push(e));
    writeFileSync(join(ctl, 'b'), '');
    const exit = await c2.wait();
    await following;
    expect(exit).toMatchObject({ exitCode: 7, oomKilled: false });
    expect(exits).toEqual([exit]);
    expect(lines).toEqual(['before', 'during', 'after']);
    expect(c2.status()).toBe('stopped');
    await c2.remove();
    expect(await ex2.runtime.list()).toEqual([]);
  });
});

describe('crun', () => {
  it('a container that exited while the daemon was down: exit code reported, everything cleaned', async () => {
    const stateDir = join(fx.dir, uniq('state'));
    const ctl = ctlDir();
    const ex1 = await fx.executor('crun', { stateDir });
    const c = await ex1.create(busyboxConfig(uniq(), fx.rootfs, ['sh', '-c', `${waitFor('x')}; exit 5`], { mounts: [{ type: 'bind', source: ctl, target: '/ctl' }] }));
    await c.start();
    const dir = join(stateDir, 'containers', c.id);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as ContainerMeta;
    await ex1.close();
    writeFileSync(join(ctl, 'x'), '');
    await eventually(() => !isAlive(meta.shim!.pid, meta.shim!.startTime), 'the shim to finish');

    const ex2 = await fx.executor('crun', { stateDir });
    const exited: [string, ExitInfo][] = [];
    expect(await ex2.adopt({ onExited: (id, e) => exited.push([id, e]) })).toEqual([]);
    expect(exited).toHaveLength(1);
    expect(exited[0]![0]).toBe(c.id);
    expect(exited[0]![1]).toMatchObject({ exitCode: 5, oomKilled: false });
    expect(existsSync(dir)).toBe(false);
    expect(cgroupDirs(meta.cgroupsPath)).toEqual([]);
    expect(await ex2.runtime.list()).toEqual([]);
  });

  it('leftovers of a crash (shim and runtime killed, then the container): runtime state and cgroups are cleaned', async () => {
    const stateDir = join(fx.dir, uniq('state'));
    const ex1 = await fx.executor('crun', { stateDir });
    const c = await ex1.create(busyboxConfig(uniq(), fx.rootfs, ['sleep', '30'], { resources: { memoryBytes: 32 << 20, pidsLimit: 20 } }));
    await c.start();
    const dir = join(stateDir, 'containers', c.id);
    const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as ContainerMeta;
    await ex1.close();
    // A crash of everything around the container: the runtime's state and cgroups stay behind.
    const runtimePid = Number(readFileSync(`/proc/${meta.shim!.pid}/task/${meta.shim!.pid}/children`, 'utf8').trim().split(' ')[0]);
    process.kill(meta.shim!.pid, 'SIGKILL');
    process.kill(runtimePid, 'SIGKILL');
    await eventually(() => !isAlive(runtimePid), 'the runtime to die');
    process.kill(meta.pid!, 'SIGKILL');
    await eventually(() => !isAlive(meta.pid!), 'the container to die');
    expect(cgroupDirs(meta.cgroupsPath).length).toBeGreaterThan(0);
    expect((await ex1.runtime.list()).map((s) => s.id)).toEqual([c.id]);

    const ex2 = await fx.executor('crun', { stateDir });
    const exited: ExitInfo[] = [];
    expect(await ex2.adopt({ onExited: (_id, e) => exited.push(e) })).toEqual([]);
    expect(exited).toEqual([expect.objectContaining({ exitCode: -1 })]);
    expect(existsSync(dir)).toBe(false);
    expect(cgroupDirs(meta.cgroupsPath)).toEqual([]);
    expect(await ex2.runtime.list()).toEqual([]);
  });
});
