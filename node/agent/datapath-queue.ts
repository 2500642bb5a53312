/**
 * A host's data path changes, one at a time (they read and rewrite shared kernel state), in the
 * order asked, except that urgent work goes before routine work still waiting. Urgent work is
 * what a task waits on to start (its namespace, its network's peers); routine work is the
 * reprogramming of other tasks' balancing rules, which after a node's death touches every local
 * namespace. Long routine work also lets urgent work in between its steps (yieldToUrgent), so a
 * replacement task does not wait for a whole round of rewrites.
 */
export class DatapathQueue {
  private readonly urgent: Array<() => Promise<void>> = [];
  private readonly routine: Array<() => Promise<void>> = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  /** Runs `work` once everything before it (urgent work first) has run. */
  run<T>(work: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Through then(): work that throws before returning its promise rejects its caller too,
      // instead of stopping the queue.
      const job = (): Promise<void> => Promise.resolve().then(work).then(resolve, reject);
      (opts.urgent ? this.urgent : this.routine).push(job);
      void this.pump();
    });
  }

  /**
   * Runs the urgent work queued meanwhile, then returns. Only for the work running now, between
   * its steps (anything else would run two changes at once).
   */
  async yieldToUrgent(): Promise<void> {
    for (let job = this.urgent.shift(); job; job = this.urgent.shift()) await job();
  }

  /** Resolves once nothing is waiting or running. */
  idle(): Promise<void> {
    if (!this.running && this.urgent.length === 0 && this.routine.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (let job = this.urgent.shift() ?? this.routine.shift(); job; job = this.urgent.shift() ?? this.routine.shift()) await job();
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
