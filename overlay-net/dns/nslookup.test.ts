// A real resolver client against the server: busybox nslookup (A and AAAA queries, as libc does).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stamped, taskEndpoint } from '../peers/test-helpers.js';
import { DnsServer } from './server.js';

const run = promisify(execFile);
// Installed by scripts/setup.sh (busybox-static).
const BUSYBOX = '/bin/busybox';

describe('DnsServer with busybox nslookup', () => {
  let server: DnsServer;
  let upstream: DnsServer;

  beforeAll(async () => {
    const web = stamped(taskEndpoint('w1', '10.0.1.3', { service: { id: 'web', name: 'shop_web', aliases: ['web'], vip: '10.0.1.100', mode: 'vip' } }), 1);
    const ext = stamped(taskEndpoint('x1', '10.9.0.3', { service: { id: 'ext', name: 'example.internal', aliases: [], vip: '10.9.0.100', mode: 'vip' } }), 1);
    upstream = await DnsServer.listen({ addresses: ['127.0.0.1'], port: 0, lookup: () => [ext], upstreams: [] });
    server = await DnsServer.listen({ addresses: ['127.0.0.1'], port: 0, lookup: () => [web], upstreams: [`127.0.0.1:${upstream.port}`] });
  });
  afterAll(async () => {
    await server.close();
    await upstream.close();
  });

  async function nslookup(name: string): Promise<string> {
    try {
      return (await run(BUSYBOX, ['nslookup', name, `127.0.0.1:${server.port}`], { timeout: 10_000 })).stdout;
    } catch (err) {
      return `failed: ${(err as { stdout?: string }).stdout ?? String(err)}`;
    }
  }

  it('resolves a service, its tasks, and a forwarded name', async () => {
    expect(await nslookup('web')).toMatch(/Name:\s+web\nAddress: 10\.0\.1\.100\n/);
    expect(await nslookup('tasks.shop_web')).toMatch(/Address: 10\.0\.1\.3\n/);
    expect(await nslookup('example.internal')).toMatch(/Address: 10\.9\.0\.100\n/);
    expect(await nslookup('nothing.invalid')).toMatch(/^failed:.*SERVFAIL/s);
  });
});
