import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ComposeError, type ComposeIssue } from './errors.js';
import { loadCompose, type LoadedCompose, type LoadOptions } from './load.js';

// For the stack tests: compose files written to a temp dir, loaded from there.

const dirs: string[] = [];

/** Writes `files` (relative path → content) into a new temp dir and returns the dir. */
export function writeFixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-stack-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** Removes every dir writeFixture made (afterEach). */
export function removeFixtures(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Loads compose.yml (or `files`) from a fixture of one compose file and its companions. */
export function load(compose: string, extra: Record<string, string> = {}, opts: Partial<LoadOptions> = {}): LoadedCompose & { dir: string } {
  const dir = writeFixture({ 'compose.yml': compose, ...extra });
  const files = (opts.files ?? ['compose.yml']).map((f) => join(dir, f));
  return { ...loadCompose({ env: {}, ...opts, files }), dir };
}

/** The issues a load reports (fails the test if it loads). */
export function issuesOf(compose: string, extra: Record<string, string> = {}, opts: Partial<LoadOptions> = {}): ComposeIssue[] {
  try {
    load(compose, extra, opts);
  } catch (err) {
    if (err instanceof ComposeError) return err.issues;
    throw err;
  }
  throw new Error('expected the compose file to be refused, but it loaded');
}
