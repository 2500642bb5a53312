import { describe, expect, it } from 'vitest';
import { mkNode } from '../test-helpers.js';
import { ConstraintError, matchConstraint, parseConstraint } from './index.js';

describe('parseConstraint', () => {
  it.each([
    ['node.role==manager', 'node.role', '==', 'manager', { kind: 'role' }],
    ['node.role != manager', 'node.role', '!=', 'manager', { kind: 'role' }],
    ['  node.id == abc  ', 'node.id', '==', 'abc', { kind: 'id' }],
    ['node.hostname==web-1', 'node.hostname', '==', 'web-1', { kind: 'hostname' }],
    ['node.platform.os == linux', 'node.platform.os', '==', 'linux', { kind: 'os' }],
    ['node.platform.arch != arm64', 'node.platform.arch', '!=', 'arm64', { kind: 'arch' }],
    ['node.labels.zone == eu-1', 'node.labels.zone', '==', 'eu-1', { kind: 'label', name: 'zone' }],
    ['NODE.LABELS.Zone == a', 'NODE.LABELS.Zone', '==', 'a', { kind: 'label', name: 'Zone' }],
    ['engine.labels.gpu==true', 'engine.labels.gpu', '==', 'true', { kind: 'engineLabel', name: 'gpu' }],
    ['node.labels.com.example.tier == front', 'node.labels.com.example.tier', '==', 'front', { kind: 'label', name: 'com.example.tier' }],
  ])('%s', (expr, key, op, value, attribute) => {
    expect(parseConstraint(expr)).toMatchObject({ expr, key, op, value, attribute });
  });

  it.each([
    ['node.role', /expected "<key> == <value>"/],
    ['node.role = manager', /expected "<key> == <value>"/],
    ['== manager', /missing key/],
    ['node.role ==', /missing value/],
    ['node.labels.a == b == c', /more than one operator/],
    ['node.color == red', /unknown key "node.color"/],
    ['node.labels. == x', /unknown key/],
    ['node.ip == 10.0.0.1', /unknown key/],
  ])('rejects %s, naming it', (expr, reason) => {
    expect(() => parseConstraint(expr)).toThrow(ConstraintError);
    expect(() => parseConstraint(expr)).toThrow(reason);
    expect(() => parseConstraint(expr)).toThrow(`invalid constraint "${expr}"`);
  });
});

describe('matchConstraint', () => {
  const node = mkNode('n1', {
    hostname: 'web-1',
    role: 'manager',
    os: 'linux',
    arch: 'arm64',
    labels: { zone: 'a', Disk: 'SSD' },
    engineLabels: { gpu: 'true' },
  });
  it.each([
    ['node.id == n1', true],
    ['node.id != n1', false],
    ['node.hostname == web-1', true],
    ['node.hostname == web-2', false],
    ['node.role == manager', true],
    ['node.role != manager', false],
    ['node.role == worker', false],
    ['node.platform.os == linux', true],
    ['node.platform.os == windows', false],
    ['node.platform.arch == arm64', true],
    ['node.platform.arch != amd64', true],
    ['node.labels.zone == a', true],
    ['node.labels.zone == b', false],
    ['node.labels.zone != b', true],
    ['node.labels.Disk == ssd', true], // values compare case-insensitively, as Docker
    ['node.labels.disk == ssd', false], // label names do not
    ['node.labels.rack == r1', false], // a missing label equals nothing...
    ['node.labels.rack != r1', true], // ...so it satisfies !=
    ['engine.labels.gpu == true', true],
    ['engine.labels.gpu != true', false],
    ['engine.labels.zone == a', false], // engine labels are not node labels
  ])('%s → %s', (expr, want) => {
    expect(matchConstraint(parseConstraint(expr), node)).toBe(want);
  });
});
