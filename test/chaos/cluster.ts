// The cluster a chaos scenario breaks, on namespace hosts or on the docker-compose.test.yml nodes
// (hosts.ts): managers, workers and, for namespace hosts, a bare client host outside the swarm;
// managers drained, as production swarms run them, so faults on managers test the control plane
// and faults on workers the data plane. A stack with a published, health-checked web service and a
// service the API workload scales. A shared (compose) cluster is left as it was found: the stack
// removed and the managers' availability restored.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeObject, ServiceObject, TaskObject } from '../../node/store/types.js';
import { apiRequest, runCli, waitFor, type CliResult } from '../cluster/harness.js';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import type { ChaosHosts } from './hosts.js';

export const STACK = 'chaos';
export const WEB = `${STACK}_web`;
/** The service the API workload scales. */
export const SCALED = `${STACK}_scaled`;
export const WEB_PORT = 8080;
export const WEB_REPLICAS = 4;
const IMAGE = 'busybox:chaos';

/** What one manager says of its own Raft state (GET /swarm/raft). */
export interface RaftView {
  NodeID: string;
  Role: string;
  Term: number;
  Leader: string;
  CommitIndex: number;
  AppliedIndex: number;
  StoreDigest: string;
}

function compose(): string {
  return [
    'services:',
    '  web:',
    `    image: ${IMAGE}`,
    `    command: ["sh", "-c", "mkdir -p /www && echo web $$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"]`,
    `    ports: ["${WEB_PORT}:80"]`,
    '    init: true',
    '    stop_grace_period: 2s',
    '    healthcheck:',
    `      test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | busybox nc -w 1 127.0.0.1 80 | grep -q 200"]`,
    '      interval: 300ms',
    '      retries: 2',
    '    deploy:',
    `      replicas: ${WEB_REPLICAS}`,
    '      update_config: { parallelism: 1, order: start-first, delay: 200ms }',
    '  scaled:',
    `    image: ${IMAGE}`,
    '    command: ["sleep", "3600"]',
    '    init: true',
    '    stop_grace_period: 1s',
    '    deploy:',
    '      replicas: 2',
    '',
  ].join('\n');
}

export class ChaosCluster {
  readonly managers: readonly number[];
  readonly workers: readonly number[];
  /** The host the published service's client runs in (undefined: the suite's own machine). */
  readonly client: number | undefined;
  private nodeIds = new Map<number, string>();
  /** A shared cluster's managers' availability before the run, restored by cleanup(). */
  private readonly availability = new Map<number, string>();

  private constructor(readonly hosts: ChaosHosts) {
    this.managers = hosts.managers;
    this.workers = hosts.workers;
    this.client = hosts.client;
  }

  /** Drains the managers, deploys the stack and waits until it runs. */
  static async create(hosts: ChaosHosts): Promise<ChaosCluster> {
    const c = new ChaosCluster(hosts);
    try {
      const m0 = c.managers[0]!;
      const nodes = (await c.api<NodeObject[]>(m0, 'GET', '/nodes')).body;
      for (const i of [...c.managers, ...c.workers]) {
        // Every node's daemon runs with its host's name as hostname.
        const n = nodes.find((x) => x.Description.Hostname === hosts.name(i));
        if (!n) throw new Error(`no swarm node has the hostname ${hosts.name(i)} (nodes: ${nodes.map((x) => x.Description.Hostname).join(', ')})`);
        c.nodeIds.set(i, n.ID);
        if (c.managers.includes(i)) c.availability.set(i, n.Spec.Availability);
      }
      if (hosts.shared) await c.removeStack();
      for (const m of c.managers) await c.ok(m0, 'node', 'update', '--availability', 'drain', c.nodeId(m));
      const dir = join(hosts.scratch, 'stack');
      mkdirSync(dir, { recursive: true });
      await writeBusyboxImageArchive(join(dir, 'busybox.tar'), { name: IMAGE, format: 'docker' });
      await c.ok(m0, 'image', 'load', '-i', join(dir, 'busybox.tar'));
      writeFileSync(join(dir, 'compose.yml'), compose());
      await c.ok(m0, 'stack', 'deploy', '-c', join(dir, 'compose.yml'), STACK);
      await c.converged(120_000);
    } catch (err) {
      await c.cleanup();
      throw err;
    }
    return c;
  }

  /** Runs the real CLI against host i's API socket. */
  cli(i: number, ...args: string[]): Promise<CliResult> {
    return runCli(this.hosts.socket(i), args);
  }

  /** Runs the CLI and fails with its output when it exits non-zero. */
  async ok(i: number, ...args: string[]): Promise<string> {
    const r = await this.cli(i, ...args);
    if (r.code !== 0) throw new Error(`swarm ${args.join(' ')} on ${this.host(i)} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  host(i: number): string {
    return this.hosts.name(i);
  }

  nodeId(i: number): string {
    const id = this.nodeIds.get(i);
    if (!id) throw new Error(`no node id known for host ${i}`);
    return id;
  }

  hostOf(nodeId: string): number | undefined {
    for (const [i, id] of this.nodeIds) if (id === nodeId) return i;
    return undefined;
  }

  isUp(i: number): boolean {
    return this.hosts.isUp(i);
  }

  liveManagers(): number[] {
    return this.managers.filter((m) => this.isUp(m));
  }

  /** One API request with a deadline: a partitioned manager may not answer at all. */
  api<T>(i: number, method: string, path: string, body?: unknown, timeoutMs = 3_000): Promise<{ status: number; body: T }> {
    return apiRequest<T>(this.hosts.socket(i), method, path, body, { timeoutMs });
  }

  async raft(i: number): Promise<RaftView | undefined> {
    const r = await this.api<RaftView>(i, 'GET', '/swarm/raft', undefined, 1_000).catch(() => undefined);
    return r?.status === 200 ? r.body : undefined;
  }

  /** The host whose manager leads with a majority of live managers agreeing, if any. */
  async leader(): Promise<number | undefined> {
    const views = (await Promise.all(this.liveManagers().map((m) => this.raft(m)))).filter((v): v is RaftView => v !== undefined);
    const lead = views.find((v) => v.Role === 'leader');
    if (!lead) return undefined;
    const agreeing = views.filter((v) => v.Leader === lead.NodeID && v.Term === lead.Term).length;
    return agreeing > this.managers.length / 2 ? this.hostOf(lead.NodeID) : undefined;
  }

  async waitLeader(what: string, timeoutMs = 30_000, unlike?: number): Promise<number> {
    return waitFor(
      async () => {
        const l = await this.leader();
        return l !== undefined && l !== unlike ? l : undefined;
      },
      what,
      timeoutMs,
      25,
    );
  }

  /** A manager that answers reads (the leader when there is one). */
  async anyManager(): Promise<number> {
    const l = await this.leader();
    if (l !== undefined) return l;
    for (const m of this.liveManagers()) if ((await this.api(m, 'GET', '/_ping', undefined, 1_000).catch(() => undefined))?.status === 200) return m;
    throw new Error('no manager answers');
  }

  /** A list from manager m; rejects unless it answers (no quorum, say). */
  private async list<T>(m: number, path: string): Promise<T[]> {
    const r = await this.api<T[]>(m, 'GET', path);
    if (r.status !== 200 || !Array.isArray(r.body)) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async tasks(): Promise<TaskObject[]> {
    return this.list<TaskObject>(await this.anyManager(), '/tasks');
  }

  async services(): Promise<ServiceObject[]> {
    return this.list<ServiceObject>(await this.anyManager(), '/services');
  }

  async nodes(): Promise<NodeObject[]> {
    return this.list<NodeObject>(await this.anyManager(), '/nodes');
  }

  /** Services, tasks and nodes from one manager (one leader lookup for the three). */
  async state(): Promise<{ services: ServiceObject[]; tasks: TaskObject[]; nodes: NodeObject[] }> {
    const m = await this.anyManager();
    const [services, tasks, nodes] = await Promise.all([this.list<ServiceObject>(m, '/services'), this.list<TaskObject>(m, '/tasks'), this.list<NodeObject>(m, '/nodes')]);
    return { services, tasks, nodes };
  }

  /** The running tasks of a service (those told to keep running). */
  async runningTasks(service: string): Promise<TaskObject[]> {
    return (await this.tasks()).filter((t) => t.ServiceAnnotations?.Name === service && t.DesiredState === 'running' && t.Status.State === 'running');
  }

  /** SIGKILL of host i's daemon (namespace hosts: its containers keep running, as after a daemon crash; compose: the whole node dies). */
  kill(i: number): Promise<void> {
    return this.hosts.kill(i);
  }

  restart(i: number): Promise<void> {
    return this.hosts.start(i);
  }

  /**
   * Every replicated service at its replica count, one running task per slot on a ready node, no
   * update in progress. Resolves with the time it took.
   */
  async converged(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    await waitFor(async () => ((await this.convergence()) === undefined ? true : undefined), 'the stack to converge', timeoutMs, 200);
    return Date.now() - t0;
  }

  /** Why the stack has not converged, or undefined when it has. */
  async convergence(): Promise<string | undefined> {
    const { services, tasks, nodes } = await this.state();
    const ready = new Set(nodes.filter((n) => n.Status.State === 'ready').map((n) => n.ID));
    for (const s of services) {
      const want = s.Spec.Mode.Replicated?.Replicas;
      if (want === undefined) continue;
      const st = s.UpdateStatus?.State;
      if (st === 'updating' || st === 'rollback_started') return `${s.Spec.Name}: update ${st}`;
      const running = tasks.filter((t) => t.ServiceID === s.ID && t.Status.State === 'running' && t.DesiredState === 'running' && ready.has(t.NodeID ?? ''));
      const slots = new Map<number, number>();
      for (const t of running) slots.set(t.Slot ?? 0, (slots.get(t.Slot ?? 0) ?? 0) + 1);
      for (let slot = 1; slot <= want; slot++) if (slots.get(slot) !== 1) return `${s.Spec.Name}: slot ${slot} has ${slots.get(slot) ?? 0} running tasks`;
      if (running.length !== want) return `${s.Spec.Name}: ${running.length} running tasks for ${want} replicas`;
    }
    return undefined;
  }

  /** Namespace hosts: everything gone. A shared cluster: every node up, the stack removed, the managers' availability restored. */
  async cleanup(): Promise<void> {
    if (!this.hosts.shared) return this.hosts.cleanup();
    await this.hosts.cleanup();
    const m = await this.anyManager();
    await this.removeStack();
    for (const [i, availability] of this.availability) await this.ok(m, 'node', 'update', '--availability', availability, this.nodeId(i));
  }

  /** Removes the stack (if there) and waits until none of its tasks is left. */
  private async removeStack(): Promise<void> {
    const m = await this.anyManager();
    if (!(await this.services()).some((s) => s.Spec.Labels?.['com.docker.stack.namespace'] === STACK)) return;
    await this.ok(m, 'stack', 'rm', STACK);
    await waitFor(async () => ((await this.tasks()).some((t) => t.ServiceAnnotations?.Name?.startsWith(`${STACK}_`)) ? undefined : true), `the tasks of stack ${STACK} to be gone`, 60_000, 200);
  }
}
