import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from './runner.js';
import { SCENARIOS } from './scenarios.js';

// The short subset of the chaos suite (`npm run chaos` runs them all): each quick scenario on a
// fresh cluster of 3 managers and 3 workers. Passing means every invariant held after healing, the
// API history is linearizable with no acknowledged write lost, and the published service failed
// no request outside the fault's window.

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('chaos subset', () => {
  for (const s of SCENARIOS.filter((x) => x.quick)) {
    it(`${s.name}: ${s.description}`, async () => {
      const r = await runScenario(s, { seed: 7, managers: 3, workers: 3, outDir: join(tmpdir(), 'swarm-chaos-test') });
      expect({ scenario: r.scenario, failure: r.failure, broken: r.invariants.filter((i) => !i.ok) }).toEqual({ scenario: s.name, failure: undefined, broken: [] });
      expect(r.history?.linearizable).toBe(true);
      expect(r.history?.lostAckedWrites).toBe(0);
      expect(r.history?.ops.ok).toBeGreaterThan(0);
      expect(r.requests.failedOutsideWindows).toBe(0);
      expect(r.requests.ok).toBeGreaterThan(0);
      if (s.name.startsWith('kill-leader') || s.name.startsWith('partition-leader')) expect(r.failoverMs.length).toBeGreaterThan(0);
      if (s.name === 'kill-worker') expect(r.rescheduleMs.length).toBeGreaterThan(0);
    }, 240_000);
  }
});
