import { describe, expect, it } from 'vitest';
import { CAMPAIGN_STAGGER_MS, campaignDelayMs } from './manager-role.js';

describe('campaignDelayMs: followers of a dead leader campaign in turn', () => {
  const voters = ['m-c', 'm-a', 'm-lead', 'm-b'];

  it('ranks the voters left by node ID, whatever order the configuration lists them in', () => {
    expect(campaignDelayMs('m-a', 'm-lead', voters, 0)).toBe(0);
    expect(campaignDelayMs('m-b', 'm-lead', voters, 0)).toBe(CAMPAIGN_STAGGER_MS);
    expect(campaignDelayMs('m-c', 'm-lead', [...voters].reverse(), 0)).toBe(2 * CAMPAIGN_STAGGER_MS);
  });

  it('keeps any two followers a stagger apart, jitter included, so they cannot split the vote', () => {
    const early = campaignDelayMs('m-a', 'm-lead', voters, 0.999);
    const late = campaignDelayMs('m-b', 'm-lead', voters, 0);
    expect(late - early).toBeGreaterThanOrEqual(CAMPAIGN_STAGGER_MS / 2);
  });

  it('the dead leader takes no rank: the first of the others goes at once', () => {
    expect(campaignDelayMs('m-b', 'm-a', voters, 0)).toBe(0);
  });

  it('a member missing from its own view of the voters campaigns first rather than never', () => {
    expect(campaignDelayMs('m-new', 'm-lead', voters, 0)).toBe(0);
  });
});
