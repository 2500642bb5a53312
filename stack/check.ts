import { at, type Report } from './errors.js';
import { isObject } from './merge.js';
import { parseBytes, parseCpus, parseDuration, UnitError } from './units.js';

// Readers for raw compose values: each checks one value, reports what is wrong with its path and
// returns undefined then, so the caller goes on and every problem is found in one load. Values may
// be strings where numbers or booleans are due: interpolation always yields strings.

export type Tree = Record<string, unknown>;

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return (d[a.length] as number[])[b.length] ?? 0;
}

export class Checker {
  constructor(readonly report: Report) {}

  issue(path: string, message: string): undefined {
    this.report.issue(path, message);
    return undefined;
  }

  /**
   * Reports keys that are neither `known` nor `unsupported` nor `x-` extensions; calls
   * `onUnsupported` for each unsupported one that is set.
   */
  keys(v: Tree, path: string, known: readonly string[], unsupported: readonly string[] = [], onUnsupported?: (key: string) => void): void {
    for (const k of Object.keys(v)) {
      if (k.startsWith('x-') || known.includes(k)) continue;
      if (unsupported.includes(k)) {
        onUnsupported?.(k);
        continue;
      }
      const all = [...known, ...unsupported];
      const near = all.filter((c) => distance(c, k) <= Math.min(2, Math.floor(c.length / 3))).sort((a, b) => distance(a, k) - distance(b, k))[0];
      this.issue(at(path, k), `unknown key${near === undefined ? '' : ` (did you mean ${near}?)`}`);
    }
  }

  object(v: unknown, path: string): Tree | undefined {
    if (isObject(v)) return v;
    return this.issue(path, 'must be a mapping');
  }

  /** A mapping that may be written as nothing (`web:`), as compose allows for networks and volumes. */
  optionalObject(v: unknown, path: string): Tree | undefined {
    return v === null ? {} : this.object(v, path);
  }

  string(v: unknown, path: string): string | undefined {
    if (typeof v === 'string') return v;
    return this.issue(path, 'must be a string');
  }

  nonEmptyString(v: unknown, path: string): string | undefined {
    const s = this.string(v, path);
    if (s === '') return this.issue(path, 'must not be empty');
    return s;
  }

  stringList(v: unknown, path: string): string[] | undefined {
    if (!Array.isArray(v)) return this.issue(path, 'must be a list of strings');
    const out: string[] = [];
    v.forEach((x, i) => {
      if (typeof x === 'string') out.push(x);
      else this.issue(at(path, i), 'must be a string');
    });
    return out;
  }

  stringOrList(v: unknown, path: string): string[] | undefined {
    return typeof v === 'string' ? [v] : this.stringList(v, path);
  }

  boolean(v: unknown, path: string): boolean | undefined {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
    return this.issue(path, 'must be true or false');
  }

  integer(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    if (max !== Number.MAX_SAFE_INTEGER) return this.issue(path, `must be an integer from ${min} to ${max}`);
    return this.issue(path, min === 0 ? 'must be a non-negative integer' : min === 1 ? 'must be a positive integer' : `must be an integer of at least ${min}`);
  }

  number(v: unknown, path: string, min: number, max: number): number | undefined {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isFinite(n) && n >= min && n <= max) return n;
    return this.issue(path, `must be a number from ${min} to ${max}`);
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    return this.issue(path, `must be one of ${values.join(', ')}${typeof v === 'string' ? ` (got ${JSON.stringify(v)})` : ''}`);
  }

  /** A duration, kept as written once it is known to parse. */
  duration(v: unknown, path: string): string | undefined {
    if (typeof v !== 'string') return this.issue(path, 'must be a duration string such as 10s or 1m30s');
    try {
      parseDuration(v);
      return v;
    } catch (err) {
      if (err instanceof UnitError) return this.issue(path, err.message);
      throw err;
    }
  }

  /** A size ("64M", 1024), kept as a string. */
  bytes(v: unknown, path: string): string | undefined {
    if (typeof v !== 'string' && typeof v !== 'number') return this.issue(path, 'must be a size such as 64M or 1g');
    try {
      parseBytes(v);
      return String(v);
    } catch (err) {
      if (err instanceof UnitError) return this.issue(path, err.message);
      throw err;
    }
  }

  /** A number of CPUs ("0.5", 2), kept as a string. */
  cpus(v: unknown, path: string): string | undefined {
    if (typeof v !== 'string' && typeof v !== 'number') return this.issue(path, 'must be a number of CPUs such as 0.5');
    try {
      parseCpus(v);
      return String(v);
    } catch (err) {
      if (err instanceof UnitError) return this.issue(path, err.message);
      throw err;
    }
  }

  /** A file mode: a number (0440 in YAML is octal) or an octal string ("0440"). */
  fileMode(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0o7777) return v;
    if (typeof v === 'string' && /^0?o?[0-7]{1,4}$/.test(v.trim())) return parseInt(v.trim().replace(/^0?o/, ''), 8);
    return this.issue(path, 'must be a file mode such as 0440');
  }

  /**
   * list_or_dict: `[K=V, K]` or `{K: V, K: null}` → K → value (numbers and booleans as text, null
   * when written without a value).
   */
  dict(v: unknown, path: string): Record<string, string | null> | undefined {
    const out: Record<string, string | null> = {};
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        if (typeof x !== 'string') return void this.issue(at(path, i), 'must be a string KEY=VALUE');
        const eq = x.indexOf('=');
        const k = eq < 0 ? x : x.slice(0, eq);
        if (k === '') return void this.issue(at(path, i), `missing the key in ${JSON.stringify(x)}`);
        out[k] = eq < 0 ? null : x.slice(eq + 1);
      });
      return out;
    }
    if (!isObject(v)) return this.issue(path, 'must be a mapping or a list of KEY=VALUE strings');
    for (const [k, x] of Object.entries(v)) {
      if (x === null) out[k] = null;
      else if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
      else this.issue(at(path, k), 'must be a string, a number or a boolean');
    }
    return out;
  }

  /** Labels: like dict, a label without value is the empty string. */
  labels(v: unknown, path: string): Record<string, string> | undefined {
    const d = this.dict(v, path);
    if (d === undefined) return undefined;
    return Object.fromEntries(Object.entries(d).map(([k, x]) => [k, x ?? '']));
  }
}
