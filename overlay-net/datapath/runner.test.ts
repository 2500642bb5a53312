import { describe, expect, it } from 'vitest';
import { isDatapathError } from './errors.js';
import { runCommand } from './runner.js';

describe('command runner', () => {
  it('feeds stdin and returns stdout', async () => {
    expect(await runCommand('cat', [], 'line one\nline two\n')).toBe('line one\nline two\n');
  });

  it('names the command, its exit status, stderr and the batch line it stopped at', async () => {
    const script = 'echo "Command failed -:2" >&2; exit 1';
    const err: unknown = await runCommand('sh', ['-c', script], 'link set lo up\nlink set nope up\n').catch((e: unknown) => e);
    expect(isDatapathError(err, 'COMMAND_FAILED')).toBe(true);
    expect((err as Error).message).toBe(`sh -c ${script} exited 1: Command failed -:2 (input line 2: "link set nope up")`);
  });

  it('reports a missing program and a timeout as COMMAND_FAILED', async () => {
    const missing: unknown = await runCommand('no-such-program-here', []).catch((e: unknown) => e);
    expect(isDatapathError(missing, 'COMMAND_FAILED')).toBe(true);
    expect((missing as Error).message).toMatch(/^no-such-program-here : .*ENOENT/);
    const slow: unknown = await runCommand('sleep', ['5'], undefined, 100).catch((e: unknown) => e);
    expect((slow as Error).message).toMatch(/timed out after 100 ms/);
  });
});
