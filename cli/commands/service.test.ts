import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../node/api/index.js';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;
const NODE2 = 'node2aaaaaaaaaaaaaaaaaaaa';

beforeEach(async () => {
  d = await startFakeDaemon();
  await d.backend.initSwarm({ ListenAddr: '', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
  d.backend.addNode({ id: NODE2, hostname: 'host2' });
  d.services.nodeIds = [d.backend.nodeId, NODE2];
});

afterEach(async () => {
  await d.close();
});

const created = (): ServiceSpec => d.services.calls.find((c) => c.method === 'createService')?.args[0] as ServiceSpec;
const updates = (): unknown[][] => d.services.calls.filter((c) => c.method === 'updateService').map((c) => c.args);

async function ok(...args: string[]): Promise<string> {
  const r = await d.swarm(...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('swarm service create', () => {
  it('maps every flag onto the ServiceSpec as docker does', async () => {
    await d.services.createSecret({ Name: 'db_pw', Data: Buffer.from('x').toString('base64') });
    await d.services.createConfig({ Name: 'app.conf', Data: Buffer.from('y').toString('base64') });
    const out = await ok(
      'service', 'create', '-d', '--name', 'web', '--replicas', '3',
      '-e', 'A=1', '--env', 'B=two words', '--label', 'tier=front', '--container-label', 'c=d',
      '--constraint', 'node.role==worker', '--constraint', 'node.labels.zone != b', '--placement-pref', 'spread=node.labels.zone', '--replicas-max-per-node', '2',
      '--publish', 'mode=host,published=8080,target=80,protocol=udp', '-p', '9000:90', '-p', '7000-7001:70-71/tcp', '-p', '443',
      '--mount', 'type=bind,source=/srv/data,target=/data,readonly', '--mount', 'type=tmpfs,target=/tmp,tmpfs-size=64m,tmpfs-mode=1777', '--mount', 'source=cache,target=/cache',
      '--secret', 'source=db_pw,target=/run/db,uid=100,gid=101,mode=0400', '--config', 'app.conf',
      '--restart-condition', 'on-failure', '--restart-delay', '5s', '--restart-max-attempts', '3', '--restart-window', '1m',
      '--limit-cpu', '0.5', '--limit-memory', '64M', '--reserve-cpu', '0.25', '--reserve-memory', '32m',
      '--update-parallelism', '2', '--update-delay', '1s', '--update-order', 'start-first', '--update-failure-action', 'rollback',
      '--rollback-parallelism', '0', '--rollback-monitor', '2s', '--rollback-failure-action', 'continue',
      '--strategy', 'canary', '--canary-steps', '10,50', '--canary-interval', '30s',
      '--health-cmd', 'curl -f localhost', '--health-interval', '10s', '--network', 'backend', '--network', 'name=front,alias=www',
      'nginx:alpine', 'nginx', '-g', 'daemon off;',
    );
    expect(out).toMatch(/^svc\w{22}\n$/);
    const secret = (await d.services.listSecrets({})).find((s) => s.Spec.Name === 'db_pw');
    const config = (await d.services.listConfigs({})).find((s) => s.Spec.Name === 'app.conf');
    expect(created()).toEqual({
      Name: 'web',
      Labels: { tier: 'front' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'nginx:alpine',
          Labels: { c: 'd' },
          Args: ['nginx', '-g', 'daemon off;'],
          Env: ['A=1', 'B=two words'],
          Mounts: [
            { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true },
            { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
            { Type: 'volume', Source: 'cache', Target: '/cache' },
          ],
          Healthcheck: { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 10e9 },
          Secrets: [{ File: { Name: '/run/db', UID: '100', GID: '101', Mode: 0o400 }, SecretID: secret?.ID, SecretName: 'db_pw' }],
          Configs: [{ File: { Name: 'app.conf', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: config?.ID, ConfigName: 'app.conf' }],
        },
        Placement: { Constraints: ['node.role==worker', 'node.labels.zone != b'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 },
        Networks: [{ Target: 'backend' }, { Target: 'front', Aliases: ['www'] }],
        RestartPolicy: { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 60e9 },
        Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 1024 * 1024 }, Reservations: { NanoCPUs: 2.5e8, MemoryBytes: 32 * 1024 * 1024 } },
      },
      Mode: { Replicated: { Replicas: 3 } },
      UpdateConfig: { Parallelism: 2, Delay: 1e9, FailureAction: 'rollback', Order: 'start-first' },
      RollbackConfig: { Parallelism: 0, Monitor: 2e9, FailureAction: 'continue' },
      Strategy: { Type: 'canary', Steps: [10, 50], StepInterval: 30e9 },
      EndpointSpec: {
        Ports: [
          { Protocol: 'udp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' },
          { Protocol: 'tcp', TargetPort: 90, PublishedPort: 9000, PublishMode: 'ingress' },
          { Protocol: 'tcp', TargetPort: 70, PublishedPort: 7000, PublishMode: 'ingress' },
          { Protocol: 'tcp', TargetPort: 71, PublishedPort: 7001, PublishMode: 'ingress' },
          { Protocol: 'tcp', TargetPort: 443, PublishMode: 'ingress' },
        ],
      },
    });
  });

  it('global mode, --entrypoint, --no-healthcheck, --endpoint-mode; -e KEY takes the value from the environment', async () => {
    const r = await d.swarmWith({ env: { TOKEN: 'abc' } }, 'service', 'create', '-d', '--mode', 'global', '--entrypoint', '/bin/sh -c', '--no-healthcheck', '--endpoint-mode', 'dnsrr', '-e', 'TOKEN', '-e', 'UNSET', 'busybox', 'sleep 1d');
    expect(r.code).toBe(0);
    expect(created()).toEqual({
      // The API named it, as docker names unnamed services.
      Name: expect.stringMatching(/^[a-z]+_[a-z]+$/),
      Labels: {},
      TaskTemplate: { ContainerSpec: { Image: 'busybox', Command: ['/bin/sh', '-c'], Args: ['sleep 1d'], Env: ['TOKEN=abc'], Healthcheck: { Test: ['NONE'] } } },
      Mode: { Global: {} },
      EndpointSpec: { Mode: 'dnsrr' },
    });
  });

  it('refuses bad flags before calling the API, naming the flag (exit 2)', async () => {
    const bad = async (...args: string[]): Promise<string> => {
      const r = await d.swarm('service', 'create', '-d', ...args);
      expect(r.code).toBe(2);
      return r.stderr.split('\n')[0] ?? '';
    };
    expect(await bad('-p', '127.0.0.1:80:80', 'nginx')).toBe(
      'Error: invalid value "127.0.0.1:80:80" for --publish: a host IP cannot be given: ports are published on every node; expected PUBLISHED:TARGET[/PROTOCOL]',
    );
    expect(await bad('--publish', 'published=8080', 'nginx')).toBe('Error: invalid value "published=8080" for --publish: the target port is missing: expected e.g. published=8080,target=80');
    expect(await bad('--mount', 'type=bind,source=data,target=/data', 'nginx')).toBe(
      'Error: invalid value "type=bind,source=data,target=/data" for --mount: a bind mount needs an absolute source path on the host, got "data"',
    );
    expect(await bad('--secret', 'source=pw,mode=999', 'nginx')).toBe('Error: invalid value "source=pw,mode=999" for --secret: mode must be octal such as 0400, got "999"');
    expect(await bad('--constraint', 'node.role=manager', 'nginx')).toMatch(/^Error: invalid value "node.role=manager" for --constraint: expected KEY==VALUE or KEY!=VALUE/);
    expect(await bad('--restart-delay', '5', 'nginx')).toMatch(/^Error: invalid value "5" for --restart-delay: not a duration/);
    expect(await bad('--update-order', 'random', 'nginx')).toBe('Error: invalid value "random" for --update-order: must be one of start-first, stop-first');
    expect(await bad('--mode', 'global', '--replicas', '2', 'nginx')).toBe('Error: --replicas can only be used with replicated mode');
    expect(await bad('--no-healthcheck', '--health-cmd', 'true', 'nginx')).toBe('Error: --no-healthcheck conflicts with the --health-* options');
    expect(await bad('NGINX')).toBe('Error: invalid value "NGINX" for argument image: repository name must be lowercase');
    expect(d.services.calls).toEqual([]);
  });

  it('an unknown secret fails before the service is created', async () => {
    const r = await d.swarm('service', 'create', '-d', '--secret', 'nope', 'nginx');
    expect(r).toEqual({ code: 1, stdout: '', stderr: "Error: secret not found: nope\nHint: create it first with 'swarm secret create nope FILE'\n" });
    expect(d.services.calls.map((c) => c.method)).toEqual(['listSecrets']);
  });

  it('without -d shows the tasks starting, only changes off a terminal, and ends with "verify: Service converged"', async () => {
    d.services.startPath = ['new', 'pending', 'running'];
    const r = await d.swarm('service', 'create', '--name', 'web', '--replicas', '2', '--detach=false', 'nginx');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        'svc0001abcdefghijklmnopqr\n' +
        'overall progress: 0 out of 2 tasks\n' +
        '1/2: pending\n' +
        '2/2: pending\n' +
        '1/2: running\n' +
        '2/2: running\n' +
        'overall progress: 2 out of 2 tasks\n' +
        'verify: Service converged\n',
    });
  });

  it('waits out the stable window before "Service converged"', async () => {
    const r = await d.swarmWith({ overrides: { convergence: { intervalMs: 1, stableMs: 30 } } }, 'service', 'create', '--name', 'web', 'nginx');
    expect(r.stdout.split('\n').slice(1)).toEqual([
      'overall progress: 0 out of 1 tasks',
      '1/1: running',
      'overall progress: 1 out of 1 tasks',
      'verify: Waiting 1 seconds to verify that tasks are stable...',
      'verify: Service converged',
      '',
    ]);
  });

  it('on a terminal redraws each line in place, without bars at 80 columns', async () => {
    const r = await d.swarmWith({ stdoutTTY: true }, 'service', 'create', '--name', 'web', '--replicas', '2', 'nginx');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\x1b[2A\x1b[2K\r1/2: running\r\x1b[2B');
    expect(r.stdout).toContain('\x1b[2K\rverify: Service converged');
    expect(r.stdout).not.toContain('[====');
  });

  it('a terminal wider than 110 columns gets the bars', async () => {
    d.services.startPath = ['new', 'running'];
    const lines: string[] = [];
    const { runCli } = await import('../program.js');
    const code = await runCli(['-H', d.socket, 'service', 'create', '--name', 'web', 'nginx'], {
      stdout: { write: (s: string | Uint8Array) => lines.push(String(s)), isTTY: true, columns: 120 },
      stderr: { write: () => true },
      env: {},
      interrupts: { on: () => undefined, off: () => undefined },
    }, { convergence: { intervalMs: 0, stableMs: 0 } });
    expect(code).toBe(0);
    expect(lines.join('')).toContain(`1/1: running   [${'='.repeat(50)}>]`);
  });

  it('Ctrl-C stops the wait, not the service', async () => {
    d.services.startPath = ['pending'];
    const interrupts = new EventEmitter();
    const list = d.services.listTasks.bind(d.services);
    let polls = 0;
    d.services.listTasks = async (f) => {
      if (++polls === 3) interrupts.emit('SIGINT');
      return list(f);
    };
    const r = await d.swarmWith({ interrupts }, 'service', 'create', '--name', 'web', 'nginx');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'svc0001abcdefghijklmnopqr\noverall progress: 0 out of 1 tasks\n1/1: pending\nOperation continuing in background.\nUse `swarm service ps web` to check progress.\n',
    );
    expect(interrupts.listenerCount('SIGINT')).toBe(0);
    expect((await d.services.listServices({}, false)).length).toBe(1);
  });

  it('a task that fails ends the wait with its error (exit 1)', async () => {
    d.services.failingImages.set('broken', 'task: non-zero exit (1)');
    const r = await d.swarm('service', 'create', '--name', 'bad', 'broken');
    expect(r).toEqual({
      code: 1,
      stdout: 'svc0001abcdefghijklmnopqr\noverall progress: 0 out of 1 tasks\n1/1: task: non-zero exit (1)\n',
      stderr: "Error: bad.1 failed: task: non-zero exit (1)\nHint: see 'swarm service ps --no-trunc bad'\n",
    });
  });
});

describe('swarm service ls, ps, inspect', () => {
  it('ls prints docker\'s table: REPLICAS running/desired, "(global)", "(max N per node)", ingress ports', async () => {
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '3', '-p', '8080:80', '-p', 'mode=host,published=9090,target=90', 'nginx:alpine');
    await ok('service', 'create', '-d', '--name', 'agent', '--mode', 'global', 'localhost:5000/agent:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
    await ok('service', 'create', '-d', '--name', 'db', '--replicas-max-per-node', '1', 'postgres');
    await d.services.setTaskState((await d.services.listTasks({ service: ['web'] }))[0]?.ID ?? '', 'starting');
    expect(await ok('service', 'ls')).toBe(
      'ID             NAME      MODE         REPLICAS               IMAGE                    PORTS\n' +
        'svc0005abcde   agent     global       2/2 (global)           localhost:5000/agent:1\n' +
        'svc0008abcde   db        replicated   1/1 (max 1 per node)   postgres\n' +
        'svc0001abcde   web       replicated   2/3                    nginx:alpine             *:8080->80/tcp\n',
    );
    expect(await ok('service', 'ls', '-q', '-f', 'mode=global')).toBe('svc0005abcdefghijklmnopqr\n');
  });

  it('ps prints docker\'s task table: newest first, earlier tasks of a slot as " \\_ ", states with their age, quoted errors', async () => {
    let t = Date.now() - 180_000;
    d.services.now = () => new Date(t);
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '2', '-p', 'mode=host,published=8080,target=80', 'nginx:alpine');
    t = Date.now() - 120_000;
    await ok('service', 'update', '-d', '--image', 'nginx:1.27', 'web');
    d.services.setTaskState('task0002abcdefghijklmnopq', 'failed', 'task: non-zero exit (137): killed by the OOM killer');
    expect(await ok('service', 'ps', 'web')).toBe(
      'ID             NAME        IMAGE          NODE      DESIRED STATE   CURRENT STATE            ERROR                              PORTS\n' +
        'task0004abcd   web.1       nginx:1.27     host1     Running         Running 2 minutes ago                                       *:8080->80/tcp\n' +
        'task0002abcd    \\_ web.1   nginx:alpine   host1     Shutdown        Failed 2 minutes ago     "task: non-zero exit (137): ki…"\n' +
        'task0005abcd   web.2       nginx:1.27     host2     Running         Running 2 minutes ago                                       *:8080->80/tcp\n' +
        'task0003abcd    \\_ web.2   nginx:alpine   host2     Shutdown        Shutdown 2 minutes ago\n',
    );
    const noTrunc = await ok('service', 'ps', '--no-trunc', '-f', 'desired-state=running', 'web');
    expect(noTrunc.split('\n')[1]).toMatch(/^task0004abcdefghijklmnopq +web\.1 +nginx:1\.27 /);
    expect(noTrunc.split('\n')).toHaveLength(4);
    expect(d.services.calls.at(-1)).toEqual({ method: 'listTasks', args: [{ 'desired-state': ['running'], service: ['svc0001abcdefghijklmnopqr'] }] });
    expect(await ok('service', 'ps', '-q', 'web')).toBe('task0004abcd\ntask0002abcd\ntask0005abcd\ntask0003abcd\n');
  });

  it('ps of an unknown service fails naming it', async () => {
    expect(await d.swarm('service', 'ps', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'Error: service nope not found\n' });
  });

  it('inspect prints a JSON array, --pretty a summary; unknown ones fail after the found ones are printed', async () => {
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '2', '-p', '8080:80', '--limit-memory', '64m', '--update-delay', '1m30s', 'nginx');
    const r = await d.swarm('service', 'inspect', 'web', 'nope');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: service nope not found\n');
    expect((JSON.parse(r.stdout) as { Spec: { Name: string } }[]).map((s) => s.Spec.Name)).toEqual(['web']);
    expect(await ok('service', 'inspect', '--pretty', 'web')).toBe(
      [
        'ID:                     svc0001abcdefghijklmnopqr',
        'Name:                   web',
        'Service Mode:           Replicated',
        ' Replicas:              2',
        'UpdateConfig:',
        ' Delay:                 1m30s',
        'ContainerSpec:',
        ' Image:                 nginx',
        'Resources:',
        ' Limits:',
        '  Memory:               64MiB',
        'Endpoint Mode:          vip',
        'Ports:',
        ' PublishedPort = 8080',
        '  Protocol = tcp',
        '  TargetPort = 80',
        '  PublishMode = ingress',
        '',
      ].join('\n'),
    );
  });
});

describe('swarm service scale, update, rm', () => {
  it('scale writes each service back with the version it read', async () => {
    await ok('service', 'create', '-d', '--name', 'web', 'nginx');
    await ok('service', 'create', '-d', '--name', 'api', '--replicas', '2', 'nginx');
    await ok('service', 'create', '-d', '--name', 'agent', '--mode', 'global', 'nginx');
    const versions = Object.fromEntries((await d.services.listServices({}, false)).map((s) => [s.Spec.Name, s.Version.Index]));
    expect(await ok('service', 'scale', 'web=3', 'api=0')).toBe(
      'web scaled to 3\napi scaled to 0\n' +
        'overall progress: 0 out of 3 tasks\n1/3: running\n2/3: running\n3/3: running\noverall progress: 3 out of 3 tasks\nverify: Service converged\n' +
        'overall progress: 0 out of 0 tasks\nverify: Service converged\n',
    );
    expect(updates().map((a) => [a[0], a[1], (a[2] as ServiceSpec).Mode])).toEqual([
      ['svc0001abcdefghijklmnopqr', versions['web'], { Replicated: { Replicas: 3 } }],
      ['svc0003abcdefghijklmnopqr', versions['api'], { Replicated: { Replicas: 0 } }],
    ]);
    expect(await d.swarm('service', 'scale', 'agent=2', '-d')).toEqual({ code: 1, stdout: '', stderr: 'Error: agent: scale can only be used with replicated mode\n' });
    expect((await d.swarm('service', 'scale', 'web')).stderr).toMatch(/^Error: invalid value "web" for argument service=replicas: expected SERVICE=REPLICAS, e.g. web=3\n/);
  });

  it('update reads the service, changes what the flags say and posts it with the version read', async () => {
    await ok(
      'service', 'create', '-d', '--name', 'web', '-e', 'A=1', '-e', 'B=2', '--label', 'x=1', '--label', 'y=2', '--constraint', 'node.role==worker', '-p', '8080:80', 'nginx:alpine',
    );
    const before = await d.services.inspectService('web');
    const out = await ok(
      'service', 'update', '--image', 'nginx:1.27', '--replicas', '2', '--env-add', 'B=3', '-e', 'C=4', '--env-rm', 'A', '--label-add', 'z=3', '--label-rm', 'x',
      '--constraint-rm', 'node.role == worker', '--constraint-add', 'node.labels.zone==a', '--publish-rm', '80', '--publish-add', '9090:90', '--force', '--limit-cpu', '1', 'web',
    );
    expect(out).toBe('web\noverall progress: 0 out of 2 tasks\n1/2: running\n2/2: running\noverall progress: 2 out of 2 tasks\nverify: Service converged\n');
    const [ref, version, spec, opts] = updates()[0] ?? [];
    expect([ref, version, opts]).toEqual([before.ID, before.Version.Index, { rollback: false }]);
    expect(spec).toEqual({
      Name: 'web',
      Labels: { y: '2', z: '3' },
      TaskTemplate: {
        ContainerSpec: { Image: 'nginx:1.27', Env: ['B=3', 'C=4'] },
        Placement: { Constraints: ['node.labels.zone==a'] },
        Resources: { Limits: { NanoCPUs: 1e9 } },
        ForceUpdate: 1,
      },
      Mode: { Replicated: { Replicas: 2 } },
      EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 90, PublishedPort: 9090, PublishMode: 'ingress' }] },
    });
  });

  it('update --rollback asks the server for the previous spec; it combines with no other change', async () => {
    await ok('service', 'create', '-d', '--name', 'web', 'nginx:alpine');
    await ok('service', 'update', '-d', '--image', 'nginx:1.27', 'web');
    expect(await ok('service', 'update', '--rollback', 'web')).toMatch(/^web\noverall progress: 0 out of 1 tasks\n.*verify: Service converged\n$/s);
    expect(updates().at(-1)?.[3]).toEqual({ rollback: true });
    expect((await d.services.inspectService('web')).Spec.TaskTemplate.ContainerSpec.Image).toBe('nginx:alpine');
    expect((await d.swarm('service', 'update', '--rollback', '--image', 'x', 'web')).stderr).toBe(
      "Error: other flags may not be combined with --rollback\nHint: run 'swarm service update --help' for usage\n",
    );
  });

  it('service rollback is update --rollback', async () => {
    await ok('service', 'create', '-d', '--name', 'web', 'nginx:alpine');
    await ok('service', 'update', '-d', '--image', 'nginx:1.27', 'web');
    expect(await ok('service', 'rollback', '-d', 'web')).toBe('web\n');
    expect(updates().at(-1)?.[3]).toEqual({ rollback: true });
    expect((await d.services.inspectService('web')).Spec.TaskTemplate.ContainerSpec.Image).toBe('nginx:alpine');
    expect((await d.swarm('service', 'rollback', 'nope')).code).not.toBe(0);
  });

  it('an update that the swarm rolled back is an error', async () => {
    await ok('service', 'create', '-d', '--name', 'web', 'nginx:alpine');
    // The swarm answers the update, then its updater gives up and rolls back.
    const list = d.services.listServices.bind(d.services);
    d.services.listServices = async (f, status) =>
      (await list(f, status)).map((x) => ({ ...x, UpdateStatus: { State: 'rollback_completed' as const, Message: 'update failed: task exited' } }));
    const r = await d.swarm('service', 'update', '--image', 'nginx:1.27', 'web');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: service rolled back: update failed: task exited\nHint: see 'swarm service ps web' for why the update failed\n");
  });

  it('rm removes each service, reporting the ones it cannot', async () => {
    await ok('service', 'create', '-d', '--name', 'web', 'nginx');
    expect(await d.swarm('service', 'rm', 'web', 'nope')).toEqual({ code: 1, stdout: 'web\n', stderr: 'Error: service nope not found\n' });
    expect(await d.services.listServices({}, false)).toEqual([]);
  });
});

describe('swarm service logs', () => {
  it('prefixes each line with task and node as docker, slots padded to the widest, stderr to stderr', async () => {
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '10', 'nginx');
    const tasks = await d.services.listTasks({ service: ['web'] });
    const svc = tasks[0]?.ServiceID ?? '';
    const t1 = tasks.find((t) => t.Slot === 1);
    const t10 = tasks.find((t) => t.Slot === 10);
    d.services.logs.push(
      { serviceId: svc, taskId: t1?.ID ?? '', nodeId: t1?.NodeID ?? '', stream: 'stdout', line: 'hello', time: '2025-01-01T00:00:00.000000000Z' },
      { serviceId: svc, taskId: t10?.ID ?? '', nodeId: t10?.NodeID ?? '', stream: 'stderr', line: 'oops', time: '2025-01-01T00:00:01.000000000Z' },
    );
    expect(await d.swarm('service', 'logs', 'web')).toEqual({
      code: 0,
      stdout: `web.1.${t1?.ID.slice(0, 12)}@host1     | hello\n`,
      stderr: `web.10.${t10?.ID.slice(0, 12)}@host2    | oops\n`,
    });
    expect((await d.swarm('service', 'logs', '-t', '--no-task-ids', '--tail', '1', 'web')).stderr).toBe('2025-01-01T00:00:01.000000000Z web.10@host2    | oops\n');
    expect(d.services.calls.filter((c) => c.method === 'serviceLogs').at(-1)?.args).toEqual([svc, { follow: false, tail: 1, since: undefined }]);
    expect((await d.swarm('service', 'logs', '--raw', 'web')).stdout).toBe('hello\n');
    expect(await d.swarm('service', 'logs', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'Error: service nope not found\n' });
  });
});

describe('swarm node ps', () => {
  it('lists the tasks on this node by default, or on the nodes named', async () => {
    await ok('service', 'create', '-d', '--name', 'web', '--replicas', '3', 'nginx');
    const self = await ok('node', 'ps');
    expect(self.split('\n').slice(1, -1).map((l) => l.split(/\s{2,}/).slice(1, 4))).toEqual([
      ['web.1', 'nginx', 'host1'],
      ['web.3', 'nginx', 'host1'],
    ]);
    const other = await ok('node', 'ps', 'host2');
    expect(other.split('\n').slice(1, -1).map((l) => l.split(/\s{2,}/).slice(1, 4))).toEqual([['web.2', 'nginx', 'host2']]);
    expect(d.services.calls.filter((c) => c.method === 'listTasks').at(-1)?.args).toEqual([{ node: [NODE2] }]);
    expect((await d.swarm('node', 'ps', 'nope')).stderr).toBe('Error: node nope not found\n');
  });
});
