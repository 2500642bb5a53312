import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError } from '../errors.js';
import { silentLogger } from '../log.js';
import type { SecretObject, ServiceSpec } from '../store/index.js';
import { FakeServicesBackend, FakeSwarmBackend, startApiServer, type ApiServer } from './index.js';
import { logDetails } from './service-routes.js';
import { parseFrames } from './stream.js';

interface Res {
  status: number;
  type: string;
  raw: Buffer;
  json: unknown;
}

function call(sock: string, method: string, path: string, opts: { json?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const body = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
    const req = request({ socketPath: sock, method, path, headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const type = res.headers['content-type'] ?? '';
        resolve({ status: res.statusCode ?? 0, type, raw, json: type.startsWith('application/json') && raw.length > 0 ? JSON.parse(raw.toString()) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const message = (r: Res): string => (r.json as { message: string }).message;
const q = (filters: object): string => encodeURIComponent(JSON.stringify(filters));

const SPEC = { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx:alpine' } }, Mode: { Replicated: { Replicas: 2 } } };

const dir = mkdtempSync(join(tmpdir(), 'swarm-svc-api-'));
let n = 0;
let sock: string;
let services: FakeServicesBackend;
let server: ApiServer;

beforeEach(async () => {
  sock = join(dir, `api-${++n}.sock`);
  services = new FakeServicesBackend({ nodeIds: ['node1', 'node2'] });
  server = await startApiServer({ socketPath: sock, backend: new FakeSwarmBackend(), services, logger: silentLogger() });
});

afterEach(async () => {
  await server.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function create(spec: object = SPEC): Promise<string> {
  const r = await call(sock, 'POST', '/v1.47/services/create', { json: spec });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return (r.json as { ID: string }).ID;
}

describe('without a services backend', () => {
  it('every route answers 503 as Docker does on a node that is not a manager', async () => {
    const bare = join(dir, 'bare.sock');
    const s = await startApiServer({ socketPath: bare, backend: new FakeSwarmBackend(), logger: silentLogger() });
    try {
      for (const [method, path] of [
        ['GET', '/services'],
        ['POST', '/services/create'],
        ['GET', '/services/web'],
        ['POST', '/services/web/update?version=1'],
        ['DELETE', '/services/web'],
        ['GET', '/services/web/logs?stdout=1'],
        ['GET', '/tasks'],
        ['GET', '/tasks/x'],
        ['GET', '/secrets'],
        ['POST', '/secrets/create'],
        ['DELETE', '/secrets/x'],
        ['GET', '/configs/x'],
        ['POST', '/configs/x/update?version=1'],
        ['GET', '/networks'],
        ['POST', '/networks/create'],
        ['GET', '/networks/x'],
        ['DELETE', '/networks/x'],
      ] as const) {
        const r = await call(bare, method, path);
        expect(r.status, path).toBe(503);
        expect(message(r), path).toMatch(/^This node is not a swarm manager\./);
      }
    } finally {
      await s.close();
    }
  });
});

describe('services', () => {
  it('POST /services/create takes a ServiceSpec and answers 201 {ID, Warnings}; X-Registry-Auth is accepted and ignored', async () => {
    const r = await call(sock, 'POST', '/services/create', { json: SPEC, headers: { 'X-Registry-Auth': 'not even base64 json' } });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ ID: expect.stringMatching(/^svc/), Warnings: [] });
    expect(services.calls[0]).toEqual({ method: 'createService', args: [{ ...SPEC, Labels: {} }] });
  });

  it('Mode absent means one replica; an unnamed service gets a Docker-style name; unknown fields are dropped', async () => {
    await create({ TaskTemplate: { ContainerSpec: { Image: 'redis', Isolation: 'default' }, LogDriver: null }, Mode: null });
    const spec = services.calls[0]?.args[0] as ServiceSpec;
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(spec.Name).toMatch(/^[a-z]+_[a-z]+$/);
    expect(spec.TaskTemplate).toEqual({ ContainerSpec: { Image: 'redis' } });
  });

  it('refuses bad specs with the field and the reason', async () => {
    const bad = async (spec: object): Promise<string> => {
      const r = await call(sock, 'POST', '/services/create', { json: spec });
      expect(r.status).toBe(400);
      return message(r);
    };
    const task = SPEC.TaskTemplate;
    expect(await bad({ ...SPEC, Mode: { Replicated: { Replicas: 1 }, Global: {} } })).toBe('invalid ServiceSpec: Mode must have exactly one of Replicated, Global: got both');
    expect(await bad({ ...SPEC, Mode: { Replicated: { Replicas: -1 } } })).toBe('invalid ServiceSpec: Mode.Replicated.Replicas must be a non-negative integer, got -1');
    expect(await bad({ Name: 'web' })).toBe('invalid ServiceSpec: TaskTemplate is required');
    expect(await bad({ TaskTemplate: { ContainerSpec: { Image: '' } } })).toBe('invalid ServiceSpec: TaskTemplate.ContainerSpec.Image must not be empty');
    expect(await bad({ ...SPEC, Name: 'web app' })).toMatch(/^invalid ServiceSpec: Name must be at most 63 characters of \[a-zA-Z0-9-_\]/);
    expect(await bad({ ...SPEC, TaskTemplate: { ...task, Placement: { Constraints: ['node.role=manager'] } } })).toMatch(
      /^invalid ServiceSpec: TaskTemplate.Placement.Constraints\[0\] must be KEY==VALUE or KEY!=VALUE/,
    );
    expect(await bad({ ...SPEC, TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'bind', Source: 'rel', Target: '/data' }] } } })).toBe(
      'invalid ServiceSpec: TaskTemplate.ContainerSpec.Mounts[0].Source of a bind mount must be an absolute host path, got "rel"',
    );
    expect(await bad({ ...SPEC, TaskTemplate: { ContainerSpec: { Image: 'x', Mounts: [{ Type: 'nfs', Target: '/data' }] } } })).toBe(
      'invalid ServiceSpec: TaskTemplate.ContainerSpec.Mounts[0].Type must be one of bind, volume, tmpfs, got "nfs"',
    );
    expect(await bad({ ...SPEC, EndpointSpec: { Ports: [{ TargetPort: 70000 }] } })).toBe('invalid ServiceSpec: EndpointSpec.Ports[0].TargetPort must be an integer between 1 and 65535, got 70000');
    expect(await bad({ ...SPEC, EndpointSpec: { Mode: 'dnsrr', Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } })).toMatch(/^invalid ServiceSpec: EndpointSpec.Ports\[0\] is published in ingress mode/);
    expect(await bad({ ...SPEC, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }, { TargetPort: 81, PublishedPort: 8080 }] } })).toBe(
      'invalid ServiceSpec: EndpointSpec.Ports[1].PublishedPort 8080/tcp is published more than once',
    );
    expect(await bad({ ...SPEC, TaskTemplate: { ...task, RestartPolicy: { Condition: 'always' } } })).toBe(
      'invalid ServiceSpec: TaskTemplate.RestartPolicy.Condition must be one of none, on-failure, any, got "always"',
    );
    expect(await bad({ ...SPEC, UpdateConfig: { Order: 'random' } })).toBe('invalid ServiceSpec: UpdateConfig.Order must be one of stop-first, start-first, got "random"');
    expect(await bad({ ...SPEC, TaskTemplate: { ContainerSpec: { Image: 'x', Secrets: [{ SecretName: 's', File: { Name: 's' } }] } } })).toBe(
      'invalid ServiceSpec: TaskTemplate.ContainerSpec.Secrets[0].SecretID is required',
    );
    expect(services.calls).toEqual([]);
  });

  it('GET /services passes filters and status, refuses unknown filters and modes', async () => {
    await create();
    await create({ ...SPEC, Name: 'db', Labels: { tier: 'data' }, Mode: { Global: {} } });
    const all = await call(sock, 'GET', '/services?status=true');
    expect((all.json as { Spec: { Name: string }; ServiceStatus: unknown }[]).map((s) => [s.Spec.Name, s.ServiceStatus])).toEqual([
      ['web', { RunningTasks: 2, DesiredTasks: 2, CompletedTasks: 0 }],
      ['db', { RunningTasks: 2, DesiredTasks: 2, CompletedTasks: 0 }],
    ]);
    const plain = await call(sock, 'GET', `/services?filters=${q({ mode: { global: true }, label: ['tier=data'] })}`);
    expect((plain.json as { Spec: { Name: string }; ServiceStatus?: unknown }[]).map((s) => [s.Spec.Name, s.ServiceStatus])).toEqual([['db', undefined]]);
    expect(services.calls.at(-1)?.args).toEqual([{ mode: ['global'], label: ['tier=data'] }, false]);
    expect(message(await call(sock, 'GET', `/services?filters=${q({ color: ['red'] })}`))).toBe("invalid filter 'color': filter by one of id, label, mode, name");
    expect(message(await call(sock, 'GET', `/services?filters=${q({ mode: ['job'] })}`))).toBe("invalid filter 'mode=job': mode must be one of replicated, global");
  });

  it('GET /services/{id} by name, ID or prefix; 404 for an unknown one', async () => {
    const id = await create();
    for (const ref of ['web', id, id.slice(0, 12)]) expect((await call(sock, 'GET', `/services/${ref}`)).json).toMatchObject({ ID: id, Spec: { Name: 'web' } });
    const missing = await call(sock, 'GET', '/services/nope');
    expect([missing.status, message(missing)]).toEqual([404, 'service nope not found']);
  });

  it('POST /services/{id}/update needs an integer version, takes rollback=previous, refuses stale versions', async () => {
    const id = await create();
    const v = ((await call(sock, 'GET', `/services/${id}`)).json as { Version: { Index: number } }).Version.Index;
    const noVersion = await call(sock, 'POST', `/services/${id}/update`, { json: SPEC });
    expect([noVersion.status, message(noVersion)]).toEqual([400, 'missing query parameter "version": give the Version.Index of the object as last read']);
    const notInt = await call(sock, 'POST', `/services/${id}/update?version=1.5`, { json: SPEC });
    expect([notInt.status, message(notInt)]).toEqual([400, 'invalid query parameter "version": must be a non-negative integer, got "1.5"']);
    const badRollback = await call(sock, 'POST', `/services/${id}/update?version=${v}&rollback=yes`, { json: SPEC });
    expect([badRollback.status, message(badRollback)]).toEqual([400, 'invalid query parameter "rollback": must be "previous", got "yes"']);

    const next = { ...SPEC, TaskTemplate: { ContainerSpec: { Image: 'nginx:1.27' } } };
    const ok = await call(sock, 'POST', `/services/web/update?version=${v}`, { json: next, headers: { 'X-Registry-Auth': 'e30=' } });
    expect([ok.status, ok.json]).toEqual([200, { Warnings: [] }]);
    expect(services.calls.at(-1)).toEqual({ method: 'updateService', args: ['web', v, { ...next, Labels: {} }, { rollback: false }] });
    const stale = await call(sock, 'POST', `/services/web/update?version=${v}`, { json: next });
    expect([stale.status, message(stale)]).toEqual([409, 'update out of sequence']);

    const now = ((await call(sock, 'GET', `/services/${id}`)).json as { Version: { Index: number } }).Version.Index;
    expect((await call(sock, 'POST', `/services/${id}/update?version=${now}&rollback=previous`, { json: next })).status).toBe(200);
    expect(services.calls.at(-1)?.args[3]).toEqual({ rollback: true });
    expect((await call(sock, 'GET', `/services/${id}`)).json).toMatchObject({ Spec: { TaskTemplate: { ContainerSpec: { Image: 'nginx:alpine' } } } });
  });

  it('DELETE /services/{id} removes it', async () => {
    await create();
    expect((await call(sock, 'DELETE', '/services/web')).status).toBe(200);
    expect((await call(sock, 'GET', '/services/web')).status).toBe(404);
    expect((await call(sock, 'DELETE', '/services/web')).status).toBe(404);
  });
});

describe('service logs', () => {
  it('streams Docker\'s multiplexed frames; details put node, service and task in the attribute prefix, after the timestamp', async () => {
    const id = await create();
    services.logs.push(
      { serviceId: id, taskId: 'task1', nodeId: 'node1', stream: 'stdout', line: 'hello', time: '2025-01-01T00:00:00.000000001Z' },
      { serviceId: id, taskId: 'task2', nodeId: 'node2', stream: 'stderr', line: 'oops\n', time: '2025-01-01T00:00:01.000000000Z' },
    );
    const r = await call(sock, 'GET', '/services/web/logs?stdout=1&stderr=1&details=1&timestamps=1&tail=all');
    expect(r.type).toBe('application/vnd.docker.multiplexed-stream');
    const { frames, rest } = parseFrames(r.raw);
    expect(rest.length).toBe(0);
    expect(frames.map((f) => [f.stream, f.payload.toString()])).toEqual([
      [1, `2025-01-01T00:00:00.000000001Z com.docker.swarm.node.id=node1,com.docker.swarm.service.id=${id},com.docker.swarm.task.id=task1 hello\n`],
      [2, `2025-01-01T00:00:01.000000000Z com.docker.swarm.node.id=node2,com.docker.swarm.service.id=${id},com.docker.swarm.task.id=task2 oops\n`],
    ]);
    const plain = parseFrames((await call(sock, 'GET', '/services/web/logs?stdout=1&tail=1')).raw).frames;
    expect(plain.map((f) => f.payload.toString())).toEqual([]);
    const out = parseFrames((await call(sock, 'GET', '/services/web/logs?stdout=1&stderr=1&tail=1')).raw).frames;
    expect(out.map((f) => f.payload.toString())).toEqual(['oops\n']);
    expect(services.calls.at(-1)).toEqual({ method: 'serviceLogs', args: [id, { follow: false, tail: 1, since: undefined }] });
  });

  it('refuses a request for no stream, a bad tail, and an unknown service before the stream starts', async () => {
    await create();
    expect(message(await call(sock, 'GET', '/services/web/logs'))).toBe('you must choose at least one stream: set stdout=1 and/or stderr=1');
    expect(message(await call(sock, 'GET', '/services/web/logs?stdout=1&tail=-3'))).toBe('invalid query parameter "tail": must be "all" or a number of lines, got "-3"');
    const missing = await call(sock, 'GET', '/services/nope/logs?stdout=1');
    expect([missing.status, message(missing)]).toEqual([404, 'service nope not found']);
  });

  it('escapes attribute values as Go\'s url.QueryEscape', () => {
    expect(logDetails({ b: 'x y', a: 'é,=' })).toBe('a=%C3%A9%2C%3D,b=x+y');
  });
});

describe('tasks', () => {
  it('GET /tasks filters by service and desired state; GET /tasks/{id}', async () => {
    const id = await create();
    await create({ ...SPEC, Name: 'other', Mode: { Replicated: { Replicas: 1 } } });
    const tasks = (await call(sock, 'GET', `/tasks?filters=${q({ service: { web: true }, 'desired-state': ['running'] })}`)).json as { ID: string; ServiceID: string; Slot: number }[];
    expect(tasks.map((t) => [t.ServiceID, t.Slot])).toEqual([
      [id, 1],
      [id, 2],
    ]);
    expect((await call(sock, 'GET', `/tasks/${tasks[0]?.ID ?? ''}`)).json).toMatchObject({ ID: tasks[0]?.ID, Status: { State: 'running' } });
    expect((await call(sock, 'GET', '/tasks/nope')).status).toBe(404);
    expect(message(await call(sock, 'GET', `/tasks?filters=${q({ 'desired-state': ['dead'] })}`))).toBe(
      "invalid filter 'desired-state=dead': desired-state must be one of running, shutdown, accepted",
    );
    expect(message(await call(sock, 'GET', `/tasks?filters=${q({ image: ['x'] })}`))).toBe("invalid filter 'image': filter by one of desired-state, id, label, name, node, service");
  });
});

describe('secrets and configs', () => {
  const data = Buffer.from('s3cret').toString('base64');

  it('POST /secrets/create checks name and base64 data; the data never comes back', async () => {
    const r = await call(sock, 'POST', '/secrets/create', { json: { Name: 'db_password', Labels: { a: 'b' }, Data: data } });
    expect(r.status).toBe(201);
    const id = (r.json as { ID: string }).ID;
    expect(services.secretData('db_password')).toBe(data);
    const bad = async (body: object): Promise<string> => message(await call(sock, 'POST', '/secrets/create', { json: body }));
    expect(await bad({ Name: 'db password', Data: data })).toBe(
      'invalid SecretSpec: Name must be 1 to 64 characters of [a-zA-Z0-9-_.], starting and ending with a letter or digit, got "db password"',
    );
    expect(await bad({ Name: 'x', Data: 'not base64!' })).toBe('invalid SecretSpec: Data must be base64 (standard alphabet, padded)');
    expect(await bad({ Name: 'x', Data: '' })).toBe('invalid SecretSpec: Data must decode to more than 0 and less than 512000 bytes, got 0');
    expect(await bad({ Name: 'x' })).toBe('invalid SecretSpec: Data is required');
    const dup = await call(sock, 'POST', '/secrets/create', { json: { Name: 'db_password', Data: data } });
    expect([dup.status, message(dup)]).toEqual([409, 'secret db_password already exists']);

    // Even a backend that leaks the data into its answers does not get it out.
    const leaky = (s: SecretObject): SecretObject => ({ ...s, Spec: { ...s.Spec, Data: data } as SecretObject['Spec'] });
    const inspect = services.inspectSecret.bind(services);
    const list = services.listSecrets.bind(services);
    services.inspectSecret = async (ref) => leaky(await inspect(ref));
    services.listSecrets = async (f) => (await list(f)).map(leaky);
    for (const path of [`/secrets/${id}`, '/secrets/db_password', '/secrets']) {
      const res = await call(sock, 'GET', path);
      expect(res.raw.toString()).not.toContain(data);
      expect(res.raw.toString()).not.toContain('EncryptedData');
    }
    expect((await call(sock, 'GET', '/secrets/db_password')).json).toEqual({
      ID: id,
      Version: { Index: expect.any(Number) },
      CreatedAt: expect.any(String),
      UpdatedAt: expect.any(String),
      Spec: { Name: 'db_password', Labels: { a: 'b' } },
    });
  });

  it('GET /secrets filters by label, name prefix and exact names; DELETE answers 204, 409 while in use', async () => {
    for (const name of ['app_key', 'app_key_old', 'db']) await call(sock, 'POST', '/secrets/create', { json: { Name: name, Labels: { stack: name === 'db' ? 'x' : 'y' }, Data: data } });
    const names = async (filters: object): Promise<string[]> =>
      ((await call(sock, 'GET', `/secrets?filters=${q(filters)}`)).json as { Spec: { Name: string } }[]).map((s) => s.Spec.Name);
    expect(await names({ name: ['app'] })).toEqual(['app_key', 'app_key_old']);
    expect(await names({ names: ['app_key'] })).toEqual(['app_key']);
    expect(await names({ label: ['stack=x'] })).toEqual(['db']);
    expect(services.calls.at(-1)?.args).toEqual([{ label: ['stack=x'] }]);

    const db = ((await call(sock, 'GET', '/secrets/db')).json as { ID: string }).ID;
    await create({ ...SPEC, TaskTemplate: { ContainerSpec: { Image: 'x', Secrets: [{ SecretID: db, SecretName: 'db', File: { Name: 'db' } }] } } });
    expect(services.calls.at(-1)?.args[0]).toMatchObject({
      TaskTemplate: { ContainerSpec: { Secrets: [{ SecretID: db, SecretName: 'db', File: { Name: 'db', UID: '0', GID: '0', Mode: 0o444 } }] } },
    });
    const inUse = await call(sock, 'DELETE', '/secrets/db');
    expect([inUse.status, message(inUse)]).toEqual([409, "secret 'db' is in use by the following service: web"]);
    expect((await call(sock, 'DELETE', '/secrets/app_key')).status).toBe(204);
    expect((await call(sock, 'DELETE', '/secrets/app_key')).status).toBe(404);
  });

  it('configs: create, list by names, inspect with data, delete', async () => {
    const r = await call(sock, 'POST', '/configs/create', { json: { Name: 'nginx.conf', Data: data } });
    expect(r.status).toBe(201);
    expect(message(await call(sock, 'POST', '/configs/create', { json: { Name: '-bad', Data: data } }))).toMatch(/^invalid ConfigSpec: Name must be 1 to 64 characters/);
    expect(((await call(sock, 'GET', `/configs?filters=${q({ names: ['nginx.conf'] })}`)).json as unknown[]).length).toBe(1);
    expect((await call(sock, 'GET', '/configs/nginx.conf')).json).toMatchObject({ Spec: { Name: 'nginx.conf', Labels: {}, Data: data } });
    expect((await call(sock, 'DELETE', '/configs/nginx.conf')).status).toBe(204);
  });

  it('POST /configs/{id}/update changes only the labels, needs the current version, 404 for an unknown config', async () => {
    const id = ((await call(sock, 'POST', '/configs/create', { json: { Name: 'app.conf', Labels: { a: 'b' }, Data: data } })).json as { ID: string }).ID;
    const v = ((await call(sock, 'GET', `/configs/${id}`)).json as { Version: { Index: number } }).Version.Index;
    const spec = { Name: 'app.conf', Labels: { a: 'c', z: '1' }, Data: data };

    const noVersion = await call(sock, 'POST', `/configs/${id}/update`, { json: spec });
    expect([noVersion.status, noVersion.json]).toEqual([400, { message: 'missing query parameter "version": give the Version.Index of the object as last read' }]);
    const notInt = await call(sock, 'POST', `/configs/${id}/update?version=x`, { json: spec });
    expect([notInt.status, message(notInt)]).toEqual([400, 'invalid query parameter "version": must be a non-negative integer, got "x"']);
    const noName = await call(sock, 'POST', `/configs/${id}/update?version=${v}`, { json: { Labels: {} } });
    expect([noName.status, message(noName)]).toEqual([400, 'invalid ConfigSpec: Name is required']);
    const renamed = await call(sock, 'POST', `/configs/${id}/update?version=${v}`, { json: { ...spec, Name: 'other.conf' } });
    expect([renamed.status, message(renamed)]).toEqual([400, 'Name: a config cannot be renamed']);
    const newData = await call(sock, 'POST', `/configs/${id}/update?version=${v}`, { json: { ...spec, Data: Buffer.from('other').toString('base64') } });
    expect([newData.status, message(newData)]).toEqual([400, 'Data: only the labels of a config can be updated']);
    const unknown = await call(sock, 'POST', `/configs/nope/update?version=${v}`, { json: spec });
    expect([unknown.status, message(unknown)]).toEqual([404, 'config nope not found']);
    expect((await call(sock, 'GET', `/configs/${id}`)).json).toMatchObject({ Version: { Index: v }, Spec: { Labels: { a: 'b' } } });

    const ok = await call(sock, 'POST', `/configs/app.conf/update?version=${v}`, { json: spec });
    expect([ok.status, ok.raw.length]).toEqual([200, 0]);
    expect(services.calls.at(-1)).toEqual({ method: 'updateConfig', args: ['app.conf', v, spec] });
    const after = (await call(sock, 'GET', `/configs/${id}`)).json as { Version: { Index: number }; Spec: object };
    expect(after.Spec).toEqual({ Name: 'app.conf', Labels: { a: 'c', z: '1' }, Data: data });
    expect(after.Version.Index).toBeGreaterThan(v);

    const stale = await call(sock, 'POST', `/configs/${id}/update?version=${v}`, { json: spec });
    expect([stale.status, stale.json]).toEqual([409, { message: 'update out of sequence', hint: 'the config changed since it was read: read it again and retry' }]);
    // Data left out keeps the stored data; Labels left out clears them, as Docker reads a nil map.
    expect((await call(sock, 'POST', `/configs/${id}/update?version=${after.Version.Index}`, { json: { Name: 'app.conf' } })).status).toBe(200);
    expect(services.calls.at(-1)?.args[2]).toEqual({ Name: 'app.conf', Labels: {} });
    expect((await call(sock, 'GET', `/configs/${id}`)).json).toMatchObject({ Spec: { Name: 'app.conf', Labels: {}, Data: data } });
  });

  it('backend errors keep their status', async () => {
    services.failNext = new SwarmError('NO_QUORUM', 'the swarm has no quorum');
    const r = await call(sock, 'GET', '/configs');
    expect([r.status, message(r)]).toEqual([503, 'the swarm has no quorum']);
  });
});

describe('networks', () => {
  it('POST /networks/create answers 201 {Id, Warning}; GET returns Docker\'s network resource', async () => {
    const r = await call(sock, 'POST', '/networks/create', {
      json: { Name: 'shop_default', Driver: 'overlay', Attachable: true, Labels: { 'com.docker.stack.namespace': 'shop' }, CheckDuplicate: true, IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.9.0/24' }] } },
    });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ Id: 'net0001abcdefghijklmnopqr', Warning: '' });
    expect(services.calls.at(-1)).toEqual({
      method: 'createNetwork',
      args: [{ Name: 'shop_default', Labels: { 'com.docker.stack.namespace': 'shop' }, Attachable: true, Internal: false, Ingress: false, IPAMConfig: [{ Subnet: '10.0.9.0/24' }] }],
    });
    const got = await call(sock, 'GET', '/v1.47/networks/shop_default');
    expect(got.json).toEqual({
      Name: 'shop_default',
      Id: 'net0001abcdefghijklmnopqr',
      Created: expect.any(String),
      Scope: 'swarm',
      Driver: 'overlay',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' }] },
      Internal: false,
      Attachable: true,
      Ingress: false,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: {},
      Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' },
      Labels: { 'com.docker.stack.namespace': 'shop' },
    });
    expect(Object.keys(got.json as object)).toEqual(['Name', 'Id', 'Created', 'Scope', 'Driver', 'EnableIPv6', 'IPAM', 'Internal', 'Attachable', 'Ingress', 'ConfigFrom', 'ConfigOnly', 'Containers', 'Options', 'Labels']);
    expect((await call(sock, 'GET', '/networks/nope')).status).toBe(404);
  });

  it('GET /networks lists with filters, checking their names and scope values', async () => {
    await call(sock, 'POST', '/networks/create', { json: { Name: 'a', Labels: { tier: 'x' } } });
    await call(sock, 'POST', '/networks/create', { json: { Name: 'b' } });
    const names = async (filters?: object): Promise<string[]> =>
      ((await call(sock, 'GET', `/networks${filters ? `?filters=${q(filters)}` : ''}`)).json as { Name: string }[]).map((n) => n.Name);
    expect(await names()).toEqual(['ingress', 'a', 'b']);
    expect(await names({ label: ['tier=x'] })).toEqual(['a']);
    expect(await names({ name: ['b'], driver: ['overlay'], scope: ['swarm'] })).toEqual(['b']);
    expect(await names({ scope: ['local'] })).toEqual([]);
    const bad = await call(sock, 'GET', `/networks?filters=${q({ dangling: ['true'] })}`);
    expect([bad.status, message(bad)]).toEqual([400, "invalid filter 'dangling': filter by one of driver, id, label, name, scope"]);
    expect(message(await call(sock, 'GET', `/networks?filters=${q({ scope: ['galaxy'] })}`))).toBe("invalid filter 'scope=galaxy': scope must be one of swarm, global, local");
  });

  it('refuses what a swarm-scope overlay network cannot be, naming the field', async () => {
    const bad = async (json: object): Promise<string> => {
      const r = await call(sock, 'POST', '/networks/create', { json });
      expect(r.status).toBe(400);
      return message(r);
    };
    expect(await bad({ Name: 'n', Driver: 'bridge' })).toBe('invalid NetworkCreate: Driver "bridge" is not supported: only the overlay driver is supported in swarm scope');
    expect(await bad({})).toBe('invalid NetworkCreate: Name is required');
    expect(await bad({ Name: 'n', EnableIPv6: true })).toBe('invalid NetworkCreate: EnableIPv6 is not supported: overlay networks are IPv4 only');
    expect(await bad({ Name: 'n', IPAM: { Driver: 'dhcp' } })).toBe('invalid NetworkCreate: IPAM.Driver "dhcp" is not supported: only the default IPAM driver is');
    expect(await bad({ Name: 'n', IPAM: { Config: [{ Subnet: '10.1.0.0/24' }, { Subnet: '10.2.0.0/24' }] } })).toBe('invalid NetworkCreate: IPAM.Config has 2 entries: only one subnet per network is supported');
    expect(await bad({ Name: 'n', Labels: { a: 1 } })).toBe('invalid NetworkCreate: Labels["a"] must be a string, got 1');
    expect(services.calls.filter((c) => c.method === 'createNetwork')).toEqual([]);
  });

  it('DELETE /networks/{id} answers 204, 409 while a service uses it, 404 when missing', async () => {
    await call(sock, 'POST', '/networks/create', { json: { Name: 'back' } });
    await create({ ...SPEC, TaskTemplate: { ...SPEC.TaskTemplate, Networks: [{ Target: 'back' }] } });
    const inUse = await call(sock, 'DELETE', '/networks/back');
    expect([inUse.status, message(inUse)]).toEqual([409, 'network back is in use by service web']);
    expect((await call(sock, 'DELETE', '/services/web')).status).toBe(200);
    expect((await call(sock, 'DELETE', '/networks/back')).status).toBe(204);
    expect((await call(sock, 'DELETE', '/networks/back')).status).toBe(404);
    const dup = await call(sock, 'POST', '/networks/create', { json: { Name: 'ingress' } });
    expect([dup.status, message(dup)]).toEqual([409, 'network with name ingress already exists']);
  });
});
