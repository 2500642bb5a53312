import { parsePortShort } from './ports.js';
import { parseVolumeShort } from './volumes.js';
import { OVERRIDE, RESET } from './yaml.js';

// Merging several compose files in order, by the compose specification's merge rules
// (compose-spec/13-merge.md): mappings merge key by key, scalars are overridden, sequences are
// appended (without duplicates), except:
// - command, entrypoint and healthcheck.test are replaced;
// - environment, labels, annotations, sysctls, extra_hosts and deploy.labels merge by key, in either syntax;
// - ports merge by {host ip, published, target, protocol}; volumes by target; secrets and configs by target;
// - networks and depends_on merge by name, in either syntax;
// - !reset removes a value, !override replaces it whole.
// The trees are raw (as parsed and interpolated): items that cannot be read keep their own key
// and are left for validation to report.

type Tree = Record<string, unknown>;

export function isObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isOverride(v: unknown): v is Tree {
  return isObject(v) && Object.keys(v).length === 1 && Object.hasOwn(v, OVERRIDE);
}

/** Removes the !reset and !override markers left where nothing was merged. */
export function stripMarkers(v: unknown): unknown {
  if (isOverride(v)) return stripMarkers(v[OVERRIDE]);
  if (Array.isArray(v)) return v.filter((x) => x !== RESET).map(stripMarkers);
  if (isObject(v)) {
    const out: Tree = {};
    for (const [k, x] of Object.entries(v)) if (x !== RESET) out[k] = stripMarkers(x);
    return out;
  }
  return v;
}

/** list_or_dict as a dict ("K=V" → K: "V", "K" → K: null), or undefined if it is neither. */
function toDict(v: unknown, split: (s: string) => [string, string | null]): Tree | undefined {
  if (isObject(v)) return v;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  const out: Tree = {};
  for (const s of v as string[]) {
    const [k, val] = split(s);
    out[k] = val;
  }
  return out;
}

function splitEq(s: string): [string, string | null] {
  const i = s.indexOf('=');
  return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)];
}

function splitHost(s: string): [string, string | null] {
  const i = s.search(/[=:]/);
  return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)];
}

/** networks / depends_on: a list of names becomes name → null / a started condition. */
function namesToDict(v: unknown, item: () => unknown): Tree | undefined {
  if (isObject(v)) return v;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  return Object.fromEntries((v as string[]).map((n) => [n, item()]));
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [v];
}

function portKeys(item: unknown): string {
  try {
    if (typeof item === 'string' || typeof item === 'number') {
      return parsePortShort(item)
        .map((p) => `${p.host_ip ?? ''}|${p.published ?? ''}|${p.target}|${p.protocol}`)
        .join(',');
    }
    if (isObject(item)) return `${String(item['host_ip'] ?? '')}|${String(item['published'] ?? '')}|${String(item['target'])}|${String(item['protocol'] ?? 'tcp')}`;
  } catch {
    // Unreadable: keyed by itself below, validation reports it.
  }
  return JSON.stringify(item);
}

function volumeKey(item: unknown): string {
  try {
    if (typeof item === 'string') return parseVolumeShort(item).target;
    if (isObject(item) && typeof item['target'] === 'string') return item['target'];
  } catch {
    // As above.
  }
  return JSON.stringify(item);
}

function fileRefKey(item: unknown): string {
  if (typeof item === 'string') return item;
  if (isObject(item)) return String(item['target'] ?? item['source']);
  return JSON.stringify(item);
}

/** Appends `over` to `base`; an item whose key is already there replaces it in place. */
function mergeByKey(base: unknown[], over: unknown[], key: (item: unknown) => string): unknown[] {
  const out = [...base];
  const index = new Map<string, number>(out.map((item, i) => [key(item), i]));
  for (const item of over) {
    if (item === RESET) continue;
    const k = key(item);
    const i = index.get(k);
    if (i === undefined) {
      index.set(k, out.length);
      out.push(item);
    } else {
      out[i] = item;
    }
  }
  return out;
}

const DICT_KEYS: Record<string, (s: string) => [string, string | null]> = {
  environment: splitEq,
  labels: splitEq,
  annotations: splitEq,
  sysctls: splitEq,
  extra_hosts: splitHost,
};

const REPLACED = new Set(['command', 'entrypoint']);
const STRING_OR_LIST = new Set(['dns', 'dns_search', 'tmpfs', 'env_file']);

/** How to merge the value at `path` (key names from the top; "*" for a service name). */
function merge(base: unknown, over: unknown, path: string[]): unknown {
  if (over === RESET) return undefined;
  if (isOverride(over)) return stripMarkers(over[OVERRIDE]);
  if (base === undefined) return stripMarkers(over);
  const [top, , key, sub] = path;
  if (top === 'services' && path.length >= 3) {
    const inService = path.length === 3;
    if (inService && REPLACED.has(key ?? '')) return stripMarkers(over);
    if (path.length === 4 && key === 'healthcheck' && sub === 'test') return stripMarkers(over);
    const split = inService ? DICT_KEYS[key ?? ''] : path.length === 4 && key === 'deploy' && sub === 'labels' ? splitEq : undefined;
    if (split) {
      const b = toDict(base, split);
      const o = toDict(over, split);
      if (b && o) return mergeMaps(b, o, path);
      return stripMarkers(over);
    }
    if (inService && (key === 'networks' || key === 'depends_on')) {
      const item = key === 'networks' ? () => null : () => ({ condition: 'service_started' });
      const b = namesToDict(base, item);
      const o = namesToDict(over, item);
      if (b && o) return mergeMaps(b, o, path);
      return stripMarkers(over);
    }
    if (inService && STRING_OR_LIST.has(key ?? '')) return mergeByKey(asList(base), asList(stripMarkers(over)), (x) => JSON.stringify(x));
    if (inService && Array.isArray(base) && Array.isArray(over)) {
      const o = stripMarkers(over) as unknown[];
      if (key === 'ports') return mergeByKey(base, o, portKeys);
      if (key === 'volumes') return mergeByKey(base, o, volumeKey);
      if (key === 'secrets' || key === 'configs') return mergeByKey(base, o, fileRefKey);
    }
  }
  if (isObject(base) && isObject(over)) return mergeMaps(base, over, path);
  if (Array.isArray(base) && Array.isArray(over)) return mergeByKey(base, stripMarkers(over) as unknown[], (x) => JSON.stringify(x));
  return stripMarkers(over);
}

function mergeMaps(base: Tree, over: Tree, path: string[]): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // Below services, the second path element is the service: one rule for all of them.
    const child = [...path, path.length === 1 && path[0] === 'services' ? '*' : k];
    const merged = merge(out[k], v, child);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  return out;
}

/** Merges compose trees in order: later files win. The result has no markers left. */
export function mergeTrees(trees: Tree[]): Tree {
  let out: Tree = {};
  for (const t of trees) out = mergeMaps(out, t, []);
  return stripMarkers(out) as Tree;
}
