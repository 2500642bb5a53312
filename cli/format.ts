// Small formatting helpers shared by commands: durations (Go syntax in, human words out), sizes
// as Docker prints them, natural sort, capitalized enum values.

/** A flag value the parser refuses; the caller adds which flag (see flags.ts). */
export class ValueError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ValueError';
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
 * Go's time.ParseDuration ("1s", "500ms", "1m30s", "1.5h"), in nanoseconds. Numbers past 2^53 ns
 * (~104 days) lose precision below the microsecond, which no setting here cares about.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)[a-zµμ]+)+)$/.exec(s);
  if (!m?.[2]) throw new ValueError('not a duration: use a number with a unit, e.g. 500ms, 5s, 1m30s, 2h');
  let total = 0;
  for (const part of m[2].matchAll(/(\d+\.?\d*|\.\d+)([a-zµμ]+)/g)) {
    const [, num = '', unit = ''] = part;
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) throw new ValueError(`unknown unit "${unit}" in duration: use ns, us, ms, s, m or h`);
    total += Number(num) * scale;
  }
  return Math.round(m[1] === '-' ? -total : total);
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

const RAM_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's units.RAMInBytes: "64m", "1.5g", "512k", "100" (bytes); binary multiples. */
export function ramInBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text.trim());
  if (!m?.[1]) throw new ValueError('expected a size such as 64m, 1.5g or 512k (b, k, m, g, t, p)');
  return Math.floor(Number(m[1]) * (RAM_UNITS[(m[2] ?? '').toLowerCase()] ?? 1));
}
