import { describe, expect, it } from 'vitest';
import { Inflights, Progress, ProgressTracker } from './progress.js';

describe('Inflights', () => {
  it('is full at maxCount messages', () => {
    const in_ = new Inflights(3, Infinity);
    in_.add(1, 10);
    in_.add(2, 10);
    expect(in_.full()).toBe(false);
    in_.add(3, 10);
    expect(in_.full()).toBe(true);
    expect(in_.count()).toBe(3);
  });

  it('is full once maxBytes are in flight, whatever the count', () => {
    const in_ = new Inflights(100, 25);
    in_.add(1, 10);
    in_.add(2, 10);
    expect(in_.full()).toBe(false);
    in_.add(3, 5);
    expect(in_.full()).toBe(true);
  });

  it('freeLE frees every message up to an index, in order, with its bytes', () => {
    const in_ = new Inflights(10, 30);
    for (let i = 1; i <= 5; i++) in_.add(i * 2, 6); // last indexes 2 4 6 8 10, 30 bytes
    expect(in_.full()).toBe(true);
    in_.freeLE(5);
    expect(in_.count()).toBe(3);
    expect(in_.full()).toBe(false);
    in_.freeLE(1);
    expect(in_.count()).toBe(3);
    in_.freeLE(10);
    expect(in_.count()).toBe(0);
    // bytes were released too: 30 more fit before it is full again
    in_.add(11, 29);
    expect(in_.full()).toBe(false);
    in_.add(12, 1);
    expect(in_.full()).toBe(true);
  });

  it('freeFirstOne frees only the oldest message, and nothing when empty', () => {
    const in_ = new Inflights(2, Infinity);
    in_.freeFirstOne();
    expect(in_.count()).toBe(0);
    in_.add(3, 1);
    in_.add(5, 1);
    expect(in_.full()).toBe(true);
    in_.freeFirstOne();
    expect(in_.count()).toBe(1);
    expect(in_.full()).toBe(false);
    // the one left is the newer: acknowledging 3 frees nothing more, 5 does
    in_.freeLE(3);
    expect(in_.count()).toBe(1);
    in_.freeLE(5);
    expect(in_.count()).toBe(0);
  });

  it('reset empties it', () => {
    const in_ = new Inflights(2, Infinity);
    in_.add(1, 1);
    in_.add(2, 1);
    in_.reset();
    expect(in_.count()).toBe(0);
    expect(in_.full()).toBe(false);
  });
});

function progress(o: { match?: number; next: number; state?: 'probe' | 'replicate' | 'snapshot'; maxInflight?: number }): Progress {
  const pr = new Progress(o.next, false, o.maxInflight ?? 256, Infinity);
  pr.match = o.match ?? 0;
  if (o.state === 'replicate') {
    pr.becomeReplicate();
    pr.next = o.next;
  } else if (o.state === 'snapshot') {
    pr.becomeSnapshot(o.next);
  }
  return pr;
}

describe('Progress', () => {
  it('becomeReplicate sends from match+1 and clears in-flight messages', () => {
    const pr = progress({ match: 4, next: 9, maxInflight: 1 });
    pr.becomeReplicate();
    expect(pr.state).toBe('replicate');
    expect(pr.next).toBe(5);
    pr.sentEntries(7, 10);
    expect(pr.next).toBe(8);
    expect(pr.isPaused()).toBe(true);
    pr.becomeReplicate();
    expect(pr.isPaused()).toBe(false);
  });

  it('becomeProbe from replicate restarts at match+1', () => {
    const pr = progress({ match: 4, next: 9, state: 'replicate' });
    pr.becomeProbe();
    expect(pr.state).toBe('probe');
    expect(pr.next).toBe(5);
  });

  it.each([
    // match, snapshot → next
    [1, 10, 11],
    [12, 10, 13],
  ])('becomeProbe after a snapshot (match %i, snapshot %i) continues at %i', (match, snap, want) => {
    const pr = progress({ match, next: 2 });
    pr.becomeSnapshot(snap);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.state).toBe('probe');
    expect(pr.next).toBe(want);
    expect(pr.pendingSnapshot).toBe(0);
  });

  it('in probe state one append at a time is out', () => {
    const pr = progress({ next: 5 });
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(7, 10);
    expect(pr.isPaused()).toBe(true);
    expect(pr.next).toBe(5); // probing does not move next optimistically
    expect(pr.maybeUpdate(7)).toBe(true);
    expect(pr.isPaused()).toBe(false);
  });

  it('in replicate state pipelines until the inflight window is full', () => {
    const pr = progress({ match: 0, next: 1, state: 'replicate', maxInflight: 2 });
    pr.sentEntries(3, 1);
    expect(pr.isPaused()).toBe(false);
    pr.sentEntries(5, 1);
    expect(pr.next).toBe(6);
    expect(pr.isPaused()).toBe(true);
    // An empty append (heartbeat-like probe) takes no slot.
    pr.sentEntries(undefined, 0);
    expect(pr.inflights.count()).toBe(2);
  });

  it('maybeUpdate moves match forward only, and next never backwards', () => {
    const pr = progress({ match: 3, next: 10 });
    expect(pr.maybeUpdate(2)).toBe(false);
    expect(pr.match).toBe(3);
    expect(pr.next).toBe(10);
    expect(pr.maybeUpdate(5)).toBe(true);
    expect(pr.match).toBe(5);
    expect(pr.next).toBe(10);
    expect(pr.maybeUpdate(12)).toBe(true);
    expect(pr.next).toBe(13);
  });

  describe('maybeDecrTo', () => {
    it.each([
      // replicate: a rejection at or below match is stale; otherwise restart at match+1
      { state: 'replicate' as const, match: 5, next: 10, rejected: 5, hint: 5, ok: false, next2: 10 },
      { state: 'replicate' as const, match: 5, next: 10, rejected: 4, hint: 4, ok: false, next2: 10 },
      { state: 'replicate' as const, match: 5, next: 10, rejected: 9, hint: 9, ok: true, next2: 6 },
      // probe: only a rejection of the last probe (next-1) counts
      { state: 'probe' as const, match: 0, next: 10, rejected: 8, hint: 8, ok: false, next2: 10 },
      { state: 'probe' as const, match: 0, next: 10, rejected: 9, hint: 9, ok: true, next2: 9 },
      { state: 'probe' as const, match: 0, next: 10, rejected: 9, hint: 3, ok: true, next2: 4 },
      { state: 'probe' as const, match: 0, next: 10, rejected: 9, hint: 0, ok: true, next2: 1 },
      // a hint past the rejected index cannot move next forward
      { state: 'probe' as const, match: 0, next: 10, rejected: 9, hint: 20, ok: true, next2: 9 },
      // never below match+1
      { state: 'probe' as const, match: 4, next: 10, rejected: 9, hint: 1, ok: true, next2: 5 },
    ])('$state match $match next $next: reject of $rejected hint $hint → $ok, next $next2', ({ state, match, next, rejected, hint, ok, next2 }) => {
      const pr = progress({ match, next, state });
      if (state === 'probe') pr.sentEntries(undefined, 0);
      expect(pr.maybeDecrTo(rejected, hint)).toBe(ok);
      expect(pr.next).toBe(next2);
      if (state === 'probe' && ok) expect(pr.isPaused()).toBe(false);
    });
  });
});

describe('ProgressTracker', () => {
  function tracker(voters: string[], learners: string[] = []): ProgressTracker {
    const t = new ProgressTracker(256, Infinity);
    for (const v of voters) {
      t.voters.add(v);
      t.progress.set(v, new Progress(1, false, 256, Infinity));
    }
    for (const l of learners) {
      t.learners.add(l);
      t.progress.set(l, new Progress(1, true, 256, Infinity));
    }
    return t;
  }

  it.each([
    [1, 1],
    [2, 2],
    [3, 2],
    [4, 3],
    [5, 3],
  ])('with %i voters the quorum is %i', (n, q) => {
    expect(tracker(Array.from({ length: n }, (_, i) => `${i + 1}`)).quorum()).toBe(q);
  });

  it.each([
    { matches: [5], want: 5 },
    { matches: [5, 3], want: 3 },
    { matches: [5, 3, 1], want: 3 },
    { matches: [1, 5, 3, 0], want: 1 },
    { matches: [2, 9, 7, 4, 4], want: 4 },
  ])('committedIndex of matches $matches is $want', ({ matches, want }) => {
    const ids = matches.map((_, i) => `${i + 1}`);
    const t = tracker(ids);
    matches.forEach((m, i) => {
      t.progress.get(ids[i]!)!.match = m;
    });
    expect(t.committedIndex()).toBe(want);
  });

  it('learners do not count toward the commit index', () => {
    const t = tracker(['1', '2', '3'], ['4', '5']);
    t.progress.get('1')!.match = 9;
    t.progress.get('4')!.match = 9;
    t.progress.get('5')!.match = 9;
    expect(t.committedIndex()).toBe(0);
    t.progress.get('2')!.match = 7;
    expect(t.committedIndex()).toBe(7);
  });

  it('tallies votes: won, lost, pending; only the first vote of each voter counts; learners are ignored', () => {
    const t = tracker(['1', '2', '3', '4', '5'], ['6']);
    t.recordVote('1', true);
    t.recordVote('6', true);
    t.recordVote('2', true);
    expect(t.tallyVotes()).toEqual({ granted: 2, rejected: 0, result: 'pending' });
    t.recordVote('2', false); // a second answer from 2 changes nothing
    t.recordVote('3', false);
    t.recordVote('4', false);
    expect(t.tallyVotes()).toEqual({ granted: 2, rejected: 2, result: 'pending' });
    t.recordVote('5', false);
    expect(t.tallyVotes().result).toBe('lost');
    t.resetVotes();
    for (const id of ['1', '3', '5']) t.recordVote(id, true);
    expect(t.tallyVotes().result).toBe('won');
  });

  it('quorumActive counts self and recently active voters only', () => {
    const t = tracker(['1', '2', '3'], ['4']);
    t.progress.get('4')!.recentActive = true;
    expect(t.quorumActive('1')).toBe(false);
    t.progress.get('3')!.recentActive = true;
    expect(t.quorumActive('1')).toBe(true);
  });

  it('hasQuorum needs a majority of voters among the acknowledgers', () => {
    const t = tracker(['1', '2', '3', '4'], ['5']);
    expect(t.hasQuorum(new Set(['1', '2', '5']))).toBe(false);
    expect(t.hasQuorum(new Set(['1', '2', '4']))).toBe(true);
  });

  it('confState lists members sorted; a single voter without learners is a singleton', () => {
    expect(tracker(['b', 'a'], ['d', 'c']).confState()).toEqual({ voters: ['a', 'b'], learners: ['c', 'd'] });
    expect(tracker(['a']).isSingleton()).toBe(true);
    expect(tracker(['a'], ['b']).isSingleton()).toBe(false);
    expect(tracker(['a', 'b']).isSingleton()).toBe(false);
  });
});
