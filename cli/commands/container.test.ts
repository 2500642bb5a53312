import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;
const dir = mkdtempSync(join(tmpdir(), 'swarm-run-cli-'));

beforeEach(async () => {
  d = await startFakeDaemon();
  d.runtime.addImage({ tags: ['alpine'] });
});

afterEach(async () => {
  await d.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const methods = (): string[] => d.runtime.calls.map((c) => c.method);

describe('swarm run', () => {
  it('streams stdout and stderr apart and exits with the container\'s exit code', async () => {
    const r = await d.swarm('run', 'alpine', 'sh', '-c', 'echo hello; echo oops >&2; echo bye; exit 3');
    expect(r).toEqual({ code: 3, stdout: 'hello\nbye\n', stderr: 'oops\n' });
    expect(methods()).toEqual(['createContainer', 'startContainer', 'inspectContainer', 'containerLogs', 'inspectContainer', 'waitContainer']);
    expect(d.runtime.calls[0]?.args).toEqual([undefined, { Image: 'alpine', Cmd: ['sh', '-c', 'echo hello; echo oops >&2; echo bye; exit 3'] }]);
    expect(await d.swarm('run', 'alpine', 'true')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await d.swarm('container', 'run', 'alpine', 'frob')).code).toBe(127);
  });

  it('options after the image belong to the container\'s command', async () => {
    const r = await d.swarm('run', '--name', 'web', 'alpine', 'echo', '-n', '--rm', 'hi');
    expect(r.stdout).toBe('-n --rm hi\n');
    expect(d.runtime.calls[0]?.args).toEqual(['web', { Image: 'alpine', Cmd: ['echo', '-n', '--rm', 'hi'] }]);
    // Still there: --rm went to the container, not to run.
    expect((await d.swarm('ps', '-a', '-q')).stdout.trim()).toHaveLength(12);
  });

  it('--rm removes the container after it exits; -d prints the ID and leaves it running', async () => {
    expect((await d.swarm('run', '--rm', 'alpine', 'sh', '-c', 'exit 4')).code).toBe(4);
    expect(d.runtime.calls.at(-1)).toEqual({ method: 'removeContainer', args: [expect.stringMatching(/^[0-9a-f]{64}$/), false] });
    expect(await d.runtime.listContainers(true)).toEqual([]);
    const detached = await d.swarm('run', '-d', '--rm', 'alpine', 'sleep', '100');
    expect(detached.code).toBe(0);
    expect(detached.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect((d.runtime.calls.filter((c) => c.method === 'createContainer').at(-1)?.args[1] as { HostConfig: object }).HostConfig).toEqual({ AutoRemove: true });
    expect((await d.runtime.listContainers(false)).map((c) => `${c.Id}\n`)).toEqual([detached.stdout]);
  });

  it('Ctrl-C stops the container, and its exit code is still passed on', async () => {
    const r = await d.swarmWith({ interrupts: { on: (_event, listener) => listener(), off: () => undefined } }, 'run', '--rm', 'alpine', 'sleep', '100');
    expect(r.code).toBe(143);
    expect(methods()).toContain('stopContainer');
    expect(await d.runtime.listContainers(true)).toEqual([]);
  });

  it('turns every flag into Docker\'s create body', async () => {
    const envFile = join(dir, 'app.env');
    writeFileSync(envFile, '# settings\nLEVEL=debug\nFROM_FILE\n\nSPACED= kept \n');
    const r = await d.swarmWith(
      { env: { FROM_ENV: 'e', FROM_FILE: 'f' } },
      'run', '--name', 'api', '-e', 'A=1', '-e', 'FROM_ENV', '-e', 'NOT_SET', '--env-file', envFile, '-w', '/app', '-u', '1000:1000',
      '--entrypoint', '', '--init', '--read-only', '-m', '64m', '--cpus', '0.5', '--pids-limit', '-1', '--cap-add', 'net_admin', '--cap-drop', 'ALL',
      '-v', './data:/data:ro', '-v', 'cache:/cache', '--tmpfs', '/tmp:size=64m,mode=1777', '--tmpfs', '/run', '--hostname', 'api-1', 'alpine', 'true',
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(d.runtime.calls[0]?.args).toEqual([
      'api',
      {
        Image: 'alpine',
        Cmd: ['true'],
        Entrypoint: [''],
        Env: ['LEVEL=debug', 'FROM_FILE=f', 'SPACED= kept ', 'A=1', 'FROM_ENV=e'],
        WorkingDir: '/app',
        User: '1000:1000',
        Hostname: 'api-1',
        HostConfig: {
          Binds: [`${resolve('data')}:/data:ro`, 'cache:/cache'],
          Tmpfs: { '/tmp': 'size=64m,mode=1777', '/run': '' },
          Memory: 64 * 1024 * 1024,
          NanoCpus: 500_000_000,
          PidsLimit: -1,
          CapAdd: ['CAP_NET_ADMIN'],
          CapDrop: ['ALL'],
          ReadonlyRootfs: true,
          Init: true,
        },
      },
    ]);
  });

  it('refuses bad flag values before any call, naming the flag (exit 2)', async () => {
    const cases: [string[], string][] = [
      [['-m', '1k'], 'invalid value "1k" for --memory: the minimum memory limit is 6m'],
      [['-m', 'lots'], 'invalid value "lots" for --memory: expected a size such as 64m, 1.5g or 512k (b, k, m, g, t, p)'],
      [['--cpus', 'half'], 'invalid value "half" for --cpus: expected a number of CPUs such as 0.5 or 2'],
      [['--cpus', '0'], 'invalid value "0" for --cpus: must be more than 0'],
      [['--pids-limit', '0'], 'invalid value "0" for --pids-limit: expected a positive number of processes, or -1 for unlimited'],
      [['-v', '/data'], 'invalid value "/data" for --volume: expected SOURCE:TARGET[:ro], e.g. /srv/data:/data:ro'],
      [['-v', '/a:data'], 'invalid value "/a:data" for --volume: the target "data" must be an absolute path in the container'],
      [['-v', '/a:/b:rx'], 'invalid value "/a:/b:rx" for --volume: the mode "rx" must be ro or rw'],
      [['--tmpfs', '/tmp:size=big'], 'invalid value "/tmp:size=big" for --tmpfs: invalid size "big": expected e.g. size=64m'],
      [['-w', 'app'], 'invalid value "app" for --workdir: must be an absolute path in the container, such as /app'],
      [['--name', 'a b'], 'invalid value "a b" for --name: must be at least 2 characters of [a-zA-Z0-9_.-], starting with a letter or digit'],
      [['--cap-add', 'net admin'], 'invalid value "net admin" for --cap-add: expected a capability name such as NET_ADMIN, or ALL'],
      [['-e', '=1'], 'invalid value "=1" for --env: the variable name is empty: expected KEY=VALUE'],
      [['--hostname', 'a_b'], 'invalid value "a_b" for --hostname: expected a host name (letters, digits, "-" and ".")'],
    ];
    for (const [flags, message] of cases) {
      expect(await d.swarm('run', ...flags, 'alpine', 'true'), flags.join(' ')).toEqual({ code: 2, stdout: '', stderr: `Error: ${message}\nHint: run 'swarm run --help' for usage\n` });
    }
    expect((await d.swarm('run', 'Alpine')).stderr).toMatch(/^Error: invalid value "Alpine" for argument image: repository name must be lowercase\n/);
    expect((await d.swarm('run')).stderr).toMatch(/^Error: missing required argument 'image'\n/);
    const envFile = join(dir, 'bad.env');
    writeFileSync(envFile, 'OK=1\nBAD KEY=2\n');
    expect((await d.swarm('run', '--env-file', envFile, 'alpine')).stderr).toMatch(/^Error: invalid line 2 in the env file .*bad\.env: "BAD KEY=2" is not KEY=VALUE\n/);
    expect(d.runtime.calls).toEqual([]);
  });

  it('a daemon-side failure exits 125 with its message', async () => {
    expect(await d.swarm('run', 'nope:1')).toEqual({ code: 125, stdout: '', stderr: 'Error: No such image: nope:1\n' });
    await d.swarm('run', '--name', 'taken', 'alpine', 'true');
    const r = await d.swarm('run', '--name', 'taken', 'alpine', 'true');
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^Error: Conflict\. The container name "\/taken" is already in use/);
  });

  it('pulls a missing image through the daemon without saying anything special', async () => {
    d.runtime.remote.set('busybox:latest', {});
    expect(await d.swarm('run', 'busybox', 'echo', 'pulled')).toEqual({ code: 0, stdout: 'pulled\n', stderr: '' });
  });
});

describe('swarm container', () => {
  it('ls (and ps) print docker\'s table; -a shows stopped ones; -q the IDs', async () => {
    await d.swarm('run', '-d', '--name', 'web', 'alpine', 'sh', '-c', 'echo started; sleep 1000');
    await d.swarm('run', '--name', 'job', 'alpine', 'sh', '-c', 'exit 2');
    const running = await d.swarm('ps');
    expect(running.code).toBe(0);
    const lines = running.stdout.split('\n');
    // Times may tick over on a loaded machine; the columns follow the longest value.
    expect(lines[0]).toMatch(/^CONTAINER ID {3}IMAGE {5}COMMAND {18}CREATED +STATUS +PORTS {5}NAMES$/);
    expect(lines[1]).toMatch(/^[0-9a-f]{12} {3}alpine {4}"sh -c echo started;…" {3}(Less than a second|\d+ seconds?) ago +Up \d+ seconds? +web$/);
    expect(lines).toHaveLength(3);
    const all = (await d.swarm('container', 'ls', '-a')).stdout;
    expect(all).toMatch(/Exited \(2\) \d+ seconds? ago/);
    expect((await d.swarm('container', 'ls', '-aq')).stdout).toMatch(/^[0-9a-f]{12}\n[0-9a-f]{12}\n$/);
  });

  it('logs splits stdout and stderr, with --tail and -t', async () => {
    await d.swarm('run', '--name', 'job', 'alpine', 'sh', '-c', 'echo one; echo two >&2; echo three');
    expect(await d.swarm('container', 'logs', 'job')).toEqual({ code: 0, stdout: 'one\nthree\n', stderr: 'two\n' });
    expect((await d.swarm('container', 'logs', '--tail', '1', 'job')).stdout).toBe('three\n');
    expect((await d.swarm('container', 'logs', '-t', '-n', '2', 'job')).stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+Z three\n$/);
    expect((await d.swarm('container', 'logs', '--tail', 'some', 'job')).stderr).toMatch(/^Error: invalid value "some" for --tail: expected "all" or a number of lines\n/);
    expect((await d.swarm('container', 'logs', 'nope')).stderr).toBe('Error: No such container: nope\n');
  });

  it('stop, kill, rm and inspect take several containers and report each', async () => {
    await d.swarm('run', '-d', '--name', 'one', 'alpine', 'sleep', '1000');
    await d.swarm('run', '-d', '--name', 'two', 'alpine', 'sleep', '1000');
    await d.swarm('run', '-d', '--name', 'six', 'alpine', 'sleep', '1000');
    expect(await d.swarm('container', 'stop', '-t', '3', 'one', 'nope')).toEqual({ code: 1, stdout: 'one\n', stderr: 'Error: No such container: nope\n' });
    expect(d.runtime.calls.find((c) => c.method === 'stopContainer')?.args).toEqual(['one', 3]);
    expect(await d.swarm('container', 'kill', '-s', 'HUP', 'two')).toEqual({ code: 0, stdout: 'two\n', stderr: '' });
    expect((await d.swarm('container', 'kill', '-s', 'HUP;', 'two')).code).toBe(2);
    const inspected = await d.swarm('container', 'inspect', 'two');
    expect(JSON.parse(inspected.stdout)).toMatchObject([{ Name: '/two', State: { Status: 'exited', ExitCode: 129 } }]);
    const busy = await d.swarm('container', 'rm', 'six');
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/container is running: stop the container before removing or force remove/);
    expect(await d.swarm('container', 'rm', '-f', 'one', 'two', 'six')).toEqual({ code: 0, stdout: 'one\ntwo\nsix\n', stderr: '' });
    expect(await d.runtime.listContainers(true)).toEqual([]);
  });
});
