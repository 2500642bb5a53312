import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDotenv } from './dotenv.js';
import { fsReason, Report } from './errors.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { isObject, mergeTrees } from './merge.js';
import { normalize, type NormalizeIo } from './normalize.js';
import type { ComposeConfig } from './types.js';
import { parseYaml } from './yaml.js';

// loadCompose: read each -c file, interpolate it with the environment (and the .env beside the
// first file), merge them in order, then validate and normalize the result. Every problem in
// every file is collected before anything is thrown.

export interface LoadOptions {
  files: string[];
  /** Default process.env. Wins over the .env file. */
  env?: Record<string, string | undefined>;
  /** Where relative paths (binds, env_file, secret files) start; default the first file's directory. */
  workingDir?: string;
}

export interface LoadedCompose {
  config: ComposeConfig;
  warnings: string[];
  workingDir: string;
}

const fsIo: NormalizeIo = {
  readText: (path) => readFileSync(path, 'utf8'),
  exists: (path) => existsSync(path),
};

function unsetWarning(name: string): string {
  return `The "${name}" variable is not set. Defaulting to a blank string.`;
}

export function loadCompose(opts: LoadOptions): LoadedCompose {
  const report = new Report();
  if (opts.files.length === 0) {
    report.issue('-c', 'no compose file given');
    report.throwIfAny();
  }
  const env = opts.env ?? process.env;
  const first = resolve(opts.files[0] ?? '.');
  const workingDir = resolve(opts.workingDir ?? dirname(first));
  const onUnset = (name: string): void => report.warn(unsetWarning(name));

  // .env: variables for interpolation only; the real environment wins.
  let dotenv: Record<string, string> = {};
  const dotenvPath = join(dirname(first), '.env');
  if (existsSync(dotenvPath)) {
    try {
      const realEnv: Lookup = (name) => env[name];
      dotenv = parseDotenv(readFileSync(dotenvPath, 'utf8'), realEnv, (i) => report.issue(`.env:${i.line}`, i.message), onUnset);
    } catch (err) {
      report.issue('.env', `cannot read: ${fsReason(err)}`);
    }
  }
  const lookup: Lookup = (name) => env[name] ?? (Object.hasOwn(dotenv, name) ? dotenv[name] : undefined);

  const trees: Record<string, unknown>[] = [];
  for (const file of opts.files) {
    let text: string;
    try {
      text = readFileSync(resolve(file), 'utf8');
    } catch (err) {
      report.issue(file, `cannot read: ${fsReason(err)}`);
      continue;
    }
    const parsed = parseYaml(text, file);
    for (const e of parsed.errors) report.issue(e.path, e.message);
    for (const w of parsed.warnings) report.warn(w);
    if (parsed.errors.length > 0) continue;
    if (parsed.value === null || parsed.value === undefined) {
      report.issue(file, 'is empty: a compose file is a mapping with at least a services key');
      continue;
    }
    if (!isObject(parsed.value)) {
      report.issue(file, 'must be a mapping (services:, networks:, ...) at the top level');
      continue;
    }
    // Several files: say which one a path is in.
    const where = (path: string): string => (opts.files.length > 1 ? `${file}: ${path}` : path);
    const tree = interpolateTree(parsed.value, '', lookup, { onUnset }, (path, message) => report.issue(where(path), message));
    trees.push(tree as Record<string, unknown>);
  }
  report.throwIfAny();

  const merged = mergeTrees(trees);
  const config = normalize(merged, { workingDir, lookup, io: fsIo, onUnset }, report);
  report.throwIfAny();
  return { config, warnings: report.warnings, workingDir };
}
