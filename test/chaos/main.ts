import '../../polyfill.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderReport, summarize } from './report.js';
import { runScenario, type ScenarioResult } from './runner.js';
import { SCENARIOS, scenarioNamed } from './scenarios.js';

// `npm run chaos [-- --scenario NAME[,NAME...]] [-- --seed N] [-- --managers 5] [-- --out DIR]`:
// each scenario on a fresh namespace-host cluster, one result line each, a markdown report and
// the histories in DIR, and last the summary as one JSON line.

const USAGE = 'usage: npm run chaos -- [--scenario NAME[,NAME...]] [--seed N] [--managers 3|5] [--workers N] [--out DIR] [--daemon-log-level debug]';

interface Args {
  scenarios: string[];
  seed: number;
  managers: number;
  workers: number;
  out: string;
  daemonLogLevel?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scenarios: [], seed: 1, managers: 3, workers: 3, out: resolve('chaos-report') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag}: a value is required\n${USAGE}`);
      return v;
    };
    const int = (min: number, max: number): number => {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < min || n > max) throw new Error(`${flag}: must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (flag) {
      case '--scenario':
        for (const name of value().split(',')) args.scenarios.push(scenarioNamed(name.trim()).name);
        break;
      case '--seed':
        args.seed = int(0, 2 ** 31 - 1);
        break;
      case '--managers': {
        const m = int(3, 5);
        if (m !== 3 && m !== 5) throw new Error(`--managers: must be 3 or 5, got ${m}`);
        args.managers = m;
        break;
      }
      case '--workers':
        args.workers = int(2, 6);
        break;
      case '--out':
        args.out = resolve(value());
        break;
      case '--daemon-log-level': {
        const v = value();
        if (!['error', 'warn', 'info', 'debug'].includes(v)) throw new Error(`--daemon-log-level: must be error, warn, info or debug, got ${JSON.stringify(v)}`);
        args.daemonLogLevel = v;
        break;
      }
      case '--help':
        process.stdout.write(`${USAGE}\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown flag ${JSON.stringify(flag)}\n${USAGE}`);
    }
  }
  if (args.scenarios.length === 0) args.scenarios = SCENARIOS.map((s) => s.name);
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const results: ScenarioResult[] = [];
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  for (const name of args.scenarios) {
    const r = await runScenario(scenarioNamed(name), { seed: args.seed, managers: args.managers, workers: args.workers, outDir: args.out, daemonLogLevel: args.daemonLogLevel, log });
    results.push(r);
    const timing = [...r.failoverMs.map((ms) => `failover ${ms} ms`), ...r.rescheduleMs.map((ms) => `reschedule ${ms} ms`)].join(', ');
    process.stdout.write(`${r.passed ? 'PASS' : 'FAIL'} ${name} (${(r.durationMs / 1000).toFixed(1)} s)${timing ? `: ${timing}` : ''}${r.failure ? ` — ${r.failure}` : ''}\n`);
    writeFileSync(join(args.out, 'report.md'), renderReport(results, args));
  }
  const summary = summarize(results);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.passed !== summary.scenarios) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
