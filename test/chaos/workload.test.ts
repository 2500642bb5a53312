import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeObject } from '../../node/store/types.js';
import { parseJsonLines, Rng } from '../../raft/sim/index.js';
import { ClusterHarness, waitFor } from '../cluster/harness.js';
import { checkHistory } from './history-check.js';
import { ApiWorkload, classifyRead, classifyWrite, TimeoutError, type ApiResponse, type OpKind, type Transport } from './workload.js';

const resp = (status: number, body?: unknown): { response: ApiResponse } => ({ response: { status, body } });
const connectRefused = Object.assign(new Error('connect ECONNREFUSED /x/api.sock'), { code: 'ECONNREFUSED', syscall: 'connect' });
const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

describe('outcome classification', () => {
  it('writes: 2xx ok; 4xx and "leadership changed" 503 and refused connections fail; the rest info', () => {
    expect(classifyWrite(resp(200))).toBe('ok');
    expect(classifyWrite(resp(201, { ID: 'x' }))).toBe('ok');
    expect(classifyWrite(resp(204))).toBe('ok');
    for (const s of [400, 404, 409, 403, 413]) expect(classifyWrite(resp(s, { message: 'no' }))).toBe('fail');
    expect(classifyWrite(resp(503, { message: 'leadership changed during the request: not leader, leader is 2', hint: 'try again' }))).toBe('fail');
    expect(classifyWrite({ error: connectRefused })).toBe('fail');
    expect(classifyWrite(resp(503, { message: 'no quorum: the write could not be committed' }))).toBe('info');
    expect(classifyWrite(resp(503, { message: 'could not reach the leader 1: gone; the write may or may not have been applied' }))).toBe('info');
    expect(classifyWrite(resp(504, { message: 'the write was not confirmed within 15000 ms' }))).toBe('info');
    expect(classifyWrite(resp(500, 'oops'))).toBe('info');
    expect(classifyWrite({ error: new TimeoutError(100) })).toBe('info');
    expect(classifyWrite({ error: reset })).toBe('info');
  });

  it('reads: 2xx ok, anything else fail', () => {
    expect(classifyRead(resp(200, {}))).toBe('ok');
    expect(classifyRead(resp(404))).toBe('fail');
    expect(classifyRead(resp(503))).toBe('fail');
    expect(classifyRead({ error: new TimeoutError(100) })).toBe('fail');
  });
});

// ------------------------------------------------------------------ an in-memory API with faults

interface FakeObject {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels: Record<string, string>; Data: string; Mode?: { Replicated: { Replicas: number } } };
}

/**
 * A linearizable in-memory config and service store behind a transport that injects faults:
 * refused connections and "leadership changed" (no effect), timeouts before or after the effect.
 * With `lying`, some writes are acknowledged but never applied: a lost acked write.
 */
function fakeCluster(seed: number, opts: { lying?: boolean } = {}): { transport: (faulty: boolean) => Transport } {
  const rng = new Rng(seed);
  const configs = new Map<string, FakeObject>();
  const service: FakeObject = { ID: 'svc1', Version: { Index: 1 }, Spec: { Name: 'web', Labels: {}, Data: '', Mode: { Replicated: { Replicas: 1 } } } };
  let index = 10;
  let ids = 0;
  const find = (ref: string): FakeObject | undefined => [...configs.values()].find((c) => c.ID === ref || c.Spec.Name === ref);
  const err = (status: number, message: string): ApiResponse => ({ status, body: { message } });

  function handle(method: string, path: string, body: unknown): ApiResponse {
    const url = new URL(path, 'http://x');
    const version = Number(url.searchParams.get('version'));
    const parts = url.pathname.split('/').filter((p) => p !== '');
    const spec = body as FakeObject['Spec'];
    if (parts[0] === 'services') {
      if (parts[1] !== service.ID && parts[1] !== service.Spec.Name) return err(404, 'service not found');
      if (method === 'GET') return { status: 200, body: structuredClone(service) };
      if (version !== service.Version.Index) return err(409, 'update out of sequence');
      service.Spec = structuredClone(spec);
      service.Version.Index = ++index;
      return { status: 200, body: { Warnings: [] } };
    }
    if (method === 'POST' && parts[1] === 'create') {
      if (find(spec.Name)) return err(409, 'name conflicts with an existing object');
      configs.set(spec.Name, { ID: `id${++ids}`, Version: { Index: ++index }, Spec: { ...spec, Labels: { ...spec.Labels } } });
      return { status: 201, body: { ID: `id${ids}` } };
    }
    const c = find(parts[1] ?? '');
    if (!c) return err(404, 'config not found');
    if (method === 'GET') return { status: 200, body: structuredClone(c) };
    if (method === 'DELETE') {
      configs.delete(c.Spec.Name);
      return { status: 204, body: undefined };
    }
    if (version !== c.Version.Index) return err(409, 'update out of sequence');
    c.Spec = { ...c.Spec, Labels: { ...spec.Labels } };
    c.Version.Index = ++index;
    return { status: 200, body: undefined };
  }

  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, rng.int(0, 3)));
  return {
    transport: (faulty) => async (method, path, body) => {
      await tick();
      const dice = faulty ? rng.next() : 1;
      if (dice < 0.05) throw connectRefused;
      if (dice < 0.1) return err(503, 'leadership changed during the request: not leader');
      if (dice < 0.15) throw new TimeoutError(1);
      if (opts.lying === true && method !== 'GET' && dice < 0.3) return { status: 200, body: undefined };
      const r = handle(method, path, body);
      await tick();
      if (dice < 0.2) throw new TimeoutError(1); // applied, but the answer was lost
      return r;
    },
  };
}

async function runFake(seed: number, lying: boolean): Promise<{ w: ApiWorkload; finalReads: Record<string, unknown> }> {
  const fake = fakeCluster(seed, { lying });
  const w = new ApiWorkload({ endpoints: [fake.transport(true), fake.transport(true)], seed, service: 'web', maxReplicas: 4, processes: 4, maxPauseMs: 2 });
  await w.setup();
  w.start();
  await new Promise((r) => setTimeout(r, 400));
  await w.stop();
  // Reads are safe to retry on a faulty endpoint: they have no effect.
  return { w, finalReads: await w.finalReads() };
}

describe('ApiWorkload against an in-memory API with injected faults', () => {
  it('records a history that checks out: linearizable, no acked write lost, every kind of op ok at least once', async () => {
    for (const seed of [1, 2, 3]) {
      const { w, finalReads } = await runFake(seed, false);
      const events = w.events();
      const verdict = checkHistory(events, finalReads);
      expect(verdict, `seed ${seed}`).toMatchObject({ linearizable: true, lostAckedWrites: 0 });
      expect(verdict.ops.info).toBeGreaterThan(0);
      expect(verdict.ops.fail).toBeGreaterThan(0);
      for (const [kind, n] of Object.entries(w.summary())) expect(n.ok, `${kind} ok, seed ${seed}`).toBeGreaterThan(0);
      // The service's initial 1 replica is recorded as a write before the run.
      expect(events[0]).toEqual({ process: -1, type: 'invoke', f: 'write', key: 'replicas', value: 1, time: 0 });
      expect(new Set(events.map((e) => e.key))).toEqual(new Set(['reg0', 'reg1', 'reg2', 'cfg-0', 'cfg-1', 'cfg-2', 'replicas']));
    }
  });

  it('catches a server that acknowledges writes it never applied', async () => {
    const { w, finalReads } = await runFake(4, true);
    const verdict = checkHistory(w.events(), finalReads);
    expect(verdict.linearizable).toBe(false);
  });

  it('writes its history as JSON lines that parse back to the same events', async () => {
    const { w } = await runFake(5, false);
    const dir = mkdtempSync(join(tmpdir(), 'chaos-history-'));
    try {
      await w.writeJsonLines(join(dir, 'history.jsonl'));
      expect(parseJsonLines(readFileSync(join(dir, 'history.jsonl'), 'utf8'))).toEqual(w.events());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() records an operation still in flight at its deadline as info', async () => {
    const never: Transport = (_m, _p, _b, { signal }) => new Promise((_res, rej) => signal.addEventListener('abort', () => rej(new Error('aborted'))));
    const w = new ApiWorkload({ endpoints: [never], seed: 1, processes: 2, stopTimeoutMs: 50 });
    w.start();
    await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    const events = w.events();
    expect(events.filter((e) => e.type === 'invoke')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'info')).toHaveLength(2);
  });
});

// ------------------------------------------------------------------ a real cluster

let h: ClusterHarness | undefined;
const MANAGERS = ['m1', 'm2', 'm3'];
const SERVICE = 'chaos-scale';

async function leader(among: string[]): Promise<string | undefined> {
  for (const name of among) {
    if (!h!.node(name).running()) continue;
    try {
      const r = await h!.api<NodeObject[]>(name, 'GET', '/nodes');
      const l = r.status === 200 ? r.body.find((n) => n.ManagerStatus?.Leader) : undefined;
      if (l) return l.Description.Hostname;
    } catch {
      // the next one
    }
  }
  return undefined;
}

describe('ApiWorkload against 3 managers, with kill -9 of the leader mid-run', () => {
  beforeAll(async () => {
    h = ClusterHarness.create('chaos-workload');
    await Promise.all(MANAGERS.map((m) => h!.add(m)));
    await h.ok('m1', 'init', '--advertise-addr', h.node('m1').addr);
    const token = (await h.ok('m1', 'join-token', '-q', 'manager')).trim();
    for (const m of ['m2', 'm3']) await h.ok(m, 'join', '--token', token, h.node('m1').addr);
    await waitFor(
      async () => {
        const r = await h!.api<NodeObject[]>('m1', 'GET', '/nodes');
        const list = r.status === 200 ? r.body : [];
        return list.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length === 3 && list.some((n) => n.ManagerStatus?.Leader) ? true : undefined;
      },
      '3 reachable managers and a leader',
      30_000,
    );
    // A constraint nothing meets: its tasks stay pending, so scaling only writes to the store.
    const created = await h.api('m1', 'POST', '/services/create', {
      Name: SERVICE,
      Mode: { Replicated: { Replicas: 1 } },
      TaskTemplate: { ContainerSpec: { Image: 'busybox:test' }, Placement: { Constraints: ['node.labels.chaos==never'] } },
    });
    if (created.status !== 201) throw new Error(`service create: ${created.status} ${JSON.stringify(created.body)}`);
  }, 90_000);

  afterAll(async () => {
    await h?.cleanup();
  });

  it('keeps every acked write and linearizable reads across the failover', async () => {
    const notes: string[] = [];
    const w = new ApiWorkload({
      endpoints: MANAGERS.map((m) => h!.node(m).socket),
      seed: 42,
      service: SERVICE,
      maxReplicas: 3,
      requestTimeoutMs: 1000,
      log: (l) => notes.push(l),
    });
    await w.setup();
    const started = Date.now();
    w.start();
    await new Promise((r) => setTimeout(r, 1000));
    const victim = await waitFor(() => leader(MANAGERS), 'a leader');
    await h!.node(victim).kill('SIGKILL');
    const killedAt = Date.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    await h!.node(victim).start();
    await new Promise((r) => setTimeout(r, 1000));
    await w.stop();
    const ranMs = Date.now() - started;

    // Healed: all three managers back, one leader; then the final state.
    await waitFor(
      async () => {
        const r = await h!.api<NodeObject[]>(victim, 'GET', '/nodes');
        return r.status === 200 && r.body.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length === 3 ? true : undefined;
      },
      `${victim} back as a reachable manager`,
      30_000,
    );
    const finalReads = await w.finalReads();
    const verdict = checkHistory(w.events(), finalReads);
    const summary = w.summary();
    console.log(JSON.stringify({ victim, killedAt, ranMs, verdict: { ...verdict, losses: verdict.losses.length }, summary, finalReads }));
    if (notes.length > 0) console.log(notes.slice(0, 20).join('\n'));

    expect(verdict.reason).toBeUndefined();
    expect(verdict.linearizable).toBe(true);
    expect(verdict.lostAckedWrites).toBe(0);
    expect(verdict.ackedWrites).toBeGreaterThan(0);
    const kinds: OpKind[] = ['reg-read', 'reg-write', 'reg-cas', 'cfg-read', 'cfg-create', 'cfg-remove', 'scale-read', 'scale-write'];
    for (const k of kinds) expect(summary[k].ok, `${k} ok`).toBeGreaterThan(0);
  }, 90_000);
});
