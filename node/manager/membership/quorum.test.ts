import { describe, expect, it } from 'vitest';
import { quorumOf, removalBlocker } from './quorum.js';

describe('quorum rules', () => {
  it('computes majorities', () => {
    expect([1, 2, 3, 4, 5, 7].map(quorumOf)).toEqual([1, 2, 2, 3, 3, 4]);
  });

  it('allows removing a manager when the rest keep a reachable majority', () => {
    expect(removalBlocker({ voters: ['a', 'b', 'c'] }, new Set(['a', 'b', 'c']), 'c')).toBeUndefined();
    expect(removalBlocker({ voters: ['a', 'b', 'c'] }, new Set(['a', 'b']), 'c')).toBeUndefined();
  });

  it('refuses when the remaining reachable managers are not a majority', () => {
    const why = removalBlocker({ voters: ['a', 'b', 'c'] }, new Set(['a']), 'c');
    expect(why).toMatch(/only 1 are reachable, fewer than the 2 needed/);
  });

  it('refuses removing the last manager', () => {
    expect(removalBlocker({ voters: ['a'] }, new Set(['a']), 'a')).toMatch(/last manager/);
  });

  it('ignores nodes that are not voters', () => {
    expect(removalBlocker({ voters: ['a'] }, new Set(['a']), 'w')).toBeUndefined();
  });
});
