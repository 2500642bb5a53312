// What must hold once a fault is healed: one leader; every manager's store identical at the same
// applied index; every slot of every replicated service with exactly one running task; tasks on
// the overlay reaching each other; nothing left on any host of a task that is no longer live.
// Each check polls until it holds or its deadline passes (healing takes time), then reports.
import { join } from 'node:path';
import { taskNetnsName, vethHostName } from '../../overlay-net/index.js';
import type { NodeObject, ServiceObject, TaskObject } from '../../node/store/types.js';
import { waitFor } from '../cluster/harness.js';
import type { ChaosCluster, RaftView } from './cluster.js';

export interface InvariantResult {
  name: string;
  ok: boolean;
  /** What was seen: the reason it failed, or a short summary. */
  detail: string;
}

/** Polls `probe` (undefined: holds; a string: why not yet) until it holds or `timeoutMs` passes. */
async function holds(name: string, timeoutMs: number, probe: () => Promise<string | undefined>): Promise<InvariantResult> {
  let last = 'not checked';
  try {
    await waitFor(
      async () => {
        last = (await probe().catch((err: unknown) => (err instanceof Error ? err.message : String(err)))) ?? '';
        return last === '' ? true : undefined;
      },
      name,
      timeoutMs,
      250,
    );
    return { name, ok: true, detail: 'holds' };
  } catch {
    return { name, ok: false, detail: last };
  }
}

export async function oneLeader(c: ChaosCluster, timeoutMs: number): Promise<InvariantResult> {
  return holds('exactly one leader', timeoutMs, async () => {
    const views = await Promise.all(c.liveManagers().map(async (m) => [m, await c.raft(m)] as const));
    const silent = views.filter(([, v]) => !v).map(([m]) => c.host(m));
    if (silent.length > 0) return `no Raft view from ${silent.join(', ')}`;
    const vs = views.map(([, v]) => v!);
    const leaders = vs.filter((v) => v.Role === 'leader');
    if (leaders.length !== 1) return `${leaders.length} managers say they lead`;
    const lead = leaders[0]!;
    const dissent = vs.filter((v) => v.Leader !== lead.NodeID || v.Term !== lead.Term);
    return dissent.length > 0 ? `${dissent.length} managers follow another leader or term` : undefined;
  });
}

export async function storesIdentical(c: ChaosCluster, timeoutMs: number): Promise<InvariantResult> {
  let summary = '';
  const r = await holds('stores identical at one applied index', timeoutMs, async () => {
    const vs = await Promise.all(c.liveManagers().map((m) => c.raft(m)));
    if (vs.some((v) => !v)) return 'a manager gave no Raft view';
    const views = vs as RaftView[];
    const indexes = new Set(views.map((v) => v.AppliedIndex));
    // Writes may be in flight: compare only when every manager has applied the same entries.
    if (indexes.size !== 1) return `applied indexes differ: ${[...indexes].join(', ')}`;
    const digests = new Set(views.map((v) => v.StoreDigest));
    summary = `index ${views[0]!.AppliedIndex}, digest ${views[0]!.StoreDigest.slice(0, 12)}`;
    return digests.size === 1 ? undefined : `DIVERGED at index ${views[0]!.AppliedIndex}: ${digests.size} different digests`;
  });
  return r.ok ? { ...r, detail: summary } : r;
}

export async function replicasRunning(c: ChaosCluster, timeoutMs: number): Promise<InvariantResult> {
  return holds('desired replicas running, one task per slot', timeoutMs, () => c.convergence());
}

/** Every running task on a stack network pings every other one, from inside its own namespace. */
export async function overlayConnected(c: ChaosCluster, timeoutMs: number): Promise<InvariantResult> {
  return holds('full overlay connectivity between tasks', timeoutMs, async () => {
    const running = (await c.tasks()).filter((t) => t.Status.State === 'running' && t.DesiredState === 'running');
    const ipOn = (t: TaskObject): string | undefined =>
      t.NetworksAttachments?.find((a) => !a.Network.Spec.Ingress)
        ?.Addresses[0]?.split('/')[0];
    const members = running.map((t) => ({ t, ip: ipOn(t), host: c.hostOf(t.NodeID ?? '') })).filter((m) => m.ip && m.host !== undefined);
    const targets = members.map((m) => m.ip!).join(' ');
    const broken: string[] = [];
    await Promise.all(
      members.map(async (m) => {
        const ns = taskNetnsName(c.hosts.taskNetnsPrefix(m.host!), m.t.ID);
        const script = `for ip in ${targets}; do busybox ping -c1 -W1 $ip >/dev/null 2>&1 || echo $ip; done`;
        const r = await c.hosts.exec(m.host!, ['nsenter', `--net=/var/run/netns/${ns}`, '--', 'busybox', 'sh', '-c', script]);
        const lost = r.stdout.split('\n').filter((l) => l !== '');
        if (r.code !== 0 || lost.length > 0) broken.push(`${m.ip} -/-> ${lost.join(',') || `exit ${r.code}: ${r.stderr.trim()}`}`);
      }),
    );
    return broken.length > 0 ? `${broken.length} of ${members.length} tasks miss peers: ${broken.slice(0, 3).join('; ')}` : undefined;
  });
}

/** Whose container a leftover directory is, for the report: its task and what the store says of it. */
async function taskOfContainer(c: ChaosCluster, i: number, dir: string, tasks: readonly TaskObject[]): Promise<string> {
  try {
    const meta = JSON.parse((await c.hosts.exec(i, ['cat', join(dir, 'meta.json')])).stdout) as { config?: { labels?: Record<string, string> } };
    const id = meta.config?.labels?.['swarm.task.id'];
    const t = tasks.find((x) => x.ID === id);
    return t ? `task ${id} ${t.ServiceAnnotations?.Name ?? ''} ${t.Status.State}/${t.DesiredState}: ${t.Status.Message}` : `task ${id ?? '?'}, gone from the store`;
  } catch {
    return 'no meta';
  }
}

/** The lines a command prints in host i (none when it fails: a directory not there yet, say). */
async function linesIn(c: ChaosCluster, i: number, cmd: string[]): Promise<string[]> {
  const r = await c.hosts.exec(i, cmd);
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

/**
 * Nothing of a task that is not live remains: its namespace, its veths, its container (state,
 * directory, mounts) and its cgroups. `seenContainers` are the container IDs the store ever showed
 * during the scenario (the store forgets deleted tasks). Each host is inspected from inside.
 */
export async function noLeftovers(c: ChaosCluster, seenContainers: ReadonlySet<string>, timeoutMs: number): Promise<InvariantResult> {
  return holds('no leftovers of dead tasks', timeoutMs, async () => {
    const tasks = await c.tasks();
    const live = tasks.filter((t) => t.DesiredState === 'running' && (t.Status.State === 'running' || t.Status.State === 'starting'));
    const liveContainers = new Set(live.map((t) => t.Status.ContainerStatus?.ContainerID).filter((x): x is string => !!x));
    const problems: { host: string; kind: string; what: string }[] = [];
    for (const i of [...c.managers, ...c.workers]) {
      if (!c.isUp(i)) continue;
      const host = c.host(i);
      const nodeId = c.nodeId(i);
      const mine = live.filter((t) => t.NodeID === nodeId);
      // Task namespaces.
      const prefix = c.hosts.taskNetnsPrefix(i);
      const wantNs = new Set(mine.filter((t) => t.NetworksAttachments?.length).map((t) => taskNetnsName(prefix, t.ID)));
      for (const line of await linesIn(c, i, ['ip', 'netns', 'list'])) {
        const ns = line.split(' ')[0] ?? '';
        if (ns.startsWith(prefix) && !wantNs.has(ns)) problems.push({ host, kind: 'namespace', what: ns });
      }
      // Host ends of task veths.
      const wantVeth = new Set(mine.flatMap((t) => (t.NetworksAttachments ?? []).map((a) => vethHostName(t.ID, a.Network.ID))));
      const links = (await linesIn(c, i, ['ip', '-o', 'link', 'show'])).join('\n');
      for (const m of links.matchAll(/^\d+: (swv[0-9a-f]+)[@:]/gm)) if (!wantVeth.has(m[1]!)) problems.push({ host, kind: 'veth', what: m[1]! });
      // Containers the OCI runtime still knows, their directories and mounts.
      const data = c.hosts.runtimeDir(i);
      for (const rt of ['crun', 'runc']) {
        const ids = await linesIn(c, i, ['sh', '-c', 'test ! -d "$2" || "$1" --root "$2" list -q', 'sh', rt, join(data, 'containers', 'runtime', rt)]);
        for (const id of ids) if (!liveContainers.has(id)) problems.push({ host, kind: `${rt} container`, what: id.slice(0, 12) });
      }
      const dirs = join(data, 'containers', 'containers');
      for (const id of await linesIn(c, i, ['sh', '-c', 'test ! -d "$1" || ls -1 "$1"', 'sh', dirs])) {
        if (!liveContainers.has(id)) problems.push({ host, kind: 'container directory', what: `${id.slice(0, 12)} (${await taskOfContainer(c, i, join(dirs, id), tasks)})` });
      }
      for (const line of await linesIn(c, i, ['cat', '/proc/self/mountinfo'])) {
        const m = line.split(' ')[4] ?? '';
        if (!m.startsWith(`${data}/`)) continue;
        const id = /\/containers\/([0-9a-f]{12,})\//.exec(`${m}/`)?.[1];
        if (id && !liveContainers.has(id)) problems.push({ host, kind: 'mount', what: m.slice(data.length) });
      }
    }
    for (const d of await c.hosts.cgroupsOf([...seenContainers].filter((id) => !liveContainers.has(id)))) problems.push({ host: '', kind: 'cgroup', what: d });
    if (problems.length === 0) return undefined;
    const kinds = new Map<string, number>();
    for (const p of problems) kinds.set(p.kind, (kinds.get(p.kind) ?? 0) + 1);
    const text = (p: (typeof problems)[number]): string => `${p.host ? `${p.host}: ` : ''}${p.kind} ${p.what}`;
    const first = [...problems.filter((p) => p.kind === 'container directory'), ...problems.filter((p) => p.kind !== 'container directory')];
    return `${problems.length} left (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}): ${first.slice(0, 4).map(text).join('; ')}`;
  });
}

/** What the slot sampler remembers between samples. */
export interface SlotWatch {
  /** Tasks seen on a node that was not ready, or told to stop around a node's unseen down and up. */
  stranded: Set<string>;
  /** Each node's version at the last sample. */
  nodeVersions: Map<string, number>;
}

export function newSlotWatch(): SlotWatch {
  return { stranded: new Set(), nodeVersions: new Map() };
}

/**
 * Slots with more running tasks on ready nodes than the update order allows: one, or two while a
 * start-first update overlaps old and new. Tasks scaled away are not counted, nor tasks replaced
 * because their node was down (`watch`, carried across calls, remembers those).
 */
export function overfullSlots(tasks: readonly TaskObject[], services: readonly ServiceObject[], nodes: readonly NodeObject[], watch: SlotWatch): string[] {
  const ready = new Set(nodes.filter((n) => n.Status.State === 'ready').map((n) => n.ID));
  // Tasks seen on a down node were replaced without the orchestrator being able to stop them: when
  // their node returns they run beside their replacements until it stops them. Not counted.
  for (const t of tasks) if (t.NodeID && !ready.has(t.NodeID)) watch.stranded.add(t.ID);
  // A node written between two samples may have gone down and come back unseen (a lossy or
  // flapping link): a task of it told to stop meanwhile may be such a replaced one.
  for (const n of nodes) {
    const before = watch.nodeVersions.get(n.ID);
    watch.nodeVersions.set(n.ID, n.Version.Index);
    if (before === undefined || before === n.Version.Index) continue;
    for (const t of tasks) if (t.NodeID === n.ID && t.DesiredState !== 'running') watch.stranded.add(t.ID);
  }
  const stranded = watch.stranded;
  const out: string[] = [];
  for (const s of services) {
    if (!s.Spec.Mode.Replicated) continue;
    const allowed = (s.Spec.UpdateConfig?.Order ?? 'stop-first') === 'start-first' ? 2 : 1;
    const bySlot = new Map<number, TaskObject[]>();
    for (const t of tasks) {
      // A task scaled away (desired remove) has left its slot, which a scale-up may reuse at once.
      if (t.ServiceID !== s.ID || t.Status.State !== 'running' || t.DesiredState === 'remove' || !ready.has(t.NodeID ?? '') || stranded.has(t.ID)) continue;
      bySlot.set(t.Slot ?? 0, [...(bySlot.get(t.Slot ?? 0) ?? []), t]);
    }
    for (const [slot, ts] of bySlot) {
      if (ts.length <= allowed) continue;
      const which = ts.map((t) => `${t.ID.slice(0, 8)} desired ${t.DesiredState} since ${t.CreatedAt.slice(11, 23)}`).join(', ');
      out.push(`${s.Spec.Name} slot ${slot}: ${ts.length} running (allowed ${allowed}): ${which}`);
    }
  }
  return out;
}

/** Every invariant, in order; each gets its own deadline after the previous one held. */
export async function checkInvariants(c: ChaosCluster, seenContainers: ReadonlySet<string>, timeoutMs = 60_000): Promise<InvariantResult[]> {
  const out: InvariantResult[] = [];
  out.push(await oneLeader(c, timeoutMs));
  out.push(await replicasRunning(c, timeoutMs));
  out.push(await storesIdentical(c, timeoutMs));
  out.push(await overlayConnected(c, timeoutMs));
  out.push(await noLeftovers(c, seenContainers, timeoutMs));
  return out;
}
