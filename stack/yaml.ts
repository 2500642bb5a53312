import { Document, isScalar, Pair, parseAllDocuments, Scalar, visit, YAMLMap, type ScalarTag } from 'yaml';

// YAML in and out. In: YAML 1.2 with merge keys (<<), 0-prefixed octal numbers as compose's
// go-yaml reads them (mode: 0440), and compose's merge tags !reset and !override turned into
// markers the merge step understands. Out: a stable, round-trippable rendering.

/** Stands for a value tagged !reset: the merge removes the key (or the value it would override). */
export const RESET = '\u0000compose:reset';
/** Wraps a value tagged !override: the merge replaces instead of merging. */
export const OVERRIDE = '\u0000compose:override';

const octal: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^0[0-7]+$/,
  resolve: (s) => parseInt(s, 8),
  // Only for reading: numbers print as the core schema prints them.
  identify: () => false,
};

export interface ParsedYaml {
  value: unknown;
  errors: { path: string; message: string }[];
  warnings: string[];
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Parses one compose file. `name` is how errors name the file. */
export function parseYaml(text: string, name: string): ParsedYaml {
  const docs = parseAllDocuments(text, { merge: true, customTags: (tags) => [octal, ...tags], prettyErrors: true });
  const errors: ParsedYaml['errors'] = [];
  const warnings: string[] = [];
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > 1) errors.push({ path: name, message: 'has several YAML documents: a compose file holds one' });
  const doc = list[0];
  if (doc === undefined) return { value: null, errors, warnings };
  // The first syntax error only: the ones after it are mostly its echoes.
  const e = doc.errors[0];
  if (e) {
    const pos = e.linePos?.[0];
    errors.push({ path: pos ? `${name}:${pos.line}:${pos.col}` : name, message: firstLine(e.message) });
  }
  if (errors.length > 0) return { value: null, errors, warnings };
  visit(doc, {
    Node(_key, node) {
      if (!('tag' in node)) return undefined;
      if (node.tag === '!reset') return new Scalar(RESET);
      if (node.tag === '!override') {
        node.tag = undefined;
        const wrapper = new YAMLMap();
        wrapper.items.push(new Pair(new Scalar(OVERRIDE), node));
        return wrapper;
      }
      return undefined;
    },
  });
  for (const w of doc.warnings) {
    if (/Unresolved tag: !(reset|override)\b/.test(w.message)) continue;
    const pos = w.linePos?.[0];
    warnings.push(`${pos ? `${name}:${pos.line}:${pos.col}` : name}: ${firstLine(w.message)}`);
  }
  try {
    const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
    if (isCyclic(value, new Set())) {
      errors.push({ path: name, message: 'an alias refers to the node that contains it (a cycle)' });
      return { value: null, errors, warnings };
    }
    return { value, errors, warnings };
  } catch (err) {
    // Alias loops and alias bombs surface only when resolved.
    errors.push({ path: name, message: err instanceof Error ? firstLine(err.message) : String(err) });
    return { value: null, errors, warnings };
  }
}

function isCyclic(v: unknown, ancestors: Set<object>): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (ancestors.has(v)) return true;
  ancestors.add(v);
  const cyclic = Object.values(v).some((x) => isCyclic(x, ancestors));
  ancestors.delete(v);
  return cyclic;
}

/** YAML text for a plain tree; `mode` keys (file modes) print in octal, the way people write them. */
export function toYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.value === 'mode' && isScalar(pair.value) && typeof pair.value.value === 'number') pair.value.format = 'OCT';
    },
  });
  return doc.toString({ lineWidth: 0 });
}
