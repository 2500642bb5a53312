// Linearizability checker for read/write/cas register histories, one register per key.
//
// Wing & Gong's search with Lowe's just-in-time linearization and memoization, as in Porcupine
// and Knossos: the history is partitioned by key (a history is linearizable iff each key's
// sub-history is, so the exponential part only sees one key at a time), then for each key we walk
// a linked list of call/return entries, linearizing an op at its call when the model allows it
// and backtracking when we reach the return of an op that has not been linearized yet. A cache of
// (set of linearized ops, register value) prunes states already explored.
//
// Outcomes: `fail` ops had no effect and are dropped; `info` (and never-completed) ops may take
// effect at any point after their invoke or never, so they get no return entry (return = +inf)
// and the search succeeds once every `ok` op is linearized. Reads that did not complete ok
// constrain nothing and are dropped.
//
// Uncertain (info/pending) ops are what make the search blow up, so three sound prunings target
// them: one is only linearized where it takes effect and is immediately observed (see `owed`);
// identical ones are used in invoke order; and a state is skipped when one with the same ok ops
// and value was explored having used a subset of the uncertain ops. The tests cross-check the
// result against a brute-force search. Pure: no I/O, no clock.

import { pairOperations, stableStringify, type HistoryEvent, type Operation } from './history.js';

export interface CheckOptions {
  /** Per-key cap on memoized search states; past it the key's result is 'unknown'. */
  maxStates?: number;
}

export type CheckResult =
  | { ok: true }
  | { ok: false; key: string; reason: string; ops: string[] }
  | { ok: 'unknown'; key: string; reason: string };

export const DEFAULT_MAX_STATES = 1_000_000;

/**
 * Checks that the history is linearizable with respect to a register per key (initially null).
 * Reports the first key, in order of first appearance, that is not; a definite violation on any
 * key wins over 'unknown' on another. Throws HistoryFormatError for a malformed history.
 */
export function checkLinearizable(events: readonly HistoryEvent[], opts: CheckOptions = {}): CheckResult {
  const maxStates = opts.maxStates ?? DEFAULT_MAX_STATES;
  if (!(Number.isInteger(maxStates) && maxStates > 0)) {
    throw new RangeError(`maxStates must be a positive integer, got ${maxStates}`);
  }
  const byKey = new Map<string, Operation[]>();
  for (const op of pairOperations(events)) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  let unknown: CheckResult | null = null;
  for (const [key, ops] of byKey) {
    const r = checkKey(key, ops, maxStates);
    if (r.ok === false) return r;
    if (r.ok === 'unknown' && unknown === null) unknown = r;
  }
  return unknown ?? { ok: true };
}

const READ = 0;
const WRITE = 1;
const CAS = 2;
const NIL = -1;
const HEAD = 0;
const TAIL_SHOWN = 5; // ops of the deepest partial linearization quoted in a failure reason
const EXCERPT_MAX = 20;
const MASKS_SCANNED = 64;

function checkKey(key: string, all: Operation[], maxStates: number): CheckResult {
  // Only ops that can have had an effect or that observed something take part in the search.
  const considered = all.filter((op) => op.outcome !== 'fail' && !(op.f === 'read' && op.outcome !== 'ok'));

  // Register values become small integers (0 = null/absent) so states compare with ===.
  const ids = new Map<string, number>([['null', 0]]);
  const texts: string[] = ['null'];
  const intern = (v: unknown): number => {
    const s = stableStringify(v);
    let id = ids.get(s);
    if (id === undefined) {
      id = texts.length;
      ids.set(s, id);
      texts.push(s);
    }
    return id;
  };
  // read: [value read, -]; write: [value, value]; cas: [expected, new]. Index 1 is what it stores.
  const args = considered.map((op): [number, number] => {
    if (op.f === 'read') return [intern(op.result), -1];
    if (op.f === 'write') {
      const v = intern(op.value);
      return [v, v];
    }
    const [expected, next] = op.value as [unknown, unknown];
    return [intern(expected), intern(next)];
  });
  const isUncertain = (op: Operation): boolean => op.outcome !== 'ok';

  // A value no op could have stored cannot be observed; saying so directly beats a search trace.
  const written = new Set<number>([0, ...args.map((a) => a[1])]);
  for (let i = 0; i < considered.length; i++) {
    const op = considered[i]!;
    if (isUncertain(op) || op.f === 'write' || written.has(args[i]![0])) continue;
    const problem =
      op.f === 'read'
        ? 'returned a value'
        : `succeeded, but its expected value ${shorten(texts[args[i]![0]]!)} is one`;
    return {
      ok: false,
      key,
      reason:
        `key ${JSON.stringify(key)}: ${describe(op)} (completed at event #${op.completeIndex}) ${problem} ` +
        `that no write or cas on this key ever stored (failed ones had no effect)`,
      ops: excerpt(all, op),
    };
  }

  // Values some op observes (a read's result, a cas's expected value). An uncertain op storing a
  // value nobody observes can always be assumed never to have happened (see the search below).
  const observed = new Set<number>();
  considered.forEach((op, i) => {
    if (op.f !== 'write') observed.add(args[i]![0]);
  });
  const keep: number[] = [];
  considered.forEach((op, i) => {
    if (!isUncertain(op) || observed.has(args[i]![1])) keep.push(i);
  });

  const n = keep.length;
  const ops = keep.map((i) => considered[i]!);
  const kind = new Uint8Array(n);
  const arg = new Int32Array(n); // read: value read; write: value; cas: expected
  const arg2 = new Int32Array(n); // cas: new value
  const uncertain = new Uint8Array(n); // info or pending: may apply any time after invoke, or never
  const slot = new Int32Array(n); // index among the certain ops, or among the uncertain ones
  let certain = 0;
  let unsure = 0;
  for (let j = 0; j < n; j++) {
    const op = ops[j]!;
    const [a0, a1] = args[keep[j]!]!;
    kind[j] = op.f === 'read' ? READ : op.f === 'write' ? WRITE : CAS;
    arg[j] = a0;
    arg2[j] = a1;
    uncertain[j] = isUncertain(op) ? 1 : 0;
    slot[j] = uncertain[j] ? unsure++ : certain++;
  }
  if (certain === 0) return { ok: true };

  // Uncertain ops with the same effect are interchangeable once both are invoked, so only use
  // them in invoke order: earlier[i] is the previous such op, which must be used before op i.
  const earlier = new Int32Array(n).fill(-1);
  const lastWithEffect = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (!uncertain[i]) continue;
    const effect = `${kind[i]},${arg[i]},${arg2[i]}`;
    earlier[i] = lastWithEffect.get(effect) ?? -1;
    lastWithEffect.set(effect, i);
  }

  // Doubly linked list of entries in history order: node 0 is the head, call(i) = 1 + 2i,
  // return(i) = 2 + 2i. Uncertain ops have no return entry (they may linearize arbitrarily late).
  const size = 2 * n + 1;
  const next = new Int32Array(size).fill(NIL);
  const prev = new Int32Array(size).fill(NIL);
  const order: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    order.push([ops[i]!.invokeIndex, 1 + 2 * i]);
    if (!uncertain[i]) order.push([ops[i]!.completeIndex, 2 + 2 * i]);
  }
  order.sort((x, y) => x[0] - y[0]);
  let last = HEAD;
  for (const [, node] of order) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const unlink = (x: number): void => {
    next[prev[x]!] = next[x]!;
    if (next[x] !== NIL) prev[next[x]!] = prev[x]!;
  };
  const relink = (x: number): void => {
    next[prev[x]!] = x;
    if (next[x] !== NIL) prev[next[x]!] = x;
  };

  // Linearized ops as two bitsets: certain ops (hashed incrementally, Zobrist-style) and uncertain.
  const done = new Int32Array((certain + 31) >>> 5);
  const used = new Int32Array((unsure + 31) >>> 5);
  const zobrist = new Int32Array(certain);
  for (let c = 0; c < certain; c++) zobrist[c] = fmix32(Math.imul(c + 1, 0x9e3779b9));
  let hash = 0;
  const cache = new StateCache(done.length, used.length);
  const toggle = (i: number): void => {
    const b = slot[i]!;
    if (uncertain[i]) used[b >>> 5]! ^= 1 << (b & 31);
    else {
      done[b >>> 5]! ^= 1 << (b & 31);
      hash ^= zobrist[b]!;
    }
  };

  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n); // (state << 1) | owed before the op
  let sp = 0;
  let state = 0;
  // 1 while the last op linearized is uncertain and its new value still awaits an observer. We
  // only search linearizations where an uncertain op that takes effect is followed at once by an
  // op observing its value (a read of it, or a cas expecting it): from any linearization, deleting
  // the uncertain ops that are not (or that have no effect) leaves a valid one, so none is lost.
  let owed = 0;
  let remaining = certain;

  // The stuck point with the latest return, kept to explain a failure.
  let bestReturn = -1;
  let bestOp = -1;
  let bestState = 0;
  let bestDepth = 0;
  let bestTail: number[] = [];

  let entry = next[HEAD]!;
  for (;;) {
    if (entry !== NIL && (entry & 1) === 1) {
      const i = (entry - 1) >>> 1;
      const k = kind[i];
      let after: number;
      if (k === READ) after = state === arg[i] ? state : -1;
      else if (k === WRITE) after = owed ? -1 : arg[i]!; // would make the owed op pointless
      else after = state === arg[i] ? arg2[i]! : -1;
      if (uncertain[i] && after === state) after = -1; // no effect: assume it never happened instead
      const e = earlier[i]!;
      if (e >= 0 && (used[slot[e]! >>> 5]! & (1 << (slot[e]! & 31))) === 0) after = -1;
      if (after >= 0) {
        const nextOwed = uncertain[i]!;
        toggle(i);
        if (cache.add(done, hash, (after << 1) | nextOwed, used)) {
          if (cache.size > maxStates) {
            return {
              ok: 'unknown',
              key,
              reason:
                `key ${JSON.stringify(key)}: search budget exhausted after ${maxStates} states ` +
                `(${n} ops, ${unsure} of unknown outcome); raise maxStates or check a shorter history`,
            };
          }
          stackOp[sp] = i;
          stackState[sp] = (state << 1) | owed;
          sp++;
          state = after;
          owed = nextOwed;
          unlink(entry);
          if (!uncertain[i]) {
            unlink(entry + 1);
            if (--remaining === 0) return { ok: true };
          }
          entry = next[HEAD]!;
          continue;
        }
        toggle(i);
      }
      entry = next[entry]!;
      continue;
    }

    // Reached the return of an op not yet linearized (the list cannot end while ok ops remain,
    // but NIL is handled the same way): undo the most recent linearization and try further on.
    if (entry !== NIL) {
      const i = (entry - 2) >>> 1;
      if (ops[i]!.completeIndex > bestReturn) {
        bestReturn = ops[i]!.completeIndex;
        bestOp = i;
        bestState = state;
        bestDepth = sp;
        bestTail = Array.from(stackOp.subarray(Math.max(0, sp - TAIL_SHOWN), sp));
      }
    }
    if (sp === 0) break;
    sp--;
    const i = stackOp[sp]!;
    state = stackState[sp]! >>> 1;
    owed = stackState[sp]! & 1;
    toggle(i);
    const call = 1 + 2 * i;
    if (!uncertain[i]) {
      relink(call + 1);
      remaining++;
    }
    relink(call);
    entry = next[call]!;
  }

  const stuck = ops[bestOp]!;
  const tail =
    bestDepth === 0
      ? 'no op could even be linearized first'
      : `the deepest attempt linearized ${bestDepth} op(s), ending ` +
        `${bestTail.map((j) => describe(ops[j]!)).join('; ')}, leaving the register at ${shorten(texts[bestState]!)}`;
  return {
    ok: false,
    key,
    reason:
      `key ${JSON.stringify(key)}: not linearizable: ${describe(stuck)} ` +
      `(completed at event #${stuck.completeIndex}) has no linearization point consistent with ` +
      `the ops before it; ${tail}`,
    ops: excerpt(all, stuck),
  };
}

// Explored search states: (certain ops linearized, register value + owed flag) -> the sets of
// uncertain ops used on the way. A state is pruned when an explored one with the same key used a
// subset of its uncertain ops: having more of them still available can only help (each may
// also never happen), so whatever the new state could reach, the old one could too. Stored flat
// in typed arrays so a million states cost tens of MB rather than a million small objects.
class StateCache {
  /** Masks stored so far (the search budget's unit). */
  size = 0;
  private readonly keyStride: number;
  private groups = 0;
  private keys: Int32Array; // per group: certain words, then state
  private hashes: Int32Array; // per group
  private heads: Int32Array; // per group: first mask entry + 1
  private slots: Int32Array; // open addressing over groups: group + 1; 0 = empty
  private masks: Int32Array; // per entry: uncertain words
  private links: Int32Array; // per entry: next entry + 1 in its group
  private entries = 0;

  constructor(
    private readonly certainWords: number,
    private readonly unsureWords: number,
  ) {
    this.keyStride = certainWords + 1;
    this.keys = new Int32Array(1024 * this.keyStride);
    this.hashes = new Int32Array(1024);
    this.heads = new Int32Array(1024);
    this.slots = new Int32Array(2048);
    this.masks = new Int32Array(1024 * Math.max(1, unsureWords));
    this.links = new Int32Array(1024);
  }

  /** Records the state unless an explored state subsumes it; returns whether it was new. */
  add(done: Int32Array, doneHash: number, state: number, used: Int32Array): boolean {
    const h = fmix32(doneHash ^ Math.imul(state + 1, 0x9e3779b1));
    const { certainWords, keyStride, keys, hashes, slots } = this;
    const mask = slots.length - 1;
    let s = h & mask;
    let group = -1;
    for (let g = slots[s]!; g !== 0; g = slots[s]!) {
      const base = (g - 1) * keyStride;
      if (hashes[g - 1] === h && keys[base + certainWords] === state) {
        let w = 0;
        while (w < certainWords && keys[base + w] === done[w]) w++;
        if (w === certainWords) {
          group = g - 1;
          break;
        }
      }
      s = (s + 1) & mask;
    }
    if (group >= 0) {
      if (!this.addMask(group, used)) return false;
    } else {
      group = this.newGroup(done, h, state);
      this.slots[s] = group + 1;
      if (this.groups * 2 > this.slots.length) this.rehash();
      this.addMask(group, used);
    }
    this.size++;
    return true;
  }

  // Adds `used` to the group unless a stored mask is a subset of it; drops stored supersets.
  // Only the newest MASKS_SCANNED masks are compared, so that a long antichain of incomparable
  // masks costs bounded time per state (missing a prune only costs search time, never answers).
  private addMask(group: number, used: Int32Array): boolean {
    const words = this.unsureWords;
    let prevLink = -1; // entry whose link points at e, or -1 for the group head
    let scanned = 0;
    for (let e = this.heads[group]! - 1; e >= 0 && scanned++ < MASKS_SCANNED; ) {
      const base = e * words;
      let subset = true;
      let superset = true;
      for (let w = 0; w < words; w++) {
        const m = this.masks[base + w]!;
        const u = used[w]!;
        if ((m & ~u) !== 0) subset = false;
        if ((u & ~m) !== 0) superset = false;
      }
      if (subset) return false;
      const following = this.links[e]! - 1;
      if (superset) {
        if (prevLink < 0) this.heads[group] = following + 1;
        else this.links[prevLink] = following + 1;
      } else {
        prevLink = e;
      }
      e = following;
    }
    if (this.entries === this.links.length) {
      this.masks = grow(this.masks);
      this.links = grow(this.links);
    }
    const e = this.entries++;
    this.masks.set(used, e * words);
    this.links[e] = this.heads[group]!;
    this.heads[group] = e + 1;
    return true;
  }

  private newGroup(done: Int32Array, h: number, state: number): number {
    if (this.groups === this.hashes.length) {
      this.keys = grow(this.keys);
      this.hashes = grow(this.hashes);
      this.heads = grow(this.heads);
    }
    const g = this.groups++;
    this.keys.set(done, g * this.keyStride);
    this.keys[g * this.keyStride + this.certainWords] = state;
    this.hashes[g] = h;
    this.heads[g] = 0;
    return g;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let g = 0; g < this.groups; g++) {
      let s = this.hashes[g]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = g + 1;
    }
    this.slots = slots;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

// Murmur3's finalizer: a bijective 32-bit mix, used for op hashes and table slots.
function fmix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function showValue(v: unknown): string {
  return shorten(stableStringify(v));
}

function describe(op: Operation): string {
  let call: string;
  if (op.f === 'read') call = op.outcome === 'ok' ? `read() = ${showValue(op.result)}` : 'read()';
  else if (op.f === 'write') call = `write(${showValue(op.value)})`;
  else {
    const [expected, next] = op.value as [unknown, unknown];
    call = `cas(${showValue(expected)}, ${showValue(next)})`;
  }
  return `p${op.process} ${call}`;
}

function line(op: Operation, marked: boolean): string {
  const end = op.completeIndex === -1 ? '...' : `#${op.completeIndex}`;
  const endTime = op.completeTime === null ? '...' : String(op.completeTime);
  return `${marked ? '>> ' : '   '}[#${op.invokeIndex}..${end}] t=${op.invokeTime}..${endTime} ${describe(op)} ${op.outcome}`;
}

/**
 * The ops of one key around the op that could not be linearized: those concurrent with it, those
 * of unknown outcome invoked before it completed, and the last few that completed before it began.
 */
function excerpt(all: Operation[], stuck: Operation): string[] {
  const inv = stuck.invokeIndex;
  const ret = stuck.completeIndex;
  const open = (o: Operation): boolean => o.outcome === 'info' || o.outcome === 'pending';
  const chosen = new Set<Operation>();
  for (const o of all) {
    if (o.invokeIndex > ret) continue;
    if (open(o) || o.completeIndex >= inv) chosen.add(o);
  }
  const before = all.filter((o) => !open(o) && o.completeIndex < inv);
  before.sort((x, y) => x.completeIndex - y.completeIndex);
  for (const o of before.slice(-6)) chosen.add(o);
  let picked = [...chosen];
  if (picked.length > EXCERPT_MAX) {
    // Keep the ops nearest the stuck one in history order.
    picked.sort((x, y) => Math.abs(x.invokeIndex - inv) - Math.abs(y.invokeIndex - inv));
    picked = picked.slice(0, EXCERPT_MAX);
  }
  picked.sort((x, y) => x.invokeIndex - y.invokeIndex);
  return picked.map((o) => line(o, o === stuck));
}
