// Client histories of the simulated key-value store, in Jepsen's shape: every operation is an
// `invoke` event followed (maybe) by one completion event from the same process. The format is
// one JSON object per line so that a failing seed's history can be saved, diffed and re-checked.
// Pure: no I/O, no clock; callers supply the times.

export type OpFunction = 'read' | 'write' | 'cas';
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';
export type CompletionType = Exclude<EventType, 'invoke'>;

export interface HistoryEvent {
  process: number;
  type: EventType;
  f: OpFunction;
  key: string;
  /**
   * read: null on invoke, the value read (null if absent) on ok, null on fail/info;
   * write: the value written; cas: [expected, new]. Completions of write/cas repeat the invoke's value.
   */
  value: unknown;
  /** Logical or ms; never decreases along the history. Informational: the order of events is what counts. */
  time: number;
}

/** One invoke paired with its completion, as the checker sees it. */
export interface Operation {
  process: number;
  f: OpFunction;
  key: string;
  /** The invoke's value: null for a read, the value for a write, [expected, new] for a cas. */
  value: unknown;
  /** The completion's value (for a read that completed ok: the value read); undefined while pending. */
  result: unknown;
  /** 'pending' when the history ends before the operation completes; checkers treat it like 'info'. */
  outcome: CompletionType | 'pending';
  /** Positions in the event array; completeIndex is -1 while pending. */
  invokeIndex: number;
  completeIndex: number;
  invokeTime: number;
  completeTime: number | null;
}

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const OP_FUNCTIONS: readonly OpFunction[] = ['read', 'write', 'cas'];
const FIELDS = ['process', 'type', 'f', 'key', 'value', 'time'] as const;
type Field = (typeof FIELDS)[number];

/** A malformed event or event sequence; `line` is set by parseJsonLines, `index` for event arrays. */
export class HistoryFormatError extends Error {
  readonly field: Field | null;
  readonly line: number | null;
  readonly index: number | null;

  constructor(message: string, field: Field | null, where: { line?: number; index?: number } = {}) {
    super(message);
    this.name = 'HistoryFormatError';
    this.field = field;
    this.line = where.line ?? null;
    this.index = where.index ?? null;
  }
}

// Thrown by the shared checks below, then wrapped with a location by each entry point.
class Problem extends Error {
  constructor(
    readonly field: Field | null,
    readonly detail: string,
  ) {
    super(detail);
  }
}

function problemMessage(where: string, p: Problem): string {
  return p.field === null ? `${where}: ${p.detail}` : `${where}, field "${p.field}": ${p.detail}`;
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

/** True for values that survive a JSON round trip unchanged (so histories can be saved and compared). */
export function isJsonValue(v: unknown): boolean {
  return jsonValue(v, new Set());
}

function jsonValue(v: unknown, ancestors: Set<object>): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object') return false;
  if (ancestors.has(v)) return false; // cycles cannot be serialized
  if (!Array.isArray(v)) {
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false; // Map, Date, class instances lose data
  }
  ancestors.add(v);
  const ok = Object.values(v).every((x) => jsonValue(x, ancestors));
  ancestors.delete(v);
  return ok;
}

/**
 * A canonical JSON text of a JSON value: object keys sorted, so two structurally equal values give
 * the same string. The checker compares register values by this (strict equality for primitives).
 */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    // JSON.stringify maps -0 to "0", matching ===; undefined (absent) reads as null.
    return v === undefined ? 'null' : JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const rec = v as Record<string, unknown>;
  const keys = Object.keys(rec).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(rec[k])}`).join(',')}}`;
}

/** Equality of register values: === for primitives, canonical JSON for arrays and objects. */
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return stableStringify(a) === stableStringify(b);
}

// Field-level checks of one event, shared by the recorder, the parser and pairOperations.
function checkEvent(raw: unknown): HistoryEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Problem(null, `expected a JSON object, got ${show(raw)}`);
  }
  const rec = raw as Record<string, unknown>;
  for (const field of FIELDS) {
    if (!Object.hasOwn(rec, field)) throw new Problem(field, 'missing');
  }
  const { process, type, f, key, value, time } = rec;
  if (typeof process !== 'number' || !Number.isSafeInteger(process)) {
    throw new Problem('process', `expected an integer, got ${show(process)}`);
  }
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
    throw new Problem('type', `expected one of ${EVENT_TYPES.join(', ')}, got ${show(type)}`);
  }
  if (typeof f !== 'string' || !(OP_FUNCTIONS as readonly string[]).includes(f)) {
    throw new Problem('f', `expected one of ${OP_FUNCTIONS.join(', ')}, got ${show(f)}`);
  }
  if (typeof key !== 'string') throw new Problem('key', `expected a string, got ${show(key)}`);
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new Problem('time', `expected a finite number, got ${show(time)}`);
  }
  if (!isJsonValue(value)) throw new Problem('value', `expected a JSON value, got ${show(value)}`);
  const ev: HistoryEvent = { process, type: type as EventType, f: f as OpFunction, key, value, time };
  if (ev.f === 'read' && ev.type !== 'ok' && value !== null) {
    throw new Problem('value', `a read's ${ev.type} carries no value and must be null, got ${show(value)}`);
  }
  if (ev.f === 'cas' && !(Array.isArray(value) && value.length === 2)) {
    throw new Problem('value', `a cas value must be [expected, new], got ${show(value)}`);
  }
  return ev;
}

// Sequence-level checks (one outstanding op per process, completions match their invoke, time
// monotonic, no reuse of a process after info) that also pair invokes with completions.
class Sequencer {
  readonly ops: Operation[] = [];
  private readonly outstanding = new Map<number, { op: Operation; where: string }>();
  private readonly retired = new Map<number, string>(); // process -> where its info completion was
  private lastTime = -Infinity;
  private count = 0;

  /** `where` names the event for messages about it later ("line 4", "event #3"). */
  accept(ev: HistoryEvent, where: string): void {
    if (ev.time < this.lastTime) {
      throw new Problem('time', `${ev.time} is earlier than the previous event's time ${this.lastTime}`);
    }
    const index = this.count;
    const open = this.outstanding.get(ev.process);
    if (ev.type === 'invoke') {
      if (open !== undefined) {
        throw new Problem(
          'process',
          `process ${ev.process} already has an outstanding ${open.op.f} on ${show(open.op.key)} (invoked at ${open.where})`,
        );
      }
      const retiredAt = this.retired.get(ev.process);
      if (retiredAt !== undefined) {
        throw new Problem(
          'process',
          `process ${ev.process} completed with info at ${retiredAt}, so it may not invoke again; use a fresh process number`,
        );
      }
      const op: Operation = {
        process: ev.process,
        f: ev.f,
        key: ev.key,
        value: ev.value,
        result: undefined,
        outcome: 'pending',
        invokeIndex: index,
        completeIndex: -1,
        invokeTime: ev.time,
        completeTime: null,
      };
      this.outstanding.set(ev.process, { op, where });
      this.ops.push(op);
    } else {
      if (open === undefined) {
        const retiredAt = this.retired.get(ev.process);
        const why = retiredAt === undefined ? '' : ` (its last operation completed with info at ${retiredAt})`;
        throw new Problem('process', `process ${ev.process} has no outstanding operation to complete${why}`);
      }
      const { op } = open;
      if (ev.f !== op.f) throw new Problem('f', `completes a ${op.f} (invoked at ${open.where}) but says ${ev.f}`);
      if (ev.key !== op.key) {
        throw new Problem('key', `completes an op on ${show(op.key)} (invoked at ${open.where}) but says ${show(ev.key)}`);
      }
      if (op.f !== 'read' && !valuesEqual(ev.value, op.value)) {
        throw new Problem(
          'value',
          `a ${op.f} completion must repeat the invoke's value ${show(op.value)}, got ${show(ev.value)}`,
        );
      }
      op.result = ev.value;
      op.outcome = ev.type;
      op.completeIndex = index;
      op.completeTime = ev.time;
      this.outstanding.delete(ev.process);
      if (ev.type === 'info') this.retired.set(ev.process, where);
    }
    this.lastTime = ev.time;
    this.count++;
  }
}

/**
 * Validates an event array and pairs each invoke with its completion. Operations come in invoke
 * order; ones still outstanding at the end are 'pending'. Throws HistoryFormatError naming the event.
 */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  const seq = new Sequencer();
  events.forEach((raw, index) => {
    try {
      seq.accept(checkEvent(raw), `event #${index}`);
    } catch (e) {
      if (e instanceof Problem) throw new HistoryFormatError(problemMessage(`event #${index}`, e), e.field, { index });
      throw e;
    }
  });
  return seq.ops;
}

/** Records a history as the simulator runs, rejecting events that break the format's rules. */
export class History {
  private readonly log: HistoryEvent[] = [];
  private readonly seq = new Sequencer();
  private readonly invoked = new Map<number, HistoryEvent>();

  /** Starts an operation. For a read, value is ignored (recorded as null). */
  invoke(process: number, f: OpFunction, key: string, value: unknown, time: number): HistoryEvent {
    return this.record('invoke', { process, type: 'invoke', f, key, value: f === 'read' ? null : value, time });
  }

  /**
   * Completes the process's outstanding operation: `complete(p, type, time)` or
   * `complete(p, type, value, time)`. A read completed ok needs the value read (null if absent);
   * write and cas completions repeat the invoke's value, which is the default.
   */
  complete(process: number, type: CompletionType, ...rest: [time: number] | [value: unknown, time: number]): HistoryEvent {
    const [value, time] = rest.length === 1 ? [undefined, rest[0]] : rest;
    const inv = this.invoked.get(process);
    if (inv === undefined) {
      // Let the sequencer produce its usual message.
      return this.record('complete', { process, type, f: 'read', key: '', value: null, time });
    }
    let v = value;
    if (inv.f === 'read') {
      if (type === 'ok' && v === undefined) {
        throw new HistoryFormatError(
          `History.complete(process ${process}), field "value": a read completed ok needs the value read (null if absent)`,
          'value',
        );
      }
      if (type !== 'ok') v = null;
    } else if (v === undefined) {
      v = inv.value;
    }
    return this.record('complete', { process, type, f: inv.f, key: inv.key, value: v, time });
  }

  /** The events so far, in order (a copy; events are frozen). */
  events(): HistoryEvent[] {
    return this.log.slice();
  }

  private record(method: 'invoke' | 'complete', raw: HistoryEvent): HistoryEvent {
    const index = this.log.length;
    try {
      const ev = Object.freeze(checkEvent(raw));
      this.seq.accept(ev, `event #${index}`);
      this.log.push(ev);
      if (ev.type === 'invoke') this.invoked.set(ev.process, ev);
      else this.invoked.delete(ev.process);
      return ev;
    } catch (e) {
      if (e instanceof Problem) {
        throw new HistoryFormatError(problemMessage(`History.${method}(process ${raw.process})`, e), e.field, { index });
      }
      throw e;
    }
  }
}

/** One JSON object per line, fields in a fixed order, with a trailing newline. */
export function toJsonLines(events: readonly HistoryEvent[]): string {
  let out = '';
  for (const e of events) {
    out += `${JSON.stringify({ process: e.process, type: e.type, f: e.f, key: e.key, value: e.value, time: e.time })}\n`;
  }
  return out;
}

/**
 * Parses and validates JSON lines (blank lines are skipped, unknown fields ignored). Throws
 * HistoryFormatError whose message names the 1-based line and the offending field.
 */
export function parseJsonLines(text: string): HistoryEvent[] {
  const seq = new Sequencer();
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new HistoryFormatError(`line ${lineNo}: invalid JSON (${why})`, null, { line: lineNo });
    }
    try {
      const ev = checkEvent(raw);
      seq.accept(ev, `line ${lineNo}`);
      events.push(ev);
    } catch (e) {
      if (e instanceof Problem) {
        throw new HistoryFormatError(problemMessage(`line ${lineNo}`, e), e.field, { line: lineNo });
      }
      throw e;
    }
  }
  return events;
}
