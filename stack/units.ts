// Compose's units: durations as Go writes them ("1m30s"), sizes with binary units ("64M"), CPUs
// as a decimal number of cores. Parsers throw UnitError naming the value; callers add the path.

import { SwarmError } from '../node/errors.js';

export class UnitError extends SwarmError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
    this.name = 'UnitError';
  }
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * A compose duration ("10s", "1m30s", "500ms", "1.5h", "0") in nanoseconds, as Go's
 * time.ParseDuration reads it. Negative durations are refused: no compose setting takes one.
 */
export function parseDuration(s: string): number {
  const text = s.trim();
  if (text === '0') return 0;
  const m = /^\+?((?:(?:\d+\.?\d*|\.\d+)[a-zµμ]+)+)$/.exec(text);
  if (!m?.[1]) throw new UnitError(`invalid duration ${JSON.stringify(s)}: use a number with a unit, e.g. 500ms, 10s, 1m30s, 2h`);
  let total = 0;
  for (const part of m[1].matchAll(/(\d+\.?\d*|\.\d+)([a-zµμ]+)/g)) {
    const [, num = '', unit = ''] = part;
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) throw new UnitError(`invalid duration ${JSON.stringify(s)}: unknown unit "${unit}" (use ns, us, ms, s, m or h)`);
    total += Number(num) * scale;
  }
  return Math.round(total);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A size as compose (go-units RAMInBytes) reads it: a number and an optional unit b, k, m, g, t,
 * p in any case, with an optional trailing "b" or "ib" ("64M", "64mb", "1.5GiB", "512"). Binary
 * multiples, as Docker.
 */
export function parseBytes(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new UnitError(`invalid size ${v}: must be a whole number of bytes`);
    return v;
  }
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(i?b?)$/i.exec(v.trim());
  const unit = m?.[2]?.toLowerCase() ?? '';
  // "b" alone is the unit byte; "ib" needs a multiple ("64mib", not "64ib").
  if (!m?.[1] || (m[3]?.toLowerCase() === 'ib' && unit === '') || (m[3]?.toLowerCase() === 'i')) {
    throw new UnitError(`invalid size ${JSON.stringify(v)}: use a number with an optional unit b, k, m, g, e.g. 64M or 1.5g`);
  }
  return Math.floor(Number(m[1]) * (BYTE_UNITS[unit] ?? 1));
}

/** A number of CPUs ("0.5", 2) in nano-CPUs, as Docker's NanoCPUs. */
export function parseCpus(v: string | number): number {
  const text = typeof v === 'number' ? String(v) : v.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) throw new UnitError(`invalid number of CPUs ${JSON.stringify(v)}: use a decimal number, e.g. 0.5 or 2`);
  const nano = Math.round(Number(text) * 1e9);
  return nano;
}
