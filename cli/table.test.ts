import { describe, expect, it } from 'vitest';
import { renderTable } from './table.js';

describe('renderTable', () => {
  it('lays out columns as docker does (widest cell + 3, at least 10, last column unpadded)', () => {
    const out = renderTable(
      ['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ENGINE VERSION'],
      [['x2w0mpnwyjnoqymu9ujfmbc0a *', 'docker-desktop', 'Ready', 'Active', 'Leader', '27.3.1']],
    );
    // Copied from `docker node ls` on Docker 27.
    expect(out).toBe(
      'ID                            HOSTNAME         STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n' +
        'x2w0mpnwyjnoqymu9ujfmbc0a *   docker-desktop   Ready     Active         Leader           27.3.1\n',
    );
  });

  it('counts code points, not UTF-16 units, and trims trailing blanks', () => {
    expect(renderTable(['A', 'B'], [['é😀', '']])).toBe('A         B\né😀\n');
  });
});
