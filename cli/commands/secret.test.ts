import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;
const dir = mkdtempSync(join(tmpdir(), 'swarm-secret-'));

beforeEach(async () => {
  d = await startFakeDaemon();
  await d.backend.initSwarm({ ListenAddr: '', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
});

afterEach(async () => {
  await d.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('swarm secret', () => {
  it('create reads the data from stdin ("-"), sends it base64 with the labels and prints the ID', async () => {
    const r = await d.swarmWith({ stdin: 'hunter2\n' }, 'secret', 'create', '--label', 'env=prod', '-l', 'team=a', 'db_pw', '-');
    expect(r).toMatchObject({ code: 0, stderr: '', stdout: 'sec0001abcdefghijklmnopqr\n' });
    expect(d.services.secretData('db_pw')).toBe(Buffer.from('hunter2\n').toString('base64'));
    expect(d.services.calls[0]?.args[0]).toEqual({ Name: 'db_pw', Labels: { env: 'prod', team: 'a' }, Data: '<redacted>' });
  });

  it('create reads a file; an empty or missing one fails before the API is called', async () => {
    const file = join(dir, 'key');
    writeFileSync(file, 'k3y');
    expect((await d.swarm('secret', 'create', 'api_key', file)).code).toBe(0);
    expect(d.services.secretData('api_key')).toBe(Buffer.from('k3y').toString('base64'));
    d.services.calls.length = 0;
    expect(await d.swarmWith({ stdin: '' }, 'secret', 'create', 'x', '-')).toMatchObject({ code: 1, stderr: 'Error: the secret data is empty: nothing came on stdin\n' });
    expect(await d.swarm('secret', 'create', 'x', join(dir, 'nope'))).toEqual({ code: 1, stdout: '', stderr: `Error: cannot read the secret file ${join(dir, 'nope')}: no such file\n` });
    expect(await d.swarm('secret', 'create', 'x')).toMatchObject({ code: 2 });
    expect(d.services.calls).toEqual([]);
  });

  it('a name the API refuses is reported with its reason', async () => {
    const r = await d.swarmWith({ stdin: 'x' }, 'secret', 'create', 'bad name', '-');
    expect(r.stderr).toBe('Error: invalid SecretSpec: Name must be 1 to 64 characters of [a-zA-Z0-9-_.], starting and ending with a letter or digit, got "bad name"\n');
  });

  it('ls, inspect (never the data) and rm', async () => {
    await d.swarmWith({ stdin: 'hunter2' }, 'secret', 'create', 'db_pw', '-');
    await d.swarmWith({ stdin: 'x' }, 'secret', 'create', 'api_key', '-');
    const ls = await d.swarm('secret', 'ls');
    expect(ls.stdout.split('\n').map((l) => l.split(/\s{2,}/).slice(0, 2))).toEqual([
      ['ID', 'NAME'],
      ['sec0002abcdefghijklmnopqr', 'api_key'],
      ['sec0001abcdefghijklmnopqr', 'db_pw'],
      [''],
    ]);
    expect(ls.stdout.split('\n')[0]).toBe('ID                          NAME      DRIVER    CREATED                  UPDATED');
    expect((await d.swarm('secret', 'ls', '-q', '-f', 'name=db')).stdout).toBe('sec0001abcdefghijklmnopqr\n');
    const inspect = await d.swarm('secret', 'inspect', 'db_pw');
    expect(inspect.stdout).not.toContain(Buffer.from('hunter2').toString('base64'));
    expect(JSON.parse(inspect.stdout)).toEqual([
      { ID: 'sec0001abcdefghijklmnopqr', Version: { Index: expect.any(Number) }, CreatedAt: expect.any(String), UpdatedAt: expect.any(String), Spec: { Name: 'db_pw', Labels: {} } },
    ]);
    expect((await d.swarm('secret', 'inspect', '--pretty', 'db_pw')).stdout).toMatch(/^ID: +sec0001abcdefghijklmnopqr\nName: +db_pw\nDriver:\nCreated at: +\S+\nUpdated at: +\S+\n$/);
    expect(await d.swarm('secret', 'rm', 'db_pw', 'nope')).toEqual({ code: 1, stdout: 'db_pw\n', stderr: 'Error: secret nope not found\n' });
  });
});

describe('swarm config', () => {
  it('create, ls, inspect --pretty with the data, rm', async () => {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, 'listen 80;');
    expect((await d.swarm('config', 'create', '-l', 'a=b', 'nginx.conf', file)).stdout).toBe('cfg0001abcdefghijklmnopqr\n');
    expect((await d.swarm('config', 'ls')).stdout.split('\n')[0]).toBe('ID                          NAME         CREATED                  UPDATED');
    expect((await d.swarm('config', 'inspect', '--pretty', 'nginx.conf')).stdout).toMatch(/^ID: +cfg0001abcdefghijklmnopqr\nName: +nginx.conf\nLabels:\n - a=b\nCreated at: .*\nUpdated at: .*\nData:\nlisten 80;\n$/);
    expect((await d.swarm('config', 'rm', 'nginx.conf')).stdout).toBe('nginx.conf\n');
    expect(await d.services.listConfigs({})).toEqual([]);
  });

  it('update adds and removes labels, sending the name and data it read with the version', async () => {
    const file = join(dir, 'app.conf');
    writeFileSync(file, 'x=1');
    await d.swarm('config', 'create', '-l', 'a=b', '-l', 'old=1', 'app.conf', file);
    const v = (await d.services.inspectConfig('app.conf')).Version.Index;
    d.services.calls.length = 0;
    expect(await d.swarm('config', 'update', '--label-add', 'a=c', '--label-add', 'z', '--label-rm', 'old', 'app.conf')).toEqual({ code: 0, stdout: 'app.conf\n', stderr: '' });
    expect(d.services.calls.at(-1)).toEqual({
      method: 'updateConfig',
      args: ['cfg0001abcdefghijklmnopqr', v, { Name: 'app.conf', Labels: { a: 'c', z: '' }, Data: Buffer.from('x=1').toString('base64') }],
    });
    expect((await d.services.inspectConfig('app.conf')).Spec.Labels).toEqual({ a: 'c', z: '' });
    expect(await d.swarm('config', 'update', '--label-rm', 'nope', 'app.conf')).toMatchObject({ code: 1, stderr: "Error: key nope doesn't exist in config's labels\n" });
    expect((await d.swarm('config', 'update', 'app.conf')).stderr).toMatch(/^Error: nothing to update: give --label-add or --label-rm\n/);
    expect(await d.swarm('config', 'update', '--label-add', 'a=b', 'nope')).toMatchObject({ code: 1, stderr: 'Error: config nope not found\n' });
  });
});
