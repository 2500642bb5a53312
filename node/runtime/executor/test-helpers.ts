// Test fixtures: a busybox root filesystem built from the host's busybox-static, unique names per
// run, executors that are torn down (containers killed and removed, cgroups and dirs deleted) even
// when a test fails.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../log.js';
import { Executor, type ExecutorOptions } from './executor.js';
import { cgroupDirs } from './proc.js';
import { OciRuntime, type RuntimeName } from './runtime.js';
import type { ContainerConfig } from './types.js';
import { eventually } from '../../../test/support/eventually.js';

export function uniq(prefix = 't'): string {
  return `${prefix}${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
}

/** A busybox rootfs (269 applets as symlinks) with a passwd/group that has users to resolve. */
export function buildBusyboxRootfs(parent: string): string {
  const root = join(parent, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  const busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  execFileSync('chroot', [root, '/bin/busybox', '--install', '-s', '/bin']);
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc', 'root', 'home/app', 'data']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\nnogroup:x:65534:\n');
  return root;
}

export function busyboxConfig(id: string, rootfs: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { id, rootfs, image: { Env: ['PATH=/bin'], Cmd: ['sh'] }, command, ...extra };
}

/** One temp dir, one busybox rootfs and any number of executors per test file; clean() removes it all. */
export class Fixture {
  readonly dir: string;
  readonly rootfs: string;
  readonly cgroupParent: string;
  private readonly executors: Executor[] = [];
  private readonly stateDirs = new Map<string, RuntimeName>();
  private readonly runtimes = new Map<RuntimeName, OciRuntime>();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'swarm-exec-'));
    this.rootfs = buildBusyboxRootfs(this.dir);
    this.cgroupParent = uniq('swarm-test-');
  }

  async runtime(name: RuntimeName): Promise<OciRuntime> {
    let rt = this.runtimes.get(name);
    if (!rt) {
      rt = await OciRuntime.detect(name);
      this.runtimes.set(name, rt);
    }
    return rt;
  }

  async executor(name: RuntimeName, opts: Partial<ExecutorOptions> = {}): Promise<Executor> {
    const stateDir = opts.stateDir ?? join(this.dir, `state-${name}`);
    this.stateDirs.set(stateDir, name);
    const ex = await Executor.open({
      stateDir,
      runtime: await this.runtime(name),
      logger: silentLogger(),
      cgroupParent: this.cgroupParent,
      ...opts,
    });
    this.executors.push(ex);
    return ex;
  }

  /** Kills and removes every container of every executor made here, then the cgroup parent and the temp dir. */
  async clean(): Promise<void> {
    for (const ex of this.executors) {
      for (const c of ex.list()) {
        try {
          if (c.status() === 'running' || c.status() === 'created') await c.terminate();
          await c.remove();
        } catch {
          // keep cleaning the rest
        }
      }
    }
    // Containers a test left to a closed executor: a fresh one adopts and removes them.
    for (const [stateDir, name] of this.stateDirs) {
      const ex = await Executor.open({ stateDir, runtime: this.runtimes.get(name)!, logger: silentLogger(), cgroupParent: this.cgroupParent });
      for (const c of await ex.adopt()) {
        await c.terminate();
        await c.remove();
      }
      await ex.close();
    }
    for (const ex of this.executors) await ex.close();
    for (const d of cgroupDirs(`/${this.cgroupParent}`)) {
      try {
        rmdirSync(d);
      } catch {
        // not empty: a test failed to clean a container; the error shows elsewhere
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export { eventually };
