// Several "hosts" on one machine: one network namespace per host, each with a veth into a bridge
// in the root namespace (the underlay). The bridge has no address and no namespace has a default
// route, so nothing the tests do can leave the machine or reach the root namespace's networks.
// Real `swarm daemon` processes run inside the host namespaces; the CLI talks to them through
// their unix sockets (files, reachable from the root namespace).
//
// Commands enter a host with `nsenter --net=/var/run/netns/NS`, not `ip netns exec`: the latter
// also remounts /sys in a private mount namespace, which hides /sys/fs/cgroup from the daemon and
// the OCI runtime it starts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest, CLI, runCli, runCommand, waitFor, type CliResult } from '../cluster/harness.js';
import { killLeftoverContainers, unmountUnder } from '../support/leftovers.js';

export type { CliResult };

const SWARM_PORT = 2377;

export interface NetnsHost {
  /** The node's hostname, `host<i>`. */
  name: string;
  /** The network namespace (under /var/run/netns). */
  netns: string;
  /** The underlay address, without prefix length. */
  ip: string;
}

export interface NetnsHarnessOptions {
  hosts: number;
  /** An explicit underlay, e.g. '10.220.7.0/24'; by default a free random /24 in 10.220.0.0/16. */
  subnet?: string;
}

interface Daemon {
  proc: ChildProcess;
  output: string;
  dataDir: string;
  socket: string;
}

function run(cmd: string, args: string[]): CliResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The 10.220.X octets used by any IPv4 address or route in the root namespace or in existing namespaces. */
function usedThirdOctets(): Set<number> {
  const texts = [run('ip', ['-4', '-o', 'addr', 'show']).stdout, run('ip', ['-4', 'route', 'show', 'table', 'all']).stdout];
  for (const line of run('ip', ['netns', 'list']).stdout.split('\n')) {
    const ns = line.split(' ')[0];
    if (ns) texts.push(run('ip', ['-n', ns, '-4', '-o', 'addr', 'show']).stdout);
  }
  const used = new Set<number>();
  for (const m of texts.join('\n').matchAll(/\b10\.220\.(\d+)\.\d+/g)) used.add(Number(m[1]));
  // A wider route (10.220.0.0/16, 10.0.0.0/8) would overlap every /24: refuse all of them.
  if (/\b10\.(0\.0\.0\/8|220\.0\.0\/1[0-6])\b/.test(texts.join('\n'))) for (let i = 0; i < 256; i++) used.add(i);
  return used;
}

function pickSubnet(): string {
  const used = usedThirdOctets();
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((x) => !used.has(x));
  if (free.length === 0) throw new Error('no free /24 left in 10.220.0.0/16');
  const x = free[randomBytes(2).readUInt16BE(0) % free.length]!;
  return `10.220.${x}.0/24`;
}

/** Harnesses not cleaned up yet, for the best-effort cleanup at process exit. */
const live = new Set<NetnsHarness>();
let exitHookInstalled = false;

export class NetnsHarness {
  readonly dir: string;
  readonly prefix: string;
  readonly bridge: string;
  readonly subnet: string;
  private readonly hosts: NetnsHost[] = [];
  private readonly daemons = new Map<number, Daemon>();
  private cleaned = false;

  private constructor(label: string, opts: NetnsHarnessOptions) {
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 99) throw new Error(`hosts must be 1..99, got ${opts.hosts}`);
    this.prefix = `sw${randomBytes(2).toString('hex')}`;
    this.bridge = `${this.prefix}br`;
    this.subnet = opts.subnet ?? pickSubnet();
    const m = /^10\.220\.(\d{1,3})\.0\/24$/.exec(this.subnet);
    if (!m || Number(m[1]) > 255) throw new Error(`subnet must be a /24 inside 10.220.0.0/16, got ${this.subnet}`);
    for (let i = 0; i < opts.hosts; i++) this.hosts.push({ name: `host${i}`, netns: `${this.prefix}h${i}`, ip: `10.220.${m[1]}.${i + 1}` });
    this.dir = mkdtempSync(join(tmpdir(), `swarm-net-${label}-`));
  }

  /** Builds the underlay. Needs root. Call cleanup() in afterAll/afterEach. */
  static create(label: string, opts: NetnsHarnessOptions): NetnsHarness {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the net tests`);
    const h = new NetnsHarness(label, opts);
    live.add(h);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const x of live) x.cleanupSync();
      });
    }
    try {
      h.build();
    } catch (err) {
      h.cleanupSync();
      throw err;
    }
    return h;
  }

  /** Task namespaces of this run's daemons start with this, so cleanup finds them. */
  get taskNetnsPrefix(): string {
    return `${this.prefix}t`;
  }

  /** Host i's own task namespace prefix (a daemon's teardown removes every namespace with its prefix). */
  hostNetnsPrefix(i: number): string {
    return `${this.taskNetnsPrefix}${i}-`;
  }

  private vethName(i: number): string {
    return `${this.prefix}v${i}`;
  }

  private build(): void {
    must('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    must('ip', ['link', 'set', this.bridge, 'up']);
    for (let i = 0; i < this.hosts.length; i++) {
      const { netns, ip } = this.hosts[i]!;
      must('ip', ['netns', 'add', netns]);
      must('ip', ['link', 'add', this.vethName(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      must('ip', ['link', 'set', this.vethName(i), 'master', this.bridge, 'up']);
      must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      must('ip', ['-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      must('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    }
  }

  get size(): number {
    return this.hosts.length;
  }

  host(i: number): NetnsHost {
    const h = this.hosts[i];
    if (!h) throw new Error(`no host ${i} (this harness has ${this.hosts.length})`);
    return { ...h };
  }

  private nsenter(i: number): string[] {
    return [`--net=/var/run/netns/${this.host(i).netns}`, '--'];
  }

  /** Runs a command inside host i's network namespace. */
  exec(i: number, cmd: string[], timeoutMs = 30_000): Promise<CliResult> {
    return runCommand('nsenter', [...this.nsenter(i), ...cmd], timeoutMs);
  }

  hostDir(i: number): string {
    return join(this.dir, this.host(i).name);
  }

  socket(i: number): string {
    return join(this.hostDir(i), 'api.sock');
  }

  /** `IP:2377`, where host i's daemon listens and advertises itself. */
  addr(i: number): string {
    return `${this.host(i).ip}:${SWARM_PORT}`;
  }

  /** Whether host i's daemon process is running (started, and neither killed nor exited). */
  daemonRunning(i: number): boolean {
    const proc = this.daemons.get(i)?.proc;
    return proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  }

  /** Starts `swarm daemon` inside host i and waits until it listens. */
  async startDaemon(i: number, opts: { logLevel?: string; extraArgs?: string[] } = {}): Promise<void> {
    if (this.daemonRunning(i)) throw new Error(`${this.host(i).name}'s daemon is already running`);
    const dataDir = join(this.hostDir(i), 'data');
    mkdirSync(this.hostDir(i), { recursive: true });
    const args = [
      ...this.nsenter(i),
      process.execPath,
      CLI,
      'daemon',
      '--data-dir',
      dataDir,
      '--listen-addr',
      this.addr(i),
      '--advertise-addr',
      this.addr(i),
      '--api-socket',
      this.socket(i),
      '--hostname',
      this.host(i).name,
      '--log-level',
      opts.logLevel ?? 'warn',
      '--netns-prefix',
      this.hostNetnsPrefix(i),
      ...(opts.extraArgs ?? []),
    ];
    // nsenter execs the command (no fork without --pid), so the child's pid is the daemon's.
    const proc = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const d: Daemon = { proc, output: '', dataDir, socket: this.socket(i) };
    this.daemons.set(i, d);
    proc.stdout?.on('data', (b: Buffer) => (d.output += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (d.output += b.toString()));
    await waitFor(
      () => {
        if (proc.exitCode !== null) throw new Error(`${this.host(i).name} exited with ${proc.exitCode}: ${d.output.slice(-2000)}`);
        return d.output.includes('swarm daemon listening') ? true : undefined;
      },
      `${this.host(i).name}'s daemon to start`,
      15_000,
      20,
    );
  }

  /** Kills host i's daemon (SIGKILL by default: a crash). */
  async stopDaemon(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.daemons.get(i)?.proc;
    if (!proc || !this.daemonRunning(i)) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill(signal);
    await exited;
  }

  daemonLogs(i: number): string {
    return this.daemons.get(i)?.output ?? '';
  }

  /** Runs the real CLI (in the root namespace) against host i's API socket. */
  cli(i: number, ...args: string[]): Promise<CliResult> {
    return runCli(this.socket(i), args);
  }

  /** One API request to host i's daemon. */
  api<T = unknown>(i: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    return apiRequest<T>(this.socket(i), method, path, body);
  }

  /** Runs the CLI and fails with its output when it exits non-zero. */
  async ok(i: number, ...args: string[]): Promise<string> {
    const r = await this.cli(i, ...args);
    if (r.code !== 0) throw new Error(`swarm ${args.join(' ')} on ${this.host(i).name} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /**
   * Starts every host's daemon that is not running, inits on host 0, joins hosts 1..managers-1 as
   * managers and the rest as workers, and waits until `node ls` on host 0 shows all of them Ready.
   * With `nodes`, only hosts 0..nodes-1 join; the others stay bare (clients from outside the swarm).
   */
  async formCluster(opts: { managers: number; nodes?: number; timeoutMs?: number } = { managers: 1 }): Promise<void> {
    const n = opts.nodes ?? this.hosts.length;
    if (!Number.isInteger(n) || n < 1 || n > this.hosts.length) throw new Error(`nodes must be 1..${this.hosts.length}, got ${n}`);
    if (opts.managers < 1 || opts.managers > n) throw new Error(`managers must be 1..${n}, got ${opts.managers}`);
    await Promise.all(
      this.hosts.slice(0, n).map(async (_, i) => {
        if (!this.daemonRunning(i)) await this.startDaemon(i);
      }),
    );
    const init = await this.ok(0, 'init', '--advertise-addr', this.addr(0));
    const m = /swarm join --token (\S+) (\S+)/.exec(init);
    if (!m) throw new Error(`no join command in: ${init}`);
    const workerToken = m[1]!;
    const joinAddr = m[2]!;
    const managerToken = opts.managers > 1 ? (await this.ok(0, 'join-token', '-q', 'manager')).trim() : '';
    for (let i = 1; i < n; i++) {
      await this.ok(i, 'join', '--token', i < opts.managers ? managerToken : workerToken, '--advertise-addr', this.addr(i), joinAddr);
    }
    await waitFor(
      async () => {
        const r = await this.cli(0, 'node', 'ls');
        if (r.code !== 0) return undefined;
        const rows = r.stdout.split('\n').slice(1).filter((l) => l.trim() !== '');
        return rows.length === n && rows.every((l) => /\sReady\s/.test(l)) ? true : undefined;
      },
      `node ls on ${this.host(0).name} to show ${n} Ready nodes`,
      opts.timeoutMs ?? 30_000,
      100,
    );
  }

  /** Kills daemons and their containers, unmounts, deletes veths, namespaces, bridge, files. Idempotent. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    await Promise.all([...this.daemons.keys()].map((i) => this.stopDaemon(i, 'SIGKILL')));
    this.cleanupSync();
  }

  /** The synchronous part of cleanup(), also used at process exit. */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    live.delete(this);
    for (const d of this.daemons.values()) {
      if (d.proc.exitCode === null && d.proc.signalCode === null) {
        try {
          d.proc.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    // Killed daemons leave their containers running: kill them, as ClusterHarness.cleanup does.
    killLeftoverContainers([...this.daemons.values()].map((d) => d.dataDir));
    unmountUnder(this.dir);
    // Veths first (deleting one end deletes both), then namespaces, then the bridge: `ip netns del`
    // is asynchronous, and a device still inside a dying namespace can block a rebuild.
    const links = run('ip', ['-o', 'link', 'show']).stdout;
    for (let i = 0; i < this.hosts.length; i++) {
      const veth = this.vethName(i);
      if (links.includes(` ${veth}@`) || links.includes(` ${veth}:`)) run('ip', ['link', 'del', veth]);
    }
    const namespaces = run('ip', ['netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
    // Task namespaces: their veths live in the host namespaces deleted below.
    for (const ns of namespaces) if (ns.startsWith(this.taskNetnsPrefix)) run('ip', ['netns', 'del', ns]);
    for (const h of this.hosts) {
      if (!namespaces.includes(h.netns)) continue;
      // Anything else the tests made in the namespace (overlay bridges, vxlan devices, task veths).
      const inner = run('ip', ['-n', h.netns, '-o', 'link', 'show']).stdout;
      for (const m of inner.matchAll(/^\d+: ([^:@\s]+)/gm)) {
        if (m[1] !== 'lo') run('ip', ['-n', h.netns, 'link', 'del', m[1]!]);
      }
      run('ip', ['netns', 'del', h.netns]);
    }
    if (links.includes(` ${this.bridge}:`)) run('ip', ['link', 'del', this.bridge]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
