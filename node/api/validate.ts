// A small decoder kit for request bodies: each decoder checks an unknown JSON value and returns it
// typed, or throws a ValidationError naming the field path and the reason. Absent and null fields
// are treated alike, as Go's encoding/json does (the docker CLI sends `null` for empty slices and
// maps), and unknown fields are ignored, so Docker clients that send more fields still work.

export class ValidationError extends Error {
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(path === '' ? reason : `${path} ${reason}`);
    this.name = 'ValidationError';
    this.path = path;
    this.reason = reason;
  }
}

export type Decoder<T> = (value: unknown, path: string) => T;

/** A short description of what was received, for "must be X, got Y". */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function fail(path: string, expected: string, value: unknown): never {
  throw new ValidationError(path, `must be ${expected}, got ${describe(value)}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const string: Decoder<string> = (value, path) => (typeof value === 'string' ? value : fail(path, 'a string', value));

export const boolean: Decoder<boolean> = (value, path) => (typeof value === 'boolean' ? value : fail(path, 'a boolean', value));

export function integer(range: { min?: number; max?: number } = {}): Decoder<number> {
  const { min, max } = range;
  const expected =
    min !== undefined && max !== undefined
      ? `an integer between ${min} and ${max}`
      : min === 0
        ? 'a non-negative integer'
        : min !== undefined
          ? `an integer of at least ${min}`
          : max !== undefined
            ? `an integer of at most ${max}`
            : 'an integer';
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return fail(path, expected, value);
    if ((min !== undefined && value < min) || (max !== undefined && value > max)) return fail(path, expected, value);
    return value;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Decoder<T> {
  const expected = `one of ${values.join(', ')}`;
  return (value, path) => ((values as readonly unknown[]).includes(value) ? (value as T) : fail(path, expected, value));
}

export function arrayOf<T>(item: Decoder<T>): Decoder<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) return fail(path, 'an array', value);
    return value.map((v, i) => item(v, `${path}[${i}]`));
  };
}

/** A JSON object used as a map from string to T (Docker's Labels). */
export function mapOf<T>(item: Decoder<T>): Decoder<Record<string, T>> {
  return (value, path) => {
    if (!isPlainObject(value)) return fail(path, 'an object', value);
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(value)) out[k] = item(v, `${path}[${JSON.stringify(k)}]`);
    return out;
  };
}

/** How an object field is decoded when it is absent (or null). */
export interface Field<T> {
  decode: Decoder<T>;
  /** 'required': absent is an error; 'omit': absent leaves the key out; otherwise the default. */
  absent: 'required' | 'omit' | { value: () => T };
}

export function required<T>(decode: Decoder<T>): Field<T> {
  return { decode, absent: 'required' };
}

/** Absent takes `fallback` (a function, so each object gets its own fresh array or map). */
export function withDefault<T>(decode: Decoder<T>, fallback: () => T): Field<T> {
  return { decode, absent: { value: fallback } };
}

/** Absent leaves the key out of the result. */
export function optional<T>(decode: Decoder<T>): Field<T | undefined> {
  return { decode, absent: 'omit' };
}

type Shape = Record<string, Field<unknown>>;
type Decoded<S extends Shape> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

export function object<S extends Shape>(shape: S): Decoder<Decoded<S>> {
  return (value, path) => {
    if (!isPlainObject(value)) return fail(path, 'an object', value);
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(shape)) {
      const fieldPath = path === '' ? key : `${path}.${key}`;
      const raw = value[key];
      if (raw === undefined || raw === null) {
        if (field.absent === 'required') throw new ValidationError(fieldPath, 'is required');
        if (field.absent !== 'omit') out[key] = field.absent.value();
        continue;
      }
      out[key] = field.decode(raw, fieldPath);
    }
    return out as Decoded<S>;
  };
}

/** Decode a whole request body; errors read "invalid <typeName>: <path> <reason>". */
export function decodeAs<T>(typeName: string, decoder: Decoder<T>, value: unknown): T {
  try {
    return decoder(value, '');
  } catch (err) {
    if (err instanceof ValidationError) {
      const what = err.path === '' ? `body ${err.reason}` : err.message;
      throw new ValidationError('', `invalid ${typeName}: ${what}`);
    }
    throw err;
  }
}
