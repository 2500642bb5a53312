// The one way the data path touches the kernel: spawn `ip`, `bridge`, `nft`, `sysctl` (through
// `nsenter` for another netns), feed stdin, and turn a failure into a DatapathError naming the
// command, its stderr and, for a batch, the line it stopped at.
import { spawn } from 'node:child_process';
import type { Logger } from '../../node/log.js';
import { DatapathError } from './errors.js';
import { netnsPath } from './names.js';

const COMMAND_TIMEOUT_MS = 30_000;
const STDERR_LIMIT = 2000;

/** Runs one command to completion; resolves with its stdout, rejects with COMMAND_FAILED. */
export function runCommand(cmd: string, args: readonly string[], input?: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  const shown = `${cmd} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < STDERR_LIMIT) stderr += d;
    });
    // A command that exits before reading stdin would otherwise crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new DatapathError('COMMAND_FAILED', `${shown}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const why = timedOut ? `timed out after ${timeoutMs} ms` : code === null ? `killed by ${signal}` : `exited ${code}`;
      reject(new DatapathError('COMMAND_FAILED', `${shown} ${why}: ${stderr.trim()}${failedLine(stderr, input)}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** `ip`/`bridge` batches report "Command failed -:N"; nft reports "-:N:col": quote that line. */
function failedLine(stderr: string, input: string | undefined): string {
  if (input === undefined) return '';
  const m = /-:(\d+)/.exec(stderr);
  if (!m) return '';
  const line = input.split('\n')[Number(m[1]) - 1];
  return line === undefined ? '' : ` (input line ${m[1]}: "${line}")`;
}

/** A network namespace to run in: undefined is the caller's own. */
export type Netns = string | undefined;

/** The command lines for one namespace; every public method is one process. */
export class Shell {
  constructor(private readonly logger: Logger | undefined) {}

  private async run(cmd: string, args: string[], input?: string): Promise<string> {
    const started = performance.now();
    try {
      return await runCommand(cmd, args, input);
    } finally {
      this.logger?.debug({ cmd: `${cmd} ${args.join(' ')}`, ms: Math.round(performance.now() - started) }, 'datapath command');
    }
  }

  /** `ip [-n NS] ARGS`. */
  ip(ns: Netns, args: string[]): Promise<string> {
    return this.run('ip', [...nsFlag(ns), ...args]);
  }

  /** `ip -json` output parsed; an empty answer (no matches) is an empty list. */
  async ipJson<T>(ns: Netns, args: string[]): Promise<T[]> {
    return parseJsonList<T>(await this.ip(ns, ['-j', ...args]), `ip ${args.join(' ')}`);
  }

  /** One `ip -batch -` process for all lines (nothing to do: no process). */
  async ipBatch(ns: Netns, lines: readonly string[]): Promise<void> {
    if (lines.length > 0) await this.run('ip', [...nsFlag(ns), '-batch', '-'], `${lines.join('\n')}\n`);
  }

  async bridgeJson<T>(ns: Netns, args: string[]): Promise<T[]> {
    return parseJsonList<T>(await this.run('bridge', [...nsFlag(ns), '-j', ...args]), `bridge ${args.join(' ')}`);
  }

  async bridgeBatch(ns: Netns, lines: readonly string[]): Promise<void> {
    if (lines.length > 0) await this.run('bridge', [...nsFlag(ns), '-batch', '-'], `${lines.join('\n')}\n`);
  }

  /** `nft -f -`: the whole text is one transaction. nft has no -n, so enter the netns. */
  async nft(ns: Netns, ruleset: string): Promise<void> {
    await this.run(...inNetns(ns, 'nft', ['-f', '-']), ruleset);
  }

  async sysctl(ns: Netns, key: string, value: string): Promise<void> {
    await this.run(...inNetns(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]));
  }
}

function nsFlag(ns: Netns): string[] {
  return ns === undefined ? [] : ['-n', ns];
}

function inNetns(ns: Netns, cmd: string, args: string[]): [string, string[]] {
  return ns === undefined ? [cmd, args] : ['nsenter', [`--net=${netnsPath(ns)}`, cmd, ...args]];
}

function parseJsonList<T>(text: string, what: string): T[] {
  if (text.trim() === '') return [];
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as T[]) : [];
  } catch (err) {
    throw new DatapathError('COMMAND_FAILED', `${what}: unreadable JSON output: ${text.slice(0, 200)}`, { cause: err });
  }
}
