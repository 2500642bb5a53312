import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError } from '../errors.js';
import { silentLogger } from '../log.js';
import { FakeSwarmBackend, startApiServer, type ApiServer } from './index.js';

interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

function call(
  target: string | { host: string; port: number },
  method: string,
  path: string,
  body?: unknown,
  raw?: Buffer | string,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const where = typeof target === 'string' ? { socketPath: target } : target;
    const req = request({ ...where, method, path, headers: data === undefined ? {} : { 'Content-Type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    // A server that answers 413 and closes may cut our upload short: the response still counts.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

const dir = mkdtempSync(join(tmpdir(), 'swarm-api-'));
let n = 0;
let sock: string;
let backend: FakeSwarmBackend;
let server: ApiServer;

const INIT = { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: null, SubnetSize: 24 };

beforeEach(async () => {
  sock = join(dir, `api-${++n}`, 'swarm.sock');
  backend = new FakeSwarmBackend();
  server = await startApiServer({ socketPath: sock, backend, logger: silentLogger() });
});

afterEach(async () => {
  await server.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function initialized(): Promise<void> {
  await backend.initSwarm({ ListenAddr: '', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
  backend.addNode({ id: 'workerid00000000000000001', hostname: 'host2' });
  backend.calls.length = 0;
}

describe('ping, version, info', () => {
  it('GET /_ping answers OK with the headers the docker CLI reads', async () => {
    const r = await call(sock, 'GET', '/_ping');
    expect(r.status).toBe(200);
    expect(r.text).toBe('OK');
    expect(r.headers['api-version']).toBe('1.47');
    expect(r.headers['ostype']).toBe('linux');
    expect(r.headers['swarm']).toBe('inactive');
    expect(r.headers['docker-experimental']).toBe('false');
    expect(r.headers['cache-control']).toBe('no-cache');
  });

  it('HEAD /_ping sends the headers and no body; Swarm follows the node state', async () => {
    await initialized();
    const r = await call(sock, 'HEAD', '/_ping');
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(r.headers['swarm']).toBe('active/manager');
    expect(r.headers['api-version']).toBe('1.47');
    expect(r.headers['content-length']).toBe('0');
  });

  it('accepts a /vX.Y prefix on every path and refuses versions outside 1.24..1.47', async () => {
    expect((await call(sock, 'GET', '/v1.47/_ping')).text).toBe('OK');
    expect((await call(sock, 'GET', '/v1.24/version')).status).toBe(200);
    const tooNew = await call(sock, 'GET', '/v1.48/info');
    expect(tooNew.status).toBe(400);
    expect(tooNew.json).toEqual({ message: 'client version 1.48 is too new. Maximum supported API version is 1.47' });
    const tooOld = await call(sock, 'GET', '/v1.12/info');
    expect(tooOld.status).toBe(400);
    expect((tooOld.json as { message: string }).message).toMatch(/^client version 1.12 is too old/);
  });

  it('GET /version reports the API versions this server speaks', async () => {
    const r = await call(sock, 'GET', '/v1.47/version');
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json).toMatchObject({ Version: '0.1.0', ApiVersion: '1.47', MinAPIVersion: '1.24', Os: 'linux' });
  });

  it('GET /info shows the swarm block and never the CA key', async () => {
    await initialized();
    const r = await call(sock, 'GET', '/info');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ Name: 'host1', Swarm: { NodeID: backend.nodeId, LocalNodeState: 'active', ControlAvailable: true, Nodes: 2, Managers: 1 } });
    expect(r.text).not.toContain('CAKey');
  });
});

describe('swarm routes', () => {
  it('POST /swarm/init decodes Docker\'s body (nulls as defaults) and answers the node ID as a JSON string', async () => {
    const r = await call(sock, 'POST', '/v1.47/swarm/init', { ...INIT, Spec: { Dispatcher: { HeartbeatPeriod: 1_000_000_000 }, Labels: null } });
    expect(r.status).toBe(200);
    expect(r.text).toBe(`"${backend.nodeId}"\n`);
    expect(backend.calls[0]).toEqual({
      method: 'initSwarm',
      args: [{ ...INIT, DefaultAddrPool: [], Spec: { Dispatcher: { HeartbeatPeriod: 1_000_000_000 } } }],
    });
  });

  it('POST /swarm/init with an empty body takes every default', async () => {
    const r = await call(sock, 'POST', '/swarm/init');
    expect(r.status).toBe(200);
    expect(backend.calls[0]?.args[0]).toEqual({ ListenAddr: '', AdvertiseAddr: '', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
  });

  it('POST /swarm/init refuses a bad field with 400 naming it, and bad JSON', async () => {
    const r = await call(sock, 'POST', '/swarm/init', { ...INIT, SubnetSize: 99 });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ message: 'invalid InitRequest: SubnetSize must be an integer between 0 and 32, got 99' });
    const nested = await call(sock, 'POST', '/swarm/init', { Spec: { Raft: { ElectionTick: 'ten' } } });
    expect(nested.json).toEqual({ message: 'invalid InitRequest: Spec.Raft.ElectionTick must be a non-negative integer, got "ten"' });
    const pool = await call(sock, 'POST', '/swarm/init', { DefaultAddrPool: ['10.0.0.0/8', 7] });
    expect(pool.json).toEqual({ message: 'invalid InitRequest: DefaultAddrPool[1] must be a string, got 7' });
    const notObject = await call(sock, 'POST', '/swarm/init', [1]);
    expect(notObject.json).toEqual({ message: 'invalid InitRequest: body must be an object, got an array' });
    const bad = await call(sock, 'POST', '/swarm/init', undefined, '{"ListenAddr":');
    expect(bad.status).toBe(400);
    expect((bad.json as { message: string }).message).toMatch(/^invalid JSON: /);
    expect(backend.calls).toEqual([]);
  });

  it('maps a SwarmError to its status, message and hint', async () => {
    const r = await call(sock, 'GET', '/swarm');
    expect(r.status).toBe(503);
    expect(r.json).toEqual({
      message: 'This node is not a swarm manager. Use "swarm init" or "swarm join" to connect this node to swarm and try again.',
      hint: "run 'swarm init' to start a swarm, or 'swarm join' to join one",
    });
    await initialized();
    const again = await call(sock, 'POST', '/swarm/init', {});
    expect(again.status).toBe(503);
    expect(again.json).toEqual({ message: 'This node is already part of a swarm. Use "swarm leave" to leave this swarm and join another one.' });
  });

  it('GET /swarm returns the cluster with its join tokens, without the CA private key', async () => {
    await initialized();
    const r = await call(sock, 'GET', '/v1.47/swarm');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ID: 'fakecluster0000000000000001', JoinTokens: { Worker: expect.stringMatching(/^SWMTKN-1-/) }, SubnetSize: 24 });
    expect(r.text).not.toContain('CAKey');
    expect(r.text).not.toContain('fake-ca-private-key');
  });

  it('GET /swarm/raft answers this manager\'s own Raft view; 503 on a node that is not a manager', async () => {
    const inactive = await call(sock, 'GET', '/swarm/raft');
    expect(inactive.status).toBe(503);
    expect((inactive.json as { message: string }).message).toMatch(/^This node is not a swarm manager\./);
    await initialized();
    const r = await call(sock, 'GET', '/v1.47/swarm/raft');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      NodeID: backend.nodeId,
      Role: 'leader',
      Term: 1,
      Leader: backend.nodeId,
      CommitIndex: expect.any(Number),
      AppliedIndex: expect.any(Number),
      StoreDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(backend.calls).toEqual([{ method: 'raftStatus', args: [] }]);
    // A write moves the applied index and the digest.
    const before = r.json as { AppliedIndex: number; StoreDigest: string };
    backend.addNode({ hostname: 'host3' });
    const after = (await call(sock, 'GET', '/swarm/raft')).json as { AppliedIndex: number; StoreDigest: string };
    expect(after.AppliedIndex).toBeGreaterThan(before.AppliedIndex);
    expect(after.StoreDigest).not.toBe(before.StoreDigest);

    const worker = new FakeSwarmBackend();
    await worker.joinSwarm({ ListenAddr: '', AdvertiseAddr: '', RemoteAddrs: ['192.0.2.1:2377'], JoinToken: 'SWMTKN-1-a-b' });
    const wsock = join(dir, `api-${++n}`, 'swarm.sock');
    const ws = await startApiServer({ socketPath: wsock, backend: worker, logger: silentLogger() });
    try {
      const w = await call(wsock, 'GET', '/swarm/raft');
      expect(w.status).toBe(503);
      expect((w.json as { message: string }).message).toMatch(/^This node is not a swarm manager\./);
    } finally {
      await ws.close();
    }
  });

  it('POST /swarm/join passes Docker\'s body and checks RemoteAddrs and JoinToken', async () => {
    const body = { ListenAddr: '0.0.0.0:2377', AdvertiseAddr: '', RemoteAddrs: ['192.0.2.1:2377'], JoinToken: 'SWMTKN-1-a-b' };
    expect((await call(sock, 'POST', '/swarm/join', body)).status).toBe(200);
    expect(backend.calls[0]).toEqual({ method: 'joinSwarm', args: [body] });
    const noAddrs = await call(sock, 'POST', '/swarm/join', { ...body, RemoteAddrs: [] });
    expect(noAddrs.json).toEqual({ message: 'invalid JoinRequest: RemoteAddrs must not be empty: give the address of at least one manager' });
    const noToken = await call(sock, 'POST', '/swarm/join', { RemoteAddrs: ['x:1'] });
    expect(noToken.json).toEqual({ message: 'invalid JoinRequest: JoinToken is required' });
  });

  it('POST /swarm/leave reads force as Docker does', async () => {
    await initialized();
    const refused = await call(sock, 'POST', '/swarm/leave');
    expect(refused.status).toBe(409);
    expect((refused.json as { hint: string }).hint).toBe("use 'swarm leave --force' to leave anyway");
    expect((await call(sock, 'POST', '/swarm/leave?force=1')).status).toBe(200);
    expect(backend.calls.map((c) => c.args[0])).toEqual([false, true]);
    await initialized();
    expect((await call(sock, 'POST', '/swarm/leave?force=true')).status).toBe(200);
  });

  it('POST /swarm/update requires an integer version and passes the rotate flags', async () => {
    await initialized();
    const swarm = (await call(sock, 'GET', '/swarm')).json as { Version: { Index: number }; Spec: unknown; JoinTokens: { Worker: string; Manager: string } };
    const missing = await call(sock, 'POST', '/swarm/update', swarm.Spec);
    expect(missing.status).toBe(400);
    expect((missing.json as { message: string }).message).toMatch(/^missing query parameter "version"/);
    const notInt = await call(sock, 'POST', '/swarm/update?version=1.5', swarm.Spec);
    expect(notInt.json).toEqual({ message: 'invalid query parameter "version": must be a non-negative integer, got "1.5"' });
    const badBool = await call(sock, 'POST', `/swarm/update?version=${swarm.Version.Index}&rotateWorkerToken=yes`, swarm.Spec);
    expect(badBool.json).toEqual({ message: 'invalid query parameter "rotateWorkerToken": must be true or false, got "yes"' });
    const stale = await call(sock, 'POST', `/swarm/update?version=${swarm.Version.Index - 1}`, swarm.Spec);
    expect(stale.status).toBe(409);
    expect((stale.json as { message: string }).message).toBe('update out of sequence');

    const r = await call(sock, 'POST', `/v1.47/swarm/update?version=${swarm.Version.Index}&rotateWorkerToken=true&rotateManagerToken=false`, swarm.Spec);
    expect(r.status).toBe(200);
    const call0 = backend.calls.filter((c) => c.method === 'updateSwarm').at(-1);
    expect(call0?.args[0]).toEqual({ version: swarm.Version.Index, spec: swarm.Spec, rotateWorkerToken: true, rotateManagerToken: false });
    const after = (await call(sock, 'GET', '/swarm')).json as typeof swarm;
    expect(after.JoinTokens.Worker).not.toBe(swarm.JoinTokens.Worker);
  });

  it('POST /swarm/update zero-fills a partial ClusterSpec and names a bad field', async () => {
    await initialized();
    const v = ((await call(sock, 'GET', '/swarm')).json as { Version: { Index: number } }).Version.Index;
    await call(sock, 'POST', `/swarm/update?version=${v}`, { Labels: { a: 'b' } });
    expect(backend.calls.find((c) => c.method === 'updateSwarm')?.args[0]).toMatchObject({
      spec: {
        Name: '',
        Labels: { a: 'b' },
        Orchestration: { TaskHistoryRetentionLimit: 0 },
        Raft: { SnapshotInterval: 0, KeepOldSnapshots: 0, ElectionTick: 0, HeartbeatTick: 0 },
        Dispatcher: { HeartbeatPeriod: 0 },
        CAConfig: { NodeCertExpiry: 0 },
      },
    });
    const bad = await call(sock, 'POST', `/swarm/update?version=${v}`, { Labels: { a: 1 } });
    expect(bad.json).toEqual({ message: 'invalid ClusterSpec: Labels["a"] must be a string, got 1' });
  });
});

describe('node routes', () => {
  it('GET /nodes lists nodes and passes both of Docker\'s filter encodings through', async () => {
    await initialized();
    const all = await call(sock, 'GET', '/nodes');
    expect((all.json as unknown[]).length).toBe(2);
    const modern = await call(sock, 'GET', `/v1.47/nodes?filters=${encodeURIComponent('{"role":{"manager":true}}')}`);
    expect((modern.json as { ID: string }[]).map((x) => x.ID)).toEqual([backend.nodeId]);
    await call(sock, 'GET', `/nodes?filters=${encodeURIComponent('{"role":["worker"],"name":["host"]}')}`);
    expect(backend.calls.filter((c) => c.method === 'listNodes').map((c) => c.args[0])).toEqual([
      {},
      { role: ['manager'] },
      { role: ['worker'], name: ['host'] },
    ]);
  });

  it('GET /nodes refuses unknown filters, bad roles and bad JSON', async () => {
    await initialized();
    const key = await call(sock, 'GET', `/nodes?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    expect(key.status).toBe(400);
    expect(key.json).toEqual({ message: "invalid filter 'colour': filter by one of id, label, membership, name, node.label, role" });
    const role = await call(sock, 'GET', `/nodes?filters=${encodeURIComponent('{"role":["boss"]}')}`);
    expect(role.json).toEqual({ message: "invalid filter 'role=boss': role must be one of manager, worker" });
    const json = await call(sock, 'GET', '/nodes?filters=%7Bnope');
    expect(json.status).toBe(400);
    expect((json.json as { message: string }).message).toMatch(/^invalid query parameter "filters": /);
  });

  it('GET /nodes/{id} finds by ID, prefix or hostname, and answers 404 {"message"} for a missing node', async () => {
    await initialized();
    expect(((await call(sock, 'GET', '/nodes/host2')).json as { ID: string }).ID).toBe('workerid00000000000000001');
    expect(((await call(sock, 'GET', '/v1.47/nodes/workerid')).json as { ID: string }).ID).toBe('workerid00000000000000001');
    const missing = await call(sock, 'GET', '/nodes/nope');
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ message: 'node nope not found' });
    await call(sock, 'GET', `/nodes/${encodeURIComponent('a b')}`);
    expect(backend.calls.at(-1)?.args).toEqual(['a b']);
  });

  it('POST /nodes/{id}/update checks the version and the NodeSpec', async () => {
    await initialized();
    const node = (await call(sock, 'GET', '/nodes/host2')).json as { Version: { Index: number }; Spec: Record<string, unknown> };
    const spec = { ...node.Spec, Availability: 'drain', Labels: { zone: 'a' } };
    const missing = await call(sock, 'POST', '/nodes/host2/update', spec);
    expect(missing.status).toBe(400);
    expect((missing.json as { message: string }).message).toMatch(/"version"/);
    const word = await call(sock, 'POST', '/nodes/host2/update?version=abc', spec);
    expect(word.json).toEqual({ message: 'invalid query parameter "version": must be a non-negative integer, got "abc"' });
    const bad = await call(sock, 'POST', `/nodes/host2/update?version=${node.Version.Index}`, { ...spec, Availability: 'sleep' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ message: 'invalid NodeSpec: Availability must be one of active, pause, drain, got "sleep"' });
    const noRole = await call(sock, 'POST', `/nodes/host2/update?version=${node.Version.Index}`, { Availability: 'active' });
    expect(noRole.json).toEqual({ message: 'invalid NodeSpec: Role is required' });

    const r = await call(sock, 'POST', `/v1.47/nodes/host2/update?version=${node.Version.Index}`, spec);
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(backend.calls.at(-1)).toEqual({ method: 'updateNode', args: ['host2', node.Version.Index, { Labels: { zone: 'a' }, Role: 'worker', Availability: 'drain' }] });
    const stale = await call(sock, 'POST', `/nodes/host2/update?version=${node.Version.Index}`, spec);
    expect(stale.status).toBe(409);
  });

  it('DELETE /nodes/{id} passes force', async () => {
    await initialized();
    const refused = await call(sock, 'DELETE', '/nodes/host2');
    expect(refused.status).toBe(409);
    expect((refused.json as { message: string }).message).toMatch(/is not down and can't be removed/);
    expect((await call(sock, 'DELETE', '/v1.47/nodes/host2?force=1')).status).toBe(200);
    expect(backend.calls.filter((c) => c.method === 'removeNode').map((c) => c.args)).toEqual([
      ['host2', false],
      ['host2', true],
    ]);
  });
});

describe('the server itself', () => {
  it('answers 404 {"message": "page not found"} for unknown paths and 405 for wrong methods', async () => {
    const r = await call(sock, 'GET', '/v1.47/plugins');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ message: 'page not found' });
    expect((await call(sock, 'GET', '/nodes/a/b')).status).toBe(404);
    expect((await call(sock, 'GET', '//swarm/_ping')).status).toBe(404);
    const m = await call(sock, 'DELETE', '/swarm');
    expect(m.status).toBe(405);
    expect(m.headers['allow']).toBe('GET');
    expect((await call(sock, 'PUT', '/v1.47/nodes/x')).headers['allow']).toBe('GET, DELETE');
  });

  it('answers 500 with the message of an unexpected error', async () => {
    backend.failNext = new Error('disk on fire');
    const r = await call(sock, 'GET', '/info');
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ message: 'disk on fire' });
    backend.failNext = new SwarmError('NO_QUORUM', 'no quorum', 'restart the managers');
    expect((await call(sock, 'GET', '/info')).json).toEqual({ message: 'no quorum', hint: 'restart the managers' });
  });

  it('refuses bodies over 10 MiB with 413', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x20);
    const r = await call(sock, 'POST', '/swarm/init', undefined, big);
    expect(r.status).toBe(413);
    expect((r.json as { message: string }).message).toMatch(/too large/);
    expect(backend.calls).toEqual([]);
    // The server is still fine afterwards.
    expect((await call(sock, 'GET', '/_ping')).text).toBe('OK');
  });

  it('creates the socket with mode 0660 in a new directory', () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
  });

  it('replaces a stale socket, refuses a live one and a non-socket; close() removes the socket', async () => {
    // What a killed daemon leaves behind: a socket file nobody listens on.
    const stale = join(dir, 'stale.sock');
    const script = `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`;
    spawnSync(process.execPath, ['-e', script]);
    expect(statSync(stale).isSocket()).toBe(true);
    const s = await startApiServer({ socketPath: stale, backend, logger: silentLogger() });
    expect((await call(stale, 'GET', '/_ping')).text).toBe('OK');
    await s.close();

    await expect(startApiServer({ socketPath: sock, backend, logger: silentLogger() })).rejects.toThrow(/another process is already serving/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(startApiServer({ socketPath: file, backend, logger: silentLogger() })).rejects.toThrow(/is not a socket/);
    await server.close();
    expect(existsSync(sock)).toBe(false);
    server = await startApiServer({ socketPath: sock, backend, logger: silentLogger() });
  });

  it('serves on TCP too when asked', async () => {
    const s = await startApiServer({ socketPath: join(dir, 'tcp.sock'), backend, logger: silentLogger(), tcp: { host: '127.0.0.1', port: 0 } });
    try {
      expect(s.tcp?.port).toBeGreaterThan(0);
      expect((await call({ host: '127.0.0.1', port: s.tcp?.port ?? 0 }, 'GET', '/v1.47/_ping')).text).toBe('OK');
    } finally {
      await s.close();
    }
  });

  it('logs each request at debug, and only unexpected failures as errors', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
    const s = await startApiServer({ socketPath: join(dir, 'log.sock'), backend, logger });
    try {
      await call(join(dir, 'log.sock'), 'GET', '/v1.47/nodes/x');
      const entries = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(entries().find((l) => l['msg'] === 'api request')).toMatchObject({ level: 20, method: 'GET', url: '/v1.47/nodes/x', status: 503 });
      expect(entries().some((l) => l['level'] === 50)).toBe(false);
      backend.failNext = new Error('bug');
      await call(join(dir, 'log.sock'), 'GET', '/info');
      expect(entries().find((l) => l['level'] === 50)).toMatchObject({ msg: 'API request failed', url: '/info' });
    } finally {
      await s.close();
    }
  });
});
