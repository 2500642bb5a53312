import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { deepEqual } from '../manager/orchestrator/index.js';
import type { LocalRuntime } from '../runtime/index.js';
import { TASK_STATES, type TaskObject, type TaskState, type TaskStatus } from '../store/index.js';

/** A task's new status, as the worker reports it to the leader. */
export interface TaskStatusUpdate {
  taskId: string;
  status: TaskStatus;
}

/** Secret and config files a task needs, fetched directly from a manager (never by gossip). */
export interface TaskFiles {
  secrets: { secretId: string; data: Uint8Array }[];
  configs: { configId: string; data: Uint8Array }[];
}

/** What the runner needs of the overlay: a task's namespace, and its endpoints' readiness. */
export interface TaskNetworking {
  prepareTask(task: TaskObject): Promise<{ netnsPath: string; nameservers: string[] } | undefined>;
  setReady(taskId: string, ready: boolean): void;
  releaseTask(taskId: string): Promise<void>;
  /** The task changed in a way its endpoints show (its traffic share). */
  refreshTask(task: TaskObject): void;
  /** Removes the namespaces of every task not in `keep` (left by a daemon that died mid-start). */
  pruneTasks(keep: ReadonlySet<string>): Promise<void>;
}

export interface TaskRunnerDeps {
  nodeId: string;
  runtime: LocalRuntime;
  logger: Logger;
  /** Where per-task secret files live (on a tmpfs). */
  secretsDir: string;
  report: (updates: TaskStatusUpdate[]) => Promise<void>;
  files: (taskId: string) => Promise<TaskFiles>;
  /** Absent: tasks get a namespace with loopback only. */
  network?: TaskNetworking;
  now?: () => number;
}

const ORDER = new Map<TaskState, number>(TASK_STATES.map((s, i) => [s, i]));
const TERMINAL: ReadonlySet<TaskState> = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);
/** Status reports within this window go to the leader in one batch. */
const REPORT_BATCH_MS = 25;
/**
 * Between leaving the balancers and the stop signal: every host's VIP and routing-mesh rules
 * drop the task (gossip and programming take tens of ms; the margin covers a loaded host) before it stops accepting connections.
 */
const DRAIN_MS = 1000;

function isMountPoint(dir: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === dir);
}

export function containerNameOf(taskId: string): string {
  return `task-${taskId}`;
}

interface Running {
  task: TaskObject;
  state: TaskState;
  /** The runtime's container for this task, once created. */
  containerId: string | undefined;
  /** Work in progress for this task (start or stop), so actions never overlap. */
  busy: Promise<void> | undefined;
  /** Taken over from before a daemon restart: its network endpoints are re-announced once its task is known. */
  adopted?: boolean;
  /** In the balancers (running, and healthy when it has a health check). */
  ready?: boolean;
  /** Told to stop: its exit is a shutdown, whatever its code (SIGTERM gives 143). */
  stopping?: boolean;
}

/**
 * The worker side of tasks: given the full set of tasks assigned to this node, starts what
 * should run, stops what should not, and reports each state change to the leader in batches.
 */
export class TaskRunner {
  private readonly tasks = new Map<string, Running>();
  private readonly pending = new Map<string, TaskStatus>();
  /** Whether namespaces of unknown tasks were removed (see assign). */
  private pruned = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: TaskRunnerDeps) {
    mkdirSync(deps.secretsDir, { recursive: true, mode: 0o700 });
    // Secrets live in memory only: a tmpfs, never the disk.
    if (!isMountPoint(deps.secretsDir)) {
      const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=16m', 'tmpfs', deps.secretsDir], { encoding: 'utf8' });
      if (r.status !== 0) deps.logger.warn({ err: r.stderr }, 'could not mount a tmpfs for secrets; they stay on disk');
    }
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Takes over containers of tasks that were running before a daemon restart. */
  async adopt(): Promise<void> {
    for (const c of this.deps.runtime.executor.list()) {
      const taskId = c.config.labels?.['swarm.task.id'];
      if (!taskId || this.tasks.has(taskId)) continue;
      // Known to the runner as running; the next assignment says whether to keep it.
      this.tasks.set(taskId, { task: { ID: taskId } as TaskObject, state: c.status() === 'running' ? 'running' : 'failed', containerId: c.id, busy: undefined, adopted: true });
      if (c.status() === 'running') this.watch(taskId);
    }
  }

  /** The full desired set for this node (an assignment message or a sync). */
  assign(assigned: TaskObject[]): void {
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const t of assigned) {
      if (t.NodeID !== this.deps.nodeId) continue;
      seen.add(t.ID);
      const cur = this.tasks.get(t.ID);
      if (!cur) {
        if (TERMINAL.has(t.Status.State)) continue;
        const r: Running = { task: t, state: t.Status.State, containerId: undefined, busy: undefined };
        this.tasks.set(t.ID, r);
        if (t.DesiredState === 'running') {
          this.run(r, () => this.start(r));
        } else {
          // To stop, but not running here (its container went with a daemon that died while
          // starting or removing it): it is stopped, and nothing of it may stay.
          this.run(r, async () => {
            this.setState(r, 'shutdown', 'not running on this node');
            await this.cleanup(t.ID);
          });
        }
        continue;
      }
      const trafficChanged = !deepEqual(cur.task.Traffic, t.Traffic);
      const next: TaskObject = { ...cur.task, ...t };
      if (!t.Traffic) delete next.Traffic;
      cur.task = next;
      if (trafficChanged && !cur.adopted) this.deps.network?.refreshTask(next);
      if (cur.adopted) {
        cur.adopted = false;
        if (cur.state === 'running') this.run(cur, () => this.restoreNetwork(cur));
        // The store may not know what happened while the daemon was down (a report lost with it,
        // or the container's exit): without this, the task would stay starting or running there.
        if (t.Status.State !== cur.state) this.reportAdopted(cur);
      }
      if ((ORDER.get(t.DesiredState) ?? 0) > (ORDER.get('running') ?? 0) && !TERMINAL.has(cur.state)) this.run(cur, () => this.stop(cur, 'shutdown', 'shutdown'));
    }
    // Once, after the first assignments since the daemon started: a task it was starting when it
    // died left a namespace but no container to adopt, and nothing else would remove it.
    if (!this.pruned) {
      this.pruned = true;
      const keep = new Set([...this.tasks.keys(), ...seen]);
      void this.deps.network?.pruneTasks(keep).catch((err: unknown) => this.deps.logger.warn({ err }, 'could not remove namespaces of unknown tasks'));
    }
    // Tasks no longer assigned here: stop and forget them.
    for (const [id, r] of this.tasks) {
      if (seen.has(id)) continue;
      this.deps.logger.debug({ task: id, state: r.state }, 'task no longer assigned here');
      this.run(r, async () => {
        if (!TERMINAL.has(r.state)) await this.stop(r, 'shutdown', 'removed from this node');
        await this.cleanup(id);
        this.tasks.delete(id);
      });
    }
  }

  private reportAdopted(r: Running): void {
    const c = r.containerId ? this.deps.runtime.executor.get(r.containerId) : undefined;
    if (r.state === 'running') {
      // With a health check, its next result reports it.
      if (c && (c.health() === 'none' || c.health() === 'healthy')) this.setState(r, 'running', 'running (taken over after a daemon restart)', { ContainerStatus: { ContainerID: c.id, PID: c.pid() ?? 0, ExitCode: 0 } });
      return;
    }
    this.setState(r, 'failed', 'task: container exited while its node was down', { Err: 'task: container exited while its node was down' });
  }

  private run(r: Running, work: () => Promise<void>): void {
    const prev = r.busy ?? Promise.resolve();
    const next = prev.then(work).catch((err: unknown) => this.deps.logger.warn({ err, task: r.task.ID }, 'task action failed'));
    r.busy = next;
  }

  private setState(r: Running, state: TaskState, message: string, extra: Partial<TaskStatus> = {}): void {
    // States only move forward.
    if ((ORDER.get(state) ?? 0) < (ORDER.get(r.state) ?? 0)) return;
    r.state = state;
    this.pending.set(r.task.ID, { Timestamp: new Date(this.now()).toISOString(), State: state, Message: message, ...extra });
    if (!this.flushTimer) this.flushTimer = setTimeout(() => void this.flush(), REPORT_BATCH_MS);
  }

  private async flush(): Promise<void> {
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const batch = [...this.pending].map(([taskId, status]) => ({ taskId, status }));
    this.pending.clear();
    try {
      await this.deps.report(batch);
    } catch (err) {
      // Keep the newest state of each and try again: the leader may be changing.
      for (const u of batch) if (!this.pending.has(u.taskId)) this.pending.set(u.taskId, u.status);
      this.deps.logger.debug({ err }, 'task status report failed; retrying');
      if (!this.flushTimer && !this.stopped) this.flushTimer = setTimeout(() => void this.flush(), 250);
    }
  }

  private async start(r: Running): Promise<void> {
    const t = r.task;
    const notBefore = t.NotBefore ? Date.parse(t.NotBefore) : 0;
    if (notBefore > this.now()) await new Promise((res) => setTimeout(res, notBefore - this.now()));
    if (TERMINAL.has(r.state) || (ORDER.get(r.task.DesiredState) ?? 0) > (ORDER.get('running') ?? 0)) return;
    this.setState(r, 'accepted', 'accepted');
    const cs = t.Spec.ContainerSpec;
    try {
      this.setState(r, 'preparing', 'preparing');
      await this.deps.runtime.ensureImage(cs.Image);
      const mounts = await this.taskFiles(t);
      const net = await this.deps.network?.prepareTask(t);
      this.setState(r, 'ready', 'prepared');
      this.setState(r, 'starting', 'starting');
      const limits = t.Spec.Resources?.Limits;
      const { Id: id } = await this.deps.runtime.createContainer(containerNameOf(t.ID), {
        Image: cs.Image,
        ...(cs.Command ? { Entrypoint: cs.Command } : {}),
        ...(cs.Args ? { Cmd: cs.Args } : {}),
        ...(cs.Env ? { Env: cs.Env } : {}),
        ...(cs.Dir ? { WorkingDir: cs.Dir } : {}),
        ...(cs.User ? { User: cs.User } : {}),
        Hostname: cs.Hostname || t.ID.slice(0, 12),
        ...(cs.StopSignal ? { StopSignal: cs.StopSignal } : {}),
        ...(cs.StopGracePeriod !== undefined ? { StopTimeout: cs.StopGracePeriod / 1e9 } : {}),
        ...(cs.Healthcheck ? { Healthcheck: cs.Healthcheck } : {}),
        Labels: { ...(cs.Labels ?? {}), 'swarm.task.id': t.ID, 'swarm.service.id': t.ServiceID },
        HostConfig: {
          Mounts: [...(cs.Mounts ?? []), ...mounts],
          ...(limits?.MemoryBytes ? { Memory: limits.MemoryBytes } : {}),
          ...(limits?.NanoCPUs ? { NanoCpus: limits.NanoCPUs } : {}),
          ...(limits?.Pids ? { PidsLimit: limits.Pids } : {}),
          ...(cs.CapabilityAdd ? { CapAdd: cs.CapabilityAdd } : {}),
          ...(cs.CapabilityDrop ? { CapDrop: cs.CapabilityDrop } : {}),
          ReadonlyRootfs: cs.ReadOnly === true,
          Init: cs.Init === true,
          ...(net ? { Dns: net.nameservers, DnsOptions: ['ndots:0'] } : {}),
        },
      }, net ? { netnsPath: net.netnsPath } : {});
      r.containerId = id;
      await this.deps.runtime.startContainer(id);
      const c = this.deps.runtime.executor.get(id);
      const status = { ContainerStatus: { ContainerID: id, PID: c?.pid() ?? 0, ExitCode: 0 } };
      this.watch(t.ID);
      // With a health check the task counts as running, and takes traffic, only once healthy.
      if (c && c.health() !== 'none') {
        if (r.state === 'starting') this.setState(r, 'starting', 'waiting for the health check', { ...status, Health: 'starting' });
      } else {
        this.setState(r, 'running', 'started', status);
        this.setReady(r, true);
      }
    } catch (err) {
      this.setState(r, 'rejected', 'preparing or starting failed', { Err: err instanceof Error ? err.message : String(err) });
      await this.cleanup(t.ID);
    }
  }

  /** Follows a running container: health changes and its exit. */
  private watch(taskId: string): void {
    const r = this.tasks.get(taskId);
    const c = r?.containerId ? this.deps.runtime.executor.get(r.containerId) : undefined;
    if (!c || !r) return;
    c.on('health', (h) => {
      if (r.state !== 'starting' && r.state !== 'running') return;
      const status = { Health: h, ContainerStatus: { ContainerID: c.id, PID: c.pid() ?? 0, ExitCode: 0 } };
      if (h === 'healthy') {
        this.setState(r, 'running', r.state === 'starting' ? 'started (healthy)' : `health: ${h}`, status);
        this.setReady(r, true);
      } else if (h === 'unhealthy') {
        // As Docker: an unhealthy task fails, and its restart policy and the updater take it from there.
        this.setReady(r, false);
        this.setState(r, 'failed', 'task: unhealthy container', { ...status, Err: 'task: unhealthy container' });
        void c.shutdown().catch(() => {});
      }
    });
    void c.wait().then((exit) => {
      this.setReady(r, false);
      if (TERMINAL.has(r.state) || r.stopping) return;
      if (exit.exitCode === 0) this.setState(r, 'complete', 'finished', { ContainerStatus: { ContainerID: c.id, PID: 0, ExitCode: 0 } });
      else this.setState(r, 'failed', 'task: non-zero exit', { Err: `task: non-zero exit (${exit.exitCode})${exit.oomKilled ? ' (out of memory)' : ''}`, ContainerStatus: { ContainerID: c.id, PID: 0, ExitCode: exit.exitCode } });
    });
  }

  private setReady(r: Running, ready: boolean): void {
    r.ready = ready;
    this.deps.network?.setReady(r.task.ID, ready);
  }

  private async stop(r: Running, state: 'shutdown', message: string): Promise<void> {
    const c = r.containerId ? this.deps.runtime.executor.get(r.containerId) : undefined;
    this.deps.logger.debug({ task: r.task.ID, state: r.state, container: c?.status() }, 'stopping task');
    // Out of every balancer before the signal, so no new connection reaches a stopping task.
    const wasReady = r.ready === true;
    r.stopping = true;
    this.setReady(r, false);
    if (wasReady && c && c.status() === 'running' && r.task.NetworksAttachments?.length) await new Promise((res) => setTimeout(res, DRAIN_MS));
    if (c && c.status() === 'running') {
      const grace = r.task.Spec?.ContainerSpec?.StopGracePeriod;
      await c.shutdown(grace !== undefined ? grace / 1e6 : undefined);
    }
    this.setState(r, state, message);
  }

  /** Secret and config files on a per-task tmpfs dir, bind-mounted read-only into the container. */
  private async taskFiles(t: TaskObject): Promise<{ Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }[]> {
    const cs = t.Spec.ContainerSpec;
    if (!cs.Secrets?.length && !cs.Configs?.length) return [];
    const files = await this.deps.files(t.ID);
    const dir = join(this.deps.secretsDir, t.ID);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const out: { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }[] = [];
    for (const ref of cs.Secrets ?? []) {
      const data = files.secrets.find((s) => s.secretId === ref.SecretID)?.data;
      if (!data) throw new Error(`secret ${ref.SecretName} was not delivered for task ${t.ID}`);
      const p = join(dir, `secret-${ref.SecretID}`);
      writeFileSync(p, data, { mode: ref.File.Mode || 0o444 });
      chownSync(p, Number(ref.File.UID || 0), Number(ref.File.GID || 0));
      out.push({ Type: 'bind', Source: p, Target: ref.File.Name.startsWith('/') ? ref.File.Name : `/run/secrets/${ref.File.Name}`, ReadOnly: true });
    }
    for (const ref of cs.Configs ?? []) {
      const data = files.configs.find((c) => c.configId === ref.ConfigID)?.data;
      if (!data) throw new Error(`config ${ref.ConfigName} was not delivered for task ${t.ID}`);
      const p = join(dir, `config-${ref.ConfigID}`);
      writeFileSync(p, data, { mode: ref.File.Mode || 0o444 });
      chownSync(p, Number(ref.File.UID || 0), Number(ref.File.GID || 0));
      out.push({ Type: 'bind', Source: p, Target: ref.File.Name.startsWith('/') ? ref.File.Name : `/${ref.File.Name}`, ReadOnly: true });
    }
    return out;
  }

  /** After a daemon restart: the running task's endpoints announced again, its namespace kept. */
  private async restoreNetwork(r: Running): Promise<void> {
    const network = this.deps.network;
    if (!network || !r.task.NetworksAttachments?.length) return;
    await network.prepareTask(r.task);
    const c = r.containerId ? this.deps.runtime.executor.get(r.containerId) : undefined;
    if (c && c.status() === 'running') this.setReady(r, c.health() === 'none' || c.health() === 'healthy');
  }

  private async cleanup(taskId: string): Promise<void> {
    const id = this.tasks.get(taskId)?.containerId;
    if (id && this.deps.runtime.executor.get(id)) await this.deps.runtime.removeContainer(id, true).catch(() => {});
    await this.deps.network?.releaseTask(taskId).catch((err: unknown) => this.deps.logger.warn({ err, task: taskId }, 'could not release the task network'));
    rmSync(join(this.deps.secretsDir, taskId), { recursive: true, force: true });
  }

  /** States of the tasks this node knows, for tests and `node ps` on a worker. */
  states(): Map<string, TaskState> {
    return new Map([...this.tasks].map(([id, r]) => [id, r.state]));
  }

  async stopAll(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    await this.flush();
  }

  /** On leaving the swarm: the secrets tmpfs goes too. */
  release(): void {
    spawnSync('umount', ['-l', this.deps.secretsDir]);
  }
}
