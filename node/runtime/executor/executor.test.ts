// Real containers from a busybox rootfs, with crun and runc.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwarmError } from '../../errors.js';
import type { Container } from './container.js';
import type { Executor } from './executor.js';
import { LOG_FILE } from './logs.js';
import { cgroupDirs } from './proc.js';
import type { RuntimeName } from './runtime.js';
import { Fixture, busyboxConfig, eventually, uniq } from './test-helpers.js';
import type { ContainerConfig, ExitInfo, HealthStatus, LogEntry } from './types.js';

let fx: Fixture;
beforeAll(() => {
  fx = new Fixture();
});
afterAll(async () => {
  await fx?.clean();
});

async function collect(ex: Executor, cfg: ContainerConfig): Promise<{ exit: ExitInfo; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const exit = await ex.run(cfg, { stdout: (b) => (stdout += b.toString()), stderr: (b) => (stderr += b.toString()) });
  return { exit, stdout, stderr };
}

function sh(script: string, extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return busyboxConfig(uniq(), fx.rootfs, ['sh', '-c', script], extra);
}

async function rejection(p: Promise<unknown>): Promise<SwarmError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwarmError);
  return err as SwarmError;
}

describe.each(['crun', 'runc'] as RuntimeName[])('%s', (rt) => {
  it('reports the exit code and streams stdout and stderr', async () => {
    const ex = await fx.executor(rt);
    const r = await collect(ex, sh('echo out; echo err >&2; exit 3'));
    expect(r.exit).toMatchObject({ exitCode: 3, oomKilled: false });
    expect(r.exit.signal).toBeUndefined();
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(ex.list()).toEqual([]);
  });

  it('env, workdir, user, hostname, /etc/hosts, resolv.conf, and a loopback-only network namespace', async () => {
    const ex = await fx.executor(rt);
    const r = await collect(
      ex,
      sh('id; pwd; echo "$FOO $HOME $HOSTNAME"; hostname; cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf; echo "net: $(ls /sys/class/net)"; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags', {
        user: 'app',
        workdir: '/home/app',
        env: ['FOO=bar'],
        hostname: 'web-1',
        hosts: [{ name: 'db', ip: '10.1.2.3' }],
        dns: { nameservers: ['10.0.0.2'], search: ['svc.local'] },
      }),
    );
    expect(r.exit.exitCode).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^uid=1000\(app\) gid=1000\(app\) groups=.*2000\(extra\)/);
    expect(lines[1]).toBe('/home/app');
    expect(lines[2]).toBe('bar /home/app web-1');
    expect(lines[3]).toBe('web-1');
    expect(lines[4]).toBe('web-1');
    expect(r.stdout).toContain('127.0.0.1\tlocalhost\n');
    expect(r.stdout).toContain('10.1.2.3\tdb\n');
    expect(r.stdout).toContain('nameserver 10.0.0.2\nsearch svc.local\n');
    expect(r.stdout).toContain('net: lo\n');
    expect(r.stdout).toMatch(/\n(unknown|up)\n0x9\n$/);
  });

  it('shutdown: a shell ignoring TERM is killed after the grace period; with init, TERM reaches the child at once', async () => {
    const ex = await fx.executor(rt);
    const ready = async (c: Container): Promise<void> => {
      // A signal that reaches an init before it has set up its handlers is dropped by the kernel (pid 1).
      await eventually(async () => {
        for await (const e of c.logs()) if (e.line === 'ready') return true;
        return false;
      }, 'ready');
    };
    const c = await ex.create(sh('trap "" TERM; echo ready; while true; do sleep 0.05; done'));
    await c.start();
    await ready(c);
    expect(c.status()).toBe('running');
    expect(c.pid()).toBeGreaterThan(0);
    let t0 = Date.now();
    const killed = await c.shutdown(400);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
    expect(killed).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
    expect(c.status()).toBe('stopped');
    await c.remove();

    const withInit = await ex.create(sh('echo ready; sleep 30', { init: true }));
    await withInit.start();
    await ready(withInit);
    t0 = Date.now();
    const stopped = await withInit.shutdown(10_000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(stopped).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
    await withInit.remove();
  });

  it('a memory limit kills a hog (oomKilled)', async () => {
    const ex = await fx.executor(rt);
    const r = await collect(ex, sh('x=0123456789abcdef; while true; do x="$x$x"; done', { resources: { memoryBytes: 16 * 1024 * 1024 } }));
    expect(r.exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: true });
  });

  it('exec runs as the container user with its env and workdir; a timeout kills the process', async () => {
    const ex = await fx.executor(rt);
    const c = await ex.create(sh('sleep 30', { user: 'app', env: ['FOO=bar'], workdir: '/home/app' }));
    await c.start();
    const r = await c.exec(['sh', '-c', 'id -u; echo $FOO; pwd; echo e >&2; exit 4']);
    expect(r.exitCode).toBe(4);
    // stdout and stderr arrive on separate pipes: only the order within each is defined.
    const lines = r.output.split('\n');
    expect(lines.filter((l) => l !== 'e' && l !== '')).toEqual(['1000', 'bar', '/home/app']);
    expect(lines).toContain('e');
    const err = await rejection(c.exec(['sleep', '20'], { timeoutMs: 200 }));
    expect(err.code).toBe('TIMEOUT');
    // The timed-out process is killed (the kill may land a moment after the rejection).
    const deadline = Date.now() + 5000;
    let ps = await c.exec(['ps', '-o', 'args']);
    while (ps.output.includes('sleep 20') && Date.now() < deadline) ps = await c.exec(['ps', '-o', 'args']);
    expect(ps.output).not.toContain('sleep 20');
    await c.terminate();
  });
});

describe('crun', () => {
  it('bind (rw and ro), named volume that persists across containers, tmpfs', async () => {
    const ex = await fx.executor('crun');
    const host = join(fx.dir, uniq('bind'));
    mkdirSync(host);
    writeFileSync(join(host, 'in.txt'), 'from host\n');
    const vol = uniq('vol');
    const first = await collect(
      ex,
      sh('cat /b/in.txt; echo back > /b/out.txt; echo kept > /v/data; touch /ro/x 2>&1; grep " /scratch " /proc/mounts', {
        mounts: [
          { type: 'bind', source: host, target: '/b' },
          { type: 'bind', source: host, target: '/ro', readOnly: true },
          { type: 'volume', source: vol, target: '/v' },
          { type: 'tmpfs', target: '/scratch', tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
        ],
      }),
    );
    expect(first.stdout).toContain('from host\n');
    expect(first.stdout).toMatch(/Read-only file system/);
    expect(first.stdout).toMatch(/tmpfs \/scratch tmpfs rw,nosuid,nodev.*size=1024k,mode=700/);
    expect(readFileSync(join(host, 'out.txt'), 'utf8')).toBe('back\n');
    const second = await collect(ex, sh('cat /data/data', { mounts: [{ type: 'volume', source: vol, target: '/data', readOnly: true }] }));
    expect(second.stdout).toBe('kept\n');
    expect(existsSync(join(ex.stateDir, 'volumes', vol, '_data', 'data'))).toBe(true);
  });

  it('a read-only root filesystem refuses writes (a tmpfs on it still works)', async () => {
    const ex = await fx.executor('crun');
    const r = await collect(ex, sh('touch /tmp/ok && echo tmp-ok; touch /rootfile', { readOnlyRootfs: true, mounts: [{ type: 'tmpfs', target: '/tmp' }] }));
    expect(r.stdout).toBe('tmp-ok\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(r.exit.exitCode).toBe(1);
  });

  it('a pids limit stops forks; the cpu quota is applied', async () => {
    const ex = await fx.executor('crun');
    const r = await collect(
      ex,
      sh('cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & done; echo forked', { resources: { pidsLimit: 6, nanoCpus: 5e8 } }),
    );
    expect(r.stdout).toMatch(/^(50000|50000 100000)\n/);
    expect(r.stderr).toMatch(/can't fork/);
  });

  it('capabilities: drop ALL leaves none, add ALL gives every one the runtime knows', async () => {
    const ex = await fx.executor('crun');
    const none = await collect(ex, sh('grep CapEff /proc/self/status', { capDrop: ['ALL'] }));
    expect(none.stdout).toBe('CapEff:\t0000000000000000\n');
    const dflt = await collect(ex, sh('grep CapBnd /proc/self/status'));
    expect(dflt.stdout).toBe('CapBnd:\t00000000a80425fb\n'); // Docker's default set
    for (const rt of ['crun', 'runc'] as const) {
      const all = await collect(await fx.executor(rt), sh('grep CapEff /proc/self/status', { capAdd: ['ALL'], capDrop: ['sys_admin'] }));
      expect(all.exit.exitCode).toBe(0);
      const eff = BigInt('0x' + all.stdout.split('\t')[1]!.trim());
      expect(eff & (1n << 21n)).toBe(0n); // CAP_SYS_ADMIN dropped
      expect(eff & (1n << 12n)).not.toBe(0n); // CAP_NET_ADMIN present
    }
  });

  it('logs: JSON lines with timestamps, rotation at a small size, tail, since, follow until exit', async () => {
    const ex = await fx.executor('crun', { stateDir: join(fx.dir, 'state-logs'), logMaxBytes: 1024, logMaxFiles: 2 });
    const ctl = join(fx.dir, uniq('ctl'));
    mkdirSync(ctl);
    const c = await ex.create(sh('i=0; while [ $i -lt 60 ]; do echo "line $i"; i=$((i+1)); done; echo oops >&2; while [ ! -f /ctl/go ]; do sleep 0.02; done; echo last', { mounts: [{ type: 'bind', source: ctl, target: '/ctl' }] }));
    const before = new Date(Date.now() - 1000);
    await c.start();
    const tailOf = async (n: number): Promise<LogEntry[]> => {
      const out: LogEntry[] = [];
      for await (const e of c.logs({ tail: n })) out.push(e);
      return out;
    };
    const tail = await eventually(async () => {
      const t = await tailOf(2);
      return t.length === 2 && t[1]!.stream === 'stderr' ? t : undefined;
    }, 'the first output in the log');
    expect(tail[0]).toMatchObject({ stream: 'stdout', line: 'line 59' });
    expect(tail[1]).toMatchObject({ stream: 'stderr', line: 'oops' });
    expect(Date.parse(tail[1]!.time)).toBeGreaterThanOrEqual(before.getTime());
    const dir = join(ex.stateDir, 'containers', c.id);
    expect(statSync(join(dir, LOG_FILE)).size).toBeLessThanOrEqual(1024);
    expect(statSync(join(dir, `${LOG_FILE}.1`)).size).toBeLessThanOrEqual(1024);
    expect(existsSync(join(dir, `${LOG_FILE}.2`))).toBe(false);
    const kept = await tailOf(1000);
    expect(kept.length).toBeLessThan(61); // the oldest lines were rotated away
    expect(kept.at(-1)!.line).toBe('oops');
    let since = 0;
    for await (const _ of c.logs({ since: new Date(Date.now() + 60_000) })) since++;
    expect(since).toBe(0);

    const followed: string[] = [];
    const following = (async () => {
      for await (const e of c.logs({ follow: true, tail: 1 })) followed.push(e.line);
    })();
    await eventually(() => followed.length === 1, 'the followed tail');
    writeFileSync(join(ctl, 'go'), '');
    await following; // ends by itself when the container exits
    expect(followed).toEqual(['oops', 'last']);
    expect((await c.wait()).exitCode).toBe(0);

    const aborted = new AbortController();
    const c2 = await ex.create(sh('echo one; sleep 30'));
    await c2.start();
    const got: string[] = [];
    const f2 = (async () => {
      for await (const e of c2.logs({ follow: true, signal: aborted.signal })) got.push(e.line);
    })();
    await eventually(() => got.includes('one'), 'followed output');
    aborted.abort();
    await f2;
    await c2.terminate();
  });

  it('health check: healthy, then unhealthy when its file is removed', async () => {
    const ex = await fx.executor('crun');
    const c = await ex.create(
      sh('touch /tmp/healthy; while true; do sleep 0.05; done', {
        mounts: [{ type: 'tmpfs', target: '/tmp' }],
        healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/healthy'], intervalMs: 100, timeoutMs: 2000, retries: 2 },
      }),
    );
    const seen: HealthStatus[] = [];
    c.on('health', (h) => seen.push(h));
    expect(c.health()).toBe('none');
    await c.start();
    await eventually(() => c.health() === 'healthy', 'healthy');
    expect((await c.exec(['rm', '/tmp/healthy'])).exitCode).toBe(0);
    await eventually(() => c.health() === 'unhealthy', 'unhealthy');
    expect(seen).toEqual(['starting', 'healthy', 'unhealthy']);
    await c.terminate();
  });

  it('start failure: a missing executable rejects start and reports 127', async () => {
    const ex = await fx.executor('crun');
    const c = await ex.create(busyboxConfig(uniq(), fx.rootfs, ['/nope']));
    const err = await rejection(c.start());
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/nope/);
    expect(c.status()).toBe('stopped');
    expect((await c.wait()).exitCode).toBe(127);
    await c.remove();
  });

  it('bad input is refused at create: duplicate id, missing rootfs, bind source, unknown user', async () => {
    const ex = await fx.executor('crun');
    const c = await ex.create(sh('true'));
    expect((await rejection(ex.create(sh('true', { id: c.id })))).code).toBe('ALREADY_EXISTS');
    expect((await rejection(ex.create({ ...sh('true'), rootfs: '/nonexistent-rootfs' }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(ex.create(sh('true', { mounts: [{ type: 'bind', source: '/nonexistent-src', target: '/x' }] })))).message).toMatch(/does not exist/);
    expect((await rejection(ex.create(sh('true', { user: 'ghost' })))).message).toMatch(/unable to find user ghost/);
    expect((await rejection(ex.create(sh('true', { id: 'bad/id' })))).code).toBe('INVALID_ARGUMENT');
    await c.remove();
  });

  it('a network namespace from the caller is joined', async () => {
    const ex = await fx.executor('crun');
    const ns = uniq('swarm-ns-');
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const inode = statSync(`/var/run/netns/${ns}`).ino;
      const r = await collect(ex, sh('stat -L -c %i /proc/self/ns/net', { netnsPath: `/var/run/netns/${ns}` }));
      expect(Number(r.stdout.trim())).toBe(inode);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('remove refuses a running container, then deletes bundle, cgroups and runtime state', async () => {
    const ex = await fx.executor('crun');
    const c = await ex.create(sh('sleep 30', { resources: { memoryBytes: 64 << 20 } }));
    const statuses: string[] = [];
    c.on('status', (s) => statuses.push(s));
    await c.start();
    const cg = cgroupDirs(`/${fx.cgroupParent}/${c.id}`);
    expect(cg.length).toBeGreaterThan(0);
    expect((await rejection(c.remove())).code).toBe('CONFLICT');
    const exit = await c.terminate();
    expect(exit).toMatchObject({ exitCode: 137, signal: 'SIGKILL', oomKilled: false });
    await c.remove();
    expect(statuses).toEqual(['running', 'stopped', 'removed']);
    expect(existsSync(join(ex.stateDir, 'containers', c.id))).toBe(false);
    expect(cgroupDirs(`/${fx.cgroupParent}/${c.id}`)).toEqual([]);
    expect(await ex.runtime.list()).toEqual([]);
    expect(ex.get(c.id)).toBeUndefined();
  });
});
