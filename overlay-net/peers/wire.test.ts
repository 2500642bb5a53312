import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { PeerMessageError, isPeerMessageError } from './errors.js';
import { PeerTable } from './table.js';
import { stamped, taskEndpoint } from './test-helpers.js';
import { MAX_RECORDS_PER_MESSAGE, decodePeerMessage, encodePeerMessage, peerTopic, splitRecords, type PeerMessage } from './wire.js';
import { thrown } from '../../test/support/rejection.js';

function caught(fn: () => unknown): PeerMessageError {
  const err = thrown(fn);
  if (isPeerMessageError(err)) return err;
  throw err;
}

const rec = stamped(
  taskEndpoint('a', '10.0.1.2', {
    service: { aliases: ['app'], vip: '10.0.1.100', ports: [{ protocol: 'tcp', publishedPort: 8080, targetPort: 80, mode: 'ingress' }] },
  }),
  3,
);
const nodeRec = { ...stamped(taskEndpoint('x', '10.0.1.3'), 4), owner: 'node:n1', service: undefined };

/** A records message whose first record has `field` replaced by `value` (deep paths with dots). */
function withField(path: string, value: unknown): Uint8Array {
  const r: Record<string, unknown> = structuredClone({ ...rec }) as unknown as Record<string, unknown>;
  const parts = path.split('.');
  let o: Record<string, unknown> = r;
  for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[parts[parts.length - 1] as string] = value;
  return pack({ kind: 'records', networkId: 'net1', records: [rec, r] });
}

describe('peer messages on the wire', () => {
  it('round-trips records and digests', () => {
    const records: PeerMessage = { kind: 'records', networkId: 'net1', records: [rec, nodeRec, { ...rec, owner: 'task:b', deleted: true }] };
    const decoded = decodePeerMessage(encodePeerMessage(records));
    expect(decoded).toEqual({ ...records, records: [rec, { ...nodeRec, service: undefined }, { ...rec, owner: 'task:b', deleted: true }] });
    expect(decoded.kind === 'records' && 'service' in (decoded.records[1] ?? {})).toBe(false);

    // Canary weights and blue/green previews survive the trip.
    const weighted = { ...rec, owner: 'task:w', service: { ...rec.service!, weight: 75, preview: true } };
    const back = decodePeerMessage(encodePeerMessage({ kind: 'records', networkId: 'net1', records: [weighted] }));
    expect(back.kind === 'records' && back.records[0]?.service).toMatchObject({ weight: 75, preview: true });
    expect(() => decodePeerMessage(encodePeerMessage({ kind: 'records', networkId: 'net1', records: [{ ...weighted, service: { ...weighted.service, weight: -1 } }] }))).toThrow(
      'records[0].service.weight: -1 is not a non-negative safe integer',
    );

    const t = new PeerTable('n1');
    t.merge([rec, nodeRec], new Set(), 0);
    const digest: PeerMessage = { kind: 'digest', networkId: 'net1', digest: t.digest('net1') };
    expect(decodePeerMessage(encodePeerMessage(digest))).toEqual(digest);
  });

  it('names the field and the reason for every malformed record field', () => {
    const cases: [string, unknown, string][] = [
      ['ip', '10.0.0', 'records[1].ip: "10.0.0" is not an IPv4 address'],
      ['ip', '10.0.0.256', 'records[1].ip: "10.0.0.256" is not an IPv4 address'],
      ['ip', 7, 'records[1].ip: expected a string, got number'],
      ['vtep', 'host', 'records[1].vtep: "host" is not an IPv4 address'],
      ['mac', '02:42:0a:00:01', 'records[1].mac: "02:42:0a:00:01" is not a MAC address'],
      ['mac', '02:42:0a:00:01:zz', 'records[1].mac: "02:42:0a:00:01:zz" is not a MAC address'],
      ['owner', 'abc', 'records[1].owner: "abc" is not an owner (task:<id> or node:<id>)'],
      ['owner', 'task:', 'records[1].owner: "task:" is not an owner (task:<id> or node:<id>)'],
      ['networkId', 'net2', 'records[1].networkId: "net2" is not the message\'s network "net1"'],
      ['networkId', 'a/b', 'records[1].networkId: "a/b" is not a network id'],
      ['nodeId', '', 'records[1].nodeId: "" is not a node id'],
      ['origin', null, 'records[1].origin: expected a string, got null'],
      ['ready', 'yes', 'records[1].ready: expected a boolean, got string'],
      ['deleted', 1, 'records[1].deleted: expected a boolean, got number'],
      ['version', -1, 'records[1].version: -1 is not a non-negative safe integer'],
      ['version', 1.5, 'records[1].version: 1.5 is not a non-negative safe integer'],
      ['version', 2 ** 60, `records[1].version: ${2 ** 60} is not a non-negative safe integer`],
      ['version', '3', 'records[1].version: "3" is not a non-negative safe integer'],
      ['service', 'web', 'records[1].service: expected an object, got string'],
      ['service.name', '', 'records[1].service.name: "" is not a service name'],
      ['service.vip', '10.0.1', 'records[1].service.vip: "10.0.1" is not an IPv4 address'],
      ['service.mode', 'rr', 'records[1].service.mode: "rr" is not one of vip, dnsrr'],
      ['service.aliases', 'app', 'records[1].service.aliases: expected an array, got string'],
      ['service.aliases', [1], 'records[1].service.aliases[0]: expected a string, got number'],
      ['service.aliases', Array.from({ length: 65 }, () => 'a'), 'records[1].service.aliases: has 65 entries; at most 64 are allowed'],
      ['service.ports', [{ protocol: 'sctp', publishedPort: 1, targetPort: 1, mode: 'ingress' }], 'records[1].service.ports[0].protocol: "sctp" is not one of tcp, udp'],
      ['service.ports', [{ protocol: 'tcp', publishedPort: 0, targetPort: 1, mode: 'ingress' }], 'records[1].service.ports[0].publishedPort: 0 is not a port number (1..65535)'],
      ['service.ports', [{ protocol: 'tcp', publishedPort: 1, targetPort: 70000, mode: 'ingress' }], 'records[1].service.ports[0].targetPort: 70000 is not a port number (1..65535)'],
      ['service.ports', [{ protocol: 'tcp', publishedPort: 1, targetPort: 1, mode: 'global' }], 'records[1].service.ports[0].mode: "global" is not one of ingress, host'],
    ];
    for (const [field, value, message] of cases) {
      const err = caught(() => decodePeerMessage(withField(field, value)));
      expect(err.message, field).toBe(message);
      expect(err.code).toBe('BAD_MESSAGE');
      expect(err.path.startsWith('records[1].')).toBe(true);
    }
  });

  it('rejects malformed messages as a whole', () => {
    const cases: [unknown, string][] = [
      [42, 'expected an object, got number'],
      [[1], 'expected an object, got array'],
      [{ kind: 'hello', networkId: 'net1' }, 'kind: "hello" is not one of records, digest'],
      [{ kind: 'records', networkId: '', records: [] }, 'networkId: "" is not a network id'],
      [{ kind: 'records', networkId: 'net1' }, 'records: expected an array, got undefined'],
      [{ kind: 'records', networkId: 'net1', records: [5] }, 'records[0]: expected an object, got number'],
      [{ kind: 'digest', networkId: 'net1', digest: {} }, 'digest: expected an array, got object'],
      [{ kind: 'digest', networkId: 'net1', digest: [['task:a', 1, 'n1']] }, 'digest[0]: expected [owner, version, origin, fingerprint], got an array'],
      [{ kind: 'digest', networkId: 'net1', digest: [['a', 1, 'n1', 0]] }, 'digest[0][0]: "a" is not an owner (task:<id> or node:<id>)'],
      [{ kind: 'digest', networkId: 'net1', digest: [['task:a', -2, 'n1', 0]] }, 'digest[0][1]: -2 is not a non-negative safe integer'],
      [{ kind: 'digest', networkId: 'net1', digest: [['task:a', 1, '', 0]] }, 'digest[0][2]: "" is not a node id'],
      [{ kind: 'digest', networkId: 'net1', digest: [['task:a', 1, 'n1', 2 ** 32]] }, `digest[0][3]: ${2 ** 32} is not a 32-bit fingerprint`],
    ];
    for (const [value, message] of cases) expect(caught(() => decodePeerMessage(pack(value))).message).toBe(message);
    expect(caught(() => decodePeerMessage(new Uint8Array([0x92, 0x01]))).message).toMatch(/^not a MessagePack value/);
    expect(caught(() => decodePeerMessage(new Uint8Array(0))).message).toMatch(/^not a MessagePack value/);
  });

  it('bounds the number of records in a message', () => {
    const many = Array.from({ length: MAX_RECORDS_PER_MESSAGE + 1 }, () => rec);
    expect(caught(() => decodePeerMessage(pack({ kind: 'records', networkId: 'net1', records: many }))).message).toBe(
      `records: has ${MAX_RECORDS_PER_MESSAGE + 1} entries; at most ${MAX_RECORDS_PER_MESSAGE} are allowed`,
    );
    expect(() => encodePeerMessage({ kind: 'records', networkId: 'net1', records: many })).toThrow(PeerMessageError);
  });

  it('drops unknown fields instead of passing them on', () => {
    const bytes = pack({ kind: 'records', networkId: 'net1', extra: 1, records: [{ ...rec, color: 'red' }] });
    const m = decodePeerMessage(bytes);
    expect(m).toEqual({ kind: 'records', networkId: 'net1', records: [rec] });
  });

  it('splits long record lists and names the topic', () => {
    const records = Array.from({ length: 1201 }, (_, i) => ({ ...rec, owner: `task:${i}` }));
    const parts = splitRecords('net1', records);
    expect(parts.map((p) => (p.kind === 'records' ? p.records.length : 0))).toEqual([500, 500, 201]);
    expect(splitRecords('net1', [])).toEqual([]);
    expect(peerTopic('abc123')).toBe('swarm/net/abc123/1');
    expect(() => peerTopic('a/b')).toThrow(RangeError);
  });
});
