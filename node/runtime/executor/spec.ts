// From a task's ContainerConfig to an OCI runtime spec (config.json), with Docker's defaults:
// its argument rules, environment, 14 default capabilities, system mounts, masked paths and limits.
import { constants as osConstants } from 'node:os';
import { posix } from 'node:path';
import { SwarmError } from '../../errors.js';
import type { ContainerConfig, HealthcheckSpec, ResolvedProcess, SpecPaths } from './types.js';
import { resolveUser } from './user.js';

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability Linux defines (0..40), in number order: what 'ALL' means. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const INIT_TARGET = '/sbin/docker-init';
export const DEFAULT_STOP_GRACE_MS = 10_000;
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const VOLUME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function validateId(id: string): void {
  if (!ID_RE.test(id)) throw new SwarmError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id)}`, 'use 1-128 characters from [a-zA-Z0-9_.-], starting with a letter or digit');
}

/** 'net_admin' | 'CAP_NET_ADMIN' → 'CAP_NET_ADMIN'; 'all' → 'ALL'; unknown names are INVALID_ARGUMENT. */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(full)) throw new SwarmError('INVALID_ARGUMENT', `unknown capability ${JSON.stringify(name)}`, 'use a Linux capability name such as NET_ADMIN or CAP_SYS_PTRACE, or ALL');
  return full;
}

/**
 * Docker's TweakCapabilities: ALL in add wins (minus drops), ALL in drop leaves only the adds.
 * `host` (the daemon's bounding set) is what ALL means here: no process can grant more than it has.
 */
export function effectiveCapabilities(capAdd: string[] = [], capDrop: string[] = [], host?: readonly string[]): string[] {
  const add = capAdd.map(normalizeCapability);
  const drop = capDrop.map(normalizeCapability);
  if (host) {
    const missing = add.filter((c) => c !== 'ALL' && !host.includes(c));
    if (missing.length > 0) throw new SwarmError('INVALID_ARGUMENT', `capability ${missing.join(', ')} is not available on this host`, 'the daemon itself lacks it (its bounding set): drop it from cap_add');
  }
  let caps: string[];
  if (add.includes('ALL')) caps = (host ?? ALL_CAPABILITIES).filter((c) => !drop.includes(c));
  else if (drop.includes('ALL')) caps = add;
  else caps = [...DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)), ...add];
  return [...new Set(caps)];
}

/** 'TERM' | 'SIGTERM' | '15' → 'SIGTERM'; unknown is INVALID_ARGUMENT. */
export function normalizeSignal(sig: string): NodeJS.Signals {
  const s = sig.trim().toUpperCase();
  const signals = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    const name = Object.keys(signals).find((k) => signals[k] === n);
    if (name) return name as NodeJS.Signals;
  } else {
    const name = s.startsWith('SIG') ? s : `SIG${s}`;
    if (name in signals) return name as NodeJS.Signals;
  }
  throw new SwarmError('INVALID_ARGUMENT', `unknown stop signal ${JSON.stringify(sig)}`, 'use a signal name such as SIGTERM or SIGQUIT, or its number');
}

/** The name of signal number n, e.g. 9 → 'SIGKILL'. */
export function signalName(n: number): string | undefined {
  const signals = osConstants.signals as Record<string, number>;
  return Object.keys(signals).find((k) => signals[k] === n);
}

export function stopSignalOf(cfg: ContainerConfig): NodeJS.Signals {
  return normalizeSignal(cfg.stopSignal || cfg.image.StopSignal || 'SIGTERM');
}

/**
 * Docker's rules: the task's entrypoint replaces the image's and then drops the image's Cmd (unless
 * the task gives a command too); the task's command replaces the image's Cmd. init prepends tini.
 */
export function resolveArgs(cfg: ContainerConfig): string[] {
  const entrypoint = cfg.entrypoint ?? cfg.image.Entrypoint ?? [];
  const cmd = cfg.command ?? (cfg.entrypoint !== undefined ? [] : (cfg.image.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new SwarmError('INVALID_ARGUMENT', `no command specified for container ${cfg.id}`, 'the image has no ENTRYPOINT or CMD: give the task a command');
  return cfg.init ? [INIT_TARGET, '--', ...args] : args;
}

/** Image env, then the task's (same key: the task wins, in the image's position), then defaults. */
export function resolveEnv(cfg: ContainerConfig, home: string, hostname: string): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const e of [...(cfg.image.Env ?? []), ...(cfg.env ?? [])]) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new SwarmError('INVALID_ARGUMENT', `environment entry ${JSON.stringify(e)} is not KEY=VALUE`, 'write each variable as KEY=VALUE');
    const key = e.slice(0, eq);
    if (!values.has(key)) order.push(key);
    values.set(key, e);
  }
  const out = order.map((k) => values.get(k)!);
  if (!values.has('PATH')) out.unshift(DEFAULT_PATH);
  if (!values.has('HOSTNAME')) out.push(`HOSTNAME=${hostname}`);
  if (!values.has('HOME')) out.push(`HOME=${home}`);
  return out;
}

export function hostnameOf(cfg: ContainerConfig): string {
  return cfg.hostname || cfg.id.slice(0, 12);
}

/** Everything buildOciSpec needs from the rootfs: user ids (from its /etc files), args, env, cwd. */
export function resolveProcess(cfg: ContainerConfig): ResolvedProcess {
  const user = resolveUser(cfg.rootfs, cfg.user ?? cfg.image.User);
  const cwd = cfg.workdir || cfg.image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new SwarmError('INVALID_ARGUMENT', `working directory ${JSON.stringify(cwd)} is not absolute`, 'give an absolute path such as /app');
  return {
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids,
    args: resolveArgs(cfg),
    env: resolveEnv(cfg, user.home, hostnameOf(cfg)),
    cwd: posix.normalize(cwd).replace(/(.)\/+$/, '$1'),
  };
}

/** The effective health check: the task's fields over the image's (ns), Docker's defaults; undefined = none. */
export function resolveHealthcheck(cfg: ContainerConfig): { args: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number } | undefined {
  const img = cfg.image.Healthcheck;
  const task: HealthcheckSpec | undefined = cfg.healthcheck;
  const test = task?.test && task.test.length > 0 ? task.test : (img?.Test ?? []);
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  let args: string[];
  if (test[0] === 'CMD') args = test.slice(1);
  else if (test[0] === 'CMD-SHELL') args = ['/bin/sh', '-c', test.slice(1).join(' ')];
  else throw new SwarmError('INVALID_ARGUMENT', `health check test must start with CMD, CMD-SHELL or NONE (got ${JSON.stringify(test[0])})`, "write e.g. ['CMD-SHELL', 'curl -f http://localhost/']");
  if (args.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'health check test has no command', "write e.g. ['CMD', '/bin/check']");
  const ms = (taskMs: number | undefined, imgNs: number | undefined, dflt: number): number => (taskMs && taskMs > 0 ? taskMs : imgNs && imgNs > 0 ? imgNs / 1e6 : dflt);
  return {
    args,
    intervalMs: ms(task?.intervalMs, img?.Interval, 30_000),
    timeoutMs: ms(task?.timeoutMs, img?.Timeout, 30_000),
    retries: task?.retries && task.retries > 0 ? task.retries : img?.Retries && img.Retries > 0 ? img.Retries : 3,
    startPeriodMs: ms(task?.startPeriodMs, img?.StartPeriod, 0),
  };
}

export function hostsFileContent(cfg: ContainerConfig): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const h of cfg.hosts ?? []) lines.push(`${h.ip}\t${h.name}`);
  return lines.join('\n') + '\n';
}

/** The task's DNS settings; without them the host's resolv.conf minus loopback servers (as Docker). */
export function resolvConfContent(cfg: ContainerConfig, hostResolvConf: string): string {
  if (cfg.dns) {
    const lines = cfg.dns.nameservers.map((n) => `nameserver ${n}`);
    if (cfg.dns.search?.length) lines.push(`search ${cfg.dns.search.join(' ')}`);
    if (cfg.dns.options?.length) lines.push(`options ${cfg.dns.options.join(' ')}`);
    return lines.join('\n') + '\n';
  }
  const kept = hostResolvConf.split('\n').filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !(/^127\./.test(m[1]!) || m[1] === '::1');
  });
  return kept.join('\n').trimEnd() + '\n';
}

interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

function depth(p: string): number {
  return posix.normalize(p).split('/').filter(Boolean).length;
}

function userMounts(cfg: ContainerConfig, paths: SpecPaths): OciMount[] {
  const out: OciMount[] = [];
  for (const m of cfg.mounts ?? []) {
    if (!m.target || !m.target.startsWith('/')) throw new SwarmError('INVALID_ARGUMENT', `mount target ${JSON.stringify(m.target)} is not an absolute path`, 'give targets as absolute paths inside the container');
    const destination = posix.normalize(m.target);
    const rw = m.readOnly ? 'ro' : 'rw';
    switch (m.type) {
      case 'bind':
        if (!m.source || !m.source.startsWith('/')) throw new SwarmError('INVALID_ARGUMENT', `bind mount source ${JSON.stringify(m.source)} is not an absolute host path`, 'give bind sources as absolute host paths');
        out.push({ destination, type: 'bind', source: m.source, options: ['rbind', rw, 'rprivate'] });
        break;
      case 'volume':
        if (!m.source || !VOLUME_RE.test(m.source)) throw new SwarmError('INVALID_ARGUMENT', `invalid volume name ${JSON.stringify(m.source)}`, 'volume names use [a-zA-Z0-9_.-] and start with a letter or digit');
        out.push({ destination, type: 'bind', source: posix.join(paths.volumesDir, m.source, '_data'), options: ['rbind', rw, 'rprivate'] });
        break;
      case 'tmpfs': {
        const options = ['nosuid', 'nodev', `mode=${(m.tmpfsMode ?? 0o1777).toString(8)}`];
        if (m.tmpfsSizeBytes !== undefined) options.push(`size=${m.tmpfsSizeBytes}`);
        if (m.readOnly) options.push('ro');
        out.push({ destination, type: 'tmpfs', source: 'tmpfs', options });
        break;
      }
      default:
        throw new SwarmError('INVALID_ARGUMENT', `unknown mount type ${JSON.stringify((m as { type: unknown }).type)}`, 'use bind, volume or tmpfs');
    }
  }
  return out;
}

/**
 * The OCI runtime spec for `cfg`. Pure: everything read from the host or the rootfs arrives in
 * `resolved` and `paths`.
 */
export function buildOciSpec(cfg: ContainerConfig, resolved: ResolvedProcess, paths: SpecPaths): object {
  const caps = effectiveCapabilities(cfg.capAdd, cfg.capDrop, paths.hostCapabilities);
  const user = userMounts(cfg, paths);
  const taken = new Set(user.map((m) => m.destination));
  const system: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
  ].filter((m) => !taken.has(m.destination));
  // As Docker: these three follow the root filesystem's writability; a task's own mount at the same path wins.
  const etcMode = cfg.readOnlyRootfs ? 'ro' : 'rw';
  const etc: OciMount[] = [
    { destination: '/etc/hosts', type: 'bind', source: paths.hostsFile, options: ['rbind', etcMode, 'rprivate'] },
    { destination: '/etc/resolv.conf', type: 'bind', source: paths.resolvConfFile, options: ['rbind', etcMode, 'rprivate'] },
    { destination: '/etc/hostname', type: 'bind', source: paths.hostnameFile, options: ['rbind', etcMode, 'rprivate'] },
  ].filter((m) => !taken.has(m.destination));
  const init: OciMount[] = [];
  if (cfg.init) {
    if (!paths.initPath) throw new SwarmError('UNAVAILABLE', 'init requested but no static tini was found on this host', 'install it: apt-get install tini (provides /usr/bin/tini-static)');
    init.push({ destination: INIT_TARGET, type: 'bind', source: paths.initPath, options: ['rbind', 'ro', 'rprivate'] });
  }
  // Parents before children (as Docker sorts), so a mount inside another lands on top of it.
  const sorted = [...user, ...etc, ...init].map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);

  const resources: Record<string, unknown> = { devices: [{ allow: false, access: 'rwm' }] };
  const r = cfg.resources ?? {};
  if (r.memoryBytes !== undefined) {
    if (!(r.memoryBytes > 0)) throw new SwarmError('INVALID_ARGUMENT', `memory limit must be positive (got ${r.memoryBytes})`);
    resources.memory = paths.swapAccounting ? { limit: r.memoryBytes, swap: r.memoryBytes } : { limit: r.memoryBytes };
  }
  if (r.nanoCpus !== undefined) {
    if (!(r.nanoCpus > 0)) throw new SwarmError('INVALID_ARGUMENT', `cpu limit must be positive (got ${r.nanoCpus})`);
    const period = 100_000;
    resources.cpu = { period, quota: Math.max(1000, Math.round((r.nanoCpus * period) / 1e9)) };
  }
  if (r.pidsLimit !== undefined) {
    if (!(r.pidsLimit > 0)) throw new SwarmError('INVALID_ARGUMENT', `pids limit must be positive (got ${r.pidsLimit})`);
    resources.pids = { limit: r.pidsLimit };
  }

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: resolved.uid, gid: resolved.gid, ...(resolved.additionalGids.length ? { additionalGids: resolved.additionalGids } : {}) },
      args: resolved.args,
      env: resolved.env,
      cwd: resolved.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: false,
    },
    root: { path: cfg.rootfs, readonly: cfg.readOnlyRootfs === true },
    hostname: hostnameOf(cfg),
    mounts: [...system, ...sorted],
    annotations: { ...(cfg.labels ?? {}) },
    linux: {
      cgroupsPath: paths.cgroupsPath,
      resources,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, cfg.netnsPath ? { type: 'network', path: cfg.netnsPath } : { type: 'network' }],
      maskedPaths: [
        '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}
