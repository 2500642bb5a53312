// Compose variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
// ${VAR?err}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal $. The text after the operator is
// itself interpolated, and only when it is used (so ${A:-${B:?x}} needs B only when A is unset).
// With a colon, an empty value counts as unset.

export type Lookup = (name: string) => string | undefined;

export class InterpolationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterpolationError';
  }
}

export interface InterpolateHooks {
  /** A plain $VAR or ${VAR} that is not set (compose warns and substitutes ""). */
  onUnset?: (name: string) => void;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function invalid(template: string): InterpolationError {
  return new InterpolationError(`invalid interpolation format in ${JSON.stringify(template)}: you may need to escape any $ with another $`);
}

/** The end (index of the closing brace) of the ${...} whose body starts at `start`, or -1. */
function closingBrace(s: string, start: number): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '$' && s[i + 1] === '$') i++;
    else if (c === '$' && s[i + 1] === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

export function interpolate(template: string, lookup: Lookup, hooks: InterpolateHooks = {}): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next !== '{') {
      const name = NAME.exec(template.slice(i + 1))?.[0];
      if (name === undefined) throw invalid(template);
      const value = lookup(name);
      if (value === undefined) hooks.onUnset?.(name);
      out += value ?? '';
      i += 1 + name.length;
      continue;
    }
    const end = closingBrace(template, i + 2);
    if (end < 0) throw invalid(template);
    out += expand(template.slice(i + 2, end), template, lookup, hooks);
    i = end + 1;
  }
  return out;
}

function expand(body: string, template: string, lookup: Lookup, hooks: InterpolateHooks): string {
  const name = NAME.exec(body)?.[0];
  if (name === undefined) throw invalid(template);
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) hooks.onUnset?.(name);
    return value ?? '';
  }
  const colon = rest.startsWith(':');
  const op = rest[colon ? 1 : 0];
  const arg = rest.slice(colon ? 2 : 1);
  // With a colon, "set" means set and not empty.
  const isSet = value !== undefined && (!colon || value !== '');
  const sub = (): string => interpolate(arg, lookup, hooks);
  switch (op) {
    case '-':
      return isSet ? (value ?? '') : sub();
    case '+':
      return isSet ? sub() : '';
    case '?': {
      if (isSet) return value ?? '';
      const why = sub();
      throw new InterpolationError(`required variable ${name} is missing a value${why === '' ? '' : `: ${why}`}`);
    }
    default:
      throw invalid(template);
  }
}

/**
 * Interpolates every string in a parsed YAML tree (values, not keys), reporting each failure with
 * its path and going on, so one load reports them all.
 */
export function interpolateTree(value: unknown, path: string, lookup: Lookup, hooks: InterpolateHooks, onError: (path: string, message: string) => void): unknown {
  if (typeof value === 'string') {
    try {
      return interpolate(value, lookup, hooks);
    } catch (err) {
      if (!(err instanceof InterpolationError)) throw err;
      onError(path, err.message);
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, `${path}[${i}]`, lookup, hooks, onError));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, path === '' ? k : `${path}.${k}`, lookup, hooks, onError);
    return out;
  }
  return value;
}
