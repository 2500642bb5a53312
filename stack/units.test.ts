import { describe, expect, it } from 'vitest';
import { parseBytes, parseCpus, parseDuration, UnitError } from './units.js';

describe('parseDuration', () => {
  it('reads compose durations into nanoseconds', () => {
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('500ms')).toBe(5e8);
    expect(parseDuration('2h')).toBe(7200e9);
    expect(parseDuration('1.5s')).toBe(1.5e9);
    expect(parseDuration('10us')).toBe(10e3);
    expect(parseDuration('3ns')).toBe(3);
    expect(parseDuration('1h2m3s4ms')).toBe(3723.004e9);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
  });

  it('refuses what Go would refuse, naming the value', () => {
    expect(() => parseDuration('10')).toThrow('invalid duration "10": use a number with a unit, e.g. 500ms, 10s, 1m30s, 2h');
    expect(() => parseDuration('5 minutes')).toThrow(UnitError);
    expect(() => parseDuration('3d')).toThrow('invalid duration "3d": unknown unit "d" (use ns, us, ms, s, m or h)');
    expect(() => parseDuration('-1s')).toThrow('invalid duration "-1s"');
    expect(() => parseDuration('')).toThrow('invalid duration ""');
  });
});

describe('parseBytes', () => {
  it('reads compose sizes (binary units, any case, optional b)', () => {
    expect(parseBytes('64M')).toBe(64 * 1024 ** 2);
    expect(parseBytes('64m')).toBe(64 * 1024 ** 2);
    expect(parseBytes('64mb')).toBe(64 * 1024 ** 2);
    expect(parseBytes('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseBytes('1g')).toBe(1024 ** 3);
    expect(parseBytes('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseBytes('512k')).toBe(512 * 1024);
    expect(parseBytes('100b')).toBe(100);
    expect(parseBytes('100')).toBe(100);
    expect(parseBytes(4096)).toBe(4096);
  });

  it('refuses other units and forms, naming the value', () => {
    expect(() => parseBytes('64X')).toThrow('invalid size "64X": use a number with an optional unit b, k, m, g, e.g. 64M or 1.5g');
    expect(() => parseBytes('lots')).toThrow(UnitError);
    expect(() => parseBytes('64ib')).toThrow(UnitError);
    expect(() => parseBytes(-1)).toThrow('invalid size -1');
  });
});

describe('parseCpus', () => {
  it('reads a number of CPUs into nano-CPUs', () => {
    expect(parseCpus('0.5')).toBe(5e8);
    expect(parseCpus(2)).toBe(2e9);
    expect(parseCpus('.25')).toBe(2.5e8);
    expect(() => parseCpus('half')).toThrow('invalid number of CPUs "half"');
    expect(() => parseCpus('-1')).toThrow(UnitError);
  });
});
