import type { SchedulerNode } from './node.js';

/** A node attribute that constraints and spread preferences can name. */
export type NodeAttribute =
  | { kind: 'id' | 'hostname' | 'role' | 'os' | 'arch' }
  | { kind: 'label' | 'engineLabel'; name: string };

export type ConstraintOp = '==' | '!=';

export interface Constraint {
  /** The expression as written, for messages. */
  readonly expr: string;
  readonly key: string;
  readonly attribute: NodeAttribute;
  readonly op: ConstraintOp;
  readonly value: string;
  /** Docker compares values case-insensitively. */
  readonly valueLower: string;
  /**
   * The lower-cased value is ASCII: then only a string of the same length can equal it
   * ignoring case, which spares lower-casing every node's value.
   */
  readonly asciiValue: boolean;
}

export class ConstraintError extends Error {
  constructor(
    readonly expr: string,
    reason: string,
  ) {
    super(`invalid constraint "${expr}": ${reason}`);
    this.name = 'ConstraintError';
  }
}

const FIXED_KEYS: Record<string, NodeAttribute> = {
  'node.id': { kind: 'id' },
  'node.hostname': { kind: 'hostname' },
  'node.role': { kind: 'role' },
  'node.platform.os': { kind: 'os' },
  'node.platform.arch': { kind: 'arch' },
};
const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';

export const CONSTRAINT_KEYS_HELP = 'node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>';

/**
 * The attribute a key names, or undefined. Prefixes are case-insensitive as in Docker; label
 * names are kept as written (labels are case-sensitive maps).
 */
export function parseNodeAttribute(key: string): NodeAttribute | undefined {
  const lower = key.toLowerCase();
  const fixed = FIXED_KEYS[lower];
  if (fixed) return fixed;
  if (lower.startsWith(NODE_LABELS) && key.length > NODE_LABELS.length) return { kind: 'label', name: key.slice(NODE_LABELS.length) };
  if (lower.startsWith(ENGINE_LABELS) && key.length > ENGINE_LABELS.length) return { kind: 'engineLabel', name: key.slice(ENGINE_LABELS.length) };
  return undefined;
}

export function nodeAttributeValue(node: SchedulerNode, a: NodeAttribute): string | undefined {
  switch (a.kind) {
    case 'id':
      return node.id;
    case 'hostname':
      return node.hostname;
    case 'role':
      return node.role;
    case 'os':
      return node.os;
    case 'arch':
      return node.arch;
    case 'label':
      return node.labels[a.name];
    case 'engineLabel':
      return node.engineLabels[a.name];
  }
}

/** Parses "node.labels.zone == a" / "node.role!=manager"; throws a ConstraintError naming the expression. */
export function parseConstraint(expr: string): Constraint {
  const m = /^(.*?)(==|!=)(.*)$/s.exec(expr);
  if (!m) throw new ConstraintError(expr, 'expected "<key> == <value>" or "<key> != <value>"');
  const key = m[1]!.trim();
  const op = m[2] as ConstraintOp;
  const value = m[3]!.trim();
  if (!key) throw new ConstraintError(expr, 'missing key');
  if (!value) throw new ConstraintError(expr, 'missing value');
  if (value.includes('=')) throw new ConstraintError(expr, 'more than one operator');
  const attribute = parseNodeAttribute(key);
  if (!attribute) throw new ConstraintError(expr, `unknown key "${key}" (expected ${CONSTRAINT_KEYS_HELP})`);
  const valueLower = value.toLowerCase();
  // eslint-disable-next-line no-control-regex -- the ASCII range, control characters included
  return { expr, key, attribute, op, value, valueLower, asciiValue: /^[\x00-\x7f]*$/.test(valueLower) };
}

/** Parses every expression; throws on the first invalid one. */
export function parseConstraints(exprs: readonly string[] | undefined): Constraint[] {
  return (exprs ?? []).map(parseConstraint);
}

/** A missing attribute (e.g. an unset label) never equals a value, so it satisfies `!=`. */
export function matchConstraint(c: Constraint, node: SchedulerNode): boolean {
  const v = nodeAttributeValue(node, c.attribute);
  const equal = v !== undefined && (v === c.value || ((!c.asciiValue || v.length === c.value.length) && v.toLowerCase() === c.valueLower));
  return c.op === '==' ? equal : !equal;
}

export function matchConstraints(cs: readonly Constraint[], node: SchedulerNode): boolean {
  for (const c of cs) if (!matchConstraint(c, node)) return false;
  return true;
}
