import { DEFAULT_SIM_OPTIONS, runSimulation, type SimOptions, type SimResult } from './simulator.js';

export interface SeedsSummary {
  seeds: number;
  violations: number;
  commits: number;
  elections: number;
  snapshotsSent: number;
  confChanges: number;
  crashes: number;
  opsOk: number;
  opsTotal: number;
  failedSeeds: number[];
}

/** Parses "FROM-TO" (inclusive) or a single seed "N". */
export function parseSeedRange(text: string): { from: number; to: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!m) throw new Error(`--seeds: expected FROM-TO or N (e.g. 1-2000), got "${text}"`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (to < from) throw new Error(`--seeds: the range ${text} ends before it starts`);
  return { from, to };
}

/** Members cycle through 3, 5 and 7 so every size is exercised. */
export function membersForSeed(seed: number): number {
  return [3, 5, 7][seed % 3]!;
}

/** Runs seeds [from, to]; onResult sees each result (to print violations or write histories). */
export function runSeeds(
  range: { from: number; to: number },
  overrides: Partial<Omit<SimOptions, 'seed'>> = {},
  onResult: (r: SimResult) => void = () => {},
): SeedsSummary {
  const sum: SeedsSummary = {
    seeds: 0,
    violations: 0,
    commits: 0,
    elections: 0,
    snapshotsSent: 0,
    confChanges: 0,
    crashes: 0,
    opsOk: 0,
    opsTotal: 0,
    failedSeeds: [],
  };
  for (let seed = range.from; seed <= range.to; seed++) {
    const r = runSimulation({ ...DEFAULT_SIM_OPTIONS, members: membersForSeed(seed), ...overrides, seed });
    sum.seeds++;
    sum.violations += r.violations.length;
    if (r.violations.length > 0) sum.failedSeeds.push(seed);
    sum.commits += r.commits;
    sum.elections += r.elections;
    sum.snapshotsSent += r.snapshotsSent;
    sum.confChanges += r.confChanges;
    sum.crashes += r.crashes;
    sum.opsOk += r.opsOk;
    sum.opsTotal += r.opsTotal;
    onResult(r);
  }
  return sum;
}
