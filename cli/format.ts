// Small formatting helpers shared by commands: durations (Go syntax in, human words out), sizes
// as Docker prints them, natural sort, capitalized enum values.

import { parseBytes, parseDuration as parseComposeDuration, UnitError } from '../stack/index.js';

/** A flag value the parser refuses; the caller adds which flag (see flags.ts). */
export class ValueError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ValueError';
  }
}

/**
 * Go's time.ParseDuration ("1s", "500ms", "1m30s", "1.5h"), in nanoseconds: the same parser as
 * compose files use, with the CLI's wording on errors.
 */
export function parseDuration(text: string): number {
  const t = text.trim();
  // Go allows a sign; compose files have no use for one, so the shared parser refuses it.
  const negative = t.startsWith('-');
  try {
    const ns = parseComposeDuration(negative ? t.slice(1) : t);
    return negative ? -ns : ns;
  } catch (err) {
    if (!(err instanceof UnitError)) throw err;
    const unit = /unknown unit "([^"]*)"/.exec(err.message);
    if (unit) throw new ValueError(`unknown unit "${unit[1]}" in duration: use ns, us, ms, s, m or h`);
    throw new ValueError('not a duration: use a number with a unit, e.g. 500ms, 5s, 1m30s, 2h');
  }
}

/** Docker's units.HumanDuration: "5 seconds", "About a minute", "3 months". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Docker's units.BytesSize: 4 significant digits, binary units ("7.657GiB", "512MiB"). */
export function bytesSize(bytes: number): string {
  let size = bytes;
  let i = 0;
  while (size >= 1024 && i < BINARY_UNITS.length - 1) {
    size /= 1024;
    i++;
  }
  return `${Number(size.toPrecision(4))}${BINARY_UNITS[i]}`;
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Natural order ("node2" before "node10"), as docker sorts node and service names. */
export function naturalCompare(a: string, b: string): number {
  const chunks = (s: string): string[] => s.match(/\d+|\D+/g) ?? [];
  const ca = chunks(a);
  const cb = chunks(b);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const x = ca[i] ?? '';
    const y = cb[i] ?? '';
    if (x === y) continue;
    const bothNumbers = /^\d/.test(x) && /^\d/.test(y);
    if (bothNumbers && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return ca.length - cb.length;
}

/** Pretty JSON as docker inspect prints it (4-space indent). */
export function inspectJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}

/** "Key: value" lines with the values aligned at `column` (docker version's layout). */
export function aligned(rows: readonly (readonly [string, string])[], column: number): string {
  return rows.map(([key, value]) => `${`${key}:`.padEnd(column - 1)} ${value}`.trimEnd() + '\n').join('');
}

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/**
 * Docker's units.HumanSizeWithPrecision: decimal units, `precision` significant digits as Go's %g
 * ("4.26MB" at 3 for image sizes, "3.146MB" at 4 for progress).
 */
export function humanSize(bytes: number, precision = 4): string {
  let size = bytes;
  let i = 0;
  while (size >= 1000 && i < DECIMAL_UNITS.length - 1) {
    size /= 1000;
    i++;
  }
  return `${Number(size.toPrecision(precision))}${DECIMAL_UNITS[i]}`;
}

/** "2 minutes ago", as docker's CREATED columns. */
export function timeAgo(ms: number): string {
  return `${humanDuration(ms)} ago`;
}

/** The 12-character short form of an image or container ID, without "sha256:". */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Docker's units.RAMInBytes: "64m", "1.5g", "512k", "100" (bytes); binary multiples. */
export function ramInBytes(text: string): number {
  try {
    return parseBytes(text);
  } catch (err) {
    if (err instanceof UnitError) throw new ValueError('expected a size such as 64m, 1.5g or 512k (b, k, m, g, t, p)');
    throw err;
  }
}
