import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.js';
import { HealthMonitor } from './health.js';
import { LOG_FILE, LogCollector, MAX_LINE_BYTES, RotatingLog, fifoPath, readLogs } from './logs.js';
import type { HealthStatus, LogEntry } from './types.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'swarm-logs-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const entry = (i: number): LogEntry => ({ stream: i % 2 ? 'stderr' : 'stdout', time: new Date(1_700_000_000_000 + i * 1000).toISOString(), line: `line ${i}` });

describe('RotatingLog and readLogs', () => {
  it('rotates by size, keeps maxFiles files, reads oldest first, tail and since', () => {
    const dir = tempDir();
    const log = new RotatingLog(dir, 400, 3);
    for (let i = 0; i < 40; i++) log.write([entry(i)]);
    log.close();
    for (const f of [LOG_FILE, `${LOG_FILE}.1`, `${LOG_FILE}.2`]) {
      expect(existsSync(join(dir, f))).toBe(true);
      expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(400);
    }
    expect(existsSync(join(dir, `${LOG_FILE}.3`))).toBe(false);
    const all = readLogs(dir, 3, {});
    expect(all.length).toBeGreaterThan(10);
    expect(all.length).toBeLessThan(40);
    expect(all.at(-1)!.line).toBe('line 39');
    const nums = all.map((e) => Number(e.line.split(' ')[1]));
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    expect(readLogs(dir, 3, { tail: 2 }).map((e) => e.line)).toEqual(['line 38', 'line 39']);
    expect(readLogs(dir, 3, { tail: 0 })).toEqual([]);
    expect(readLogs(dir, 3, { since: new Date(1_700_000_000_000 + 37_000) }).map((e) => e.line)).toEqual(['line 37', 'line 38', 'line 39']);
  });

  it('a batch bigger than the limit is split across files', () => {
    const dir = tempDir();
    const log = new RotatingLog(dir, 300, 2);
    log.write(Array.from({ length: 20 }, (_, i) => entry(i)));
    log.close();
    expect(readLogs(dir, 2, {}).at(-1)!.line).toBe('line 19');
    expect(statSync(join(dir, LOG_FILE)).size).toBeLessThanOrEqual(300);
  });
});

describe('LogCollector over FIFOs', () => {
  it('splits lines across chunks, cuts long lines, keeps output of a writer gone before release, ends on release', async () => {
    const dir = tempDir();
    execFileSync('mkfifo', [fifoPath(dir, 'stdout'), fifoPath(dir, 'stderr')]);
    const c = new LogCollector(dir, new RotatingLog(dir, 1 << 20, 2), silentLogger());
    const lines: LogEntry[] = [];
    const raw: string[] = [];
    c.on('line', (e) => lines.push(e));
    c.on('data', (s, b) => raw.push(`${s}:${b.length}`));
    c.attach();
    const out = fifoPath(dir, 'stdout');
    const err = fifoPath(dir, 'stderr');
    // The writer opens read-write (as the container does), writes, and exits before anyone reads.
    const script = `printf 'par' 1<>${out}; printf 'tial\\nsecond\\n' 1<>${out}; printf 'oops\\n' 1<>${err}; head -c ${MAX_LINE_BYTES + 10} /dev/zero | tr '\\0' x 1<>${out}; printf 'no newline' 1<>${out}`;
    await new Promise<void>((resolve) => spawn('sh', ['-c', script], { stdio: 'ignore' }).on('exit', () => resolve()));
    await c.release();
    const stdout = lines.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(stdout.slice(0, 2)).toEqual(['partial', 'second']);
    expect(stdout[2]).toHaveLength(MAX_LINE_BYTES);
    expect(stdout[3]).toBe('x'.repeat(10) + 'no newline');
    expect(lines.filter((l) => l.stream === 'stderr').map((l) => l.line)).toEqual(['oops']);
    expect(raw.length).toBeGreaterThan(0);
    const onDisk = readFileSync(join(dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
    expect(onDisk.map((e) => e.line)).toEqual(lines.map((e) => e.line));
  });
});

describe('HealthMonitor state machine', () => {
  function monitor(startPeriodMs = 0, retries = 2): { m: HealthMonitor; seen: HealthStatus[] } {
    const seen: HealthStatus[] = [];
    const m = new HealthMonitor({ intervalMs: 1000, timeoutMs: 1000, retries, startPeriodMs }, async () => ({ exitCode: 0, output: '' }), (s) => seen.push(s), 0);
    return { m, seen };
  }
  it('healthy on the first success, unhealthy after `retries` consecutive failures, healthy again', () => {
    const { m, seen } = monitor();
    m.record(false, 10);
    expect(m.current()).toBe('starting');
    m.record(true, 20);
    m.record(false, 30);
    expect(m.current()).toBe('healthy');
    m.record(false, 40);
    expect(m.current()).toBe('unhealthy');
    m.record(true, 50);
    expect(seen).toEqual(['healthy', 'unhealthy', 'healthy']);
  });
  it('failures in the start period do not count', () => {
    const { m, seen } = monitor(100, 1);
    m.record(false, 50);
    m.record(false, 99);
    expect(m.current()).toBe('starting');
    m.record(false, 150);
    expect(seen).toEqual(['unhealthy']);
  });
});
