import { describe, expect, it } from 'vitest';
import { parseHost } from './client.js';
import { hostPort, ipv4Cidr, label, filter } from './flags.js';

describe('flag value parsers', () => {
  it('hostPort accepts IPs, names and ports, and says what is wrong', () => {
    for (const ok of ['192.0.2.1', '192.0.2.1:2377', '[fd00::1]:2377', 'fd00::1', 'eth0', 'eth0:4567', 'manager-1.example.com:2377']) {
      expect(hostPort(ok)).toBe(ok);
    }
    expect(() => hostPort('192.0.2.1:99999')).toThrow('the port must be a number between 1 and 65535, got "99999"');
    expect(() => hostPort('300.1.1.1')).toThrow('"300.1.1.1" is not an IPv4 address');
    expect(() => hostPort('bad_name')).toThrow('is not an IP address, host or interface name');
    expect(() => hostPort('[10.0.0.1]:1')).toThrow('only an IPv6 address goes in brackets');
    expect(() => hostPort('')).toThrow('expected HOST or HOST:PORT');
  });

  it('ipv4Cidr wants a network address', () => {
    expect(ipv4Cidr('10.10.0.0/16')).toBe('10.10.0.0/16');
    expect(() => ipv4Cidr('10.10.0.1/16')).toThrow('host bits are set: did you mean 10.10.0.0/16?');
    expect(() => ipv4Cidr('10.0.0.0/33')).toThrow('between 0 and 32');
    expect(() => ipv4Cidr('fd00::/8')).toThrow('expected an IPv4 CIDR');
    expect(() => ipv4Cidr('10.0.0.0')).toThrow('expected an IPv4 CIDR');
  });

  it('label and filter split on the first "="', () => {
    expect(label('zone=a=b')).toEqual(['zone', 'a=b']);
    expect(label('ssd')).toEqual(['ssd', '']);
    expect(() => label('=x')).toThrow('the label key is empty');
    expect(filter('role=manager')).toEqual(['role', 'manager']);
    expect(() => filter('role')).toThrow('expected key=value');
  });

  it('parseHost reads unix://, bare paths and tcp://', () => {
    expect(parseHost('unix:///run/x.sock')).toEqual({ socketPath: '/run/x.sock' });
    expect(parseHost('/run/x.sock')).toEqual({ socketPath: '/run/x.sock' });
    expect(parseHost('tcp://127.0.0.1:2375')).toEqual({ host: '127.0.0.1', port: 2375 });
    expect(parseHost('tcp://[::1]:2375')).toEqual({ host: '::1', port: 2375 });
    expect(() => parseHost('ssh://host')).toThrow('use unix:///path/to/socket');
    expect(() => parseHost('tcp://host')).toThrow('expected tcp://HOST:PORT');
  });
});
