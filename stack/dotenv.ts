import { interpolate, InterpolationError, type Lookup } from './interpolate.js';

// The .env and env_file format as compose reads it: KEY=VALUE lines, `export ` allowed, # comments,
// single quotes literal, double quotes with \n \t \\ \" escapes, both may span lines; unquoted
// values lose a trailing " # comment". Unquoted and double-quoted values are interpolated, with
// `lookup` and the variables defined above them in the file. A bare KEY takes its value from
// `lookup` and is left out when that has none.

export interface DotenvIssue {
  line: number;
  message: string;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', $: '$$' };

export function parseDotenv(text: string, lookup: Lookup, onIssue: (issue: DotenvIssue) => void, onUnset?: (name: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  // As compose-go: `lookup` first, then the variables above in this file.
  const scoped: Lookup = (name) => lookup(name) ?? (Object.hasOwn(out, name) ? out[name] : undefined);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!KEY.test(key)) {
      onIssue({ line: lineNo, message: `invalid variable name ${JSON.stringify(key)}` });
      continue;
    }
    if (eq < 0) {
      const v = lookup(key);
      if (v !== undefined) out[key] = v;
      continue;
    }
    let raw = line.slice(eq + 1).trimStart();
    const quote = raw[0];
    let value: string;
    if (quote === "'" || quote === '"') {
      // Find the closing quote, reading on over lines if need be.
      let body = raw.slice(1);
      let close = findClose(body, quote);
      while (close < 0 && i + 1 < lines.length) {
        body += `\n${lines[++i] ?? ''}`;
        close = findClose(body, quote);
      }
      if (close < 0) {
        onIssue({ line: lineNo, message: `unterminated ${quote === '"' ? 'double' : 'single'} quote` });
        continue;
      }
      const inner = body.slice(0, close);
      if (quote === "'") {
        out[key] = inner;
        continue;
      }
      // Escapes first; an escaped $ becomes $$ so interpolation keeps it.
      value = inner.replace(/\\(.)/g, (_m, ch: string) => ESCAPES[ch] ?? `\\${ch}`);
    } else {
      const hash = raw.search(/\s#/);
      if (hash >= 0) raw = raw.slice(0, hash);
      value = raw.trim();
    }
    try {
      out[key] = interpolate(value, scoped, onUnset ? { onUnset } : {});
    } catch (err) {
      if (!(err instanceof InterpolationError)) throw err;
      onIssue({ line: lineNo, message: err.message });
    }
  }
  return out;
}

function findClose(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (quote === '"' && body[i] === '\\') i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}
