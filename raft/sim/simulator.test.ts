import { describe, expect, it } from 'vitest';
import { toJsonLines } from './history.js';
import { runSeeds } from './seeds.js';
import { DEFAULT_SIM_OPTIONS, runSimulation } from './simulator.js';

describe('the seeded Raft simulator', () => {
  it('finds no safety or linearizability violation in 200 seeds of 3, 5 and 7 members under faults', () => {
    const failures: string[] = [];
    const summary = runSeeds({ from: 1, to: 200 }, {}, (r) => {
      if (r.violations.length > 0) failures.push(`seed ${r.seed}: ${r.violations.join('; ')}\n${r.trace.join('\n')}`);
    });
    expect(failures).toEqual([]);
    expect(summary.seeds).toBe(200);
    // The runs did real work: otherwise "no violations" proves nothing.
    expect(summary.commits).toBeGreaterThan(200 * 50);
    expect(summary.elections).toBeGreaterThan(200);
    expect(summary.snapshotsSent).toBeGreaterThan(0);
    expect(summary.opsOk).toBeGreaterThan(summary.opsTotal / 3);
  });

  it('is deterministic: the same seed gives the same history', () => {
    const a = runSimulation({ ...DEFAULT_SIM_OPTIONS, members: 5, seed: 42 });
    const b = runSimulation({ ...DEFAULT_SIM_OPTIONS, members: 5, seed: 42 });
    expect(toJsonLines(a.history)).toBe(toJsonLines(b.history));
    expect(a.commits).toBe(b.commits);
  });

  it('exercises membership changes and crashes while checking', () => {
    const all = runSeeds({ from: 1, to: 20 }, { members: 3 });
    expect(all.violations).toBe(0);
    expect(all.confChanges).toBeGreaterThan(20);
    expect(all.crashes).toBeGreaterThan(20);
  });

  it('records a well-formed history: every invoke completes or stays unknown', () => {
    const r = runSimulation({ ...DEFAULT_SIM_OPTIONS, members: 3, seed: 3 });
    const invokes = r.history.filter((e) => e.type === 'invoke').length;
    const completions = r.history.filter((e) => e.type !== 'invoke').length;
    expect(invokes).toBeGreaterThan(100);
    // Clients stop issuing before the end, so at most one op per client is left open.
    expect(invokes - completions).toBeLessThanOrEqual(DEFAULT_SIM_OPTIONS.clients);
    expect(r.history.some((e) => e.type === 'info' || e.type === 'fail')).toBe(true);
  });
});
