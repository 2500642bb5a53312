import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../errors.js';
import { decodeProposal, encodeProposal } from './proposal.js';
import type { Proposal } from './types.js';

const AT = '2024-05-01T10:00:00.000Z';

/** The message of the INVALID_ARGUMENT error decoding `value` (as msgpack) throws. */
function decodeError(value: unknown): string {
  try {
    decodeProposal(pack(value));
  } catch (err) {
    if (isSwarmError(err, 'INVALID_ARGUMENT')) return err.message;
    throw err;
  }
  throw new Error('decoded without error');
}

describe('proposal encoding', () => {
  it('round-trips a proposal', () => {
    const p: Proposal = {
      proposedAt: AT,
      actions: [
        { op: 'create', table: 'services', object: { ID: 's1', Spec: { Name: 'web', Labels: { a: 'b' } } } },
        { op: 'update', table: 'nodes', object: { ID: 'n1', Spec: { Role: 'manager' } }, expectVersion: 7 },
        { op: 'delete', table: 'tasks', id: 't1' },
      ],
    };
    expect(decodeProposal(encodeProposal(p))).toEqual(p);
  });

  it('accepts an empty transaction and timestamps with offsets', () => {
    expect(decodeProposal(encodeProposal({ proposedAt: '2024-05-01T12:00:00+02:00', actions: [] })).actions).toEqual([]);
  });

  it('names the field that is wrong', () => {
    const ok = { op: 'create', table: 'services', object: { ID: 's1' } };
    expect(decodeError(['x'])).toMatch(/^proposal: expected an object/);
    expect(decodeError({ actions: [] })).toMatch(/^proposal\.proposedAt: expected an RFC 3339 timestamp/);
    expect(decodeError({ proposedAt: 'yesterday', actions: [] })).toMatch(/^proposal\.proposedAt: .*"yesterday"/);
    expect(decodeError({ proposedAt: AT, actions: {} })).toMatch(/^proposal\.actions: expected an array/);
    expect(decodeError({ proposedAt: AT, actions: [ok, 5] })).toMatch(/^proposal\.actions\[1\]: expected an object/);
    expect(decodeError({ proposedAt: AT, actions: [{ ...ok, op: 'upsert' }] })).toMatch(/^proposal\.actions\[0\]\.op: .*"upsert"/);
    expect(decodeError({ proposedAt: AT, actions: [{ ...ok, table: 'volumes' }] })).toMatch(/^proposal\.actions\[0\]\.table: .*"volumes"/);
    expect(decodeError({ proposedAt: AT, actions: [{ op: 'update', table: 'nodes' }] })).toMatch(/^proposal\.actions\[0\]\.object: expected an object/);
    expect(decodeError({ proposedAt: AT, actions: [{ ...ok, object: { Spec: {} } }] })).toMatch(/^proposal\.actions\[0\]\.object\.ID: expected a non-empty string/);
    expect(decodeError({ proposedAt: AT, actions: [{ ...ok, object: { ID: '' } }] })).toMatch(/^proposal\.actions\[0\]\.object\.ID:/);
    expect(decodeError({ proposedAt: AT, actions: [{ op: 'delete', table: 'tasks', id: 3 }] })).toMatch(/^proposal\.actions\[0\]\.id: .*number 3/);
    expect(decodeError({ proposedAt: AT, actions: [{ op: 'delete', table: 'tasks', id: 't', expectVersion: -1 }] })).toMatch(
      /^proposal\.actions\[0\]\.expectVersion: expected a non-negative integer/,
    );
    expect(decodeError({ proposedAt: AT, actions: [{ ...ok, expectVersion: 3 }] })).toMatch(/^proposal\.actions\[0\]\.expectVersion: only an update or a delete/);
  });

  it('rejects bytes that are not msgpack', () => {
    expect(() => decodeProposal(new Uint8Array([0x92, 0x01]))).toThrow(/^proposal: not valid msgpack/);
    expect(() => decodeProposal(new Uint8Array([0x01, 0x02]))).toThrow(/^proposal: not valid msgpack/);
    expect(() => decodeProposal(new Uint8Array([0xc1]))).toThrow(/^proposal: expected an object/);
    expect(() => decodeProposal('nope' as unknown as Uint8Array)).toThrow(/^proposal: expected bytes/);
  });
});
