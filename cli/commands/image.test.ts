import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;
const dir = mkdtempSync(join(tmpdir(), 'swarm-image-cli-'));

beforeEach(async () => {
  d = await startFakeDaemon();
});

afterEach(async () => {
  await d.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('swarm image ls', () => {
  it('prints docker\'s table: a row per tag, newest first, 12-char IDs, "ago" times, decimal sizes', async () => {
    const alpine = d.runtime.addImage({ tags: ['alpine:3.20', 'alpine:latest'], size: 4_260_000, createdAgoSeconds: 125 });
    const app = d.runtime.addImage({ tags: ['localhost:5000/team/app:1'], size: 7_800_000, createdAgoSeconds: 3 * 86_400 });
    // 70 s: "About a minute ago" for the next 20 s, so a slow run prints the same.
    const none = d.runtime.addImage({ size: 512, createdAgoSeconds: 70 });
    const r = await d.swarm('image', 'ls');
    const id = (x: string): string => x.slice(7, 19);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        'REPOSITORY                TAG       IMAGE ID       CREATED              SIZE\n' +
        `<none>                    <none>    ${id(none)}   About a minute ago   512B\n` +
        `alpine                    3.20      ${id(alpine)}   2 minutes ago        4.26MB\n` +
        `alpine                    latest    ${id(alpine)}   2 minutes ago        4.26MB\n` +
        `localhost:5000/team/app   1         ${id(app)}   3 days ago           7.8MB\n`,
    });
    expect((await d.swarm('images', '-q')).stdout).toBe(`${id(none)}\n${id(alpine)}\n${id(app)}\n`);
  });

  it('--format json prints one object per row; a repository argument filters by reference', async () => {
    d.runtime.addImage({ tags: ['alpine:3.20'], size: 4_260_000 });
    d.runtime.addImage({ tags: ['busybox:1'] });
    const lines = (await d.swarm('image', 'ls', '--format', 'json')).stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines.find((l) => l.includes('alpine')) ?? '')).toMatchObject({ Repository: 'alpine', Tag: '3.20', Size: '4.26MB', CreatedSince: expect.stringMatching(/^(Less than a second|\d+ seconds?) ago$/) });
    const filtered = await d.swarm('images', 'busy*');
    expect(filtered.stdout.split('\n').filter((l) => l !== '')).toHaveLength(2);
    expect(d.runtime.calls.at(-1)).toEqual({ method: 'listImages', args: [false] });
    expect((await d.swarm('image', 'ls', '--format', 'yaml')).stderr).toMatch(/^Error: invalid value "yaml" for --format: must be one of table, json\n/);
  });
});

describe('swarm image pull | push', () => {
  it('off a terminal prints one line per layer when done, then the digest and status', async () => {
    d.runtime.remote.set('alpine:latest', { layers: [{ size: 3_146_000 }, { size: 4_260_000 }] });
    const r = await d.swarm('image', 'pull', 'alpine');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Using default tag: latest');
    expect(lines[1]).toBe('latest: Pulling from library/alpine');
    expect(lines.slice(2, 4)).toEqual([expect.stringMatching(/^[0-9a-f]{12}: Pull complete$/), expect.stringMatching(/^[0-9a-f]{12}: Pull complete$/)]);
    expect(lines[4]).toMatch(/^Digest: sha256:[0-9a-f]{64}$/);
    expect(lines.slice(5)).toEqual(['Status: Downloaded newer image for alpine:latest', '']);
    expect(d.runtime.calls[0]?.args.slice(0, 2)).toEqual(['alpine:latest', undefined]);
  });

  it('on a terminal redraws each layer\'s line in place with its progress', async () => {
    d.runtime.remote.set('localhost:5000/app:1', { layers: [{ size: 4_200_000 }] });
    const r = await d.swarmWith({ stdoutTTY: true }, 'pull', 'localhost:5000/app:1');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('Using default tag');
    expect(r.stdout).toContain('\x1b[1A\x1b[2K\r');
    expect(r.stdout).toMatch(/[0-9a-f]{12}: Downloading {4}2\.1MB\/4\.2MB\r/);
    expect(r.stdout).toMatch(/[0-9a-f]{12}: Pull complete\r/);
    expect(r.stdout.endsWith('Status: Downloaded newer image for localhost:5000/app:1\n')).toBe(true);
  });

  it('a failure midway exits 1 with the daemon\'s error; bad references are refused before any call', async () => {
    d.runtime.remote.set('alpine:latest', { failAfter: 4 });
    const r = await d.swarm('pull', 'alpine');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: error pulling alpine:latest: connection reset by the registry\n');
    expect(r.stdout).toContain('latest: Pulling from library/alpine\n');
    const missing = await d.swarm('pull', 'nope:1');
    expect(missing).toEqual({ code: 1, stdout: '', stderr: "Error: pull access denied for nope, repository does not exist or may require 'docker login'\n" });
    d.runtime.calls.length = 0;
    expect((await d.swarm('pull', 'Alpine')).stderr).toBe('Error: invalid value "Alpine" for argument image: repository name must be lowercase\nHint: run \'swarm pull --help\' for usage\n');
    expect((await d.swarm('image', 'pull', 'a b')).code).toBe(2);
    expect((await d.swarm('push', 'alpine@sha256:' + 'a'.repeat(64))).stderr).toMatch(/^Error: invalid value ".*" for argument image: a digest cannot be given as a name/);
    expect(d.runtime.calls).toEqual([]);
  });

  it('push streams the push and names the tag', async () => {
    d.runtime.addImage({ tags: ['localhost:5000/app:1'], layers: 2 });
    const r = await d.swarm('image', 'push', 'localhost:5000/app:1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^The push refers to repository \[localhost:5000\/app\]\n[0-9a-f]{12}: Pushed\n[0-9a-f]{12}: Pushed\n1: digest: sha256:[0-9a-f]{64} size: 528\n$/);
    expect(d.runtime.calls[0]?.args[0]).toBe('localhost:5000/app:1');
  });
});

describe('swarm image tag | rm | inspect | prune', () => {
  it('tag, inspect and rm with docker\'s output', async () => {
    const id = d.runtime.addImage({ tags: ['alpine:3.20'] });
    expect(await d.swarm('image', 'tag', 'alpine:3.20', 'localhost:5000/base')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(d.runtime.calls.at(-1)?.args).toEqual(['alpine:3.20', 'localhost:5000/base', 'latest']);
    const inspect = await d.swarm('image', 'inspect', 'localhost:5000/base', 'nope');
    expect(inspect.code).toBe(1);
    expect(JSON.parse(inspect.stdout)).toMatchObject([{ Id: id, RepoTags: ['alpine:3.20', 'localhost:5000/base:latest'] }]);
    expect(inspect.stderr).toBe('Error: No such image: nope\n');
    expect((await d.swarm('rmi', 'localhost:5000/base')).stdout).toBe('Untagged: localhost:5000/base:latest\n');
    expect((await d.swarm('image', 'rm', 'alpine:3.20')).stdout).toBe(`Untagged: alpine:3.20\nDeleted: ${id}\n`);
  });

  it('prune asks first (off a terminal too), -f skips the question, -a prunes all unused', async () => {
    d.runtime.addImage({ tags: ['alpine'], size: 500 });
    const dangling = d.runtime.addImage({ size: 300 });
    const no = await d.swarmWith({ stdin: 'n\n' }, 'image', 'prune');
    expect(no).toMatchObject({ code: 1, stdout: 'WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ', stderr: 'Error: image prune has been cancelled\n' });
    expect(d.runtime.calls).toEqual([]);
    const yes = await d.swarmWith({ stdin: 'y\n' }, 'image', 'prune');
    expect(yes.stdout).toBe(`WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] Deleted Images:\ndeleted: ${dangling}\n\nTotal reclaimed space: 300B\n`);
    expect((await d.swarm('image', 'prune', '-f')).stdout).toBe('Total reclaimed space: 0B\n');
    expect((await d.swarm('image', 'prune', '-a', '-f')).stdout).toMatch(/^Deleted Images:\nuntagged: alpine:latest\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: 500B\n$/);
  });
});

describe('swarm image save | load', () => {
  it('save -o writes the archive and load -i reads it back', async () => {
    d.runtime.addImage({ tags: ['alpine:3.20'], layers: 2 });
    const file = join(dir, 'alpine.tar');
    expect(await d.swarm('image', 'save', '-o', file, 'alpine:3.20')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(file).subarray(257, 262).toString()).toBe('ustar');
    await d.swarm('rmi', 'alpine:3.20');
    expect(await d.swarm('image', 'load', '-i', file)).toEqual({ code: 0, stdout: 'Loaded image: alpine:3.20\n', stderr: '' });
    expect((await d.swarm('images', '--format', 'json')).stdout).toContain('"Repository":"alpine","SharedSize"');
  });

  it('save writes to a redirected stdout, and refuses a terminal without -o', async () => {
    d.runtime.addImage({ tags: ['alpine'] });
    const piped = await d.swarmWith({}, 'image', 'save', 'alpine');
    expect(piped.code).toBe(0);
    expect(piped.stdoutBytes.subarray(257, 262).toString()).toBe('ustar');
    const tty = await d.swarmWith({ stdoutTTY: true }, 'image', 'save', 'alpine');
    expect(tty).toMatchObject({
      code: 2,
      stdout: '',
      stderr: "Error: refusing to write a tar archive to a terminal: give -o FILE, or redirect stdout\nHint: run 'swarm image save --help' for usage\n",
    });
  });

  it('a save cut off midway fails and leaves no file behind', async () => {
    d.runtime.addImage({ tags: ['alpine'], layers: 4 });
    d.runtime.saveFailure = new Error('disk read error');
    const file = join(dir, 'cut.tar');
    const r = await d.swarm('image', 'save', '-o', file, 'alpine');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: the archive was cut off: .*\nHint: the daemon failed while writing it; its log says why\n$/);
    expect(existsSync(file)).toBe(false);
    expect((await d.swarm('image', 'save', '-o', file, 'nope')).stderr).toBe('Error: No such image: nope\n');
  });

  it('load reads stdin, refuses a terminal, and says when the file is missing', async () => {
    d.runtime.addImage({ tags: ['busybox'] });
    const tar = (await d.swarmWith({}, 'image', 'save', 'busybox')).stdoutBytes;
    expect((await d.swarmWith({ stdin: tar }, 'image', 'load')).stdout).toBe('Loaded image: busybox:latest\n');
    expect((await d.swarmWith({ stdinTTY: true }, 'image', 'load')).stderr).toMatch(/^Error: stdin is a terminal: give the archive with -i FILE/);
    expect((await d.swarm('image', 'load', '-i', join(dir, 'none.tar'))).stderr).toBe(`Error: cannot read ${join(dir, 'none.tar')}: no such file\n`);
  });
});

describe('swarm image build', () => {
  function context(name: string, files: Record<string, string>): string {
    const root = join(dir, name);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return root;
  }

  it('tars the directory (minus .dockerignore), sends tags, args and --no-cache, and prints the build', async () => {
    d.runtime.addImage({ tags: ['alpine'] });
    const root = context('ctx1', {
      Dockerfile: 'FROM alpine\nCOPY app.sh /\nCMD ./app.sh\n',
      'app.sh': 'echo hi\n',
      '.dockerignore': '# comment\n*.log\nsecrets/\n!secrets/public.pem\nnode_modules\n',
      'debug.log': 'x',
      'secrets/key.pem': 'k',
      'secrets/public.pem': 'p',
      'node_modules/a/index.js': 'x',
      'src/main.ts': 'x',
    });
    const r = await d.swarmWith({ env: { FROM_ENV: 'e' } }, 'build', '-t', 'app:1', '-t', 'localhost:5000/app', '--build-arg', 'V=2', '--build-arg', 'FROM_ENV', '--build-arg', 'UNSET', '--no-cache', root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Step 1\/3 : FROM alpine\n ---> [0-9a-f]{12}\nStep 2\/3 : COPY app\.sh \/\n ---> [0-9a-f]{12}\nStep 3\/3 : CMD \.\/app\.sh\n ---> [0-9a-f]{12}\nSuccessfully built [0-9a-f]{12}\nSuccessfully tagged app:1\nSuccessfully tagged localhost:5000\/app:latest\n$/,
    );
    expect(d.runtime.lastBuildContext).toEqual(['.dockerignore', 'Dockerfile', 'app.sh', 'secrets/public.pem', 'src/main.ts']);
    expect(d.runtime.calls[0]?.args[1]).toEqual({ tags: ['app:1', 'localhost:5000/app'], dockerfile: 'Dockerfile', buildArgs: { V: '2', FROM_ENV: 'e' }, noCache: true });
  });

  it('a failing step exits 1 with the error line after the output so far', async () => {
    d.runtime.addImage({ tags: ['alpine'] });
    const root = context('ctx2', { 'build/Containerfile': 'FROM alpine\nRUN exit 3\n' });
    const r = await d.swarm('image', 'build', '-f', join(root, 'build/Containerfile'), root);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Step 1\/2 : FROM alpine\n ---> [0-9a-f]{12}\nStep 2\/2 : RUN exit 3\n ---> Running in [0-9a-f]{12}\n$/);
    expect(r.stderr).toBe("Error: The command '/bin/sh -c exit 3' returned a non-zero code: 3\n");
    expect(d.runtime.calls[0]?.args[1]).toMatchObject({ dockerfile: 'build/Containerfile' });
  });

  it('a Dockerfile outside the context is sent under a generated name; missing ones are named', async () => {
    d.runtime.addImage({ tags: ['alpine'] });
    const root = context('ctx3', { 'a.txt': 'a' });
    const outside = join(dir, 'Dockerfile.outside');
    writeFileSync(outside, 'FROM alpine\n');
    expect((await d.swarm('build', '-f', outside, root)).code).toBe(0);
    const sent = (d.runtime.calls[0]?.args[1] as { dockerfile: string }).dockerfile;
    expect(sent).toMatch(/^\.dockerfile\.[0-9a-f]{20}$/);
    expect(d.runtime.lastBuildContext).toEqual([sent, 'a.txt']);
    expect((await d.swarm('build', root)).stderr).toBe(`Error: cannot read the Dockerfile ${join(root, 'Dockerfile')}: no such file\nHint: give its path with -f, or create ${join(root, 'Dockerfile')}\n`);
    expect((await d.swarm('build', join(dir, 'nowhere'))).stderr).toBe(`Error: unable to prepare context: path "${join(dir, 'nowhere')}" not found\n`);
    expect((await d.swarm('build', '-t', 'App', root)).stderr).toMatch(/^Error: invalid value "App" for --tag: repository name must be lowercase\n/);
    expect((await d.swarm('build', '--build-arg', '=x', root)).stderr).toMatch(/^Error: invalid value "=x" for --build-arg: the variable name is empty/);
  });
});
