// Verdict on a chaos run's client history: is it linearizable (one register per key, initially
// null), and how many acknowledged writes did the cluster lose? Pure: no I/O, no clock.
//
// The linearizability check is the strong one. lostAckedWrites is the summary number a report
// prints; it is computed from the final state alone, with this rule (per key with a final read):
//
//   Every write-like op (write, or cas: its new value) that completed `ok` or may have taken
//   effect (`info`, or never completed) is a candidate for the key's final value, except an `ok`
//   op that is *superseded*: some other `ok` write-like op on the key was invoked after it
//   completed (so is linearized after it in every linearization). The initial null counts as an
//   `ok` write completed before the history began. The final value must be some candidate's.
//
// Sound: in any linearization the final value is that of the last effective write-like op, and
// that op cannot be superseded. When the final value is not a candidate, the acked writes made
// invisible are those invoked after the latest completion of an op that stored the final value
// (all linearized after that op, yet the value survived them): at least one. A value that no op
// ever stored counts every non-superseded acked write on the key, and at least 1.

import {
  checkLinearizable,
  pairOperations,
  valuesEqual,
  type CheckOptions,
  type HistoryEvent,
  type Operation,
} from '../../raft/sim/index.js';

export interface HistoryVerdict {
  linearizable: true | false | 'unknown';
  /** Why not linearizable (or unknown); absent when linearizable. */
  reason?: string;
  /** The first key found not linearizable (or undecided). */
  key?: string;
  /** write and cas ops that completed ok (the workload's creates and removes are cas ops). */
  ackedWrites: number;
  lostAckedWrites: number;
  /** Completions in `events` (the final reads excluded); never-completed ops count as info. */
  ops: { ok: number; fail: number; info: number };
  /** Per key with a loss, what the final state shows; empty when nothing was lost. */
  losses: { key: string; final: unknown; lost: number }[];
}

/**
 * Appends one ok read per key of `finalReads` (values read from the healed cluster after the run)
 * as ordinary read events of a fresh process, invoked after every event so far. Keys whose value
 * is `undefined` are skipped (not read).
 */
export function withFinalReads(events: readonly HistoryEvent[], finalReads: Readonly<Record<string, unknown>>): HistoryEvent[] {
  const out = events.slice();
  const process = events.reduce((max, e) => Math.max(max, e.process), -1) + 1;
  const time = events.length === 0 ? 0 : events[events.length - 1]!.time;
  for (const [key, value] of Object.entries(finalReads)) {
    if (value === undefined) continue;
    out.push({ process, type: 'invoke', f: 'read', key, value: null, time });
    out.push({ process, type: 'ok', f: 'read', key, value, time });
  }
  return out;
}

/**
 * Checks a history (without its final reads: they are appended here with withFinalReads) against
 * the final per-key values. Throws HistoryFormatError for a malformed history.
 */
export function checkHistory(events: readonly HistoryEvent[], finalReads: Readonly<Record<string, unknown>>, opts: CheckOptions = {}): HistoryVerdict {
  const ops = pairOperations(events);
  const counts = { ok: 0, fail: 0, info: 0 };
  for (const op of ops) counts[op.outcome === 'pending' ? 'info' : op.outcome]++;

  const writesByKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.f === 'read' || op.outcome === 'fail') continue;
    const list = writesByKey.get(op.key);
    if (list === undefined) writesByKey.set(op.key, [op]);
    else list.push(op);
  }
  const ackedWrites = ops.filter((op) => op.f !== 'read' && op.outcome === 'ok').length;

  const losses: HistoryVerdict['losses'] = [];
  for (const [key, final] of Object.entries(finalReads)) {
    if (final === undefined) continue;
    const lost = lostOnKey(writesByKey.get(key) ?? [], final);
    if (lost > 0) losses.push({ key, final, lost });
  }

  const verdict: HistoryVerdict = {
    linearizable: true,
    ackedWrites,
    lostAckedWrites: losses.reduce((n, l) => n + l.lost, 0),
    ops: counts,
    losses,
  };
  const lin = checkLinearizable(withFinalReads(events, finalReads), opts);
  if (lin.ok !== true) {
    verdict.linearizable = lin.ok;
    verdict.reason = lin.reason;
    verdict.key = lin.key;
  }
  return verdict;
}

/** What a write-like op stores. */
function newValue(op: Operation): unknown {
  return op.f === 'cas' ? (op.value as [unknown, unknown])[1] : op.value;
}

// The rule in the header, for one key: `writes` are its write/cas ops that did not fail.
function lostOnKey(writes: readonly Operation[], final: unknown): number {
  const acked = writes.filter((w) => w.outcome === 'ok');
  // The latest invoke of an acked op: an acked op that completed before it is superseded.
  const lastAckedInvoke = acked.reduce((max, w) => Math.max(max, w.invokeIndex), -Infinity);
  const superseded = (completeIndex: number): boolean => lastAckedInvoke > completeIndex;

  const INITIAL = -1; // the initial null, as if written and completed before event #0
  const storers: number[] = []; // completion indexes of the superseded ops that stored `final`
  if (final === null) {
    if (!superseded(INITIAL)) return 0;
    storers.push(INITIAL);
  }
  for (const w of writes) {
    if (!valuesEqual(newValue(w), final)) continue;
    if (w.outcome !== 'ok' || !superseded(w.completeIndex)) return 0;
    storers.push(w.completeIndex);
  }
  if (storers.length === 0) {
    // A value from nowhere: every acked write still in the race for last is invisible.
    return Math.max(1, acked.filter((w) => !superseded(w.completeIndex)).length);
  }
  const latest = Math.max(...storers);
  return acked.filter((w) => w.invokeIndex > latest).length;
}
