import { describe, expect, it } from 'vitest';
import { History, type HistoryEvent, type OpFunction } from './history.js';
import { checkLinearizable, type CheckResult } from './linearizability.js';

import { Rng } from '../index.js';

// Seeded, so random tests replay exactly.
function mulberry32(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

// Builds hand-written histories with times 0, 1, 2, ...
class H {
  private readonly h = new History();
  private t = 0;

  inv(p: number, f: OpFunction, key: string, value: unknown = null): this {
    this.h.invoke(p, f, key, value, this.t++);
    return this;
  }
  ok(p: number, value?: unknown): this {
    if (value === undefined) this.h.complete(p, 'ok', this.t++);
    else this.h.complete(p, 'ok', value, this.t++);
    return this;
  }
  fail(p: number): this {
    this.h.complete(p, 'fail', this.t++);
    return this;
  }
  info(p: number): this {
    this.h.complete(p, 'info', this.t++);
    return this;
  }
  /** A whole op by process p with nothing concurrent. */
  op(p: number, f: OpFunction, key: string, value: unknown, result?: unknown): this {
    return this.inv(p, f, key, f === 'read' ? null : value).ok(p, f === 'read' ? (result ?? value) : undefined);
  }
  get events(): HistoryEvent[] {
    return this.h.events();
  }
}

function expectFail(r: CheckResult, key: string): Extract<CheckResult, { ok: false }> {
  expect(r.ok).toBe(false);
  if (r.ok !== false) throw new Error('unreachable');
  expect(r.key).toBe(key);
  expect(r.reason).toContain(`key ${JSON.stringify(key)}`);
  expect(r.ops.some((l) => l.startsWith('>> '))).toBe(true);
  return r;
}

describe('checkLinearizable: hand-built histories', () => {
  it('accepts an empty history and a sequential one', () => {
    expect(checkLinearizable([])).toEqual({ ok: true });
    const h = new H()
      .op(1, 'read', 'x', null)
      .op(1, 'write', 'x', 1)
      .op(2, 'read', 'x', 1)
      .op(2, 'cas', 'x', [1, 2])
      .op(1, 'read', 'x', 2)
      .op(1, 'write', 'x', 2)
      .op(3, 'read', 'x', 2);
    expect(checkLinearizable(h.events)).toEqual({ ok: true });
  });

  it('accepts either order of an overlapping write and read', () => {
    for (const seen of [null, 1]) {
      const h = new H().op(1, 'read', 'x', null).inv(1, 'write', 'x', 1).inv(2, 'read', 'x').ok(2, seen).ok(1);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
    }
    // The read may also complete after the write did, as long as it started before.
    const h = new H().inv(2, 'read', 'x').inv(1, 'write', 'x', 1).ok(1).ok(2, null);
    expect(checkLinearizable(h.events)).toEqual({ ok: true });
  });

  it('rejects a stale read after a completed write, naming the key', () => {
    const h = new H().op(1, 'write', 'x', 1).op(1, 'write', 'x', 2).op(2, 'read', 'x', 1);
    const r = expectFail(checkLinearizable(h.events), 'x');
    expect(r.reason).toContain('p2 read() = 1');
    expect(r.ops).toContain('>> [#4..#5] t=4..5 p2 read() = 1 ok');
    expect(r.ops).toContain('   [#2..#3] t=2..3 p1 write(2) ok');
  });

  it('rejects a read that sees a write invoked only after the read completed', () => {
    const h = new H().op(2, 'read', 'x', 1).op(1, 'write', 'x', 1);
    expectFail(checkLinearizable(h.events), 'x');
  });

  it('rejects a read of a value never written', () => {
    const h = new H().op(1, 'write', 'x', 1).op(2, 'read', 'x', 7);
    const r = expectFail(checkLinearizable(h.events), 'x');
    expect(r.reason).toMatch(/p2 read\(\) = 7 \(completed at event #3\) returned a value that no write or cas on this key ever stored/);
  });

  it('compares values strictly for primitives and structurally for objects', () => {
    const objects = new H().op(1, 'write', 'x', { a: 1, b: [1, 2] }).op(2, 'read', 'x', { b: [1, 2], a: 1 });
    expect(checkLinearizable(objects.events)).toEqual({ ok: true });
    const strings = new H().op(1, 'write', 'x', 1).op(2, 'read', 'x', '1');
    expectFail(checkLinearizable(strings.events), 'x');
  });

  describe('cas', () => {
    it('succeeds only when the register holds the expected value', () => {
      const fromAbsent = new H().op(1, 'cas', 'x', [null, 1]).op(2, 'read', 'x', 1);
      expect(checkLinearizable(fromAbsent.events)).toEqual({ ok: true });
      const wrong = new H().op(1, 'write', 'x', 1).op(2, 'cas', 'x', [2, 3]);
      expectFail(checkLinearizable(wrong.events), 'x');
      // The expected value was written, but overwritten before the cas began.
      const stale = new H().op(1, 'write', 'x', 1).op(1, 'write', 'x', 2).op(2, 'cas', 'x', [1, 3]);
      expectFail(checkLinearizable(stale.events), 'x');
    });

    it('treats a failed cas as having no effect', () => {
      const h = new H().op(1, 'write', 'x', 1).inv(2, 'cas', 'x', [5, 6]).fail(2).op(3, 'read', 'x', 1);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
      const seen = new H().op(1, 'write', 'x', 1).inv(2, 'cas', 'x', [1, 9]).fail(2).op(3, 'read', 'x', 9);
      expectFail(checkLinearizable(seen.events), 'x');
    });

    it('lets a cas of unknown outcome either apply or not', () => {
      const applied = new H().op(1, 'write', 'x', 1).inv(2, 'cas', 'x', [1, 2]).info(2).op(3, 'read', 'x', 2);
      expect(checkLinearizable(applied.events)).toEqual({ ok: true });
      const notApplied = new H().op(1, 'write', 'x', 1).inv(2, 'cas', 'x', [1, 2]).info(2).op(3, 'read', 'x', 1);
      expect(checkLinearizable(notApplied.events)).toEqual({ ok: true });
      // It cannot apply once the register no longer holds its expected value.
      const tooLate = new H()
        .op(1, 'write', 'x', 1)
        .inv(2, 'cas', 'x', [1, 2])
        .info(2)
        .op(1, 'write', 'x', 3)
        .op(3, 'read', 'x', 3)
        .op(3, 'read', 'x', 2);
      expectFail(checkLinearizable(tooLate.events), 'x');
    });

    it('rejects a successful cas expecting a value never stored', () => {
      const h = new H().op(1, 'write', 'x', 1).op(2, 'cas', 'x', [3, 4]);
      const r = expectFail(checkLinearizable(h.events), 'x');
      expect(r.reason).toContain('p2 cas(3, 4) (completed at event #3) succeeded, but its expected value 3');
    });

    it('orders successful cas ops on one register', () => {
      // Two concurrent cas(null, _) cannot both succeed.
      const h = new H().inv(1, 'cas', 'x', [null, 1]).inv(2, 'cas', 'x', [null, 2]).ok(1).ok(2);
      expectFail(checkLinearizable(h.events), 'x');
      const chain = new H().inv(1, 'cas', 'x', [null, 1]).inv(2, 'cas', 'x', [1, 2]).ok(2).ok(1).op(3, 'read', 'x', 2);
      expect(checkLinearizable(chain.events)).toEqual({ ok: true });
    });
  });

  describe('info and pending', () => {
    it('accepts an info write that becomes visible long after its info', () => {
      const h = new H()
        .op(1, 'write', 'x', 1)
        .inv(2, 'write', 'x', 2)
        .info(2)
        .op(3, 'read', 'x', 1)
        .op(3, 'read', 'x', 1)
        .op(4, 'read', 'x', 2);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
    });

    it('accepts an info write that never becomes visible', () => {
      const h = new H().op(1, 'write', 'x', 1).inv(2, 'write', 'x', 2).info(2).op(3, 'read', 'x', 1).op(3, 'read', 'x', 1);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
    });

    it('rejects going back to an older value after an info write was read', () => {
      const h = new H()
        .op(1, 'write', 'x', 1)
        .inv(2, 'write', 'x', 2)
        .info(2)
        .op(3, 'read', 'x', 2)
        .op(3, 'read', 'x', 1);
      const r = expectFail(checkLinearizable(h.events), 'x');
      expect(r.ops.some((l) => l.includes('p2 write(2) info'))).toBe(true);
    });

    it('does not let an info write take effect before it was invoked', () => {
      const h = new H().op(3, 'read', 'x', 2).inv(2, 'write', 'x', 2).info(2);
      expectFail(checkLinearizable(h.events), 'x');
    });

    it('treats an op still outstanding at the end like info', () => {
      const h = new H().op(1, 'write', 'x', 1).inv(2, 'write', 'x', 2).op(3, 'read', 'x', 2).op(3, 'read', 'x', 2);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
      const back = new H().op(1, 'write', 'x', 1).inv(2, 'write', 'x', 2).op(3, 'read', 'x', 2).op(3, 'read', 'x', 1);
      expectFail(checkLinearizable(back.events), 'x');
    });

    it('uses each info op at most once, without trying every choice among identical ones', () => {
      // 20 info writes each of 1 and 2, then reads alternating 1, 2, 1, ...: every change of value
      // needs a fresh write, so `reads` reads need reads - 1 of the 40 (the first read sees 1 from
      // the ok write). Exhausting the choices among identical writes would take 2^40 states.
      const alternating = (reads: number): HistoryEvent[] => {
        const h = new H().op(0, 'write', 'x', 1);
        for (let p = 1; p <= 40; p++) h.inv(p, 'write', 'x', p <= 20 ? 1 : 2);
        for (let p = 1; p <= 40; p++) h.info(p);
        for (let r = 0; r < reads; r++) h.op(100, 'read', 'x', r % 2 === 0 ? 1 : 2);
        return h.events;
      };
      expect(checkLinearizable(alternating(41))).toEqual({ ok: true });
      expectFail(checkLinearizable(alternating(42)), 'x');
    });

    it('ignores reads that did not complete ok, and failed writes', () => {
      const h = new H()
        .op(1, 'write', 'x', 1)
        .inv(2, 'read', 'x')
        .info(2)
        .inv(3, 'read', 'x')
        .fail(3)
        .inv(4, 'write', 'x', 5)
        .fail(4)
        .op(1, 'read', 'x', 1);
      expect(checkLinearizable(h.events)).toEqual({ ok: true });
      const failedSeen = new H().inv(4, 'write', 'x', 5).fail(4).op(1, 'read', 'x', 5);
      expectFail(checkLinearizable(failedSeen.events), 'x');
    });
  });

  it('checks keys independently and reports the violating key', () => {
    const h = new H()
      .op(1, 'write', 'a', 1)
      .inv(1, 'write', 'b', 1)
      .op(2, 'read', 'a', 1)
      .ok(1)
      .op(2, 'write', 'b', 2)
      .op(3, 'read', 'a', 1)
      .op(3, 'read', 'b', 1) // stale: b was 2 already
      .op(1, 'read', 'c', null);
    const r = expectFail(checkLinearizable(h.events), 'b');
    // The excerpt only shows ops on that key.
    expect(r.ops).toEqual([
      '   [#2..#5] t=2..5 p1 write(1) ok',
      '   [#6..#7] t=6..7 p2 write(2) ok',
      '>> [#10..#11] t=10..11 p3 read() = 1 ok',
    ]);
    // Values on other keys do not interfere: 'a' reading 1 is fine although 'b' was 2.
    expect(checkLinearizable(h.events.slice(0, 10))).toEqual({ ok: true });
  });

  it('gives up with unknown when the search budget runs out, and a violation still wins', () => {
    // n concurrent writes, then two reads seeing different values: impossible, and the search has
    // to try the orders of the writes to find out.
    const wide = (n: number, key: string, first: number): H => {
      const h = new H();
      for (let p = 0; p < n; p++) h.inv(first + p, 'write', key, p);
      for (let p = 0; p < n; p++) h.ok(first + p);
      return h.op(first + n, 'read', key, 0).op(first + n, 'read', key, 1);
    };
    expectFail(checkLinearizable(wide(6, 'w', 0).events), 'w');
    const big = wide(18, 'w', 0).events;
    const r = checkLinearizable(big, { maxStates: 1000 });
    expect(r.ok).toBe('unknown');
    if (r.ok !== 'unknown') throw new Error('unreachable');
    expect(r.key).toBe('w');
    expect(r.reason).toMatch(/budget exhausted after 1000 states/);

    const stale = new H().op(100, 'write', 's', 1).op(100, 'write', 's', 2).op(101, 'read', 's', 1).events;
    const shifted = stale.map((e) => ({ ...e, time: e.time + big.length }));
    expectFail(checkLinearizable([...big, ...shifted], { maxStates: 1000 }), 's');
  });

  it('rejects a malformed history and a bad budget', () => {
    const h = new H().op(1, 'write', 'x', 1).events;
    expect(() => checkLinearizable([h[1]!])).toThrow(/no outstanding operation/);
    expect(() => checkLinearizable(h, { maxStates: 0 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Random histories

interface GenOptions {
  ops: number;
  clients: number;
  keys: number;
  values: number;
  infoRate: number;
  failRate: number;
}

/**
 * Runs clients against a real register map, choosing each op's linearization point (the moment
 * it is applied) strictly between its invoke and completion, so the history is linearizable by
 * construction. Ops that time out with info before being applied may be applied later or never.
 */
function genLinearizable(seed: number, o: GenOptions): HistoryEvent[] {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const h = new History();
  let t = 0;
  const reg = new Map<string, unknown>();
  const get = (k: string): unknown => (reg.has(k) ? reg.get(k) : null);
  interface Op {
    f: OpFunction;
    key: string;
    value: unknown;
    applied: boolean;
    result: unknown;
    casOk: boolean;
  }
  const apply = (op: Op): void => {
    if (op.f === 'read') op.result = get(op.key);
    else if (op.f === 'write') reg.set(op.key, op.value);
    else {
      const [expected, next] = op.value as [unknown, unknown];
      op.casOk = get(op.key) === expected;
      if (op.casOk) reg.set(op.key, next);
    }
    op.applied = true;
  };
  const slots = Array.from({ length: o.clients }, (_, i) => ({ proc: i, op: null as Op | null }));
  let nextProc = o.clients;
  const zombies: Op[] = [];
  let invoked = 0;
  for (;;) {
    if (invoked >= o.ops && (rnd() < 0.05 || slots.every((s) => s.op === null))) break; // leave some pending
    if (zombies.length > 0 && rnd() < 0.05) {
      const [z] = zombies.splice(int(zombies.length), 1);
      if (rnd() < 0.5) apply(z!); // an info op taking effect long after its info, or never
      continue;
    }
    const s = slots[int(slots.length)]!;
    const op = s.op;
    if (op === null) {
      if (invoked >= o.ops) continue;
      const key = `k${int(o.keys)}`;
      const r = rnd();
      const f: OpFunction = r < 0.45 ? 'read' : r < 0.8 ? 'write' : 'cas';
      const pick = (): unknown => (rnd() < 0.1 ? null : int(o.values));
      const value = f === 'read' ? null : f === 'write' ? int(o.values) : [rnd() < 0.6 ? get(key) : pick(), int(o.values)];
      s.op = { f, key, value, applied: false, result: null, casOk: false };
      h.invoke(s.proc, f, key, value, t++);
      invoked++;
      continue;
    }
    const r = rnd();
    if (!op.applied) {
      if (r < o.infoRate) {
        h.complete(s.proc, 'info', t++);
        if (op.f !== 'read') zombies.push(op);
        s.proc = nextProc++;
        s.op = null;
      } else if (r < o.infoRate + o.failRate) {
        h.complete(s.proc, 'fail', t++); // rejected before it was proposed
        s.op = null;
      } else {
        apply(op);
      }
      continue;
    }
    if (r < o.infoRate) {
      h.complete(s.proc, 'info', t++);
      s.proc = nextProc++;
    } else if (op.f === 'read') {
      h.complete(s.proc, 'ok', op.result, t++);
    } else {
      h.complete(s.proc, op.f === 'cas' && !op.casOk ? 'fail' : 'ok', t++);
    }
    s.op = null;
  }
  return h.events();
}

const SMALL: GenOptions = { ops: 200, clients: 6, keys: 3, values: 5, infoRate: 0.05, failRate: 0.05 };

describe('checkLinearizable: random histories', () => {
  it('accepts linearizable-by-construction histories', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const events = genLinearizable(seed, SMALL);
      const r = checkLinearizable(events);
      expect(r, `seed ${seed}`).toEqual({ ok: true });
    }
  });

  it('rejects them once one read returns a value never written', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const events = genLinearizable(seed, SMALL);
      const rnd = mulberry32(seed ^ 0x5eed);
      const reads = events.flatMap((e, i) => (e.f === 'read' && e.type === 'ok' ? [i] : []));
      const i = reads[Math.floor(rnd() * reads.length)]!;
      const mutated = events.slice();
      mutated[i] = { ...events[i]!, value: 'never-written' };
      const r = checkLinearizable(mutated);
      expect(r.ok, `seed ${seed}`).toBe(false);
      if (r.ok === false) expect(r.key).toBe(events[i]!.key);
    }
  });

  it('checks a 1000-op, 10-process, 5-key history in well under a second', () => {
    const opts: GenOptions = { ops: 1000, clients: 10, keys: 5, values: 10, infoRate: 0.03, failRate: 0.03 };
    for (let seed = 1; seed <= 5; seed++) {
      const events = genLinearizable(seed, opts);
      const start = performance.now();
      expect(checkLinearizable(events)).toEqual({ ok: true });
      expect(performance.now() - start).toBeLessThan(1000);
    }
  });

  it('handles a single hot key with 10 clients and many unknown outcomes', () => {
    const opts: GenOptions = { ops: 400, clients: 10, keys: 1, values: 4, infoRate: 0.1, failRate: 0.05 };
    for (let seed = 1; seed <= 10; seed++) {
      expect(checkLinearizable(genLinearizable(seed, opts)), `seed ${seed}`).toEqual({ ok: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-check against brute force on small arbitrary (mostly non-linearizable) histories.

interface ArbitraryOptions {
  maxOps: number;
  processes: number;
  infoRate: number;
}

/** Random single-key histories whose results are made up, so many are not linearizable. */
function genArbitrary(seed: number, o: ArbitraryOptions): HistoryEvent[] {
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const val = (): unknown => (rnd() < 0.25 ? null : 1 + int(3));
  const h = new History();
  const total = 2 + int(o.maxOps - 1);
  const busy = new Map<number, OpFunction>();
  let nextProc = 0;
  const free: number[] = Array.from({ length: o.processes }, () => nextProc++);
  let invoked = 0;
  for (let t = 0; invoked < total || busy.size > 0; t++) {
    if (invoked >= total && rnd() < 0.1) break; // leave some pending
    if (free.length > 0 && invoked < total && (busy.size === 0 || rnd() < 0.5)) {
      const p = free.shift()!;
      const r = rnd();
      const f: OpFunction = r < 0.4 ? 'read' : r < 0.75 ? 'write' : 'cas';
      h.invoke(p, f, 'x', f === 'read' ? null : f === 'write' ? 1 + int(3) : [val(), 1 + int(3)], t);
      busy.set(p, f);
      invoked++;
      continue;
    }
    const procs = [...busy.keys()];
    const p = procs[int(procs.length)]!;
    const f = busy.get(p)!;
    busy.delete(p);
    const r = rnd();
    if (r < o.infoRate) {
      h.complete(p, 'info', t);
      free.push(nextProc++);
    } else {
      if (r < 0.3) h.complete(p, 'fail', t);
      else if (f === 'read') h.complete(p, 'ok', val(), t);
      else h.complete(p, 'ok', t);
      free.push(p);
    }
  }
  return h.events();
}

/** Direct search over all orders of ops, straight from the definition. */
function bruteForce(events: HistoryEvent[]): boolean {
  interface Op {
    f: OpFunction;
    value: unknown;
    result: unknown;
    type: string;
    inv: number;
    ret: number;
  }
  const ops: Op[] = [];
  const open = new Map<number, Op>();
  events.forEach((e, i) => {
    if (e.type === 'invoke') {
      const op: Op = { f: e.f, value: e.value, result: null, type: 'pending', inv: i, ret: Infinity };
      ops.push(op);
      open.set(e.process, op);
    } else {
      const op = open.get(e.process)!;
      open.delete(e.process);
      op.type = e.type;
      op.result = e.value;
      if (e.type !== 'info') op.ret = i;
    }
  });
  const candidates = ops.filter((op) => op.type !== 'fail' && !(op.f === 'read' && op.type !== 'ok'));
  const must = candidates.filter((op) => op.type === 'ok').length;
  const used = new Set<Op>();
  const search = (state: unknown, done: number): boolean => {
    if (done === must) return true; // the remaining uncertain ops never took effect
    for (const op of candidates) {
      if (used.has(op)) continue;
      if (candidates.some((q) => !used.has(q) && q !== op && q.ret < op.inv)) continue; // real-time order
      let next: unknown;
      if (op.f === 'read') {
        if (state !== op.result) continue;
        next = state;
      } else if (op.f === 'write') {
        next = op.value;
      } else {
        const [expected, n] = op.value as [unknown, unknown];
        if (state === expected) next = n;
        else if (op.type === 'ok') continue;
        else next = state;
      }
      used.add(op);
      const found = search(next, done + (op.type === 'ok' ? 1 : 0));
      used.delete(op);
      if (found) return true;
    }
    return false;
  };
  return search(null, 0);
}

describe('checkLinearizable: agrees with brute force', () => {
  const cases: Array<[string, ArbitraryOptions]> = [
    ['up to 7 ops, 3 processes', { maxOps: 7, processes: 3, infoRate: 0.15 }],
    ['up to 8 ops, 4 processes, many info', { maxOps: 8, processes: 4, infoRate: 0.4 }],
  ];
  it.each(cases)('on 2000 small random histories: %s', (_name, opts) => {
    let linearizable = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const events = genArbitrary(seed, opts);
      const expected = bruteForce(events);
      const r = checkLinearizable(events);
      expect(r.ok, `seed ${seed}`).toBe(expected);
      if (expected) linearizable++;
    }
    // Both outcomes must be well represented for the comparison to mean anything.
    expect(linearizable).toBeGreaterThan(300);
    expect(linearizable).toBeLessThan(1700);
  });
});
