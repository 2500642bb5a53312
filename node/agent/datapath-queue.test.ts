import { describe, expect, it } from 'vitest';
import { DatapathQueue } from './datapath-queue.js';

/** A step that finishes when the test says so. */
function gate(): { open: () => void; wait: Promise<void> } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { open, wait };
}

describe('DatapathQueue', () => {
  it('runs one piece of work at a time, in the order asked', async () => {
    const q = new DatapathQueue();
    const log: string[] = [];
    let active = 0;
    const job = (name: string) => async (): Promise<string> => {
      active++;
      expect(active).toBe(1);
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, 2));
      log.push(`end ${name}`);
      active--;
      return name;
    };
    const results = await Promise.all([q.run(job('a')), q.run(job('b')), q.run(job('c'))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('urgent work goes before routine work still waiting, not before work already running', async () => {
    const q = new DatapathQueue();
    const log: string[] = [];
    const first = gate();
    const running = q.run(async () => {
      log.push('routine 1');
      await first.wait;
    });
    const routine2 = q.run(async () => void log.push('routine 2'));
    const urgent = q.run(async () => void log.push('urgent'), { urgent: true });
    first.open();
    await Promise.all([running, routine2, urgent]);
    expect(log).toEqual(['routine 1', 'urgent', 'routine 2']);
  });

  it('long routine work lets urgent work in between its steps', async () => {
    const q = new DatapathQueue();
    const log: string[] = [];
    const step = gate();
    const round = q.run(async () => {
      log.push('step 1');
      await step.wait;
      await q.yieldToUrgent();
      log.push('step 2');
    });
    const urgent = q.run(async () => void log.push('urgent'), { urgent: true });
    step.open();
    await Promise.all([round, urgent]);
    expect(log).toEqual(['step 1', 'urgent', 'step 2']);
  });

  it('a failure rejects only its own caller; later work still runs', async () => {
    const q = new DatapathQueue();
    const failed = q.run(async () => {
      throw new Error('ip: no such device');
    });
    const after = q.run(async () => 'ran');
    await expect(failed).rejects.toThrow('no such device');
    await expect(after).resolves.toBe('ran');
  });

  it('work that throws before returning a promise rejects its caller and does not stop the queue', async () => {
    const q = new DatapathQueue();
    const failed = q.run((): Promise<void> => {
      throw new Error('invalid argument: ports');
    });
    await expect(failed).rejects.toThrow('invalid argument');
    await expect(q.run(async () => 'still runs')).resolves.toBe('still runs');
    await expect(q.idle()).resolves.toBeUndefined();
  });

  it('idle resolves once nothing is waiting or running', async () => {
    const q = new DatapathQueue();
    await q.idle();
    const g = gate();
    let done = false;
    void q.run(async () => {
      await g.wait;
      done = true;
    });
    const idle = q.idle().then(() => done);
    g.open();
    await expect(idle).resolves.toBe(true);
  });
});
