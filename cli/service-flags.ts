import { posix } from 'node:path';
import type { MountSpec, PortConfig } from '../node/api/index.js';
import { parseDuration, ramInBytes, ValueError } from './format.js';

// Value parsers for the service commands' flags, in docker's syntaxes: --publish (long and short),
// --mount, --secret/--config (short and long), --constraint, --placement-pref, --network. Each
// throws ValueError with the reason; the flag's name is added by the caller (flags.ts).

/** "a=b,c=d" into pairs; a key without "=" has the value undefined (a flag such as readonly). */
function csvPairs(value: string, example: string): [string, string | undefined][] {
  return value.split(',').map((part) => {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
    if (key === '') throw new ValueError(`empty field in ${JSON.stringify(value)}: expected key=value pairs such as ${example}`);
    return [key, i < 0 ? undefined : part.slice(i + 1).trim()];
  });
}

function need(key: string, v: string | undefined): string {
  if (v === undefined || v === '') throw new ValueError(`${key} needs a value, as in ${key}=...`);
  return v;
}

function portNumber(what: string, v: string, min = 1): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > 65535) throw new ValueError(`the ${what} port must be a number between ${min} and 65535, got ${JSON.stringify(v)}`);
  return Number(v);
}

function protocol(v: string): 'tcp' | 'udp' | 'sctp' {
  const p = v.toLowerCase();
  if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') throw new ValueError(`the protocol must be tcp, udp or sctp, got ${JSON.stringify(v)}`);
  return p;
}

function portRange(what: string, v: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(v);
  if (!m?.[1]) throw new ValueError(`the ${what} port must be a number or a range such as 8000-8010, got ${JSON.stringify(v)}`);
  const start = portNumber(what, m[1]);
  const end = m[2] === undefined ? start : portNumber(what, m[2]);
  if (end < start) throw new ValueError(`the ${what} port range ${v} ends before it starts`);
  return Array.from({ length: end - start + 1 }, (_, i) => start + i);
}

/**
 * --publish: mode=host,published=8080,target=80,protocol=udp or the short 8080:80[/udp], 80
 * (published on a port the swarm picks), or ranges 8080-8081:80-81.
 */
export function publish(value: string): PortConfig[] {
  if (value.includes('=')) {
    const port: PortConfig = { Protocol: 'tcp', TargetPort: 0, PublishMode: 'ingress' };
    for (const [key, v] of csvPairs(value, 'published=8080,target=80')) {
      switch (key) {
        case 'mode': {
          const mode = need(key, v);
          if (mode !== 'ingress' && mode !== 'host') throw new ValueError(`the mode must be ingress or host, got ${JSON.stringify(mode)}`);
          port.PublishMode = mode;
          break;
        }
        case 'target':
          port.TargetPort = portNumber('target', need(key, v));
          break;
        case 'published':
          port.PublishedPort = portNumber('published', need(key, v));
          break;
        case 'protocol':
          port.Protocol = protocol(need(key, v));
          break;
        default:
          throw new ValueError(`unknown field ${JSON.stringify(key)}: use mode, published, target and protocol`);
      }
    }
    if (port.TargetPort === 0) throw new ValueError('the target port is missing: expected e.g. published=8080,target=80');
    return [port];
  }
  const slash = value.indexOf('/');
  const proto = slash < 0 ? 'tcp' : protocol(value.slice(slash + 1));
  const parts = (slash < 0 ? value : value.slice(0, slash)).split(':');
  if (parts.length > 2) throw new ValueError('a host IP cannot be given: ports are published on every node; expected PUBLISHED:TARGET[/PROTOCOL]');
  const targets = portRange('target', parts.at(-1) ?? '');
  const published = parts.length === 2 ? portRange('published', parts[0] ?? '') : undefined;
  if (published !== undefined && published.length !== targets.length) {
    throw new ValueError('the published and target ranges must be of the same length');
  }
  return targets.map((target, i) => ({
    Protocol: proto,
    TargetPort: target,
    ...(published?.[i] !== undefined ? { PublishedPort: published[i] } : {}),
    PublishMode: 'ingress',
  }));
}

function boolField(key: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  if (['true', '1'].includes(v.toLowerCase())) return true;
  if (['false', '0'].includes(v.toLowerCase())) return false;
  throw new ValueError(`${key} must be true or false, got ${JSON.stringify(v)}`);
}

/** --mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=64m][,tmpfs-mode=1777]. */
export function mount(value: string): MountSpec {
  let type: MountSpec['Type'] = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readOnly: boolean | undefined;
  const tmpfs: NonNullable<MountSpec['TmpfsOptions']> = {};
  for (const [key, v] of csvPairs(value, 'type=bind,source=/srv/data,target=/data')) {
    switch (key) {
      case 'type': {
        const t = need(key, v);
        if (t !== 'bind' && t !== 'volume' && t !== 'tmpfs') throw new ValueError(`the type must be bind, volume or tmpfs, got ${JSON.stringify(t)}`);
        type = t;
        break;
      }
      case 'source':
      case 'src':
        source = need(key, v);
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = need(key, v);
        break;
      case 'readonly':
      case 'ro':
        readOnly = boolField(key, v);
        break;
      case 'tmpfs-size':
        try {
          tmpfs.SizeBytes = ramInBytes(need(key, v));
        } catch (err) {
          throw new ValueError(`tmpfs-size: ${(err as Error).message}`);
        }
        break;
      case 'tmpfs-mode': {
        const mode = need(key, v);
        if (!/^[0-7]{3,4}$/.test(mode)) throw new ValueError(`tmpfs-mode must be octal such as 1777, got ${JSON.stringify(mode)}`);
        tmpfs.Mode = parseInt(mode, 8);
        break;
      }
      default:
        throw new ValueError(`unsupported mount option ${JSON.stringify(key)}: use type, source, target, readonly, tmpfs-size and tmpfs-mode`);
    }
  }
  if (target === undefined) throw new ValueError('the target is missing: expected e.g. type=bind,source=/srv/data,target=/data');
  if (!posix.isAbsolute(target)) throw new ValueError(`the target ${JSON.stringify(target)} must be an absolute path in the container`);
  if (type === 'bind' && (source === undefined || !posix.isAbsolute(source))) {
    throw new ValueError(`a bind mount needs an absolute source path on the host, got ${JSON.stringify(source ?? '')}`);
  }
  if (type === 'tmpfs' && source !== undefined) throw new ValueError('a tmpfs mount takes no source');
  if (type !== 'tmpfs' && Object.keys(tmpfs).length > 0) throw new ValueError('tmpfs-size and tmpfs-mode are for tmpfs mounts only');
  return {
    Type: type,
    ...(source !== undefined ? { Source: source } : {}),
    Target: target,
    ...(readOnly !== undefined ? { ReadOnly: readOnly } : {}),
    ...(Object.keys(tmpfs).length > 0 ? { TmpfsOptions: tmpfs } : {}),
  };
}

/** A secret or config to give the service, before its ID is looked up. */
export interface FileRef {
  source: string;
  target: string;
  uid: string;
  gid: string;
  mode: number;
}

/** --secret/--config: NAME, or source=NAME,target=PATH,uid=0,gid=0,mode=0444. */
export function fileRef(value: string): FileRef {
  if (!value.includes('=')) {
    if (value.trim() === '' || value.includes(',')) throw new ValueError('expected NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=]');
    return { source: value, target: value, uid: '0', gid: '0', mode: 0o444 };
  }
  const ref: Partial<FileRef> = {};
  for (const [key, v] of csvPairs(value, 'source=db_password,target=db,mode=0400')) {
    switch (key) {
      case 'source':
      case 'src':
        ref.source = need(key, v);
        break;
      case 'target':
        ref.target = need(key, v);
        break;
      case 'uid':
      case 'gid': {
        const id = need(key, v);
        if (!/^\d+$/.test(id)) throw new ValueError(`${key} must be a number, got ${JSON.stringify(id)}`);
        ref[key] = id;
        break;
      }
      case 'mode': {
        const mode = need(key, v);
        if (!/^0?[0-7]{3}$/.test(mode)) throw new ValueError(`mode must be octal such as 0400, got ${JSON.stringify(mode)}`);
        ref.mode = parseInt(mode, 8);
        break;
      }
      default:
        throw new ValueError(`unknown field ${JSON.stringify(key)}: use source, target, uid, gid and mode`);
    }
  }
  if (ref.source === undefined) throw new ValueError('the source is missing: expected e.g. source=db_password,target=db');
  return { source: ref.source, target: ref.target ?? ref.source, uid: ref.uid ?? '0', gid: ref.gid ?? '0', mode: ref.mode ?? 0o444 };
}

/** --constraint: KEY==VALUE or KEY!=VALUE (node.role, node.hostname, node.labels.zone, ...). */
export function constraint(value: string): string {
  if (!/^\s*[\w.-]+\s*(?:==|!=)\s*\S.*$/.test(value)) throw new ValueError('expected KEY==VALUE or KEY!=VALUE, e.g. node.role==manager or node.labels.zone!=a');
  return value.trim();
}

/** --placement-pref spread=node.labels.zone: the SpreadDescriptor. */
export function placementPref(value: string): string {
  const m = /^spread=(.+)$/.exec(value.trim());
  if (!m?.[1]) throw new ValueError('expected spread=DESCRIPTOR, e.g. spread=node.labels.zone (spread is the only strategy)');
  return m[1];
}

/** --network NAME or name=NAME,alias=A[,alias=B]. */
export function network(value: string): { Target: string; Aliases?: string[] } {
  if (!value.includes('=')) {
    if (value.trim() === '') throw new ValueError('expected a network name');
    return { Target: value };
  }
  let target: string | undefined;
  const aliases: string[] = [];
  for (const [key, v] of csvPairs(value, 'name=backend,alias=db')) {
    if (key === 'name' || key === 'target') target = need(key, v);
    else if (key === 'alias') aliases.push(need(key, v));
    else throw new ValueError(`unknown field ${JSON.stringify(key)}: use name and alias`);
  }
  if (target === undefined) throw new ValueError('the network name is missing: expected name=NAME[,alias=ALIAS]');
  return { Target: target, ...(aliases.length > 0 ? { Aliases: aliases } : {}) };
}

/** A duration of 0 or more in Go syntax ("5s", "1m30s"), in nanoseconds. */
export function duration(value: string): number {
  const ns = parseDuration(value);
  if (ns < 0) throw new ValueError('must not be negative');
  return ns;
}

/** A number between 0 and 1 (--update-max-failure-ratio). */
export function ratio(value: string): number {
  if (!/^\d*\.?\d+$/.test(value.trim()) || Number(value) > 1) throw new ValueError('must be a number between 0 and 1');
  return Number(value);
}

/** SERVICE=REPLICAS for `service scale`. */
export function scaleSpec(value: string): [string, number] {
  const i = value.lastIndexOf('=');
  const name = i < 0 ? '' : value.slice(0, i);
  const n = i < 0 ? '' : value.slice(i + 1);
  if (name === '' || !/^\d+$/.test(n)) throw new ValueError('expected SERVICE=REPLICAS, e.g. web=3');
  return [name, Number(n)];
}

/** --canary-steps: rising percentages, e.g. 10,50,100. */
export function canarySteps(value: string): number[] {
  const steps = value.split(',').map((x) => x.trim());
  const out: number[] = [];
  for (const x of steps) {
    const n = Number(x.replace(/%$/, ''));
    if (!/^\d+%?$/.test(x) || n < 1 || n > 100) throw new ValueError(`"${x}" is not a percentage from 1 to 100`);
    if (out.length > 0 && n <= out[out.length - 1]!) throw new ValueError(`the steps must rise: ${n} after ${out[out.length - 1]}`);
    out.push(n);
  }
  return out;
}
