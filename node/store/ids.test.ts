import { describe, expect, it } from 'vitest';
import { newObjectId } from './ids.js';

describe('newObjectId', () => {
  it('makes 25-character base-36 IDs that do not repeat', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newObjectId();
      expect(id).toMatch(/^[a-z0-9]{25}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(2000);
  });
});
