import { describe, expect, it } from 'vitest';
import './polyfill.js';

describe('Promise.withResolvers polyfill', () => {
  it('returns a promise settled by the returned resolve', async () => {
    const { promise, resolve } = (Promise as unknown as {
      withResolvers: <T>() => { promise: Promise<T>; resolve: (v: T) => void };
    }).withResolvers<number>();
    resolve(42);
    await expect(promise).resolves.toBe(42);
  });
});
