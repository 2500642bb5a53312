import { mkdtempSync, rmSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError } from '../errors.js';
import { silentLogger } from '../log.js';
import { FakeRuntimeBackend, FakeSwarmBackend, startApiServer, type ApiServer } from './index.js';
import { parseFrames } from './stream.js';

interface Opened {
  req: ClientRequest;
  res: IncomingMessage;
}

/** Sends a request (JSON, bytes or a stream as body) and resolves once the response headers arrive. */
function open(sock: string, method: string, path: string, opts: { json?: unknown; body?: Buffer | Readable; headers?: Record<string, string> } = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const body = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
    const req = request({ socketPath: sock, method, path, headers: { ...(opts.json !== undefined ? { 'Content-Type': 'application/json' } : {}), ...opts.headers } }, (res) =>
      resolve({ req, res }),
    );
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

interface Res {
  status: number;
  type: string;
  raw: Buffer;
  text: string;
  json: unknown;
  /** Progress streams: one parsed object per line. */
  lines: Record<string, unknown>[];
}

async function call(sock: string, method: string, path: string, opts: Parameters<typeof open>[3] = {}): Promise<Res> {
  const { res } = await open(sock, method, path, opts);
  const raw = await readAll(res);
  const text = raw.toString('utf8');
  const type = res.headers['content-type'] ?? '';
  let json: unknown;
  let lines: Record<string, unknown>[] = [];
  if (type === 'application/json') {
    try {
      json = JSON.parse(text);
    } catch {
      lines = text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    }
    if (json !== undefined && lines.length === 0) lines = [json as Record<string, unknown>];
  }
  return { status: res.statusCode ?? 0, type, raw, text, json, lines };
}

async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function untar(data: Buffer): Promise<Map<string, Buffer>> {
  const ex = extract();
  const out = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) chunks.push(c);
      out.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(data);
  await done;
  return out;
}

const authHeader = (auth: object): string => Buffer.from(JSON.stringify(auth)).toString('base64url');

const dir = mkdtempSync(join(tmpdir(), 'swarm-rt-api-'));
let n = 0;
let sock: string;
let runtime: FakeRuntimeBackend;
let server: ApiServer;

beforeEach(async () => {
  sock = join(dir, `api-${++n}.sock`);
  runtime = new FakeRuntimeBackend();
  server = await startApiServer({ socketPath: sock, backend: new FakeSwarmBackend(), runtime, logger: silentLogger() });
});

afterEach(async () => {
  await server.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('without a runtime', () => {
  it('every image and container route answers 503 with the reason', async () => {
    const bare = join(dir, 'bare.sock');
    const s = await startApiServer({ socketPath: bare, backend: new FakeSwarmBackend(), logger: silentLogger() });
    try {
      for (const [method, path] of [
        ['GET', '/images/json'],
        ['GET', '/v1.47/images/alpine/json'],
        ['POST', '/images/create?fromImage=alpine'],
        ['POST', '/build'],
        ['GET', '/containers/json'],
        ['POST', '/containers/abc/start'],
        ['GET', '/containers/abc/logs?stdout=1'],
      ] as const) {
        const r = await call(bare, method, path);
        expect(r.status, path).toBe(503);
        expect((r.json as { message: string }).message).toBe('this daemon runs no container runtime');
      }
    } finally {
      await s.close();
    }
  });
});

describe('image routes', () => {
  it('GET /images/json lists images, -a and Docker\'s reference and dangling filters', async () => {
    runtime.addImage({ tags: ['alpine:3.20'] });
    runtime.addImage({ tags: ['localhost:5000/team/app:1'] });
    runtime.addImage({ parent: 'sha256:x' });
    expect(((await call(sock, 'GET', '/v1.47/images/json')).json as unknown[]).length).toBe(2);
    expect(((await call(sock, 'GET', '/images/json?all=1')).json as unknown[]).length).toBe(3);
    const ref = await call(sock, 'GET', `/images/json?filters=${encodeURIComponent('{"reference":{"localhost:5000/*/app":true}}')}`);
    expect((ref.json as { RepoTags: string[] }[]).map((i) => i.RepoTags)).toEqual([['localhost:5000/team/app:1']]);
    const dangling = await call(sock, 'GET', `/images/json?all=1&filters=${encodeURIComponent('{"dangling":["true"]}')}`);
    expect((dangling.json as { RepoTags: string[] }[]).map((i) => i.RepoTags)).toEqual([[]]);
    expect((await call(sock, 'GET', `/images/json?filters=${encodeURIComponent('{"until":["1h"]}')}`)).json).toEqual({
      message: "invalid filter 'until': filter by one of dangling, reference",
    });
  });

  it('image names in paths keep their registry port and slashes (greedy parameter), encoded or not', async () => {
    const id = runtime.addImage({ tags: ['localhost:5000/a/b:1'] });
    const plain = await call(sock, 'GET', '/v1.47/images/localhost:5000/a/b:1/json');
    expect(plain.status).toBe(200);
    expect(plain.json).toMatchObject({ Id: id, RepoTags: ['localhost:5000/a/b:1'] });
    expect((await call(sock, 'GET', `/images/${encodeURIComponent('localhost:5000/a/b:1')}/json`)).json).toMatchObject({ Id: id });
    expect((await call(sock, 'POST', '/images/localhost:5000/a/b:1/tag?repo=localhost:5000/a/c&tag=2')).status).toBe(201);
    expect(runtime.calls.at(-1)).toEqual({ method: 'tagImage', args: ['localhost:5000/a/b:1', 'localhost:5000/a/c', '2'] });
    expect((await call(sock, 'DELETE', '/images/localhost:5000/a/c:2')).json).toEqual([{ Untagged: 'localhost:5000/a/c:2' }]);
    const missing = await call(sock, 'GET', '/images/nope/x:1/json');
    expect(missing).toMatchObject({ status: 404, json: { message: 'No such image: nope/x:1' } });
  });

  it('POST /images/{name}/tag needs repo; tag defaults to latest; DELETE answers Docker\'s item list', async () => {
    const id = runtime.addImage({ tags: ['alpine'] });
    expect((await call(sock, 'POST', '/images/alpine/tag')).json).toEqual({ message: 'missing query parameter "repo": give the repository of the new name, e.g. repo=localhost:5000/app&tag=1' });
    expect((await call(sock, 'POST', '/images/alpine/tag?repo=mine')).status).toBe(201);
    expect(runtime.calls.at(-1)?.args).toEqual(['alpine', 'mine', 'latest']);
    expect((await call(sock, 'DELETE', '/images/mine')).json).toEqual([{ Untagged: 'mine:latest' }]);
    expect((await call(sock, 'DELETE', '/images/alpine?force=1')).json).toEqual([{ Untagged: 'alpine:latest' }, { Deleted: id }]);
  });

  it('POST /images/create streams progress as JSON lines and passes X-Registry-Auth', async () => {
    runtime.remote.set('localhost:5000/app:1', { layers: [{ size: 4_200_000 }, { size: 1000 }] });
    const r = await call(sock, 'POST', '/v1.47/images/create?fromImage=localhost:5000/app&tag=1', {
      headers: { 'X-Registry-Auth': authHeader({ username: 'u', password: 'p', serveraddress: 'localhost:5000' }) },
    });
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    expect(r.text.split('\r\n')[0]).toBe('{"status":"Pulling from app","id":"1"}');
    expect(r.lines.at(-1)).toEqual({ status: 'Status: Downloaded newer image for localhost:5000/app:1' });
    expect(r.lines).toContainEqual(expect.objectContaining({ status: 'Downloading', progressDetail: { current: 2_100_000, total: 4_200_000 } }));
    expect(runtime.calls[0]?.args.slice(0, 2)).toEqual(['localhost:5000/app:1', { username: 'u', password: 'p', serveraddress: 'localhost:5000' }]);
    // Docker's AuthConfig may carry base64(user:password) in "auth"; "e30=" ({}) is no auth.
    await call(sock, 'POST', '/images/create?fromImage=localhost:5000/app:1', { headers: { 'X-Registry-Auth': authHeader({ auth: Buffer.from('v:q').toString('base64') }) } });
    expect(runtime.calls.at(-1)?.args[1]).toEqual({ username: 'v', password: 'q' });
    await call(sock, 'POST', '/images/create?fromImage=localhost:5000/app:1', { headers: { 'X-Registry-Auth': 'e30=' } });
    expect(runtime.calls.at(-1)?.args[1]).toBeUndefined();
  });

  it('a pull failing midway ends the stream with Docker\'s error line; failing before any output is a plain error', async () => {
    runtime.remote.set('alpine:latest', { failAfter: 3 });
    const r = await call(sock, 'POST', '/images/create?fromImage=alpine');
    expect(r.status).toBe(200);
    expect(r.lines).toHaveLength(4);
    const message = 'error pulling alpine:latest: connection reset by the registry';
    expect(r.lines.at(-1)).toEqual({ errorDetail: { message }, error: message });
    const missing = await call(sock, 'POST', '/images/create?fromImage=nope&tag=1');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ message: "pull access denied for nope, repository does not exist or may require 'docker login'" });
  });

  it('POST /images/create refuses a missing fromImage, fromSrc, and a malformed X-Registry-Auth', async () => {
    expect((await call(sock, 'POST', '/images/create')).json).toEqual({ message: 'missing query parameter "fromImage": give the image to pull, e.g. fromImage=alpine&tag=3.20' });
    expect((await call(sock, 'POST', '/images/create?fromSrc=-')).status).toBe(400);
    const bad = await call(sock, 'POST', '/images/create?fromImage=alpine', { headers: { 'X-Registry-Auth': '!!notbase64json' } });
    expect(bad).toMatchObject({ status: 400, json: { message: 'invalid X-Registry-Auth header: must be base64-encoded JSON such as {"username":"u","password":"p"}' } });
    const wrongType = await call(sock, 'POST', '/images/create?fromImage=alpine', { headers: { 'X-Registry-Auth': authHeader({ username: 7 }) } });
    expect(wrongType.json).toEqual({ message: 'invalid X-Registry-Auth header: username must be a string, got 7' });
    expect(runtime.calls).toEqual([]);
  });

  it('POST /images/{name}/push streams the push, with tag appended', async () => {
    runtime.addImage({ tags: ['localhost:5000/app:1'], layers: 2 });
    const r = await call(sock, 'POST', '/images/localhost:5000/app/push?tag=1', { headers: { 'X-Registry-Auth': authHeader({}) } });
    expect(r.lines[0]).toEqual({ status: 'The push refers to repository [localhost:5000/app]' });
    expect(r.lines.filter((l) => l['status'] === 'Pushed')).toHaveLength(2);
    expect(r.lines.at(-1)).toMatchObject({ aux: { Tag: '1' } });
    expect((await call(sock, 'POST', '/images/localhost:5000/other/push')).json).toEqual({ message: 'An image does not exist locally with the tag: localhost:5000/other' });
  });

  it('save and load round-trip a tar archive: GET /images/get and /images/{name}/get, POST /images/load', async () => {
    runtime.addImage({ tags: ['alpine:3.20'] });
    runtime.addImage({ tags: ['busybox:latest'], layers: 2 });
    const saved = await call(sock, 'GET', '/images/get?names=alpine:3.20&names=busybox');
    expect(saved.status).toBe(200);
    expect(saved.type).toBe('application/x-tar');
    const files = await untar(saved.raw);
    expect(JSON.parse(files.get('manifest.json')?.toString() ?? '')).toMatchObject([{ RepoTags: ['alpine:3.20'] }, { RepoTags: ['busybox:latest'] }]);
    expect(runtime.calls.at(-1)?.args.slice(0, 2)).toEqual([['alpine:3.20', 'busybox'], 'docker']);
    const one = await call(sock, 'GET', '/images/alpine:3.20/get');
    expect([...(await untar(one.raw)).keys()]).toContain('manifest.json');

    // Load the archive into a fresh runtime, streamed up as the request body.
    await server.close();
    runtime = new FakeRuntimeBackend();
    server = await startApiServer({ socketPath: sock, backend: new FakeSwarmBackend(), runtime, logger: silentLogger() });
    const loaded = await call(sock, 'POST', '/images/load?quiet=0', { body: Readable.from([saved.raw.subarray(0, 1000), saved.raw.subarray(1000)]) });
    expect(loaded.status).toBe(200);
    expect(loaded.lines.filter((l) => 'stream' in l)).toEqual([{ stream: 'Loaded image: alpine:3.20\n' }, { stream: 'Loaded image: busybox:latest\n' }]);
    expect((await runtime.listImages(false)).flatMap((i) => i.RepoTags).sort()).toEqual(['alpine:3.20', 'busybox:latest']);
    const junk = await call(sock, 'POST', '/images/load', { body: await tarOf({ 'hello.txt': 'hi' }) });
    expect(junk).toMatchObject({ status: 400, json: { message: 'invalid image archive: it has no manifest.json (is it a docker save or OCI archive?)' } });
  });

  it('GET /images/get checks names and format; a failure midway cuts the download', async () => {
    runtime.addImage({ tags: ['alpine'], layers: 3 });
    expect((await call(sock, 'GET', '/images/get')).status).toBe(400);
    expect((await call(sock, 'GET', '/images/get?names=alpine&format=zip')).json).toEqual({ message: 'invalid query parameter "format": must be docker or oci, got "zip"' });
    expect((await call(sock, 'GET', '/images/get?names=nope')).status).toBe(404);
    await call(sock, 'GET', '/images/get?names=alpine&format=oci');
    expect(runtime.calls.at(-1)?.args[1]).toBe('oci');
    runtime.saveFailure = new Error('disk read error');
    const { res } = await open(sock, 'GET', '/images/get?names=alpine');
    expect(res.statusCode).toBe(200);
    await expect(readAll(res)).rejects.toThrow(/aborted/);
  });

  it('POST /images/prune: dangling=false prunes all unused images', async () => {
    runtime.addImage({ tags: ['alpine'], size: 500 });
    runtime.addImage({ size: 300 });
    const dangling = await call(sock, 'POST', `/images/prune?filters=${encodeURIComponent('{"dangling":{"true":true}}')}`);
    expect(dangling.json).toMatchObject({ SpaceReclaimed: 300 });
    const all = await call(sock, 'POST', `/images/prune?filters=${encodeURIComponent('{"dangling":{"false":true}}')}`);
    expect(all.json).toMatchObject({ ImagesDeleted: [{ Untagged: 'alpine:latest' }, { Deleted: expect.any(String) }], SpaceReclaimed: 500 });
    expect((await call(sock, 'POST', `/images/prune?filters=${encodeURIComponent('{"dangling":["maybe"]}')}`)).json).toEqual({
      message: "invalid filter 'dangling=maybe': dangling must be true or false",
    });
  });

  it('POST /build streams the steps, then the aux ID and Docker\'s closing lines', async () => {
    runtime.addImage({ tags: ['alpine'] });
    const context = await tarOf({ Dockerfile: 'FROM alpine\nARG V\nCOPY app.sh /\nCMD ./app.sh\n', 'app.sh': 'echo hi' });
    const q = `t=app:1&t=localhost:5000/app&buildargs=${encodeURIComponent('{"V":"2","UNSET":null}')}&nocache=1`;
    const r = await call(sock, 'POST', `/v1.47/build?${q}`, { body: context, headers: { 'Content-Type': 'application/x-tar' } });
    expect(r.status).toBe(200);
    const streams = r.lines.filter((l) => 'stream' in l).map((l) => l['stream']);
    expect(streams[0]).toBe('Step 1/4 : FROM alpine\n');
    expect(streams.slice(-3)).toEqual([expect.stringMatching(/^Successfully built [0-9a-f]{12}\n$/), 'Successfully tagged app:1\n', 'Successfully tagged localhost:5000/app:latest\n']);
    const aux = r.lines.find((l) => 'aux' in l) as { aux: { ID: string } };
    expect(aux.aux.ID).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(runtime.calls[0]?.args[1]).toEqual({ tags: ['app:1', 'localhost:5000/app'], dockerfile: 'Dockerfile', buildArgs: { V: '2' }, noCache: true });
  });

  it('POST /build: a failing step ends with an error line; a missing Dockerfile and bad buildargs are plain 400s', async () => {
    runtime.addImage({ tags: ['alpine'] });
    const failing = await call(sock, 'POST', '/build?t=x', { body: await tarOf({ Dockerfile: 'FROM alpine\nRUN false\nRUN true\n' }) });
    expect(failing.status).toBe(200);
    expect(failing.lines.at(-1)).toEqual({
      errorDetail: { message: "The command '/bin/sh -c false' returned a non-zero code: 1" },
      error: "The command '/bin/sh -c false' returned a non-zero code: 1",
    });
    const missing = await call(sock, 'POST', '/build?dockerfile=build/Dockerfile', { body: await tarOf({ Dockerfile: 'FROM alpine' }) });
    expect(missing).toMatchObject({ status: 400, json: { message: 'Cannot locate specified Dockerfile: build/Dockerfile' } });
    expect((await call(sock, 'POST', '/build?buildargs=[1]', { body: Buffer.alloc(0) })).json).toEqual({
      message: 'invalid query parameter "buildargs": must be a JSON object such as {"VERSION":"1.2"}',
    });
    expect((await call(sock, 'POST', `/build?buildargs=${encodeURIComponent('{"A":1}')}`)).json).toEqual({ message: 'invalid query parameter "buildargs": the value of "A" must be a string' });
  });

  it('POST /auth logs in with Docker\'s AuthConfig and passes refusals through', async () => {
    const ok = await call(sock, 'POST', '/auth', { json: { username: 'u', password: 'p', serveraddress: 'localhost:5000', email: '' } });
    expect(ok).toMatchObject({ status: 200, json: { Status: 'Login Succeeded' } });
    expect(runtime.logins).toEqual([{ username: 'u', password: 'p', serveraddress: 'localhost:5000' }]);
    expect((await call(sock, 'POST', '/auth', { json: { username: 'u', password: 'wrong' } })).status).toBe(403);
    expect((await call(sock, 'POST', '/auth', { json: { username: ['u'] } })).json).toEqual({ message: 'invalid AuthConfig: username must be a string, got an array' });
  });
});

async function created(body: object, name?: string): Promise<string> {
  const r = await call(sock, 'POST', `/containers/create${name ? `?name=${name}` : ''}`, { json: body });
  expect(r.status).toBe(201);
  return (r.json as { Id: string }).Id;
}

describe('container routes', () => {
  beforeEach(() => {
    runtime.addImage({ tags: ['alpine'] });
  });

  it('create (201 {Id, Warnings}) keeps the fields the runtime takes and names a bad one', async () => {
    const body = {
      Image: 'alpine',
      Cmd: ['echo', 'hi'],
      Env: ['A=1'],
      Tty: false,
      AttachStdout: true,
      HostConfig: { Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: null, CapAdd: ['NET_ADMIN'], Tmpfs: { '/run': 'size=64m' }, NetworkMode: 'default', AutoRemove: false },
    };
    const r = await call(sock, 'POST', '/v1.47/containers/create?name=web', { json: body });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ Id: expect.stringMatching(/^[0-9a-f]{64}$/), Warnings: [] });
    expect(runtime.calls[0]).toEqual({
      method: 'createContainer',
      args: ['web', { Image: 'alpine', Cmd: ['echo', 'hi'], Env: ['A=1'], HostConfig: { Memory: 67108864, NanoCpus: 500000000, CapAdd: ['NET_ADMIN'], Tmpfs: { '/run': 'size=64m' }, AutoRemove: false } }],
    });
    expect((await call(sock, 'POST', '/containers/create', { json: { Image: 'alpine', HostConfig: { Memory: '64m' } } })).json).toEqual({
      message: 'invalid ContainerConfig: HostConfig.Memory must be a non-negative integer, got "64m"',
    });
    expect((await call(sock, 'POST', '/containers/create', { json: {} })).json).toEqual({ message: 'invalid ContainerConfig: Image is required' });
    expect((await call(sock, 'POST', '/containers/create?name=a%20b', { json: { Image: 'alpine' } })).json).toEqual({
      message: 'invalid query parameter "name": Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
    });
    expect((await call(sock, 'POST', '/containers/create?name=web', { json: { Image: 'alpine' } })).status).toBe(409);
    expect((await call(sock, 'POST', '/containers/create', { json: { Image: 'nope' } })).json).toEqual({ message: 'No such image: nope' });
  });

  it('start (204), wait, logs as multiplexed frames (stdout 1, stderr 2), with timestamps and tail', async () => {
    const id = await created({ Image: 'alpine', Cmd: ['sh', '-c', 'echo out1; echo err1 >&2; echo out2; exit 3'] });
    expect((await call(sock, 'POST', `/containers/${id}/start`)).status).toBe(204);
    expect((await call(sock, 'POST', `/containers/${id.slice(0, 12)}/wait`)).json).toEqual({ StatusCode: 3 });
    const logs = await call(sock, 'GET', `/v1.47/containers/${id}/logs?stdout=1&stderr=1`);
    expect(logs.type).toBe('application/vnd.docker.multiplexed-stream');
    const { frames, rest } = parseFrames(logs.raw);
    expect(rest.length).toBe(0);
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      [1, 'out1\n'],
      [2, 'err1\n'],
      [1, 'out2\n'],
    ]);
    expect(logs.raw.subarray(0, 8)).toEqual(Buffer.from([1, 0, 0, 0, 0, 0, 0, 5]));
    const errOnly = parseFrames((await call(sock, 'GET', `/containers/${id}/logs?stderr=1&timestamps=1`)).raw).frames;
    expect(errOnly.map((f) => f.payload.toString())).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z err1\n$/)]);
    const tail = parseFrames((await call(sock, 'GET', `/containers/${id}/logs?stdout=1&stderr=1&tail=1`)).raw).frames;
    expect(tail.map((f) => f.payload.toString())).toEqual(['out2\n']);
    expect(runtime.calls.at(-1)?.args[1]).toEqual({ follow: false, tail: 1, since: undefined });
  });

  it('logs refuses bad parameters by name', async () => {
    const id = await created({ Image: 'alpine' });
    expect((await call(sock, 'GET', `/containers/${id}/logs`)).json).toEqual({ message: 'you must choose at least one stream: set stdout=1 and/or stderr=1' });
    expect((await call(sock, 'GET', `/containers/${id}/logs?stdout=1&tail=-3`)).json).toEqual({ message: 'invalid query parameter "tail": must be "all" or a number of lines, got "-3"' });
    expect((await call(sock, 'GET', `/containers/${id}/logs?stdout=1&since=yesterday`)).status).toBe(400);
    await call(sock, 'GET', `/containers/${id}/logs?stdout=1&since=1700000000.5&tail=all`);
    expect(runtime.calls.at(-1)?.args[1]).toEqual({ follow: false, tail: undefined, since: new Date(1_700_000_000_500) });
    expect((await call(sock, 'GET', '/containers/nope/logs?stdout=1')).status).toBe(404);
  });

  it('a follow stream sends lines as they come and stops the backend when the client goes away', async () => {
    const id = await created({ Image: 'alpine', Cmd: ['sh', '-c', 'echo first; sleep 1000'] });
    await call(sock, 'POST', `/containers/${id}/start`);
    const { req, res } = await open(sock, 'GET', `/containers/${id}/logs?stdout=1&stderr=1&follow=1`);
    const it = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let buf = Buffer.alloc(0);
    const nextFrame = async (): Promise<string> => {
      for (;;) {
        const { frames, rest } = parseFrames(buf);
        if (frames[0]) {
          buf = Buffer.from(buf.subarray(8 + frames[0].payload.length));
          return `${frames[0].stream}:${frames[0].payload.toString()}`;
        }
        const r = await it.next();
        if (r.done === true) throw new Error('stream ended');
        buf = Buffer.concat([rest, r.value]);
      }
    };
    expect(await nextFrame()).toBe('1:first\n');
    runtime.emitLog(id, 'stderr', 'later');
    expect(await nextFrame()).toBe('2:later\n');
    expect(runtime.openLogStreams).toBe(1);
    const closed = runtime.logStreamClosed();
    req.destroy();
    await closed;
    expect(runtime.openLogStreams).toBe(0);
  });

  it('a follow stream ends when the container exits', async () => {
    const id = await created({ Image: 'alpine', Cmd: ['sleep', '1000'] });
    await call(sock, 'POST', `/containers/${id}/start`);
    const { res } = await open(sock, 'GET', `/containers/${id}/logs?stdout=1&follow=1`);
    const body = readAll(res);
    runtime.emitLog(id, 'stdout', 'bye');
    runtime.exit(id, 0);
    expect(parseFrames(await body).frames.map((f) => f.payload.toString())).toEqual(['bye\n']);
  });

  it('wait sends its headers at once, then the status when the container exits', async () => {
    const id = await created({ Image: 'alpine', Cmd: ['sleep', '1000'] });
    await call(sock, 'POST', `/containers/${id}/start`);
    const { res } = await open(sock, 'POST', `/containers/${id}/wait?condition=not-running`);
    expect(res.statusCode).toBe(200);
    const body = readAll(res);
    runtime.exit(id, 42);
    expect(JSON.parse((await body).toString())).toEqual({ StatusCode: 42 });
    expect((await call(sock, 'POST', '/containers/nope/wait')).status).toBe(404);
    expect((await call(sock, 'POST', `/containers/${id}/wait?condition=soon`)).json).toEqual({
      message: 'invalid query parameter "condition": must be one of not-running, next-exit, removed, got "soon"',
    });
  });

  it('stop?t=, kill?signal=, DELETE ?force=, list and inspect', async () => {
    const a = await created({ Image: 'alpine', Cmd: ['sleep', '1'] }, 'ca');
    const b = await created({ Image: 'alpine', Cmd: ['sleep', '1'] }, 'cb');
    await call(sock, 'POST', '/containers/ca/start');
    await call(sock, 'POST', '/containers/cb/start');
    expect(((await call(sock, 'GET', '/containers/json')).json as unknown[]).length).toBe(2);
    expect((await call(sock, 'POST', '/containers/ca/stop?t=5')).status).toBe(204);
    expect(runtime.calls.at(-1)).toEqual({ method: 'stopContainer', args: ['ca', 5] });
    expect((await call(sock, 'POST', '/containers/ca/stop?t=soon')).json).toEqual({ message: 'invalid query parameter "t": must be an integer of at least -1, got "soon"' });
    expect((await call(sock, 'POST', '/containers/cb/kill?signal=SIG;rm')).status).toBe(400);
    expect((await call(sock, 'POST', '/containers/cb/kill?signal=SIGINT')).status).toBe(204);
    expect((await call(sock, 'GET', '/containers/cb/json')).json).toMatchObject({ Id: b, Name: '/cb', State: { Status: 'exited', ExitCode: 130, Running: false } });
    const all = (await call(sock, 'GET', '/containers/json?all=1')).json as { Id: string; Names: string[] }[];
    expect(all.map((c) => [c.Id, c.Names])).toEqual([
      [a, ['/ca']],
      [b, ['/cb']],
    ]);
    expect(((await call(sock, 'GET', '/containers/json')).json as unknown[]).length).toBe(0);
    expect((await call(sock, 'DELETE', '/containers/ca')).status).toBe(204);
    const c = await created({ Image: 'alpine', Cmd: ['sleep', '1'] }, 'cc');
    await call(sock, 'POST', `/containers/${c}/start`);
    expect((await call(sock, 'DELETE', '/containers/cc')).status).toBe(409);
    expect((await call(sock, 'DELETE', '/containers/cc?force=1')).status).toBe(204);
    expect((await call(sock, 'GET', '/containers/cc/json')).json).toEqual({ message: 'No such container: cc' });
    expect((await call(sock, 'GET', `/containers/json?filters=${encodeURIComponent('{"status":["exited"]}')}`)).status).toBe(400);
  });

  it('a runtime error before output keeps its status and hint', async () => {
    runtime.failNext = new SwarmError('UNAVAILABLE', 'crun is not on PATH', 'install crun or runc');
    expect(await call(sock, 'GET', '/containers/json')).toMatchObject({ status: 503, json: { message: 'crun is not on PATH', hint: 'install crun or runc' } });
  });
});
