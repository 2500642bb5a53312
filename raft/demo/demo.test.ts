// Runs the demo from source, as `npm run demo` runs the built one, and checks the story it tells.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEADLINE_MS = 60_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo to its end; kills it and fails after the deadline. */
function runDemo(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'raft/demo/main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo did not finish within ${DEADLINE_MS} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, DEADLINE_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

it('the raft demo elects, fails over, catches up a restarted member and ends with all members agreeing', async () => {
  const run = await runDemo();
  const report = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
  expect(run.code, report).toBe(0);
  expect(run.stdout, report).toMatch(/\S+ is elected leader \(term \d+\)/);
  expect(run.stdout, report).toMatch(/failover took \d+ ms/);
  expect(run.stdout, report).toMatch(/\S+ caught up: applied \d+/);
  expect(run.stdout, report).toMatch(/all members agree: /);
}, DEADLINE_MS + 10_000);
