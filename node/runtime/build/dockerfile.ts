// The Dockerfile subset `swarm image build` understands, parsed into typed instructions.
// Pure: text in, instructions (or an error naming the line) out.
import { SwarmError } from '../../errors.js';

export interface HealthcheckSpec {
  test: string[]; // ['NONE'] | ['CMD', ...] | ['CMD-SHELL', cmd]
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  retries?: number;
}

/** A command as written: exec form (JSON array) or shell form (run with /bin/sh -c). */
export type CommandForm = { form: 'exec'; args: string[] } | { form: 'shell'; command: string };

export type Instruction = { line: number } & (
  | { kind: 'FROM'; image: string }
  | { kind: 'ARG'; name: string; default: string | undefined }
  | { kind: 'ENV'; pairs: [string, string][] }
  | { kind: 'LABEL'; pairs: [string, string][] }
  | { kind: 'WORKDIR'; path: string }
  | { kind: 'USER'; user: string }
  | { kind: 'EXPOSE'; ports: string[] }
  | { kind: 'COPY' | 'ADD'; sources: string[]; dest: string; chown: string | undefined }
  | { kind: 'RUN'; command: CommandForm }
  | { kind: 'CMD' | 'ENTRYPOINT'; command: CommandForm }
  | { kind: 'HEALTHCHECK'; check: HealthcheckSpec }
);

const SUPPORTED = new Set(['FROM', 'ARG', 'ENV', 'LABEL', 'WORKDIR', 'USER', 'EXPOSE', 'COPY', 'ADD', 'RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK']);

export class DockerfileError extends SwarmError {
  readonly line: number;
  constructor(line: number, reason: string) {
    super('INVALID_ARGUMENT', `Dockerfile:${line}: ${reason}`, 'see the supported instructions in the README');
    this.line = line;
  }
}

/** Joins continuation lines and drops comments; keeps the first line number of each instruction. */
function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const raw = text.split(/\r?\n/);
  let current: { line: number; text: string } | undefined;
  raw.forEach((l, i) => {
    const trimmed = l.trim();
    if (current === undefined && (trimmed === '' || trimmed.startsWith('#'))) return;
    // Comment lines inside a continuation are skipped, as Docker does.
    if (current !== undefined && trimmed.startsWith('#')) return;
    const continued = /\\\s*$/.test(l);
    const body = continued ? l.replace(/\\\s*$/, '') : l;
    if (current === undefined) current = { line: i + 1, text: body };
    else current.text += body.trimStart();
    if (!continued) {
      out.push({ line: current.line, text: current.text.trim() });
      current = undefined;
    }
  });
  if (current !== undefined) out.push({ line: current.line, text: current.text.trim() });
  return out;
}

/** Splits on whitespace, honouring double and single quotes and backslash escapes. */
export function splitWords(s: string, line: number): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i]!;
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i]!;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new DockerfileError(line, `unterminated ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}

function parseCommand(rest: string, line: number, what: string): CommandForm {
  if (rest.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rest);
    } catch {
      throw new DockerfileError(line, `${what}: the exec form must be a JSON array of strings, e.g. ["sh", "-c", "echo hi"]`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
      throw new DockerfileError(line, `${what}: the exec form must be a JSON array of strings`);
    }
    return { form: 'exec', args: parsed as string[] };
  }
  if (rest === '') throw new DockerfileError(line, `${what} needs a command`);
  return { form: 'shell', command: rest };
}

function parsePairs(rest: string, line: number, what: 'ENV' | 'LABEL'): [string, string][] {
  const words = splitWords(rest, line);
  if (words.length === 0) throw new DockerfileError(line, `${what} needs at least one key=value`);
  // Legacy form `ENV key value with spaces`.
  if (!words[0]!.includes('=')) {
    if (what === 'LABEL') throw new DockerfileError(line, `LABEL expects key=value pairs, got "${words[0]}"`);
    const m = /^(\S+)\s+(.*)$/.exec(rest);
    if (!m) throw new DockerfileError(line, `ENV ${words[0]} needs a value`);
    return [[m[1]!, splitWords(m[2]!, line).join(' ')]];
  }
  return words.map((w) => {
    const at = w.indexOf('=');
    if (at <= 0) throw new DockerfileError(line, `${what} expects key=value pairs, got "${w}"`);
    return [w.slice(0, at), w.slice(at + 1)];
  });
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

function parseDuration(v: string, line: number, flag: string): number {
  const m = DURATION.exec(v);
  if (!m) throw new DockerfileError(line, `HEALTHCHECK --${flag}: "${v}" is not a duration (e.g. 30s, 500ms, 1m)`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n * unit);
}

function parseHealthcheck(rest: string, line: number): HealthcheckSpec {
  if (/^NONE$/i.test(rest.trim())) return { test: ['NONE'] };
  const check: HealthcheckSpec = { test: [] };
  let s = rest.trim();
  for (;;) {
    const m = /^--([a-z-]+)=(\S+)\s*/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    if (flag === 'interval') check.intervalMs = parseDuration(value, line, flag);
    else if (flag === 'timeout') check.timeoutMs = parseDuration(value, line, flag);
    else if (flag === 'start-period') check.startPeriodMs = parseDuration(value, line, flag);
    else if (flag === 'retries') {
      if (!/^\d+$/.test(value)) throw new DockerfileError(line, `HEALTHCHECK --retries: "${value}" is not a whole number`);
      check.retries = Number(value);
    } else throw new DockerfileError(line, `HEALTHCHECK: unknown flag --${flag}`);
  }
  const cmd = /^CMD\s+(.*)$/i.exec(s);
  if (!cmd) throw new DockerfileError(line, 'HEALTHCHECK needs CMD <command> or NONE');
  const c = parseCommand(cmd[1]!.trim(), line, 'HEALTHCHECK CMD');
  check.test = c.form === 'exec' ? ['CMD', ...c.args] : ['CMD-SHELL', c.command];
  return check;
}

/** Parses a Dockerfile; the first instruction must be FROM (ARG may precede it). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const keyword = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (!SUPPORTED.has(keyword)) {
      throw new DockerfileError(line, `unknown or unsupported instruction "${m[1]}" (supported: ${[...SUPPORTED].join(', ')})`);
    }
    if (out.filter((i) => i.kind !== 'ARG').length === 0 && keyword !== 'FROM' && keyword !== 'ARG') {
      throw new DockerfileError(line, `the first instruction must be FROM, got ${keyword}`);
    }
    switch (keyword) {
      case 'FROM': {
        const words = splitWords(rest, line).filter((w) => !w.startsWith('--platform='));
        if (words.length === 0) throw new DockerfileError(line, 'FROM needs an image (or scratch)');
        if (words.length > 1) throw new DockerfileError(line, 'FROM: multi-stage builds (FROM ... AS name) are not supported');
        if (out.some((i) => i.kind === 'FROM')) throw new DockerfileError(line, 'only one FROM is supported (no multi-stage builds)');
        out.push({ line, kind: 'FROM', image: words[0]! });
        break;
      }
      case 'ARG': {
        const w = splitWords(rest, line);
        if (w.length !== 1) throw new DockerfileError(line, 'ARG takes one name[=default]');
        const at = w[0]!.indexOf('=');
        const name = at < 0 ? w[0]! : w[0]!.slice(0, at);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new DockerfileError(line, `ARG: "${name}" is not a valid name`);
        out.push({ line, kind: 'ARG', name, default: at < 0 ? undefined : w[0]!.slice(at + 1) });
        break;
      }
      case 'ENV':
      case 'LABEL':
        out.push({ line, kind: keyword, pairs: parsePairs(rest, line, keyword) });
        break;
      case 'WORKDIR':
        if (rest === '') throw new DockerfileError(line, 'WORKDIR needs a path');
        out.push({ line, kind: 'WORKDIR', path: splitWords(rest, line).join(' ') });
        break;
      case 'USER':
        if (rest === '') throw new DockerfileError(line, 'USER needs a user[:group]');
        out.push({ line, kind: 'USER', user: rest });
        break;
      case 'EXPOSE': {
        const ports = splitWords(rest, line);
        for (const p of ports) {
          if (!/^(\$\{?\w+\}?|\d+(-\d+)?)(\/(tcp|udp|sctp))?$/i.test(p)) throw new DockerfileError(line, `EXPOSE: "${p}" is not a port (e.g. 80, 53/udp)`);
        }
        if (ports.length === 0) throw new DockerfileError(line, 'EXPOSE needs at least one port');
        out.push({ line, kind: 'EXPOSE', ports });
        break;
      }
      case 'COPY':
      case 'ADD': {
        let words: string[];
        if (rest.replace(/^(--\S+\s+)*/, '').startsWith('[')) {
          const flags = /^((?:--\S+\s+)*)(.*)$/.exec(rest)!;
          const json = parseCommand(flags[2]!, line, keyword);
          words = [...splitWords(flags[1]!, line), ...(json.form === 'exec' ? json.args : [])];
        } else {
          words = splitWords(rest, line);
        }
        let chown: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          const fm = /^--chown=(.+)$/.exec(flag);
          if (!fm) throw new DockerfileError(line, `${keyword}: unsupported flag ${flag} (only --chown)`);
          chown = fm[1];
        }
        if (words.length < 2) throw new DockerfileError(line, `${keyword} needs at least one source and a destination`);
        const dest = words.pop()!;
        out.push({ line, kind: keyword, sources: words, dest, chown });
        break;
      }
      case 'RUN':
      case 'CMD':
      case 'ENTRYPOINT':
        out.push({ line, kind: keyword, command: parseCommand(rest, line, keyword) });
        break;
      case 'HEALTHCHECK':
        out.push({ line, kind: 'HEALTHCHECK', check: parseHealthcheck(rest, line) });
        break;
    }
  }
  if (!out.some((i) => i.kind === 'FROM')) throw new DockerfileError(1, 'no FROM instruction');
  return out;
}

/**
 * Expands $NAME, ${NAME}, ${NAME:-default} and ${NAME:+alternative} with the build's variables.
 * An unknown variable expands to nothing, as in Docker; `\$` keeps a literal dollar.
 */
export function expandVariables(s: string, vars: ReadonlyMap<string, string>): string {
  return s.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, op?: string, word?: string, bare?: string) => {
    if (whole === '\\$') return '$';
    const name = (braced ?? bare)!;
    const value = vars.get(name);
    if (op === '-') return value === undefined || value === '' ? (word ?? '') : value;
    if (op === '+') return value === undefined || value === '' ? '' : (word ?? '');
    return value ?? '';
  });
}
