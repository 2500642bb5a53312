import { isAbsolute, posix, resolve } from 'node:path';
import { ramInBytes, ValueError } from './format.js';

// Value parsers for the image and container commands (see flags.ts for how they are attached):
// image references, `swarm run`'s resource, mount and environment flags. Each throws ValueError
// with the reason; the flag's name is added by the caller.

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const FORMAT_HINT = 'expected [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], e.g. alpine:3.20 or localhost:5000/team/app:1';

export interface ParsedRef {
  /** Registry and path, without tag or digest. */
  name: string;
  tag?: string;
  digest?: string;
}

/** Docker's reference grammar, with its messages for the common mistakes. */
export function parseImageRef(value: string): ParsedRef {
  if (value === '') throw new ValueError(`the image reference is empty: ${FORMAT_HINT}`);
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ValueError(`invalid digest ${JSON.stringify(digest)}: expected sha256:<64 hex digits>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ValueError(`invalid tag ${JSON.stringify(tag)}: letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"`);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const hasDomain = parts.length > 1 && (/[.:]/.test(first) || first === 'localhost');
  if (hasDomain && !DOMAIN.test(first)) throw new ValueError(`invalid registry ${JSON.stringify(first)}: ${FORMAT_HINT}`);
  for (const p of hasDomain ? parts.slice(1) : parts) {
    if (PATH_COMPONENT.test(p)) continue;
    if (PATH_COMPONENT.test(p.toLowerCase())) throw new ValueError('repository name must be lowercase');
    throw new ValueError(`invalid reference format: ${FORMAT_HINT}`);
  }
  return { name: rest, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** An image reference, checked and returned as given. */
export function imageRef(value: string): string {
  parseImageRef(value);
  return value;
}

/** A name to give an image (build -t, tag TARGET): no digest. */
export function imageName(value: string): string {
  if (parseImageRef(value).digest !== undefined) throw new ValueError('a digest cannot be given as a name: use NAME[:TAG]');
  return value;
}

/** KEY=VALUE, or KEY alone (its value then comes from this environment, as docker does). */
export function envVar(value: string): [string, string | undefined] {
  const i = value.indexOf('=');
  const key = i < 0 ? value : value.slice(0, i);
  if (key === '') throw new ValueError('the variable name is empty: expected KEY=VALUE');
  if (/\s/.test(key)) throw new ValueError(`the variable name ${JSON.stringify(key)} contains whitespace`);
  return [key, i < 0 ? undefined : value.slice(i + 1)];
}

/** Docker's minimum memory limit. */
const MIN_MEMORY = 6 * 1024 * 1024;

export function memoryBytes(value: string): number {
  const n = ramInBytes(value);
  if (n < MIN_MEMORY) throw new ValueError('the minimum memory limit is 6m');
  return n;
}

/** --cpus 0.5 → NanoCpus. */
export function cpus(value: string): number {
  if (!/^\d*\.?\d+$/.test(value.trim())) throw new ValueError('expected a number of CPUs such as 0.5 or 2');
  const n = Math.round(Number(value) * 1e9);
  if (n <= 0) throw new ValueError('must be more than 0');
  return n;
}

/** --pids-limit: a positive count, or -1 for unlimited. */
export function pidsLimit(value: string): number {
  if (value.trim() === '-1') return -1;
  if (!/^\d+$/.test(value.trim()) || Number(value) === 0) throw new ValueError('expected a positive number of processes, or -1 for unlimited');
  return Number(value);
}

/** A Linux capability ("NET_ADMIN", "cap_net_admin" or "ALL"), as CAP_NET_ADMIN. */
export function capability(value: string): string {
  const v = value.trim().toUpperCase();
  if (v === 'ALL') return v;
  if (!/^(?:CAP_)?[A-Z][A-Z_]*$/.test(v)) throw new ValueError('expected a capability name such as NET_ADMIN, or ALL');
  return v.startsWith('CAP_') ? v : `CAP_${v}`;
}

export function absolutePath(value: string): string {
  if (!posix.isAbsolute(value)) throw new ValueError('must be an absolute path in the container, such as /app');
  return value;
}

/** -v SRC:DST[:ro|rw]: SRC a host path (relative ones are made absolute) or a volume name. */
export function bindMount(value: string): string {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) throw new ValueError('expected SOURCE:TARGET[:ro], e.g. /srv/data:/data:ro');
  const [src = '', dst = '', mode] = parts;
  if (src === '') throw new ValueError('the source is empty: expected SOURCE:TARGET[:ro]');
  if (!posix.isAbsolute(dst)) throw new ValueError(`the target ${JSON.stringify(dst)} must be an absolute path in the container`);
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new ValueError(`the mode ${JSON.stringify(mode)} must be ro or rw`);
  let source = src;
  if (src.startsWith('.') || src.startsWith('~')) {
    if (src.startsWith('~')) throw new ValueError('"~" is not expanded: give the full path of the source');
    source = resolve(src);
  } else if (!isAbsolute(src) && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(src)) {
    throw new ValueError(`the source ${JSON.stringify(src)} is neither an absolute path nor a volume name`);
  }
  return [source, dst, ...(mode !== undefined ? [mode] : [])].join(':');
}

/** --tmpfs /path[:options]: the options as docker passes them (size=64m,mode=1777,...). */
export function tmpfsMount(value: string): [string, string] {
  const i = value.indexOf(':');
  const path = i < 0 ? value : value.slice(0, i);
  const options = i < 0 ? '' : value.slice(i + 1);
  if (!posix.isAbsolute(path)) throw new ValueError('expected an absolute path in the container, e.g. /tmp:size=64m');
  for (const opt of options === '' ? [] : options.split(',')) {
    const [k = '', v] = opt.split('=', 2);
    if (k === 'size') {
      if (v === undefined || !/^\d+(?:\.\d+)?[kmgKMG%]?$/.test(v)) throw new ValueError(`invalid size ${JSON.stringify(v ?? '')}: expected e.g. size=64m`);
    } else if (k === 'mode') {
      if (v === undefined || !/^[0-7]{3,4}$/.test(v)) throw new ValueError(`invalid mode ${JSON.stringify(v ?? '')}: expected octal, e.g. mode=1777`);
    } else if (!['ro', 'rw', 'noexec', 'exec', 'nosuid', 'suid', 'nodev', 'dev', 'uid', 'gid', 'nr_inodes'].includes(k)) {
      throw new ValueError(`unknown tmpfs option ${JSON.stringify(k)}: use size, mode, ro, rw, noexec, nosuid, nodev`);
    }
  }
  return [path, options];
}

/** Docker's container names. */
export function containerName(value: string): string {
  if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(value)) throw new ValueError('must be at least 2 characters of [a-zA-Z0-9_.-], starting with a letter or digit');
  return value.replace(/^\//, '');
}

/** A signal name (SIGTERM, TERM) or number. */
export function signalName(value: string): string {
  if (!/^(?:\d{1,2}|(?:SIG)?[A-Z][A-Z0-9+-]*)$/i.test(value)) throw new ValueError('expected a signal name or number, such as SIGTERM, HUP or 9');
  return value;
}

/** --tail: "all" or a number of lines. */
export function tailLines(value: string): string {
  if (value !== 'all' && !/^\d+$/.test(value)) throw new ValueError('expected "all" or a number of lines');
  return value;
}
