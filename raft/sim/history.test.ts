import { describe, expect, it } from 'vitest';
import {
  History,
  HistoryFormatError,
  pairOperations,
  parseJsonLines,
  stableStringify,
  toJsonLines,
  valuesEqual,
  type HistoryEvent,
} from './history.js';

function sample(): HistoryEvent[] {
  const h = new History();
  h.invoke(1, 'write', 'x', 1, 0);
  h.invoke(2, 'read', 'x', null, 1);
  h.complete(1, 'ok', 2);
  h.complete(2, 'ok', 1, 3);
  h.invoke(1, 'cas', 'x', [1, { b: [1, 2], a: 'z' }], 4);
  h.complete(1, 'info', 5);
  h.invoke(3, 'write', 'y', 'v', 6);
  h.complete(3, 'fail', 'v', 7);
  h.invoke(4, 'read', 'y', null, 7);
  return h.events();
}

describe('History recorder', () => {
  it('records invokes and completions, filling in completion values', () => {
    const events = sample();
    expect(events).toHaveLength(9);
    expect(events[2]).toEqual({ process: 1, type: 'ok', f: 'write', key: 'x', value: 1, time: 2 });
    expect(events[3]).toEqual({ process: 2, type: 'ok', f: 'read', key: 'x', value: 1, time: 3 });
    expect(events[5]!.value).toEqual([1, { b: [1, 2], a: 'z' }]);
    expect(Object.isFrozen(events[0])).toBe(true);
  });

  it('returns a copy from events()', () => {
    const h = new History();
    h.invoke(1, 'read', 'x', null, 0);
    h.events().pop();
    expect(h.events()).toHaveLength(1);
  });

  it('records null for the value of a read invoke and a failed or info read', () => {
    const h = new History();
    h.invoke(1, 'read', 'x', 'ignored', 0);
    h.complete(1, 'info', 1);
    h.invoke(2, 'read', 'x', undefined, 2);
    h.complete(2, 'fail', 3);
    expect(h.events().map((e) => e.value)).toEqual([null, null, null, null]);
  });

  it('requires the value of a read that completed ok', () => {
    const h = new History();
    h.invoke(1, 'read', 'x', null, 0);
    expect(() => h.complete(1, 'ok', undefined, 1)).toThrow(/field "value".*value read/);
    h.complete(1, 'ok', null, 1); // absent
  });

  it('rejects a second outstanding op, a completion without invoke and a changed value', () => {
    const h = new History();
    h.invoke(1, 'write', 'x', 1, 0);
    expect(() => h.invoke(1, 'read', 'x', null, 1)).toThrow(/field "process".*already has an outstanding write/);
    expect(() => h.complete(2, 'ok', 1, 1)).toThrow(/process 2 has no outstanding operation/);
    expect(() => h.complete(1, 'ok', 2, 1)).toThrow(/field "value".*repeat the invoke's value 1, got 2/);
    h.complete(1, 'ok', 1, 1);
  });

  it('rejects reusing a process after info, and decreasing times', () => {
    const h = new History();
    h.invoke(1, 'write', 'x', 1, 5);
    h.complete(1, 'info', 6);
    expect(() => h.invoke(1, 'write', 'x', 2, 7)).toThrow(/completed with info.*fresh process number/);
    expect(() => h.invoke(2, 'write', 'x', 2, 4)).toThrow(/field "time": 4 is earlier/);
    h.invoke(2, 'write', 'x', 2, 6); // equal times are fine
  });

  it('rejects malformed values', () => {
    const h = new History();
    expect(() => h.invoke(1, 'cas', 'x', [1], 0)).toThrow(/field "value": a cas value must be \[expected, new\]/);
    expect(() => h.invoke(1, 'write', 'x', undefined, 0)).toThrow(/field "value": expected a JSON value/);
    expect(() => h.invoke(1, 'write', 'x', new Map(), 0)).toThrow(/field "value"/);
    expect(() => h.invoke(1, 'write', 'x', Number.NaN, 0)).toThrow(/field "value"/);
    expect(() => h.invoke(1.5, 'write', 'x', 1, 0)).toThrow(/field "process"/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => h.invoke(1, 'write', 'x', cyclic, 0)).toThrow(/field "value"/);
    expect(h.events()).toEqual([]);
  });
});

describe('JSON lines', () => {
  it('round-trips a history', () => {
    const events = sample();
    const text = toJsonLines(events);
    expect(text.split('\n')).toHaveLength(events.length + 1);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n')[0]).toBe('{"process":1,"type":"invoke","f":"write","key":"x","value":1,"time":0}');
    expect(parseJsonLines(text)).toEqual(events);
    expect(toJsonLines(parseJsonLines(text))).toBe(text);
  });

  it('skips blank lines, accepts CRLF and ignores unknown fields', () => {
    const text =
      '\r\n{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time":1,"index":0}\r\n\n' +
      '{"process":1,"type":"ok","f":"read","key":"k","value":[1,2],"time":2}';
    expect(parseJsonLines(text)).toEqual([
      { process: 1, type: 'invoke', f: 'read', key: 'k', value: null, time: 1 },
      { process: 1, type: 'ok', f: 'read', key: 'k', value: [1, 2], time: 2 },
    ]);
    expect(parseJsonLines('')).toEqual([]);
  });

  const line1 = '{"process":1,"type":"invoke","f":"write","key":"x","value":1,"time":0}';

  function parseError(text: string): HistoryFormatError {
    try {
      parseJsonLines(text);
    } catch (e) {
      expect(e).toBeInstanceOf(HistoryFormatError);
      return e as HistoryFormatError;
    }
    throw new Error('expected a parse error');
  }

  it('names the line and the field of a bad value', () => {
    const e = parseError(`${line1}\n\n{"process":1,"type":"done","f":"write","key":"x","value":1,"time":1}\n`);
    expect(e.message).toBe('line 3, field "type": expected one of invoke, ok, fail, info, got "done"');
    expect(e.line).toBe(3);
    expect(e.field).toBe('type');
  });

  it('names a missing field', () => {
    const e = parseError(`${line1}\n{"process":1,"type":"ok","f":"write","value":1,"time":1}`);
    expect(e.message).toBe('line 2, field "key": missing');
  });

  it('names the line of invalid JSON and of a non-object', () => {
    expect(parseError(`${line1}\n{"process":`).message).toMatch(/^line 2: invalid JSON/);
    expect(parseError('[1,2]').message).toBe('line 1: expected a JSON object, got [1,2]');
  });

  it('checks field types and value shapes', () => {
    expect(parseError('{"process":"1","type":"invoke","f":"write","key":"x","value":1,"time":0}').message).toBe(
      'line 1, field "process": expected an integer, got "1"',
    );
    expect(parseError('{"process":1,"type":"invoke","f":"put","key":"x","value":1,"time":0}').field).toBe('f');
    expect(parseError('{"process":1,"type":"invoke","f":"write","key":7,"value":1,"time":0}').field).toBe('key');
    expect(parseError('{"process":1,"type":"invoke","f":"write","key":"x","value":1,"time":null}').field).toBe('time');
    expect(parseError('{"process":1,"type":"invoke","f":"cas","key":"x","value":1,"time":0}').message).toMatch(
      /^line 1, field "value": a cas value must be/,
    );
    expect(parseError('{"process":1,"type":"invoke","f":"read","key":"x","value":3,"time":0}').field).toBe('value');
  });

  it('checks the sequence: completions match an outstanding invoke, times never decrease', () => {
    expect(parseError('{"process":2,"type":"ok","f":"write","key":"x","value":1,"time":0}').message).toBe(
      'line 1, field "process": process 2 has no outstanding operation to complete',
    );
    expect(parseError(`${line1}\n{"process":1,"type":"ok","f":"write","key":"y","value":1,"time":1}`).message).toMatch(
      /^line 2, field "key": completes an op on "x" \(invoked at line 1\)/,
    );
    expect(parseError(`${line1}\n{"process":1,"type":"ok","f":"read","key":"x","value":1,"time":1}`).field).toBe('f');
    expect(parseError(`${line1}\n{"process":2,"type":"invoke","f":"read","key":"x","value":null,"time":-1}`).message).toBe(
      'line 2, field "time": -1 is earlier than the previous event\'s time 0',
    );
  });
});

describe('pairOperations', () => {
  it('pairs invokes with completions in invoke order, leaving pending ones open', () => {
    const ops = pairOperations(sample());
    expect(ops.map((o) => [o.process, o.f, o.outcome, o.invokeIndex, o.completeIndex])).toEqual([
      [1, 'write', 'ok', 0, 2],
      [2, 'read', 'ok', 1, 3],
      [1, 'cas', 'info', 4, 5],
      [3, 'write', 'fail', 6, 7],
      [4, 'read', 'pending', 8, -1],
    ]);
    expect(ops[1]!.result).toBe(1);
    expect(ops[4]!.completeTime).toBeNull();
  });

  it('names the event index of a malformed event', () => {
    const events = sample();
    events.splice(2, 1); // drop a completion: process 1 then invokes while its write is outstanding
    expect(() => pairOperations(events)).toThrow(/^event #3, field "process": process 1 already has/);
  });
});

describe('value equality', () => {
  it('compares primitives strictly and structures canonically', () => {
    expect(valuesEqual(1, 1)).toBe(true);
    expect(valuesEqual(1, '1')).toBe(false);
    expect(valuesEqual(null, 0)).toBe(false);
    expect(valuesEqual({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 })).toBe(true);
    expect(valuesEqual([1, 2], [2, 1])).toBe(false);
    expect(stableStringify({ b: 1, a: null })).toBe('{"a":null,"b":1}');
    expect(stableStringify(-0)).toBe('0');
  });
});
