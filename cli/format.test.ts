import { describe, expect, it } from 'vitest';
import { aligned, bytesSize, capitalize, humanDuration, humanSize, naturalCompare, parseDuration, ramInBytes, shortId, timeAgo } from './format.js';

describe('parseDuration (Go syntax, nanoseconds)', () => {
  it('reads units, fractions and compound durations', () => {
    expect(parseDuration('1s')).toBe(1e9);
    expect(parseDuration('500ms')).toBe(5e8);
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('1.5h')).toBe(5400e9);
    expect(parseDuration('.5s')).toBe(5e8);
    expect(parseDuration('10us')).toBe(10e3);
    expect(parseDuration('10µs')).toBe(10e3);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('-2s')).toBe(-2e9);
  });

  it('refuses what Go refuses, saying why', () => {
    expect(() => parseDuration('5')).toThrow('not a duration');
    expect(() => parseDuration('')).toThrow('not a duration');
    expect(() => parseDuration('5 s')).toThrow('not a duration');
    expect(() => parseDuration('5d')).toThrow('unknown unit "d"');
  });
});

describe('humanDuration (docker units.HumanDuration)', () => {
  it('reads like docker', () => {
    expect(humanDuration(500)).toBe('Less than a second');
    expect(humanDuration(1000)).toBe('1 second');
    expect(humanDuration(5000)).toBe('5 seconds');
    expect(humanDuration(61_000)).toBe('About a minute');
    expect(humanDuration(45 * 60_000)).toBe('45 minutes');
    expect(humanDuration(3_600_000)).toBe('About an hour');
    expect(humanDuration(5 * 3_600_000)).toBe('5 hours');
    expect(humanDuration(3 * 86_400_000)).toBe('3 days');
    expect(humanDuration(21 * 86_400_000)).toBe('3 weeks');
    expect(humanDuration(90 * 86_400_000)).toBe('3 months');
    expect(humanDuration(800 * 86_400_000)).toBe('2 years');
  });
});

describe('small helpers', () => {
  it('bytesSize prints 4 significant digits in binary units', () => {
    expect(bytesSize(512)).toBe('512B');
    expect(bytesSize(8 * 1024 ** 3)).toBe('8GiB');
    expect(bytesSize(8_221_000_000)).toBe('7.656GiB');
    expect(bytesSize(1536 * 1024)).toBe('1.5MiB');
  });

  it('naturalCompare puts node2 before node10', () => {
    expect(['node10', 'node2', 'alpha', 'node1'].sort(naturalCompare)).toEqual(['alpha', 'node1', 'node2', 'node10']);
  });

  it('capitalize and aligned', () => {
    expect(capitalize('ready')).toBe('Ready');
    expect(aligned([[' Version', '1'], [' API version', '1.47']], 20)).toBe(' Version:           1\n API version:       1.47\n');
  });
});

describe('image and container helpers', () => {
  it('humanSize prints decimal units with Go %g precision (docker units.HumanSizeWithPrecision)', () => {
    expect(humanSize(4_260_000, 3)).toBe('4.26MB');
    expect(humanSize(7_800_000, 3)).toBe('7.8MB');
    expect(humanSize(3_146_000)).toBe('3.146MB');
    expect(humanSize(512)).toBe('512B');
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(1000)).toBe('1kB');
    expect(humanSize(1_234_567_890, 3)).toBe('1.23GB');
  });

  it('timeAgo and shortId', () => {
    expect(timeAgo(125_000)).toBe('2 minutes ago');
    expect(timeAgo(100)).toBe('Less than a second ago');
    expect(shortId(`sha256:${'ab'.repeat(32)}`)).toBe('abababababab');
    expect(shortId('0123456789abcdef')).toBe('0123456789ab');
  });

  it('ramInBytes reads docker\'s memory sizes in binary units', () => {
    expect(ramInBytes('64m')).toBe(64 * 1024 ** 2);
    expect(ramInBytes('1.5g')).toBe(1.5 * 1024 ** 3);
    expect(ramInBytes('512K')).toBe(512 * 1024);
    expect(ramInBytes('64MiB')).toBe(64 * 1024 ** 2);
    expect(ramInBytes('100')).toBe(100);
    expect(() => ramInBytes('64x')).toThrow('expected a size such as 64m');
    expect(() => ramInBytes('-1m')).toThrow('expected a size');
  });
});
