import type { ServiceObject, ServiceStatus, TaskObject, TaskState } from '../node/api/index.js';
import type { CliContext } from './context.js';
import { CliError, type Output } from './errors.js';
import { MessagePrinter } from './progress.js';

// Waiting for a service to converge after create, update or scale, shown as docker shows it:
//   overall progress: 2 out of 3 tasks
//   1/3: running   [==================================================>]
//   verify: Service converged
// Polls the service (with its ServiceStatus) and its tasks. On a terminal the lines are redrawn in
// place; elsewhere a line is printed only when it changes. Ends when every desired task runs the
// new spec and has stayed running for the stable window, or with an error when one fails.

export interface ConvergeTiming {
  /** Between polls (docker: 200 ms). */
  intervalMs: number;
  /** How long every task must stay running before the service counts as converged. */
  stableMs: number;
}

export const DEFAULT_TIMING: ConvergeTiming = { intervalMs: 200, stableMs: 2000 };

/** What the caller knew when it wrote the service, to tell the new tasks from the old ones. */
export interface WaitTarget {
  id: string;
  /** The service's Version.Index as read after the write: tasks started from then on run the new spec. */
  version: number;
  /** IDs of the tasks that existed before the write: their failures are history. */
  before: ReadonlySet<string>;
  /** UpdateStatus as it was before the write: a paused or rolled-back state equal to it is stale. */
  previousStatus?: ServiceObject['UpdateStatus'];
  /** The write was a rollback: rollback_completed is success. */
  rollback?: boolean;
}

/** Docker's numbered task states, for the bars (9 is running). */
const STATE_STEP: Partial<Record<TaskState, number>> = { new: 1, pending: 3, assigned: 4, accepted: 5, preparing: 6, ready: 7, starting: 8, running: 9 };
const LONGEST_STATE = 'preparing'.length;
/** Docker draws one line per slot up to this many replicas, then only the overall line. */
const MAX_BARS = 20;

/** docker's truncError: one line, at most 75 characters. */
export function truncError(err: string): string {
  const one = err.replace(/\n/g, ' ');
  return one.length > 75 ? `${one.slice(0, 74)}…` : one;
}

/** The bar of jsonmessage.JSONProgress with HideCounts: only on terminals wider than 110 columns. */
function bar(step: number, columns: number): string {
  if (columns <= 110) return '';
  const pct = Math.min(50, Math.floor(Math.floor((step / 9) * 100) / 2));
  return `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}]`;
}

/** Progress lines keyed by id ("overall progress", "1/3", "verify"). */
class Lines {
  private readonly printer: MessagePrinter | undefined;
  private readonly last = new Map<string, string>();

  constructor(
    private readonly out: Output,
    readonly tty: boolean,
    readonly columns: number,
  ) {
    if (tty) this.printer = new MessagePrinter(out, true, columns);
  }

  set(id: string, text: string, progress = ''): void {
    const key = `${text}\0${progress}`;
    if (this.last.get(id) === key) return;
    this.last.set(id, key);
    if (this.printer) this.printer.print({ id, status: text, progress });
    else if (text.trim() !== '') this.out.write(`${id}: ${text.trimEnd()}\n`);
  }
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function newest(a: TaskObject, b: TaskObject): TaskObject {
  if (a.CreatedAt !== b.CreatedAt) return a.CreatedAt > b.CreatedAt ? a : b;
  return a.Version.Index >= b.Version.Index ? a : b;
}

function taskName(service: ServiceObject, t: TaskObject): string {
  return `${service.Spec.Name}.${t.Slot ?? t.NodeID ?? ''}`;
}

interface Snapshot {
  total: number;
  running: number;
  /** Line id → the task shown on it. */
  shown: Map<string, TaskObject>;
  outdatedLive: number;
  failed: TaskObject | undefined;
}

function snapshot(service: ServiceObject & { ServiceStatus?: ServiceStatus }, tasks: TaskObject[], target: WaitTarget): Snapshot {
  const template = canonical(service.Spec.TaskTemplate);
  const upToDate = (t: TaskObject): boolean => canonical(t.Spec) === template || (t.SpecVersion?.Index ?? 0) >= target.version;
  const live = tasks.filter((t) => t.DesiredState === 'running' || t.DesiredState === 'ready');
  const current = live.filter(upToDate);
  const global = service.Spec.Mode.Global !== undefined;
  const total = global ? (service.ServiceStatus?.DesiredTasks ?? new Set(current.map((t) => t.NodeID)).size) : (service.Spec.Mode.Replicated?.Replicas ?? 1);
  const bySlot = new Map<string, TaskObject>();
  for (const t of current) {
    const key = global ? (t.NodeID ?? '') : String(t.Slot ?? 0);
    const seen = bySlot.get(key);
    bySlot.set(key, seen ? newest(seen, t) : t);
  }
  const shown = new Map<string, TaskObject>();
  for (const [key, t] of bySlot) {
    if (!global && (Number(key) < 1 || Number(key) > total)) continue;
    shown.set(global ? key.slice(0, 12) : `${key}/${total}`, t);
  }
  const running = [...shown.values()].filter((t) => t.Status.State === 'running').length;
  const fresh = (t: TaskObject): boolean => !target.before.has(t.ID) || (t.SpecVersion?.Index ?? 0) >= target.version;
  const failed = tasks.find((t) => (t.Status.State === 'failed' || t.Status.State === 'rejected') && upToDate(t) && fresh(t));
  return { total, running, shown, outdatedLive: live.length - current.length, failed };
}

function checkUpdateStatus(service: ServiceObject, target: WaitTarget): boolean {
  const status = service.UpdateStatus;
  if (status === undefined || canonical(status) === canonical(target.previousStatus)) return false;
  const message = status.Message ? `: ${status.Message}` : '';
  switch (status.State) {
    case 'updating':
    case 'rollback_started':
      return true;
    case 'paused':
      throw new CliError(`service update paused${message}`, `see 'swarm service ps ${service.Spec.Name}', then 'swarm service update --rollback ${service.Spec.Name}' or fix and update again`);
    case 'rollback_paused':
      throw new CliError(`service rollback paused${message}`, `see 'swarm service ps ${service.Spec.Name}'`);
    case 'rollback_completed':
      if (!target.rollback) throw new CliError(`service rolled back${message}`, `see 'swarm service ps ${service.Spec.Name}' for why the update failed`);
      return false;
    default:
      return false;
  }
}

/**
 * Shows the service converging; returns when it has, or when the user pressed Ctrl-C (the work
 * goes on in the swarm). Throws CliError when a task of the new spec failed or the update paused.
 */
export async function waitForService(ctx: CliContext, target: WaitTarget, opts: { quiet?: boolean } = {}): Promise<void> {
  const timing = { ...DEFAULT_TIMING, ...ctx.overrides.convergence };
  const out: Output = opts.quiet ? { write: () => true } : ctx.io.stdout;
  const lines = new Lines(out, out.isTTY === true, out.columns ?? 80);
  const client = ctx.client();
  const stop = new AbortController();
  const onInterrupt = (): void => stop.abort();
  ctx.interrupts().on('SIGINT', onInterrupt);
  let name = target.id;
  let initialized = false;
  let convergedAt: number | undefined;
  try {
    for (;;) {
      const services = await client.get<(ServiceObject & { ServiceStatus?: ServiceStatus })[]>('/services', {
        filters: JSON.stringify({ id: [target.id] }),
        status: 'true',
      });
      const service = services.find((s) => s.ID === target.id);
      if (!service) throw new CliError(`service ${name} was removed while waiting for it to converge`);
      name = service.Spec.Name;
      const updating = checkUpdateStatus(service, target);
      const tasks = await client.get<TaskObject[]>('/tasks', { filters: JSON.stringify({ service: [target.id] }) });
      const s = snapshot(service, tasks, target);
      const bars = service.Spec.Mode.Global !== undefined || s.total <= MAX_BARS;

      if (!initialized) {
        initialized = true;
        lines.set('overall progress', `0 out of ${s.total} tasks`);
        // On a terminal the slots get their lines now, in order.
        if (lines.tty && bars && service.Spec.Mode.Replicated) for (let i = 1; i <= s.total; i++) lines.set(`${i}/${s.total}`, ' ');
      }
      if (bars) {
        const ids = [...s.shown.keys()].sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || (a < b ? -1 : 1));
        for (const id of ids) {
          const t = s.shown.get(id);
          if (!t) continue;
          if (t.Status.Err) lines.set(id, truncError(t.Status.Err));
          else lines.set(id, t.Status.State.padEnd(LONGEST_STATE), bar(STATE_STEP[t.Status.State] ?? 0, lines.columns));
        }
      }
      lines.set('overall progress', `${s.running} out of ${s.total} tasks`);

      if (s.failed) {
        const err = s.failed.Status.Err || s.failed.Status.Message || s.failed.Status.State;
        const line = service.Spec.Mode.Global ? (s.failed.NodeID ?? '').slice(0, 12) : `${s.failed.Slot ?? 0}/${s.total}`;
        if (bars) lines.set(line, truncError(err));
        throw new CliError(`${taskName(service, s.failed)} failed: ${err}`, `see 'swarm service ps --no-trunc ${service.Spec.Name}'`);
      }
      const converged = s.running === s.total && s.outdatedLive === 0 && !updating;
      if (converged) {
        const now = Date.now();
        convergedAt ??= now;
        const remaining = timing.stableMs - (now - convergedAt);
        if (remaining <= 0 || s.total === 0) {
          lines.set('verify', 'Service converged');
          return;
        }
        lines.set('verify', `Waiting ${Math.ceil(remaining / 1000)} seconds to verify that tasks are stable...`);
      } else if (convergedAt !== undefined) {
        convergedAt = undefined;
        lines.set('verify', ' ');
      }

      await pause(timing.intervalMs, stop.signal);
      if (stop.signal.aborted) {
        out.write(`Operation continuing in background.\nUse \`swarm service ps ${name}\` to check progress.\n`);
        return;
      }
    }
  } finally {
    ctx.interrupts().off('SIGINT', onInterrupt);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** What to remember before writing to an existing service, for waitForService. */
export async function beforeWrite(ctx: CliContext, service: ServiceObject): Promise<{ before: Set<string>; previousStatus?: ServiceObject['UpdateStatus'] }> {
  const tasks = await ctx.client().get<TaskObject[]>('/tasks', { filters: JSON.stringify({ service: [service.ID] }) });
  return { before: new Set(tasks.map((t) => t.ID)), ...(service.UpdateStatus ? { previousStatus: service.UpdateStatus } : {}) };
}

/** The target of a wait after a write: reads the service's new version. */
export async function afterWrite(ctx: CliContext, id: string, known: { before: Set<string>; previousStatus?: ServiceObject['UpdateStatus'] }, rollback = false): Promise<WaitTarget> {
  const service = await ctx.client().get<ServiceObject>(`/services/${encodeURIComponent(id)}`);
  return { id: service.ID, version: service.Version.Index, before: known.before, ...(known.previousStatus ? { previousStatus: known.previousStatus } : {}), rollback };
}
