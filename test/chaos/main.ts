import '../../polyfill.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ComposeHosts } from './hosts.js';
import { renderReport, summarize, type RunDescription } from './report.js';
import { runScenario, type ScenarioResult } from './runner.js';
import { SCENARIOS, scenarioNamed } from './scenarios.js';

// `npm run chaos [-- --scenario NAME[,NAME...]] [-- --seed N] [-- --managers 5] [-- --out DIR]`:
// each scenario on a fresh namespace-host cluster, one result line each, a markdown report and
// the histories in DIR, and last the summary as one JSON line. `--target compose` runs the
// scenarios one after another on the running docker-compose.test.yml cluster instead.

const USAGE =
  'usage: npm run chaos -- [--scenario NAME[,NAME...]] [--seed N] [--out DIR] [--target netns|compose]\n' +
  '         netns (default): [--managers 3|5] [--workers N] [--daemon-log-level debug]\n' +
  '         compose: [--compose-project NAME] (the cluster of docker-compose.test.yml, up already)';

interface Args {
  scenarios: string[];
  seed: number;
  target: 'netns' | 'compose';
  composeProject?: string;
  managers: number;
  workers: number;
  out: string;
  daemonLogLevel?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scenarios: [], seed: 1, target: 'netns', managers: 3, workers: 3, out: resolve('chaos-report') };
  /** Flags only a namespace-host run takes (a compose cluster's size and logs are its compose file's). */
  const netnsOnly: string[] = [];
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
      case '--target': {
        const v = value();
        if (v !== 'netns' && v !== 'compose') throw new Error(`--target: must be netns or compose, got ${JSON.stringify(v)}`);
        args.target = v;
        break;
      }
      case '--compose-project': {
        const v = value();
        if (!/^[a-z0-9][a-z0-9_-]*$/.test(v)) throw new Error(`--compose-project: a compose project name (lowercase letters, digits, _ and -), got ${JSON.stringify(v)}`);
        args.composeProject = v;
        break;
      }
      case '--managers': {
        netnsOnly.push(flag);
        const m = int(3, 5);
        if (m !== 3 && m !== 5) throw new Error(`--managers: must be 3 or 5, got ${m}`);
        args.managers = m;
        break;
      }
      case '--workers':
        netnsOnly.push(flag);
        args.workers = int(2, 6);
        break;
      case '--out':
        args.out = resolve(value());
        break;
      case '--daemon-log-level': {
        netnsOnly.push(flag);
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
  if (args.target === 'compose' && netnsOnly.length > 0) {
    throw new Error(`${netnsOnly.join(', ')}: not with --target compose (the cluster's size and log level are set in docker-compose.test.yml)`);
  }
  if (args.target !== 'compose' && args.composeProject !== undefined) throw new Error('--compose-project: only with --target compose');
  if (args.scenarios.length === 0) args.scenarios = SCENARIOS.map((s) => s.name);
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const results: ScenarioResult[] = [];
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
  // A compose cluster is there already, found once: its size and project are what the report states.
  const compose = args.target === 'compose' ? await ComposeHosts.attach({ scratch: join(args.out, '.scratch'), ...(args.composeProject ? { project: args.composeProject } : {}) }) : undefined;
  const run: RunDescription = compose
    ? { seed: args.seed, target: 'compose', managers: compose.managers.length, workers: compose.workers.length, project: compose.project }
    : { seed: args.seed, target: 'netns', managers: args.managers, workers: args.workers };
  for (const name of args.scenarios) {
    const r = await runScenario(scenarioNamed(name), {
      seed: args.seed,
      ...(compose ? { compose } : {}),
      managers: args.managers,
      workers: args.workers,
      outDir: args.out,
      daemonLogLevel: args.daemonLogLevel,
      log,
    });
    results.push(r);
    if (r.skipped) {
      process.stdout.write(`SKIP ${name} — not on --target ${args.target}: ${r.skipped}\n`);
      writeFileSync(join(args.out, 'report.md'), renderReport(results, run));
      continue;
    }
    const timing = [...r.failoverMs.map((ms) => `failover ${ms} ms`), ...r.rescheduleMs.map((ms) => `reschedule ${ms} ms`), ...r.cutOffRescheduleMs.map((ms) => `cut-off reschedule ${ms} ms`)].join(', ');
    process.stdout.write(`${r.passed ? 'PASS' : 'FAIL'} ${name} (${(r.durationMs / 1000).toFixed(1)} s)${timing ? `: ${timing}` : ''}${r.failure ? ` — ${r.failure}` : ''}\n`);
    writeFileSync(join(args.out, 'report.md'), renderReport(results, run));
  }
  const summary = summarize(results);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.passed !== summary.scenarios) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
