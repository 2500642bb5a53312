// A client workload for chaos runs: a few logical clients write and read through the managers'
// HTTP API while the cluster is being broken, and every operation is recorded, Jepsen-style, as
// an invoke event and a completion (raft/sim's history format), for history-check.ts to judge.
//
// Registers, one per history key (the checker's model: a register per key, initially null):
//   reg0..reg2    the label `chaos.value` of the config `chaos-reg-<key>`: read, write, cas
//   cfg-<n>       whether the config `chaos-cfg-<n>` exists ("present") or not (null):
//                 create = cas [null, "present"], remove = cas ["present", null], read
//   replicas      Mode.Replicated.Replicas of the service given in the options: write, read
//
// Outcome classification (the completion recorded for an operation):
//
//   what the client saw                                      write / cas          read
//   2xx                                                      ok                   ok
//   404 on GET /configs/chaos-cfg-<n>                        -                    ok (null)
//   400, 404, 409 (conflict, already exists, out of          fail                 fail
//     sequence) and every other 4xx: refused before or by
//     the transaction, so no effect
//   503 "leadership changed during the request": Raft's     fail                 fail
//     NOT_LEADER or PROPOSAL_DROPPED, which the replicated
//     store promises were never applied (the HTTP body
//     carries no code, only this message)
//   connect failed (ECONNREFUSED, ENOENT: the daemon is      fail                 fail
//     down; the request never left this process)
//   timeout, reset, other socket errors, other 5xx           info                 fail
//     (503 no quorum, 504, 500), anything unparseable
//   cut off by stop()                                        info                 info
//
// A read has no effect, so a read that did not succeed is `fail`. An operation made of several
// requests (read the version, then update at it) is `fail` only while every request so far was
// definite; the first indeterminate update makes it `info`. After an `info` a client takes a fresh
// process number, as the history format requires (the old operation may still take effect).

import { writeFile } from 'node:fs/promises';
import { History, Rng, toJsonLines, type HistoryEvent, type OpFunction } from '../../raft/sim/index.js';
import { apiRequest } from '../cluster/harness.js';

export { ApiTimeoutError as TimeoutError } from '../cluster/harness.js';

export interface ApiResponse {
  status: number;
  /** Parsed JSON when the body is JSON, else the text (undefined when empty). */
  body: unknown;
}

/**
 * Sends one request to one manager. Rejects on timeout (ApiTimeoutError, exported as TimeoutError), abort or socket error; a
 * rejection whose `syscall` is 'connect' means the request was never sent.
 */
export type Transport = (method: string, path: string, body: unknown, opts: { timeoutMs: number; signal: AbortSignal }) => Promise<ApiResponse>;

/** A manager's API socket path, or a transport (for proxies and in-process fakes). */
export type Endpoint = string | Transport;

export type Verdict = 'ok' | 'fail' | 'info';

/** What came back from one request: a response, or the error that replaced it. */
export type RequestResult = { response: ApiResponse } | { error: unknown };

/** The message of Raft's NOT_LEADER and PROPOSAL_DROPPED as they reach the HTTP body (node/store/replicated-store.ts). */
const NOT_APPLIED_503 = /^leadership changed during the request/;

function errorMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string') return body.message;
  return typeof body === 'string' ? body : '';
}

/** The outcome of a request that may change state; see the table in the header. */
export function classifyWrite(r: RequestResult): Verdict {
  if ('error' in r) return neverSent(r.error) ? 'fail' : 'info';
  const { status, body } = r.response;
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 400 && status < 500) return 'fail';
  if (status === 503 && NOT_APPLIED_503.test(errorMessage(body))) return 'fail';
  return 'info';
}

/** The outcome of a request that only reads: it has no effect, so anything but 2xx is `fail`. */
export function classifyRead(r: RequestResult): 'ok' | 'fail' {
  return 'response' in r && r.response.status >= 200 && r.response.status < 300 ? 'ok' : 'fail';
}

function neverSent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'syscall' in err && err.syscall === 'connect';
}

function describeResult(r: RequestResult): string {
  if ('error' in r) return r.error instanceof Error ? r.error.message : String(r.error);
  return `${r.response.status} ${errorMessage(r.response.body)}`.trim();
}

/** One request over a unix socket, with a deadline; a fresh connection each time (no keep-alive). */
export function socketTransport(socketPath: string): Transport {
  return (method, path, body, opts) => apiRequest(socketPath, method, path, body, opts);
}

export type OpKind = 'reg-read' | 'reg-write' | 'reg-cas' | 'cfg-read' | 'cfg-create' | 'cfg-remove' | 'scale-read' | 'scale-write';

export interface WorkloadOptions {
  /** The managers' APIs; any may be down or cut off at any time. */
  endpoints: readonly Endpoint[];
  /** Seeds every random choice (ops, values, managers, pauses): runs repeat as far as timing allows. */
  seed: number;
  /** Concurrent logical clients. */
  processes?: number;
  /** The service whose replica count is the `replicas` register; without it, no scale ops. */
  service?: string;
  maxReplicas?: number;
  /** How many `cfg-<n>` keys. */
  configKeys?: number;
  requestTimeoutMs?: number;
  /** Each client pauses a uniform 0..maxPauseMs between its operations. */
  maxPauseMs?: number;
  /** How long stop() waits for operations in flight before recording them as info. */
  stopTimeoutMs?: number;
  /** Where to report indeterminate outcomes and other notes (one line each). */
  log?: (line: string) => void;
}

export const REGISTER_KEYS = ['reg0', 'reg1', 'reg2'] as const;
export const VALUE_LABEL = 'chaos.value';
export const REPLICAS_KEY = 'replicas';
const PRESENT = 'present';
/** Updates retried after a version conflict before the write is given up as failed. */
const WRITE_ATTEMPTS = 3;

export const registerConfigName = (key: string): string => `chaos-reg-${key}`;
/** Distinct from the chaos-reg-* names, so lifecycle ops never touch the registers. */
export const lifecycleConfigName = (key: string): string => `chaos-${key}`;

interface ConfigBody {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels?: Record<string, string>; Data: string };
}

interface ServiceBody {
  ID: string;
  Version: { Index: number };
  Spec: { Mode: { Replicated?: { Replicas: number } } } & Record<string, unknown>;
}

interface Completion {
  type: Verdict;
  /** For a read that completed ok: the value read. */
  value?: unknown;
  note?: string;
}

interface Planned {
  kind: OpKind;
  f: OpFunction;
  key: string;
  value: unknown;
  run: (call: Call) => Promise<Completion>;
}

type Call = (method: string, path: string, body?: unknown) => Promise<RequestResult>;

interface Client {
  index: number;
  process: number;
  rng: Rng;
  counter: number;
  running: Promise<void> | undefined;
  inFlight: { planned: Planned; abort: AbortController } | undefined;
}

/** Reads the `chaos.value` label: numbers as the workload writes them, other text as it is. */
function labelValue(c: ConfigBody): unknown {
  const raw = c.Spec.Labels?.[VALUE_LABEL];
  if (raw === undefined) return null;
  return /^-?\d+$/.test(raw) ? Number(raw) : raw;
}

function body<T>(r: RequestResult): T {
  return (r as { response: ApiResponse }).response.body as T;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ApiWorkload {
  private readonly transports: Transport[];
  private readonly processes: number;
  private readonly service: string | undefined;
  private readonly maxReplicas: number;
  private readonly cfgKeys: string[];
  private readonly requestTimeoutMs: number;
  private readonly maxPauseMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: (line: string) => void;
  private readonly rng: Rng;
  private readonly history = new History();
  private readonly clients: Client[] = [];
  private readonly tally = new Map<OpKind, { ok: number; fail: number; info: number }>();
  /** The value last seen per key (read or written): what a cas expects, so that some succeed. */
  private readonly lastSeen = new Map<string, unknown>();
  private t0 = performance.now();
  private lastTime = 0;
  private stopping = false;
  private internalError: unknown;

  constructor(opts: WorkloadOptions) {
    if (opts.endpoints.length === 0) throw new Error('ApiWorkload needs at least one endpoint');
    this.transports = opts.endpoints.map((e) => (typeof e === 'string' ? socketTransport(e) : e));
    this.processes = opts.processes ?? 3;
    this.service = opts.service;
    this.maxReplicas = opts.maxReplicas ?? 3;
    this.cfgKeys = Array.from({ length: opts.configKeys ?? 3 }, (_, i) => `cfg-${i}`);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 2000;
    this.maxPauseMs = opts.maxPauseMs ?? 20;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 3 * this.requestTimeoutMs;
    this.log = opts.log ?? (() => {});
    this.rng = new Rng(opts.seed);
  }

  /** Every key the history uses. */
  keys(): string[] {
    return [...REGISTER_KEYS, ...this.cfgKeys, ...(this.service === undefined ? [] : [REPLICAS_KEY])];
  }

  /**
   * Creates the register configs (absent label = null) and records, as writes completed before
   * the run by process -1, whatever non-null values the keys already hold, since the checker's
   * registers start at null. Retries each step until `timeoutMs`.
   */
  async setup(timeoutMs = 30_000): Promise<void> {
    if (this.clients.length > 0) throw new Error('setup() must run before start()');
    const deadline = Date.now() + timeoutMs;
    for (const key of REGISTER_KEYS) {
      const data = Buffer.from(`chaos register ${key}`).toString('base64');
      await this.retrying(deadline, `create ${registerConfigName(key)}`, async (t) => {
        const r = await this.send(t, 'POST', '/configs/create', { Name: registerConfigName(key), Labels: {}, Data: data }, new AbortController().signal);
        // 409: it exists already (an earlier attempt, or run); its value is read below.
        return 'response' in r && (r.response.status === 201 || r.response.status === 409) ? true : undefined;
      });
    }
    const initial = await this.readAll(deadline);
    this.t0 = performance.now();
    for (const key of this.keys()) {
      const v = initial[key];
      if (v === null || v === undefined) continue;
      this.history.invoke(-1, 'write', key, v, 0);
      this.history.complete(-1, 'ok', 0);
      this.lastSeen.set(key, v);
    }
  }

  /** Starts the clients; they run until stop(). */
  start(): void {
    if (this.clients.length > 0) throw new Error('the workload has started already');
    this.t0 = performance.now() - this.lastTime;
    for (let i = 0; i < this.processes; i++) {
      // A fork per client: its choices do not depend on how the others' ops interleave.
      const client: Client = { index: i, process: i, rng: this.rng.fork(), counter: 0, running: undefined, inFlight: undefined };
      this.clients.push(client);
    }
    for (const c of this.clients) c.running = this.loop(c);
  }

  /**
   * Stops the clients after their current operation; one still in flight after stopTimeoutMs is
   * recorded as info and its requests aborted. Rethrows a bug the clients hit (a history error).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const all = Promise.all(this.clients.map((c) => c.running));
    let timer: NodeJS.Timeout | undefined;
    const cutoff = new Promise<'cutoff'>((r) => (timer = setTimeout(() => r('cutoff'), this.stopTimeoutMs)));
    const first = await Promise.race([all, cutoff]);
    clearTimeout(timer);
    if (first === 'cutoff') {
      for (const c of this.clients) {
        const inFlight = c.inFlight;
        if (inFlight === undefined) continue;
        c.inFlight = undefined; // the loop sees it was cut off and records nothing more
        this.complete(c, inFlight.planned, { type: 'info', note: 'cut off by stop()' });
        inFlight.abort.abort();
      }
      await all;
    }
    if (this.internalError !== undefined) throw this.internalError;
  }

  /** The history so far (a copy). */
  events(): HistoryEvent[] {
    return this.history.events();
  }

  /** Completions per kind of operation, for reports and for tests that want every kind exercised. */
  summary(): Record<OpKind, { ok: number; fail: number; info: number }> {
    const kinds: OpKind[] = ['reg-read', 'reg-write', 'reg-cas', 'cfg-read', 'cfg-create', 'cfg-remove', 'scale-read', 'scale-write'];
    return Object.fromEntries(kinds.map((k) => [k, { ...(this.tally.get(k) ?? { ok: 0, fail: 0, info: 0 }) }])) as Record<OpKind, { ok: number; fail: number; info: number }>;
  }

  async writeJsonLines(path: string): Promise<void> {
    await writeFile(path, toJsonLines(this.history.events()));
  }

  /**
   * Every key's value as the (healed) cluster shows it, for checkHistory's final reads; each read
   * is retried on any manager until it succeeds or `timeoutMs` passes. Not recorded here.
   */
  async finalReads(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    return this.readAll(Date.now() + timeoutMs);
  }

  // ------------------------------------------------------------------ the clients

  private async loop(c: Client): Promise<void> {
    try {
      while (!this.stopping) {
        const planned = this.plan(c);
        const transport = c.rng.pick(this.transports);
        const abort = new AbortController();
        c.inFlight = { planned, abort };
        this.history.invoke(c.process, planned.f, planned.key, planned.value, this.now());
        let done: Completion;
        try {
          done = await planned.run((method, path, b) => this.send(transport, method, path, b, abort.signal));
        } catch (err) {
          // A bug in an op (not a request failure: those are results): its effect is unknown.
          done = { type: 'info', note: `threw ${err instanceof Error ? err.message : String(err)}` };
        }
        if (c.inFlight === undefined) return; // cut off by stop(), which recorded it
        c.inFlight = undefined;
        this.complete(c, planned, done);
        if (!this.stopping) await sleep(c.rng.int(0, this.maxPauseMs));
      }
    } catch (err) {
      this.internalError ??= err;
      this.stopping = true;
    }
  }

  private complete(c: Client, planned: Planned, done: Completion): void {
    const time = this.now();
    if (planned.f === 'read' && done.type === 'ok') this.history.complete(c.process, 'ok', done.value, time);
    else this.history.complete(c.process, done.type, time);
    const t = this.tally.get(planned.kind) ?? { ok: 0, fail: 0, info: 0 };
    t[done.type]++;
    this.tally.set(planned.kind, t);
    if (done.type === 'ok') this.lastSeen.set(planned.key, planned.f === 'read' ? done.value : planned.f === 'cas' ? (planned.value as unknown[])[1] : planned.value);
    if (done.type === 'info') {
      this.log(`p${c.process} ${planned.kind} ${planned.key} ${JSON.stringify(planned.value)}: info (${done.note ?? 'indeterminate'})`);
      // Its op may still take effect: the format wants a fresh process from here on.
      c.process += this.processes;
    }
  }

  /** ms since the run started; never decreasing, as the history format requires. */
  private now(): number {
    this.lastTime = Math.max(this.lastTime, Math.round(performance.now() - this.t0));
    return this.lastTime;
  }

  private async send(t: Transport, method: string, path: string, b: unknown, signal: AbortSignal): Promise<RequestResult> {
    if (signal.aborted) return { error: new Error('aborted by stop()') };
    try {
      return { response: await t(method, path, b, { timeoutMs: this.requestTimeoutMs, signal }) };
    } catch (error) {
      return { error };
    }
  }

  private plan(c: Client): Planned {
    const rng = c.rng;
    const kinds: OpKind[] = ['reg-read', 'reg-write', 'reg-cas', 'cfg-read', 'cfg-create', 'cfg-remove'];
    if (this.service !== undefined) kinds.push('scale-read', 'scale-write');
    const kind = rng.pick(kinds);
    // Unique per op, so that the checker can tell writes apart.
    const unique = (): number => c.process * 1e6 + ++c.counter;
    switch (kind) {
      case 'reg-read': {
        const key = rng.pick(REGISTER_KEYS);
        return { kind, f: 'read', key, value: null, run: (call) => this.readRegister(call, key) };
      }
      case 'reg-write': {
        const key = rng.pick(REGISTER_KEYS);
        const v = unique();
        return { kind, f: 'write', key, value: v, run: (call) => this.writeRegister(call, key, v) };
      }
      case 'reg-cas': {
        const key = rng.pick(REGISTER_KEYS);
        const expected = this.lastSeen.get(key) ?? null;
        const v = unique();
        return { kind, f: 'cas', key, value: [expected, v], run: (call) => this.casRegister(call, key, expected, v) };
      }
      case 'cfg-read': {
        const key = rng.pick(this.cfgKeys);
        return { kind, f: 'read', key, value: null, run: (call) => this.readLifecycle(call, key) };
      }
      case 'cfg-create': {
        const key = rng.pick(this.cfgKeys);
        return { kind, f: 'cas', key, value: [null, PRESENT], run: (call) => this.createLifecycle(call, key, unique()) };
      }
      case 'cfg-remove': {
        const key = rng.pick(this.cfgKeys);
        return { kind, f: 'cas', key, value: [PRESENT, null], run: (call) => this.removeLifecycle(call, key) };
      }
      case 'scale-read':
        return { kind, f: 'read', key: REPLICAS_KEY, value: null, run: (call) => this.readReplicas(call) };
      case 'scale-write': {
        const n = rng.int(1, this.maxReplicas);
        return { kind, f: 'write', key: REPLICAS_KEY, value: n, run: (call) => this.writeReplicas(call, n) };
      }
    }
  }

  // ------------------------------------------------------------------ operations

  private async readRegister(call: Call, key: string): Promise<Completion> {
    const r = await call('GET', `/configs/${registerConfigName(key)}`);
    if (classifyRead(r) !== 'ok') return { type: 'fail', note: describeResult(r) };
    return { type: 'ok', value: labelValue(body<ConfigBody>(r)) };
  }

  /** Docker's config update: same Name and Data, new Labels, at the version read. */
  private updateRegister(call: Call, c: ConfigBody, v: number): Promise<RequestResult> {
    const spec = { Name: c.Spec.Name, Labels: { ...(c.Spec.Labels ?? {}), [VALUE_LABEL]: String(v) }, Data: c.Spec.Data };
    return call('POST', `/configs/${c.ID}/update?version=${c.Version.Index}`, spec);
  }

  private writeRegister(call: Call, key: string, v: number): Promise<Completion> {
    return this.versionedWrite(
      () => call('GET', `/configs/${registerConfigName(key)}`),
      (r) => this.updateRegister(call, body<ConfigBody>(r), v),
    );
  }

  private async casRegister(call: Call, key: string, expected: unknown, v: number): Promise<Completion> {
    const r = await call('GET', `/configs/${registerConfigName(key)}`);
    if (classifyRead(r) !== 'ok') return { type: 'fail', note: describeResult(r) };
    const c = body<ConfigBody>(r);
    if (labelValue(c) !== expected) return { type: 'fail', note: 'value differs from the expected one' };
    // At the version compared: a conflict means the value may have changed since, so no effect.
    const u = await this.updateRegister(call, c, v);
    return { type: classifyWrite(u), note: describeResult(u) };
  }

  private async readLifecycle(call: Call, key: string): Promise<Completion> {
    const r = await call('GET', `/configs/${lifecycleConfigName(key)}`);
    if ('response' in r && r.response.status === 404) return { type: 'ok', value: null };
    if (classifyRead(r) !== 'ok') return { type: 'fail', note: describeResult(r) };
    return { type: 'ok', value: PRESENT };
  }

  private async createLifecycle(call: Call, key: string, v: number): Promise<Completion> {
    const data = Buffer.from(`chaos ${key} ${v}`).toString('base64');
    const r = await call('POST', '/configs/create', { Name: lifecycleConfigName(key), Labels: {}, Data: data });
    return { type: classifyWrite(r), note: describeResult(r) };
  }

  private async removeLifecycle(call: Call, key: string): Promise<Completion> {
    const r = await call('DELETE', `/configs/${lifecycleConfigName(key)}`);
    return { type: classifyWrite(r), note: describeResult(r) };
  }

  private async readReplicas(call: Call): Promise<Completion> {
    const r = await call('GET', `/services/${this.service ?? ''}`);
    if (classifyRead(r) !== 'ok') return { type: 'fail', note: describeResult(r) };
    return { type: 'ok', value: body<ServiceBody>(r).Spec.Mode.Replicated?.Replicas ?? null };
  }

  private writeReplicas(call: Call, n: number): Promise<Completion> {
    return this.versionedWrite(
      () => call('GET', `/services/${this.service ?? ''}`),
      (r) => {
        const s = body<ServiceBody>(r);
        const spec = { ...s.Spec, Mode: { Replicated: { Replicas: n } } };
        return call('POST', `/services/${s.ID}/update?version=${s.Version.Index}`, spec);
      },
    );
  }

  /**
   * Read the version, update at it; after a version conflict (409: a definite no) read and try
   * again, WRITE_ATTEMPTS in all. Every attempt definite and refused ⇒ fail.
   */
  private async versionedWrite(read: () => Promise<RequestResult>, update: (read: RequestResult) => Promise<RequestResult>): Promise<Completion> {
    let last = '';
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      const r = await read();
      if (classifyRead(r) !== 'ok') return { type: 'fail', note: describeResult(r) };
      const u = await update(r);
      const verdict = classifyWrite(u);
      last = describeResult(u);
      if (verdict !== 'fail' || !('response' in u) || u.response.status !== 409) return { type: verdict, note: last };
    }
    return { type: 'fail', note: `${WRITE_ATTEMPTS} version conflicts, the last: ${last}` };
  }

  // ------------------------------------------------------------------ setup and final reads

  private async readAll(deadline: number): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const key of this.keys()) {
      out[key] = await this.retrying(deadline, `read ${key}`, async (t) => {
        const call: Call = (method, path, b) => this.send(t, method, path, b, new AbortController().signal);
        const read = key === REPLICAS_KEY ? this.readReplicas(call) : key.startsWith('cfg-') ? this.readLifecycle(call, key) : this.readRegister(call, key);
        const done = await read;
        return done.type === 'ok' ? { v: done.value } : undefined;
      }).then((x) => x.v);
    }
    return out;
  }

  /** Tries `attempt` on the managers in turn until it returns a value, or fails at the deadline. */
  private async retrying<T>(deadline: number, what: string, attempt: (t: Transport) => Promise<T | undefined>): Promise<T> {
    for (let i = 0; ; i++) {
      const v = await attempt(this.transports[i % this.transports.length]!);
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`could not ${what} on any manager in time`);
      await sleep(100);
    }
  }
}
