import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../node/errors.js';
import { isIpamError } from './errors.js';
import { contains, formatCidr, formatIp, macFromIp, overlaps, parseCidr, parseIp } from './ipv4.js';
import { thrown } from '../../test/support/rejection.js';


describe('IPv4 parsing and formatting', () => {
  it('round-trips addresses including the extremes', () => {
    for (const ip of ['0.0.0.0', '10.0.1.11', '192.168.255.254', '255.255.255.255']) {
      expect(formatIp(parseIp(ip))).toBe(ip);
    }
    expect(parseIp('255.255.255.255')).toBe(2 ** 32 - 1);
    expect(parseIp('10.0.1.11')).toBe(10 * 2 ** 24 + 256 + 11);
  });

  it('rejects malformed addresses naming the field', () => {
    for (const bad of ['10.0.1', '10.0.1.256', '10.0.01.1', '10.0.-1.1', 'a.b.c.d', '', '10.0.1.1.1', ' 10.0.1.1']) {
      const err = thrown(() => parseIp(bad, 'gateway'));
      expect(isIpamError(err, 'invalid-ip')).toBe(true);
      expect(isSwarmError(err, 'INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/^gateway: /);
    }
  });

  it('rejects IPv6 clearly', () => {
    expect(isIpamError(thrown(() => parseIp('fe80::1')), 'ipv6-unsupported')).toBe(true);
    const err = thrown(() => parseCidr('fd00::/64', 'subnet'));
    expect(isIpamError(err, 'ipv6-unsupported')).toBe(true);
    expect((err as Error).message).toBe('subnet: "fd00::/64" is IPv6; only IPv4 is supported');
  });

  it('parses and formats CIDRs', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ base: 10 * 2 ** 24, prefix: 8 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
    expect(parseCidr('10.0.1.11/32')).toEqual({ base: parseIp('10.0.1.11'), prefix: 32 });
    expect(formatCidr(parseCidr('172.16.4.0/22'))).toBe('172.16.4.0/22');
  });

  it('rejects invalid CIDRs with the reason', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '10.0.0/8', '10.0.0.0/8/8', '10.0.0.0/x']) {
      expect(isIpamError(thrown(() => parseCidr(bad, 'subnet')), 'invalid-cidr')).toBe(true);
    }
    const err = thrown(() => parseCidr('10.0.1.5/24', 'subnet'));
    expect((err as Error).message).toBe('subnet: "10.0.1.5/24" has host bits set');
    expect((err as { hint?: string }).hint).toBe('did you mean 10.0.1.0/24?');
  });

  it('answers contains and overlaps', () => {
    const a = parseCidr('10.0.0.0/8');
    const b = parseCidr('10.1.0.0/16');
    const c = parseCidr('10.2.0.0/16');
    const d = parseCidr('11.0.0.0/8');
    expect(contains(a, b)).toBe(true);
    expect(contains(b, a)).toBe(false);
    expect(contains(b, parseIp('10.1.255.255'))).toBe(true);
    expect(contains(b, parseIp('10.2.0.0'))).toBe(false);
    expect(overlaps(a, b)).toBe(true);
    expect(overlaps(b, a)).toBe(true);
    expect(overlaps(b, c)).toBe(false);
    expect(overlaps(a, d)).toBe(false);
    expect(overlaps(parseCidr('0.0.0.0/0'), d)).toBe(true);
  });
});

describe('macFromIp', () => {
  it('is 02:42 plus the four address bytes, as Docker derives it', () => {
    expect(macFromIp('10.0.1.11')).toBe('02:42:0a:00:01:0b');
    expect(macFromIp('192.168.255.1')).toBe('02:42:c0:a8:ff:01');
    expect(macFromIp('0.0.0.0')).toBe('02:42:00:00:00:00');
  });

  it('is distinct for distinct addresses', () => {
    const macs = new Set<string>();
    for (let i = 0; i < 1000; i++) macs.add(macFromIp(formatIp(parseIp('10.0.0.0') + i * 257)));
    expect(macs.size).toBe(1000);
  });
});
