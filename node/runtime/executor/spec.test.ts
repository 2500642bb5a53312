import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  buildOciSpec,
  effectiveCapabilities,
  hostsFileContent,
  normalizeSignal,
  resolveArgs,
  resolveEnv,
  resolveHealthcheck,
  resolveProcess,
  resolvConfContent,
} from './spec.js';
import type { ContainerConfig, ResolvedProcess, SpecPaths } from './types.js';
import { resolveInRoot, resolveUser } from './user.js';

const root = mkdtempSync(join(tmpdir(), 'swarm-spec-'));
mkdirSync(join(root, 'etc'));
writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n# comment\nweb:x:33:33::/var/www:/bin/false\n');
writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app,web\nother:x:3000:web\n');
afterAll(() => rmSync(root, { recursive: true, force: true }));

function cfg(extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { id: 'c1', rootfs: root, image: {}, command: ['true'], ...extra };
}

const resolved: ResolvedProcess = { uid: 0, gid: 0, additionalGids: [], args: ['true'], env: [DEFAULT_PATH], cwd: '/' };
const paths: SpecPaths = { hostsFile: '/s/hosts', resolvConfFile: '/s/resolv.conf', hostnameFile: '/s/hostname', volumesDir: '/s/volumes', cgroupsPath: '/swarm/c1', initPath: '/usr/bin/tini-static' };

interface Spec {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number; additionalGids?: number[] }; capabilities: Record<string, string[]> };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: { cgroupsPath: string; resources: Record<string, unknown>; namespaces: { type: string; path?: string }[] };
}
const spec = (c: ContainerConfig, p: SpecPaths = paths): Spec => buildOciSpec(c, resolved, p) as Spec;

function expectError(fn: () => unknown, code: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isSwarmError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as Error).message).toMatch(pattern);
}

describe('args (Docker rules)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default', 'arg'] };
  it('image entrypoint + cmd', () => expect(resolveArgs(cfg({ image, command: undefined }))).toEqual(['/entry', 'default', 'arg']));
  it('a command replaces the cmd and keeps the entrypoint', () => expect(resolveArgs(cfg({ image, command: ['x'] }))).toEqual(['/entry', 'x']));
  it('an entrypoint override drops the image cmd', () => expect(resolveArgs(cfg({ image, entrypoint: ['/other'], command: undefined }))).toEqual(['/other']));
  it('entrypoint and command both given', () => expect(resolveArgs(cfg({ image, entrypoint: ['/other'], command: ['y'] }))).toEqual(['/other', 'y']));
  it('an empty entrypoint resets it: the command alone runs', () => expect(resolveArgs(cfg({ image, entrypoint: [], command: ['sh'] }))).toEqual(['sh']));
  it('image cmd without entrypoint', () => expect(resolveArgs(cfg({ image: { Entrypoint: null, Cmd: ['sh'] }, command: undefined }))).toEqual(['sh']));
  it('nothing to run is an error', () => expectError(() => resolveArgs(cfg({ image: {}, command: undefined })), 'INVALID_ARGUMENT', /no command/));
  it('init prepends tini', () => expect(resolveArgs(cfg({ image, init: true, command: undefined }))).toEqual(['/sbin/docker-init', '--', '/entry', 'default', 'arg']));
});

describe('env', () => {
  it('merges image and task env, task wins in place, defaults appended', () => {
    const env = resolveEnv(cfg({ image: { Env: ['PATH=/bin', 'A=1', 'B=2'] }, env: ['B=3', 'C=4'] }), '/home/app', 'h1');
    expect(env).toEqual(['PATH=/bin', 'A=1', 'B=3', 'C=4', 'HOSTNAME=h1', 'HOME=/home/app']);
  });
  it('adds the default PATH and keeps a task HOME', () => {
    expect(resolveEnv(cfg({ env: ['HOME=/x'] }), '/root', 'h')).toEqual([DEFAULT_PATH, 'HOME=/x', 'HOSTNAME=h']);
  });
  it('refuses entries without =', () => expectError(() => resolveEnv(cfg({ env: ['NOPE'] }), '/', 'h'), 'INVALID_ARGUMENT', /KEY=VALUE/));
});

describe('user resolution from the rootfs', () => {
  it('by name: uid, primary gid, supplementary groups, home', () => {
    expect(resolveUser(root, 'app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000], home: '/home/app' });
    expect(resolveUser(root, 'web')).toEqual({ uid: 33, gid: 33, additionalGids: [2000, 3000], home: '/var/www' });
  });
  it('by uid: known and unknown', () => {
    expect(resolveUser(root, '1000')).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [2000] });
    expect(resolveUser(root, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });
  it('explicit group (name or number) replaces the primary group and skips supplementary ones', () => {
    expect(resolveUser(root, 'app:extra')).toMatchObject({ uid: 1000, gid: 2000, additionalGids: [] });
    expect(resolveUser(root, '4242:77')).toMatchObject({ uid: 4242, gid: 77, additionalGids: [] });
  });
  it('empty is root', () => expect(resolveUser(root, '')).toMatchObject({ uid: 0, gid: 0, home: '/root' }));
  it('unknown names are errors', () => {
    expectError(() => resolveUser(root, 'ghost'), 'INVALID_ARGUMENT', /unable to find user ghost/);
    expectError(() => resolveUser(root, 'app:ghosts'), 'INVALID_ARGUMENT', /unable to find group ghosts/);
  });
  it('symlinks resolve inside the rootfs, never to the host', () => {
    const r2 = mkdtempSync(join(tmpdir(), 'swarm-spec-link-'));
    try {
      mkdirSync(join(r2, 'etc'));
      mkdirSync(join(r2, 'real'));
      writeFileSync(join(r2, 'real', 'passwd'), 'svc:x:500:500::/srv:/bin/sh\n');
      // An absolute target: on the host it would be /real/passwd (absent) or worse, e.g. /etc/shadow.
      symlinkSync('/real/passwd', join(r2, 'etc', 'passwd'));
      expect(resolveInRoot(r2, '/etc/passwd')).toBe(join(r2, 'real', 'passwd'));
      symlinkSync('../../../../etc/shadow', join(r2, 'etc', 'group'));
      expect(resolveInRoot(r2, '/etc/group')).toBe(join(r2, 'etc', 'shadow'));
      expect(resolveUser(r2, 'svc')).toMatchObject({ uid: 500, gid: 500 });
    } finally {
      rmSync(r2, { recursive: true, force: true });
    }
  });
  it('resolveProcess puts it together', () => {
    const p = resolveProcess(cfg({ user: 'app', image: { WorkingDir: '/srv/' }, hostname: 'web1' }));
    expect(p).toMatchObject({ uid: 1000, gid: 1000, additionalGids: [2000], cwd: '/srv', args: ['true'] });
    expect(p.env).toContain('HOME=/home/app');
    expect(p.env).toContain('HOSTNAME=web1');
    expectError(() => resolveProcess(cfg({ workdir: 'rel' })), 'INVALID_ARGUMENT', /not absolute/);
  });
});

describe('capabilities', () => {
  it("Docker's 14 by default, in every set", () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    const caps = spec(cfg()).process.capabilities;
    expect(caps.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps.effective).toEqual(caps.bounding);
    expect(caps.permitted).toEqual(caps.bounding);
  });
  it('add and drop, names with or without CAP_, any case', () => {
    const caps = effectiveCapabilities(['net_admin', 'CAP_SYS_PTRACE'], ['chown', 'CAP_KILL']);
    expect(caps).toContain('CAP_NET_ADMIN');
    expect(caps).toContain('CAP_SYS_PTRACE');
    expect(caps).not.toContain('CAP_CHOWN');
    expect(caps).not.toContain('CAP_KILL');
    expect(caps).toHaveLength(14);
  });
  it('ALL in add: everything but the drops; ALL in drop: only the adds', () => {
    expect(effectiveCapabilities(['ALL'], ['SYS_ADMIN'])).toEqual(ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN'));
    expect(effectiveCapabilities(['NET_BIND_SERVICE'], ['all'])).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(effectiveCapabilities([], ['ALL'])).toEqual([]);
  });
  it('unknown names are errors', () => expectError(() => effectiveCapabilities(['FLY']), 'INVALID_ARGUMENT', /unknown capability/));
  it('ALL means what the host has; asking for a capability the host lacks is an error', () => {
    const host = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
    expect(effectiveCapabilities(['ALL'], [], host)).toEqual(host);
    expectError(() => effectiveCapabilities(['SYS_RESOURCE'], [], host), 'INVALID_ARGUMENT', /not available on this host/);
    expect(spec(cfg({ capAdd: ['ALL'] }), { ...paths, hostCapabilities: host }).process.capabilities.bounding).toEqual(host);
  });
});

describe('the spec', () => {
  it('limits: memory (with swap when accounted), cpu quota, pids', () => {
    const r = spec(cfg({ resources: { memoryBytes: 64 << 20, nanoCpus: 1.5e9, pidsLimit: 50 } }), { ...paths, swapAccounting: true }).linux.resources;
    expect(r.memory).toEqual({ limit: 64 << 20, swap: 64 << 20 });
    expect(r.cpu).toEqual({ period: 100000, quota: 150000 });
    expect(r.pids).toEqual({ limit: 50 });
    expect(spec(cfg({ resources: { memoryBytes: 1 << 20 } })).linux.resources.memory).toEqual({ limit: 1 << 20 });
    expectError(() => spec(cfg({ resources: { pidsLimit: 0 } })), 'INVALID_ARGUMENT', /pids limit/);
  });
  it('read-only rootfs makes root and the /etc files read-only', () => {
    const s = spec(cfg({ readOnlyRootfs: true }));
    expect(s.root).toEqual({ path: root, readonly: true });
    expect(s.mounts.find((m) => m.destination === '/etc/hosts')!.options).toContain('ro');
    expect(spec(cfg()).mounts.find((m) => m.destination === '/etc/hosts')!.options).toContain('rw');
  });
  it('mounts: bind, volume under the state dir, tmpfs; parents before children; a task mount wins over /etc/hosts', () => {
    const s = spec(
      cfg({
        mounts: [
          { type: 'bind', source: '/host/data/sub', target: '/data/sub', readOnly: true },
          { type: 'volume', source: 'vol1', target: '/data' },
          { type: 'tmpfs', target: '/scratch', tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o700 },
          { type: 'bind', source: '/host/hosts', target: '/etc/hosts' },
        ],
      }),
    );
    const user = s.mounts.filter((m) => ['/data', '/data/sub', '/scratch', '/etc/hosts'].includes(m.destination));
    expect(user.map((m) => m.destination)).toEqual(['/data', '/scratch', '/data/sub', '/etc/hosts']);
    expect(user[0]).toEqual({ destination: '/data', type: 'bind', source: '/s/volumes/vol1/_data', options: ['rbind', 'rw', 'rprivate'] });
    expect(user[1]).toEqual({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=700', 'size=1048576'] });
    expect(user[2]!.options).toContain('ro');
    expect(s.mounts.filter((m) => m.destination === '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: '/host/hosts', options: ['rbind', 'rw', 'rprivate'] }]);
    expect(s.mounts.find((m) => m.destination === '/etc/resolv.conf')!.source).toBe('/s/resolv.conf');
    expect(s.mounts.find((m) => m.destination === '/proc')).toBeDefined();
  });
  it('bad mounts are errors', () => {
    expectError(() => spec(cfg({ mounts: [{ type: 'bind', source: 'rel', target: '/x' }] })), 'INVALID_ARGUMENT', /absolute host path/);
    expectError(() => spec(cfg({ mounts: [{ type: 'volume', source: '../etc', target: '/x' }] })), 'INVALID_ARGUMENT', /invalid volume name/);
    expectError(() => spec(cfg({ mounts: [{ type: 'tmpfs', target: 'x' }] })), 'INVALID_ARGUMENT', /not an absolute path/);
  });
  it('init bind-mounts a static tini read-only at /sbin/docker-init', () => {
    const s = spec(cfg({ init: true }));
    expect(s.mounts).toContainEqual({ destination: '/sbin/docker-init', type: 'bind', source: '/usr/bin/tini-static', options: ['rbind', 'ro', 'rprivate'] });
    expectError(() => spec(cfg({ init: true }), { ...paths, initPath: undefined }), 'UNAVAILABLE', /tini/);
  });
  it('namespaces: a fresh netns by default, the caller’s when given; cgroupsPath, hostname, process', () => {
    expect(spec(cfg()).linux.namespaces).toContainEqual({ type: 'network' });
    expect(spec(cfg({ netnsPath: '/var/run/netns/n1' })).linux.namespaces).toContainEqual({ type: 'network', path: '/var/run/netns/n1' });
    const s = spec(cfg({ id: 'abcdefghijklmnop' }));
    expect(s.linux.cgroupsPath).toBe('/swarm/c1');
    expect(s.hostname).toBe('abcdefghijkl');
    expect(s.process).toMatchObject({ args: ['true'], cwd: '/', user: { uid: 0, gid: 0 } });
  });
});

describe('health checks, signals, files', () => {
  it('image health check (ns) with task overrides (ms), defaults, NONE', () => {
    const image = { Healthcheck: { Test: ['CMD-SHELL', 'check --fast'], Interval: 5e9, Retries: 2 } };
    expect(resolveHealthcheck(cfg({ image }))).toEqual({ args: ['/bin/sh', '-c', 'check --fast'], intervalMs: 5000, timeoutMs: 30000, retries: 2, startPeriodMs: 0 });
    expect(resolveHealthcheck(cfg({ image, healthcheck: { test: ['CMD', '/ok', 'x'], intervalMs: 100 } }))).toMatchObject({ args: ['/ok', 'x'], intervalMs: 100, retries: 2 });
    expect(resolveHealthcheck(cfg({ image, healthcheck: { test: ['NONE'] } }))).toBeUndefined();
    expect(resolveHealthcheck(cfg())).toBeUndefined();
    expectError(() => resolveHealthcheck(cfg({ healthcheck: { test: ['RUN', 'x'] } })), 'INVALID_ARGUMENT', /CMD, CMD-SHELL or NONE/);
  });
  it('signals by name, short name or number', () => {
    expect(normalizeSignal('TERM')).toBe('SIGTERM');
    expect(normalizeSignal('sigquit')).toBe('SIGQUIT');
    expect(normalizeSignal('9')).toBe('SIGKILL');
    expectError(() => normalizeSignal('SIGNOPE'), 'INVALID_ARGUMENT', /unknown stop signal/);
  });
  it('/etc/hosts and resolv.conf', () => {
    expect(hostsFileContent(cfg({ hosts: [{ name: 'db', ip: '10.0.0.5' }] }))).toMatch(/^127\.0\.0\.1\tlocalhost\n[\s\S]*10\.0\.0\.5\tdb\n$/);
    expect(resolvConfContent(cfg({ dns: { nameservers: ['10.0.0.2'], search: ['svc'], options: ['ndots:0'] } }), '')).toBe('nameserver 10.0.0.2\nsearch svc\noptions ndots:0\n');
    expect(resolvConfContent(cfg(), 'nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\n')).toBe('nameserver 192.0.2.1\nsearch lan\n');
  });
});
