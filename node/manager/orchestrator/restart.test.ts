import { describe, expect, it } from 'vitest';
import type { RestartPolicy } from '../../store/index.js';
import { mkService, mkSpec, mkTask } from '../test-helpers.js';
import { countRestartAttempts, deepEqual, restartDecision } from './index.js';

const T0 = 1_700_000_000_000;
const NS = 1e9;

describe('restartDecision', () => {
  const svc = (p: RestartPolicy) => mkService('s', { TaskTemplate: mkSpec({ RestartPolicy: p }) });
  const ended = (id: string, at: number, state: 'failed' | 'complete' | 'shutdown' = 'failed', version = 1) =>
    mkTask(id, 's', { slot: 1, node: 'a', state, desired: 'shutdown', at, version, spec: mkSpec() });

  it('uses the task’s own policy over the service’s (what it was created with)', () => {
    const t = { ...ended('t', T0), DesiredState: 'running' as const, Spec: mkSpec({ RestartPolicy: { Condition: 'none' } }) };
    expect(restartDecision(t, svc({ Condition: 'any' }), [], T0).restart).toBe(false);
  });

  it('falls back to the service’s policy, then Docker’s defaults (any, 5s)', () => {
    const t = ended('t', T0);
    expect(restartDecision(t, svc({ Condition: 'none' }), [], T0).restart).toBe(false);
    expect(restartDecision(t, undefined, [], T0)).toEqual({ restart: true, notBefore: T0 + 5000, reason: 'task failed; restarting in 5s' });
  });

  it('the delay runs from now, not from the failure', () => {
    expect(restartDecision(ended('t', T0), svc({ Delay: 2 * NS }), [], T0 + 60_000).notBefore).toBe(T0 + 62_000);
  });

  it('counts attempts: same spec version, ended by themselves, not after the task, within the window', () => {
    const p: RestartPolicy = { MaxAttempts: 5, Window: 60 * NS };
    const t = ended('t', T0);
    const history = [
      ended('in1', T0 - 10_000),
      ended('in2', T0 - 59_000, 'complete'),
      ended('out-window', T0 - 61_000),
      ended('out-version', T0 - 1000, 'failed', 0),
      ended('stopped', T0 - 1000, 'shutdown'),
      ended('later', T0 + 1000),
      t,
    ];
    expect(countRestartAttempts(t, history, p)).toBe(2);
    expect(countRestartAttempts(t, history, { MaxAttempts: 5 })).toBe(3);
  });
});

describe('deepEqual', () => {
  it.each([
    [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [{ a: [1, 2] }, { a: [2, 1] }, false],
    [{ a: [] }, { a: {} }, false],
    [{ a: null }, { a: undefined }, false],
    [{ a: 1 }, { a: 1, b: 0 }, false],
  ])('%j vs %j → %s', (a, b, want) => {
    expect(deepEqual(a, b)).toBe(want);
    expect(deepEqual(b, a)).toBe(want);
  });
});
