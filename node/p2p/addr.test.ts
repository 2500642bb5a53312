import { describe, expect, it } from 'vitest';
import { hostPortToMultiaddr } from './addr.js';

describe('hostPortToMultiaddr', () => {
  it.each([
    ['10.0.0.1:2377', '/ip4/10.0.0.1/tcp/2377'],
    ['10.0.0.1', '/ip4/10.0.0.1/tcp/2377'],
    [' 192.0.2.10:4000 ', '/ip4/192.0.2.10/tcp/4000'],
    ['[fd00::1]:2377', '/ip6/fd00::1/tcp/2377'],
    ['[::1]', '/ip6/::1/tcp/2377'],
    ['fd00::1', '/ip6/fd00::1/tcp/2377'],
    ['manager-1.example.com:2378', '/dns/manager-1.example.com/tcp/2378'],
    ['localhost', '/dns/localhost/tcp/2377'],
    ['/ip4/127.0.0.1/tcp/5', '/ip4/127.0.0.1/tcp/5'],
  ])('%s → %s', (input, out) => {
    expect(hostPortToMultiaddr(input)).toBe(out);
  });

  it('uses the default port given', () => {
    expect(hostPortToMultiaddr('10.0.0.1', 7946)).toBe('/ip4/10.0.0.1/tcp/7946');
  });

  it.each(['', ':2377', '10.0.0.1:', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:http', '300.1.1.1', '[10.0.0.1]:1', 'bad_host!:1', '/not/a/multiaddr'])(
    'refuses %j, naming it',
    (input) => {
      expect(() => hostPortToMultiaddr(input)).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE', message: expect.stringContaining(JSON.stringify(input)) }));
    },
  );
});
