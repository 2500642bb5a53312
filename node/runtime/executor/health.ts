// Docker's health check state machine: 'starting' until the first success; a success makes it
// 'healthy' and resets the failure streak; `retries` consecutive failures make it 'unhealthy';
// failures inside the start period do not count while still 'starting'.
import type { HealthStatus } from './types.js';

export interface HealthProbeResult {
  exitCode: number;
  output: string;
}

export interface HealthSettings {
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export class HealthMonitor {
  private status: HealthStatus;
  private failingStreak = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The last probe's output (tail), for inspection. */
  lastOutput = '';

  constructor(
    private readonly settings: HealthSettings,
    private readonly probe: (timeoutMs: number) => Promise<HealthProbeResult>,
    private readonly onChange: (s: HealthStatus) => void,
    private readonly startedAtMs: number,
    initial: HealthStatus = 'starting',
  ) {
    this.status = initial;
  }

  current(): HealthStatus {
    return this.status;
  }

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.settings.intervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let res: HealthProbeResult;
    try {
      res = await this.probe(this.settings.timeoutMs);
    } catch (err) {
      res = { exitCode: -1, output: err instanceof Error ? err.message : String(err) };
    }
    if (this.stopped) return;
    this.lastOutput = res.output.slice(-4096);
    this.record(res.exitCode === 0, Date.now());
    this.schedule();
  }

  /** One probe's outcome (exported for the state machine's unit test). */
  record(ok: boolean, nowMs: number): void {
    let next = this.status;
    if (ok) {
      this.failingStreak = 0;
      next = 'healthy';
    } else if (this.status === 'starting' && nowMs - this.startedAtMs < this.settings.startPeriodMs) {
      // Still in the start period: the failure is not counted.
    } else {
      this.failingStreak++;
      if (this.failingStreak >= this.settings.retries) next = 'unhealthy';
    }
    if (next !== this.status) {
      this.status = next;
      this.onChange(next);
    }
  }
}
