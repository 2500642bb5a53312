import '../../polyfill.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { toJsonLines } from './history.js';
import { parseSeedRange, runSeeds } from './seeds.js';

const USAGE = 'usage: npm run sim -- [--seeds FROM-TO] [--members 3|5|7] [--duration MS] [--history-out DIR]';

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seeds: { type: 'string', default: '1-100' },
        members: { type: 'string' },
        duration: { type: 'string' },
        'history-out': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let range;
  try {
    range = parseSeedRange(values.seeds);
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const overrides: { members?: number; durationMs?: number } = {};
  if (values.members !== undefined) {
    const n = Number(values.members);
    if (![3, 5, 7].includes(n)) {
      process.stderr.write(`error: --members must be 3, 5 or 7, got "${values.members}"\n`);
      return 2;
    }
    overrides.members = n;
  }
  if (values.duration !== undefined) {
    const d = Number(values.duration);
    if (!Number.isInteger(d) || d < 500) {
      process.stderr.write(`error: --duration must be an integer number of milliseconds >= 500, got "${values.duration}"\n`);
      return 2;
    }
    overrides.durationMs = d;
  }
  const historyDir = values['history-out'];
  if (historyDir !== undefined) mkdirSync(historyDir, { recursive: true });

  const started = Date.now();
  const summary = runSeeds(range, overrides, (r) => {
    if (historyDir !== undefined) writeFileSync(join(historyDir, `seed-${r.seed}.jsonl`), toJsonLines(r.history));
    if (r.violations.length > 0) {
      process.stdout.write(`seed ${r.seed} (${r.members} members): ${r.violations.join('; ')}\n`);
      process.stdout.write(`  trace of seed ${r.seed}:\n    ${r.trace.join('\n    ')}\n`);
    }
  });
  const line = {
    seeds: summary.seeds,
    violations: summary.violations,
    commits: summary.commits,
    elections: summary.elections,
    snapshotsSent: summary.snapshotsSent,
    confChanges: summary.confChanges,
    crashes: summary.crashes,
    opsOk: summary.opsOk,
    opsTotal: summary.opsTotal,
    failedSeeds: summary.failedSeeds,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  return summary.violations > 0 ? 1 : 0;
}

process.exitCode = main();
