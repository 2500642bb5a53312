// Where a chaos run's swarm lives: the hosts the suite kills, restarts, faults and inspects.
//
// - NetnsHosts: namespace hosts of test/net (NetnsHarness), a fresh swarm per scenario; a daemon
//   killed is only the daemon (its containers keep running, as after a daemon crash); a bare
//   client host outside the swarm.
// - ComposeHosts: the running cluster of docker-compose.test.yml, one container per node, reused
//   by every scenario of the run; a node killed is its whole container (`docker kill -s KILL`:
//   the daemon and its task containers die together, as in a host crash), restarted with
//   `docker start`; the client is the machine the suite runs on.
//
// Everything the suite does inside a host goes through exec(): in the host's network namespace
// (netns) or inside its container (compose), so the checks read what the node itself sees.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirs } from '../../node/runtime/index.js';
import { apiRequest, runCommand, waitFor, type CliResult } from '../cluster/harness.js';
import { NetnsHarness } from '../net/netns-harness.js';

/** What Faults needs of the hosts it breaks: indexes 0..size-1. */
export interface FaultHosts {
  readonly size: number;
  /** The underlay subnet (CIDR) every host's eth0 is on. */
  readonly subnet: string;
  /** Host i's name, which is also its swarm node's hostname. */
  name(i: number): string;
  /** Host i's underlay address (eth0), without prefix length. */
  ip(i: number): string;
  /** Runs a command in host i (its network namespace; for compose, inside its container). */
  exec(i: number, cmd: string[], timeoutMs?: number): Promise<CliResult>;
  /** Whether host i can be reached by exec (its namespace or container exists and runs). */
  alive(i: number): boolean;
  /** A directory for a small tmpfs holding host i's data, and the mount's source name; absent where the target cannot. */
  smallDisk?(i: number): { dir: string; source: string };
}

export interface ChaosHosts extends FaultHosts {
  /** The cluster outlives the run (compose): the suite leaves it as it found it. */
  readonly shared: boolean;
  readonly managers: readonly number[];
  readonly workers: readonly number[];
  /** The faultable host the published service's client runs in; undefined: the suite's own machine. */
  readonly client: number | undefined;
  /** A directory on the suite's machine for its own files (images, compose files). */
  readonly scratch: string;
  /** Host i's API socket, reachable from the suite's machine. */
  socket(i: number): string;
  /** nsenter arguments that put a command where the client runs. */
  clientNsenterArgs(): string[];
  /** Whether host i's daemon runs (not killed, not exited). */
  isUp(i: number): boolean;
  /** Kills host i's daemon with SIGKILL (compose: its whole node). */
  kill(i: number): Promise<void>;
  /** Starts host i's daemon again and waits until its API answers. */
  start(i: number): Promise<void>;
  daemonLogs(i: number): Promise<string>;
  /** The prefix of the task network namespaces of host i's daemon. */
  taskNetnsPrefix(i: number): string;
  /** Host i's runtime data directory, as exec(i) sees it. */
  runtimeDir(i: number): string;
  /** The cgroup directories left of these containers (the executor's default parent), as the hosts see them. */
  cgroupsOf(containerIds: readonly string[]): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** FaultHosts over a NetnsHarness (all its hosts, daemons or not). */
export function netnsFaultHosts(h: NetnsHarness): FaultHosts {
  return {
    size: h.size,
    subnet: h.subnet,
    name: (i) => h.host(i).name,
    ip: (i) => h.host(i).ip,
    exec: (i, cmd, timeoutMs) => h.exec(i, cmd, timeoutMs),
    alive: (i) => existsSync(`/var/run/netns/${h.host(i).netns}`),
    smallDisk: (i) => ({ dir: join(h.hostDir(i), 'data'), source: `chaos-${h.prefix}-h${i}` }),
  };
}

export interface NetnsHostsOptions {
  label: string;
  managers: number;
  workers: number;
  /** The daemons' log level, on every start and restart (default: the harness's). */
  daemonLogLevel?: string;
  /** Runs once the hosts exist, before any daemon starts (a small disk is mounted then). */
  prepare?: (hosts: NetnsHosts) => void | Promise<void>;
}

/** Managers 0..m-1, workers after them, then one bare client host; a swarm formed on them. */
export class NetnsHosts implements ChaosHosts {
  readonly shared = false;
  readonly managers: number[];
  readonly workers: number[];
  readonly client: number;
  private readonly faultHosts: FaultHosts;

  private constructor(
    readonly h: NetnsHarness,
    private readonly opts: NetnsHostsOptions,
  ) {
    this.managers = Array.from({ length: opts.managers }, (_, i) => i);
    this.workers = Array.from({ length: opts.workers }, (_, i) => opts.managers + i);
    this.client = opts.managers + opts.workers;
    this.faultHosts = netnsFaultHosts(h);
  }

  static async create(opts: NetnsHostsOptions): Promise<NetnsHosts> {
    const h = NetnsHarness.create(opts.label, { hosts: opts.managers + opts.workers + 1 });
    const hosts = new NetnsHosts(h, opts);
    try {
      await opts.prepare?.(hosts);
      const level = opts.daemonLogLevel;
      if (level) await Promise.all([...hosts.managers, ...hosts.workers].map((i) => h.startDaemon(i, { logLevel: level })));
      await h.formCluster({ managers: opts.managers, nodes: opts.managers + opts.workers, timeoutMs: 60_000 });
    } catch (err) {
      await h.cleanup();
      throw err;
    }
    return hosts;
  }

  get size(): number {
    return this.h.size;
  }
  get subnet(): string {
    return this.h.subnet;
  }
  get scratch(): string {
    return this.h.dir;
  }
  name(i: number): string {
    return this.h.host(i).name;
  }
  ip(i: number): string {
    return this.h.host(i).ip;
  }
  isUp(i: number): boolean {
    return this.h.daemonRunning(i);
  }
  exec(i: number, cmd: string[], timeoutMs?: number): Promise<CliResult> {
    return this.faultHosts.exec(i, cmd, timeoutMs);
  }
  alive(i: number): boolean {
    return this.faultHosts.alive(i);
  }
  smallDisk(i: number): { dir: string; source: string } {
    return this.faultHosts.smallDisk!(i);
  }
  socket(i: number): string {
    return this.h.socket(i);
  }
  clientNsenterArgs(): string[] {
    return [`--net=/var/run/netns/${this.h.host(this.client).netns}`];
  }
  kill(i: number): Promise<void> {
    return this.h.stopDaemon(i, 'SIGKILL');
  }
  start(i: number): Promise<void> {
    return this.h.startDaemon(i, this.opts.daemonLogLevel ? { logLevel: this.opts.daemonLogLevel } : {});
  }
  daemonLogs(i: number): Promise<string> {
    return Promise.resolve(this.h.daemonLogs(i));
  }
  taskNetnsPrefix(i: number): string {
    return this.h.hostNetnsPrefix(i);
  }
  runtimeDir(i: number): string {
    return join(this.h.hostDir(i), 'data', 'runtime');
  }
  cgroupsOf(containerIds: readonly string[]): Promise<string[]> {
    // Every namespace host shares this machine's cgroup tree.
    return Promise.resolve(containerIds.flatMap((id) => cgroupDirs(`/swarm/${id}`)));
  }
  cleanup(): Promise<void> {
    return this.h.cleanup();
  }
}

/** A command in the suite's own namespaces, with the default deadline of exec. */
const run = (cmd: string, args: string[], timeoutMs = 30_000): Promise<CliResult> => runCommand(cmd, args, timeoutMs);

/** The compose services of docker-compose.test.yml the suite drives: managers, then workers. */
const MANAGER_SERVICE = /^manager\d+$/;
const WORKER_SERVICE = /^worker\d+$/;
/** Where docker-compose.test.yml mounts each node's API socket directory. */
const SOCKET_DIR_IN_NODE = '/run/swarm';
const DATA_DIR_IN_NODE = '/var/lib/swarm';
/** The daemon's default task namespace prefix (the entrypoint sets none). */
const NODE_NETNS_PREFIX = 'swt-';

interface ComposeNode {
  service: string;
  container: string;
  ip: string;
  prefixLen: number;
  socket: string;
}

/** What `docker inspect` tells of a node container (the fields read here). */
interface Inspected {
  Id: string;
  State: { Running: boolean };
  Config: { Hostname: string; Labels?: Record<string, string> };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; IPPrefixLen: number }> };
  Mounts: Array<{ Source: string; Destination: string }>;
}

export interface ComposeHostsOptions {
  /** The compose project; found from the running containers when there is exactly one. */
  project?: string;
  /** The docker CLI (default: $SWARM_TEST_DOCKER, else `docker` on PATH). */
  docker?: string;
  scratch: string;
}

/** The nodes of a running docker-compose.test.yml project. */
export class ComposeHosts implements ChaosHosts {
  readonly shared = true;
  readonly managers: number[];
  readonly workers: number[];
  readonly client = undefined;
  readonly subnet: string;
  private readonly down = new Set<number>();

  private constructor(
    private readonly docker: string,
    readonly project: string,
    private readonly nodes: ComposeNode[],
    readonly scratch: string,
  ) {
    this.managers = nodes.map((n, i) => (MANAGER_SERVICE.test(n.service) ? i : -1)).filter((i) => i >= 0);
    this.workers = nodes.map((n, i) => (WORKER_SERVICE.test(n.service) ? i : -1)).filter((i) => i >= 0);
    const first = nodes[0]!;
    const [a, b, c] = first.ip.split('.').map(Number) as [number, number, number];
    if (first.prefixLen !== 24) throw new Error(`the compose network of ${project} is a /${first.prefixLen}; docker-compose.test.yml makes a /24`);
    this.subnet = `${a}.${b}.${c}.0/24`;
  }

  /** Finds the project's node containers; each must run and its API answer. */
  static async attach(opts: ComposeHostsOptions): Promise<ComposeHosts> {
    const docker = opts.docker ?? process.env.SWARM_TEST_DOCKER ?? 'docker';
    const version = await run(docker, ['version', '--format', '{{.Server.Version}}']);
    if (version.code !== 0) throw new Error(`--target compose: \`${docker} version\` failed (is dockerd reachable? DOCKER_HOST=${process.env.DOCKER_HOST ?? ''}): ${version.stderr.trim()}`);
    let project = opts.project;
    if (project === undefined) {
      const r = await run(docker, ['ps', '-a', '--filter', 'label=com.docker.compose.service=manager1', '--format', '{{.Label "com.docker.compose.project"}}']);
      const projects = [...new Set(r.stdout.split('\n').filter((x) => x !== ''))];
      if (projects.length !== 1) {
        throw new Error(
          projects.length === 0
            ? '--target compose: no docker-compose.test.yml cluster found (no container of a service manager1); bring it up first: docker compose -f docker-compose.test.yml up -d --build'
            : `--target compose: ${projects.length} compose projects have a manager1 (${projects.join(', ')}); pick one with --compose-project`,
        );
      }
      project = projects[0]!;
    }
    const ids = (await run(docker, ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter((x) => x !== '');
    if (ids.length === 0) throw new Error(`--compose-project: no containers of compose project ${JSON.stringify(project)}`);
    const r = await run(docker, ['inspect', ...ids]);
    if (r.code !== 0) throw new Error(`docker inspect: ${r.stderr.trim()}`);
    const found = (JSON.parse(r.stdout) as Inspected[])
      .map((x) => ({ x, service: x.Config.Labels?.['com.docker.compose.service'] ?? '' }))
      .filter(({ service }) => MANAGER_SERVICE.test(service) || WORKER_SERVICE.test(service));
    // managers first, then workers, each by number
    const key = (s: string): number => (MANAGER_SERVICE.test(s) ? 0 : 1000) + Number(/\d+$/.exec(s)![0]);
    found.sort((p, q) => key(p.service) - key(q.service));
    const nodes: ComposeNode[] = [];
    for (const { x, service } of found) {
      if (!x.State.Running) throw new Error(`--target compose: node ${service} of ${project} is not running; start it (docker compose -f docker-compose.test.yml up -d)`);
      const net = Object.values(x.NetworkSettings.Networks)[0];
      if (!net?.IPAddress) throw new Error(`--target compose: node ${service} has no address on a compose network`);
      const mount = x.Mounts.find((m) => m.Destination === SOCKET_DIR_IN_NODE);
      if (!mount) throw new Error(`--target compose: node ${service} does not mount ${SOCKET_DIR_IN_NODE} from the host (not a docker-compose.test.yml node)`);
      nodes.push({ service, container: x.Id, ip: net.IPAddress, prefixLen: net.IPPrefixLen, socket: join(mount.Source, 'swarm.sock') });
    }
    const managers = nodes.filter((n) => MANAGER_SERVICE.test(n.service)).length;
    if (managers < 3 || nodes.length - managers < 2) {
      throw new Error(`--target compose: ${project} has ${managers} managers and ${nodes.length - managers} workers; the suite needs at least 3 and 2`);
    }
    const hosts = new ComposeHosts(docker, project, nodes, opts.scratch);
    for (let i = 0; i < nodes.length; i++) await hosts.waitApi(i, 120_000);
    return hosts;
  }

  get size(): number {
    return this.nodes.length;
  }
  private node(i: number): ComposeNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node ${i} (the compose cluster has ${this.nodes.length})`);
    return n;
  }
  name(i: number): string {
    return this.node(i).service;
  }
  ip(i: number): string {
    return this.node(i).ip;
  }
  isUp(i: number): boolean {
    return this.alive(i);
  }
  exec(i: number, cmd: string[], timeoutMs?: number): Promise<CliResult> {
    return run(this.docker, ['exec', this.node(i).container, ...cmd], timeoutMs);
  }
  alive(i: number): boolean {
    return !this.down.has(i);
  }
  socket(i: number): string {
    return this.node(i).socket;
  }
  clientNsenterArgs(): string[] {
    return [];
  }

  async kill(i: number): Promise<void> {
    this.down.add(i);
    const r = await run(this.docker, ['kill', '--signal', 'KILL', this.node(i).container]);
    if (r.code !== 0 && !/is not running/.test(r.stderr)) throw new Error(`docker kill ${this.name(i)}: ${r.stderr.trim()}`);
    await waitFor(async () => ((await this.running(i)) ? undefined : true), `${this.name(i)}'s container to stop`, 30_000, 50);
  }

  async start(i: number): Promise<void> {
    const r = await run(this.docker, ['start', this.node(i).container]);
    if (r.code !== 0) throw new Error(`docker start ${this.name(i)}: ${r.stderr.trim()}`);
    await this.waitApi(i, 60_000);
    this.down.delete(i);
  }

  async daemonLogs(i: number): Promise<string> {
    const r = await run(this.docker, ['logs', this.node(i).container]);
    return r.stdout + r.stderr;
  }
  taskNetnsPrefix(): string {
    return NODE_NETNS_PREFIX;
  }
  runtimeDir(): string {
    return join(DATA_DIR_IN_NODE, 'runtime');
  }

  async cgroupsOf(containerIds: readonly string[]): Promise<string[]> {
    if (containerIds.length === 0) return [];
    // Each node has its own cgroup tree: ask the runtime's own lookup, run inside every node.
    const script = `import('/opt/swarm/dist/node/runtime/index.js').then((m) => { for (const id of process.argv.slice(1)) for (const d of m.cgroupDirs('/swarm/' + id)) console.log(d); })`;
    const out = await Promise.all(
      this.nodes.map(async (_, i) => {
        if (!this.alive(i)) return [];
        const r = await this.exec(i, ['node', '--input-type=module', '-e', script, ...containerIds]);
        if (r.code !== 0) throw new Error(`cgroup lookup on ${this.name(i)} exited ${r.code}: ${r.stderr.trim()}`);
        return r.stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((d) => `${this.name(i)}:${d}`);
      }),
    );
    return out.flat();
  }

  /** Starts every node the run killed (a failed scenario may leave some down). */
  async cleanup(): Promise<void> {
    for (const i of [...this.down]) await this.start(i).catch(() => undefined);
  }

  private async running(i: number): Promise<boolean> {
    const r = await run(this.docker, ['inspect', '--format', '{{.State.Running}}', this.node(i).container]);
    return r.stdout.trim() === 'true';
  }

  private async waitApi(i: number, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => ((await apiRequest(this.socket(i), 'GET', '/_ping', undefined, { timeoutMs: 1_000 }).catch(() => undefined))?.status === 200 ? true : undefined),
      `${this.name(i)}'s API on ${this.socket(i)}`,
      timeoutMs,
      100,
    );
  }
}
