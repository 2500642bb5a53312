import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;

beforeEach(async () => {
  d = await startFakeDaemon();
});

afterEach(async () => {
  await d.close();
});

describe('swarm login', () => {
  it('--password-stdin reads the password from stdin; the daemon checks it', async () => {
    expect(await d.swarmWith({ stdin: 's3cret\n' }, 'login', '-u', 'me', '--password-stdin', 'localhost:5000')).toMatchObject({ code: 0, stdout: 'Login Succeeded\n', stderr: '' });
    expect(d.runtime.logins).toEqual([{ username: 'me', password: 's3cret', serveraddress: 'localhost:5000' }]);
  });

  it('-p works with a warning; a refused login exits 1 with the daemon\'s message', async () => {
    expect(await d.swarm('login', '-u', 'me', '-p', 'pw')).toEqual({
      code: 0,
      stdout: 'Login Succeeded\n',
      stderr: 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n',
    });
    expect(d.runtime.logins.at(-1)).toEqual({ username: 'me', password: 'pw', serveraddress: 'https://index.docker.io/v1/' });
    const refused = await d.swarmWith({ stdin: 'wrong\n' }, 'login', '-u', 'me', '--password-stdin', 'r.example.com');
    expect(refused).toMatchObject({ code: 1, stderr: 'Error: login to r.example.com failed: unauthorized: incorrect username or password\n' });
  });

  it('asks for what is missing on a terminal', async () => {
    const r = await d.swarmWith({ stdin: 'me\nhidden\n', stdinTTY: true }, 'login', 'localhost:5000');
    expect(r).toMatchObject({ code: 0, stdout: 'Username: Password: \nLogin Succeeded\n' });
    expect(d.runtime.logins).toEqual([{ username: 'me', password: 'hidden', serveraddress: 'localhost:5000' }]);
  });

  it('off a terminal demands the flags, and refuses contradictory ones (exit 2)', async () => {
    const usage = (message: string): object => ({ code: 2, stdout: '', stderr: `Error: ${message}\nHint: run 'swarm login --help' for usage\n` });
    expect(await d.swarm('login', 'localhost:5000')).toMatchObject(usage('give --username: stdin is not a terminal, so it cannot be asked for'));
    expect(await d.swarm('login', '-u', 'me', 'localhost:5000')).toMatchObject(
      usage('give --password-stdin (or --password): stdin is not a terminal, so the password cannot be asked for'),
    );
    expect(await d.swarm('login', '-u', 'me', '-p', 'x', '--password-stdin')).toMatchObject(usage('--password and --password-stdin cannot be used together'));
    expect(await d.swarm('login', '--password-stdin')).toMatchObject(usage('--password-stdin needs --username: stdin carries the password'));
    expect((await d.swarmWith({ stdin: '\n' }, 'login', '-u', 'me', '--password-stdin')).stderr).toBe('Error: the password is empty\n');
    expect(d.runtime.calls).toEqual([]);
  });
});
