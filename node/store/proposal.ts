import { pack, unpack } from 'msgpackr';
import { SwarmError } from '../errors.js';
import { TABLE_NAMES, type ObjectInput, type Proposal, type StoreAction, type TableName } from './types.js';

// The bytes of one Raft entry. Every member decodes the same bytes, so what the store applies
// is identical everywhere; validation here keeps malformed writes out of the log.

export function encodeProposal(p: Proposal): Uint8Array {
  return pack(p);
}

/** Decodes and checks a proposal; throws SwarmError INVALID_ARGUMENT naming the bad field. */
export function decodeProposal(bytes: Uint8Array): Proposal {
  if (!(bytes instanceof Uint8Array)) throw invalid('proposal', 'expected bytes');
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch (err) {
    throw invalid('proposal', `not valid msgpack: ${err instanceof Error ? err.message : String(err)}`);
  }
  return validateProposal(value);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const OPS = new Set(['create', 'update', 'delete']);
const TABLES = new Set<string>(TABLE_NAMES);

function validateProposal(value: unknown): Proposal {
  if (!isRecord(value)) throw invalid('proposal', 'expected an object');
  const { proposedAt, actions } = value;
  if (typeof proposedAt !== 'string' || !RFC3339.test(proposedAt) || Number.isNaN(Date.parse(proposedAt))) {
    throw invalid('proposal.proposedAt', `expected an RFC 3339 timestamp, got ${describe(proposedAt)}`);
  }
  if (!Array.isArray(actions)) throw invalid('proposal.actions', `expected an array, got ${describe(actions)}`);
  return { proposedAt, actions: actions.map((a, i) => validateAction(a, `proposal.actions[${i}]`)) };
}

function validateAction(a: unknown, at: string): StoreAction {
  if (!isRecord(a)) throw invalid(at, `expected an object, got ${describe(a)}`);
  const { op, table, expectVersion } = a;
  if (typeof op !== 'string' || !OPS.has(op)) throw invalid(`${at}.op`, `expected create, update or delete, got ${describe(op)}`);
  if (typeof table !== 'string' || !TABLES.has(table)) {
    throw invalid(`${at}.table`, `expected one of ${TABLE_NAMES.join(', ')}, got ${describe(table)}`);
  }
  if (expectVersion !== undefined) {
    if (op === 'create') throw invalid(`${at}.expectVersion`, 'only an update or a delete can expect a version');
    if (typeof expectVersion !== 'number' || !Number.isSafeInteger(expectVersion) || expectVersion < 0) {
      throw invalid(`${at}.expectVersion`, `expected a non-negative integer, got ${describe(expectVersion)}`);
    }
  }
  const t = table as TableName;
  if (op === 'delete') {
    if (typeof a.id !== 'string' || a.id === '') throw invalid(`${at}.id`, `expected a non-empty string, got ${describe(a.id)}`);
    return expectVersion === undefined ? { op, table: t, id: a.id } : { op, table: t, id: a.id, expectVersion };
  }
  const object = a.object;
  if (!isRecord(object)) throw invalid(`${at}.object`, `expected an object, got ${describe(object)}`);
  if (typeof object.ID !== 'string' || object.ID === '') {
    throw invalid(`${at}.object.ID`, `expected a non-empty string, got ${describe(object.ID)}`);
  }
  const input = object as ObjectInput;
  if (op === 'create') return { op, table: t, object: input };
  return expectVersion === undefined ? { op: 'update', table: t, object: input } : { op: 'update', table: t, object: input, expectVersion };
}

/** A plain object, as msgpack maps decode (not an array, bytes or msgpackr's extension values). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function invalid(field: string, problem: string): SwarmError {
  return new SwarmError('INVALID_ARGUMENT', `${field}: ${problem}`);
}
