import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;

beforeEach(async () => {
  d = await startFakeDaemon();
});

afterEach(async () => {
  await d.close();
});

const calls = (method: string): unknown[][] => d.services.calls.filter((c) => c.method === method).map((c) => c.args);

describe('swarm network', () => {
  it('create sends the options and prints the ID', async () => {
    const r = await d.swarm('network', 'create', '-d', 'overlay', '--subnet', '10.0.9.0/24', '--gateway', '10.0.9.254', '--attachable', '--internal', '--label', 'a=b', '-l', 'c=d', 'backend');
    expect(r).toEqual({ code: 0, stdout: 'net0001abcdefghijklmnopqr\n', stderr: '' });
    expect(calls('createNetwork')).toEqual([
      [{ Name: 'backend', Labels: { a: 'b', c: 'd' }, Attachable: true, Internal: true, Ingress: false, IPAMConfig: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.254' }] }],
    ]);
    expect((await d.swarm('network', 'create', 'plain')).stdout).toBe('net0002abcdefghijklmnopqr\n');
    expect(calls('createNetwork')[1]).toEqual([{ Name: 'plain', Labels: {}, Attachable: false, Internal: false, Ingress: false, IPAMConfig: [] }]);
  });

  it('create refuses other drivers, bad subnets and a gateway without a subnet, with the reason', async () => {
    expect(await d.swarm('network', 'create', '-d', 'bridge', 'x')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: invalid NetworkCreate: Driver "bridge" is not supported: only the overlay driver is supported in swarm scope\n',
    });
    expect((await d.swarm('network', 'create', '--subnet', '10.0.9.1/24', 'x')).stderr).toMatch(/^Error: invalid value "10.0.9.1\/24" for --subnet: host bits are set: did you mean 10.0.9.0\/24\?/);
    expect((await d.swarm('network', 'create', '--gateway', '10.0.9.1', 'x')).stderr).toMatch(/^Error: --gateway needs --subnet/);
    expect((await d.swarm('network', 'create', '--subnet', '10.0.9.0/24', '--gateway', 'nope', 'x')).code).toBe(2);
    expect((await d.swarm('network', 'create', 'ingress')).stderr).toBe('Error: network with name ingress already exists\n');
    expect(calls('createNetwork').map((c) => (c[0] as { Name: string }).Name)).toEqual(['ingress']);
  });

  it('ls prints docker\'s columns sorted by name, -q the IDs, --format json one object per line, --filter passes through', async () => {
    await d.swarm('network', 'create', '-l', 'tier=db', 'shop_db');
    await d.swarm('network', 'create', 'app');
    const ls = await d.swarm('network', 'ls');
    expect(ls).toEqual({
      code: 0,
      stderr: '',
      stdout: 'NETWORK ID     NAME      DRIVER    SCOPE\n' + 'net0002abcde   app       overlay   swarm\n' + 'net0000abcde   ingress   overlay   swarm\n' + 'net0001abcde   shop_db   overlay   swarm\n',
    });
    expect((await d.swarm('network', 'ls', '-q', '--filter', 'label=tier=db')).stdout).toBe('net0001abcde\n');
    expect(calls('listNetworks').at(-1)).toEqual([{ label: ['tier=db'] }]);
    expect((await d.swarm('network', 'ls', '-q', '--no-trunc', '-f', 'name=app')).stdout).toBe('net0002abcdefghijklmnopqr\n');
    const lines = (await d.swarm('network', 'ls', '--format', 'json', '-f', 'name=shop')).stdout.trim().split('\n');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { CreatedAt: expect.any(String), Driver: 'overlay', ID: 'net0001abcde', IPv6: 'false', Internal: 'false', Labels: 'tier=db', Name: 'shop_db', Scope: 'swarm' },
    ]);
    expect(Object.keys(JSON.parse(lines[0]!) as object)).toEqual(['CreatedAt', 'Driver', 'ID', 'IPv6', 'Internal', 'Labels', 'Name', 'Scope']);
  });

  it('inspect prints a JSON array of network resources and reports the missing ones', async () => {
    await d.swarm('network', 'create', '--subnet', '10.0.9.0/24', 'back');
    const r = await d.swarm('network', 'inspect', 'back', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: network nope not found\n');
    const [back] = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(back).toMatchObject({
      Name: 'back',
      Id: 'net0001abcdefghijklmnopqr',
      Scope: 'swarm',
      Driver: 'overlay',
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' }] },
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' },
    });
  });

  it('rm removes each network, reporting the ones in use or missing', async () => {
    await d.swarm('network', 'create', 'back');
    await d.swarm('network', 'create', 'spare');
    await d.swarm('service', 'create', '-d', '--name', 'web', '--network', 'back', 'nginx');
    const r = await d.swarm('network', 'rm', 'back', 'spare', 'nope');
    expect(r).toEqual({ code: 1, stdout: 'spare\n', stderr: 'Error: network back is in use by service web\nError: network nope not found\n' });
    expect((await d.swarm('network', 'ls', '-q')).stdout.split('\n').filter(Boolean)).toHaveLength(2);
  });
});
