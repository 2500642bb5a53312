import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../../node/api/index.js';
import { SwarmError } from '../../node/errors.js';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';
import type { ConvertedStack, StackLoader } from './stack.js';

const NS = 'com.docker.stack.namespace';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function service(stack: string, name: string, image: string, extra: Partial<ServiceSpec['TaskTemplate']['ContainerSpec']> = {}): ServiceSpec {
  return {
    Name: `${stack}_${name}`,
    Labels: { [NS]: stack },
    TaskTemplate: {
      ContainerSpec: { Image: image, Labels: { [NS]: stack }, ...extra },
      Networks: [{ Target: `${stack}_default`, Aliases: [name] }],
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}

/** The stack `s` as convertStack would give it: web (with two secrets and a config) and api. */
function stackS(webImage = 'nginx:alpine', withApi = true): ConvertedStack {
  const file = (name: string): { Name: string; UID: string; GID: string; Mode: number } => ({ Name: name, UID: '0', GID: '0', Mode: 0o444 });
  return {
    services: [
      service('s', 'web', webImage, {
        Secrets: [
          { File: file('db_pw'), SecretID: '', SecretName: 's_db_pw' },
          { File: file('key'), SecretID: '', SecretName: 'shared_key' },
        ],
        Configs: [{ File: file('/app.conf'), ConfigID: '', ConfigName: 's_conf' }],
      }),
      ...(withApi ? [service('s', 'api', 'busybox')] : []),
    ],
    networks: [{ Name: 's_default', Labels: { [NS]: 's' }, Driver: 'overlay', Attachable: false, Internal: false, External: false }],
    secrets: [
      { Name: 's_db_pw', Labels: { [NS]: 's' }, Data: b64('hunter2'), External: false },
      { Name: 'shared_key', Labels: {}, External: true },
    ],
    configs: [{ Name: 's_conf', Labels: { [NS]: 's' }, Data: Buffer.from('listen 80;'), External: false }],
  };
}

/** A StackLoader that hands out `next` and records what it was asked. */
function fakeLoader(next: () => ConvertedStack): StackLoader & { asked: { files: string[]; stack?: string; env?: unknown }[] } {
  const asked: { files: string[]; stack?: string; env?: unknown }[] = [];
  return {
    asked,
    loadCompose: (opts) => {
      asked.push({ files: opts.files, env: opts.env });
      return { config: {}, warnings: ['Ignoring unsupported options: build'], workingDir: '/w' };
    },
    convertStack: (_loaded, stack) => {
      const last = asked.at(-1);
      if (last) last.stack = stack;
      return next();
    },
  };
}

let d: FakeDaemon;
let current: () => ConvertedStack;
let loader: ReturnType<typeof fakeLoader>;

beforeEach(async () => {
  current = () => stackS();
  loader = fakeLoader(() => current());
  d = await startFakeDaemon(undefined, undefined, { overrides: { stackLoader: loader } });
  await d.backend.initSwarm({ ListenAddr: '', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
  await d.services.createSecret({ Name: 'shared_key', Data: b64('k') });
  d.services.calls.length = 0;
});

afterEach(async () => {
  await d.close();
});

const calls = (method: string): unknown[][] => d.services.calls.filter((c) => c.method === method).map((c) => c.args);

describe('swarm stack deploy', () => {
  it('creates the networks, secrets, configs and services, and fills in secret and config IDs', async () => {
    const r = await d.swarmWith({ env: { TAG: '1' } }, 'stack', 'deploy', '-c', 'a.yml', '-c', 'b.yml', 's');
    expect(r).toEqual({
      code: 0,
      stdout: 'Creating network s_default\nCreating secret s_db_pw\nCreating config s_conf\nCreating service s_web\nCreating service s_api\n',
      stderr: 'Warning: Ignoring unsupported options: build\n',
      stdoutBytes: expect.any(Buffer),
    });
    expect(calls('createNetwork')).toEqual([[{ Name: 's_default', Labels: { [NS]: 's' }, Attachable: false, Internal: false, Ingress: false, IPAMConfig: [] }]]);
    expect(loader.asked).toEqual([{ files: ['a.yml', 'b.yml'], env: { TAG: '1' }, stack: 's' }]);
    expect(d.services.secretData('s_db_pw')).toBe(b64('hunter2'));
    expect(calls('createSecret')[0]).toEqual([{ Name: 's_db_pw', Labels: { [NS]: 's' }, Data: '<redacted>' }]);
    expect(calls('createConfig')[0]).toEqual([{ Name: 's_conf', Labels: { [NS]: 's' }, Data: b64('listen 80;') }]);
    const ids = Object.fromEntries([...(await d.services.listSecrets({})), ...(await d.services.listConfigs({}))].map((x) => [x.Spec.Name, x.ID]));
    const web = calls('createService')[0]?.[0] as ServiceSpec;
    expect(web.TaskTemplate.Networks).toEqual([{ Target: 's_default', Aliases: ['web'] }]);
    expect(web.TaskTemplate.ContainerSpec.Secrets?.map((x) => [x.SecretName, x.SecretID])).toEqual([
      ['s_db_pw', ids['s_db_pw']],
      ['shared_key', ids['shared_key']],
    ]);
    expect(web.TaskTemplate.ContainerSpec.Configs?.map((x) => x.ConfigID)).toEqual([ids['s_conf']]);
    expect(web.Labels).toEqual({ [NS]: 's' });
  });

  it('a second deploy updates the services by name with their current version and keeps the force counter; --prune removes the dropped ones', async () => {
    expect((await d.swarm('stack', 'deploy', '-c', 'a.yml', 's')).code).toBe(0);
    expect((await d.swarm('service', 'update', '-d', '--force', 's_web')).code).toBe(0);
    const before = await d.services.inspectService('s_web');
    current = () => stackS('nginx:1.27', false);
    d.services.calls.length = 0;
    const r = await d.swarm('stack', 'deploy', '--prune', '-c', 'a.yml', 's');
    expect(r).toEqual({ code: 0, stdout: `Removing service s_api\nUpdating service s_web (id: ${before.ID})\n`, stderr: 'Warning: Ignoring unsupported options: build\n' });
    expect(calls('createNetwork')).toEqual([]);
    const [ref, version, spec] = calls('updateService')[0] ?? [];
    expect([ref, version]).toEqual([before.ID, before.Version.Index]);
    expect((spec as ServiceSpec).TaskTemplate).toMatchObject({ ContainerSpec: { Image: 'nginx:1.27' }, ForceUpdate: 1 });
    expect(calls('createSecret')).toEqual([]);
    expect((await d.services.listServices({}, false)).map((s) => s.Spec.Name)).toEqual(['s_web']);
  });

  it('without --prune keeps services the files no longer have', async () => {
    await d.swarm('stack', 'deploy', '-c', 'a.yml', 's');
    current = () => stackS('nginx:alpine', false);
    expect((await d.swarm('stack', 'deploy', '-c', 'a.yml', 's')).stdout).not.toContain('Removing');
    expect((await d.services.listServices({}, false)).length).toBe(2);
  });

  it('fails before changing anything when an external secret is missing', async () => {
    await d.services.removeSecret('shared_key');
    d.services.calls.length = 0;
    expect(await d.swarm('stack', 'deploy', '-c', 'a.yml', 's')).toEqual({
      code: 1,
      stdout: '',
      stderr: "Warning: Ignoring unsupported options: build\nError: secret shared_key is declared as external, but could not be found\nHint: create it first with 'swarm secret create shared_key FILE'\n",
    });
    expect(d.services.calls.map((c) => c.method)).toEqual(['listSecrets', 'listConfigs']);
  });

  it('declared networks: created with their options unless they exist; an external one must exist before anything changes', async () => {
    const withNetworks = (externalName: string): ConvertedStack => ({
      ...stackS(),
      networks: [
        { Name: 's_default', Labels: { [NS]: 's' }, Driver: 'overlay', Attachable: false, Internal: false, External: false },
        { Name: 'edge', Labels: { [NS]: 's', tier: 'edge' }, Driver: 'overlay', Attachable: true, Internal: true, Subnet: '10.0.99.0/24', External: false },
        { Name: externalName, Labels: {}, Driver: 'overlay', Attachable: false, Internal: false, External: true },
      ],
    });
    current = () => withNetworks('shared');
    const missing = await d.swarm('stack', 'deploy', '-c', 'a.yml', 's');
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: expect.stringContaining('Error: network shared is declared as external, but could not be found\n') });
    expect(calls('createNetwork')).toEqual([]);
    await d.services.createNetwork({ Name: 'shared', Labels: {}, Attachable: true, Internal: false, Ingress: false, IPAMConfig: [] });
    await d.services.createNetwork({ Name: 's_default', Labels: { [NS]: 's' }, Attachable: false, Internal: false, Ingress: false, IPAMConfig: [] });
    d.services.calls.length = 0;
    const r = await d.swarm('stack', 'deploy', '-c', 'a.yml', 's');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Creating network edge');
    expect(calls('createNetwork')).toEqual([[{ Name: 'edge', Labels: { [NS]: 's', tier: 'edge' }, Attachable: true, Internal: true, Ingress: false, IPAMConfig: [{ Subnet: '10.0.99.0/24' }] }]]);
  });

  it('a network the API refuses stops the deploy before the services, naming it', async () => {
    current = () => ({ ...stackS(), networks: [{ Name: 's_default', Labels: {}, Driver: 'overlay', Attachable: false, Internal: false, Subnet: '10.0.0.0/24', External: false }] });
    const r = await d.swarm('stack', 'deploy', '-c', 'a.yml', 's');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: network s_default: IPAM.Config[0].Subnet: 10.0.0.0/24 overlaps 10.0.0.0/24 of network ingress\n');
    expect(calls('createService')).toEqual([]);
  });

  it('--detach=false shows each service converging', async () => {
    d.services.startPath = ['pending', 'running'];
    const r = await d.swarm('stack', 'deploy', '-c', 'a.yml', '--detach=false', 's');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'Creating network s_default\nCreating secret s_db_pw\nCreating config s_conf\nCreating service s_web\nCreating service s_api\n' +
        's_web\noverall progress: 0 out of 1 tasks\n1/1: running\noverall progress: 1 out of 1 tasks\nverify: Service converged\n' +
        's_api\noverall progress: 0 out of 1 tasks\n1/1: running\noverall progress: 1 out of 1 tasks\nverify: Service converged\n',
    );
  });

  it('a service that fails to start is reported by name after the others were waited for', async () => {
    d.services.failingImages.set('busybox', 'starting container failed: exec: "sh": not found');
    const r = await d.swarm('stack', 'deploy', '-c', 'a.yml', '--detach=false', 's');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: service s_api: s_api.1 failed: starting container failed: exec: "sh": not found\n');
  });

  it('prints every problem of an invalid compose file, one per line (exit 1)', async () => {
    const broken: StackLoader = {
      loadCompose: () => {
        throw Object.assign(new Error('invalid'), { issues: [{ path: 'services.web.image', message: 'must be a string' }, { path: 'compose.yml:3:5', message: 'bad indentation' }] });
      },
      convertStack: () => stackS(),
    };
    expect(await d.swarmWith({ overrides: { stackLoader: broken } }, 'stack', 'deploy', '-c', 'compose.yml', 's')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'Error: services.web.image: must be a string\nError: compose.yml:3:5: bad indentation\n',
    });
  });

  it('refuses a bad stack name or no compose file (exit 2)', async () => {
    expect((await d.swarm('stack', 'deploy', '-c', 'a.yml', 'my stack')).stderr).toMatch(/^Error: invalid stack name "my stack": use letters, digits/);
    expect((await d.swarm('stack', 'deploy', 's')).stderr).toBe("Error: give at least one compose file with -c FILE\nHint: run 'swarm stack deploy --help' for usage\n");
  });
});

describe('swarm stack ls, services, ps, rm', () => {
  beforeEach(async () => {
    await d.swarm('stack', 'deploy', '-c', 'a.yml', 's');
    current = () => ({ services: [service('t', 'db', 'postgres')], networks: [], secrets: [], configs: [] });
    await d.swarm('stack', 'deploy', '-c', 'a.yml', 't');
    await d.swarm('service', 'create', '-d', '--name', 'loose', 'nginx');
  });

  it('rm retries a network that is still in use while the services\' tasks stop', async () => {
    const remove = d.services.removeNetwork.bind(d.services);
    let refusals = 2;
    d.services.removeNetwork = async (ref: string) => {
      if (refusals-- > 0) throw new SwarmError('CONFLICT', 'network s_default is in use by task t1');
      return remove(ref);
    };
    expect(await d.swarm('stack', 'rm', 's')).toMatchObject({ code: 0, stderr: '', stdout: expect.stringContaining('Removing network s_default\n') });
    expect(refusals).toBe(-1);
    expect((await d.services.listNetworks({})).map((n) => n.Spec.Name)).toEqual(['ingress']);
  });

  it('rm reports at once a network another service still uses', async () => {
    await d.swarm('service', 'create', '-d', '--name', 'other', '--network', 's_default', 'nginx');
    const r = await d.swarm('stack', 'rm', 's');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: network s_default is in use by service other\n');
  });

  it('ls counts the services of each stack', async () => {
    expect(await d.swarm('stack', 'ls')).toEqual({ code: 0, stderr: '', stdout: 'NAME      SERVICES\ns         2\nt         1\n' });
  });

  it('services lists the stack\'s services as service ls does', async () => {
    const r = await d.swarm('stack', 'services', 's');
    expect(r.stdout).toBe(
      'ID             NAME      MODE         REPLICAS   IMAGE          PORTS\n' + 'svc0006abcde   s_api     replicated   1/1        busybox\n' + 'svc0004abcde   s_web     replicated   1/1        nginx:alpine\n',
    );
    expect(await d.swarm('stack', 'services', 'nope')).toEqual({ code: 0, stdout: '', stderr: 'Nothing found in stack: nope\n' });
  });

  it('ps lists the tasks of the stack\'s services', async () => {
    const rows = (await d.swarm('stack', 'ps', 's')).stdout.split('\n').slice(1, -1);
    expect(rows.map((l) => l.split(/\s{2,}/).slice(1, 5))).toEqual([
      ['s_api.1', 'busybox', 'host1', 'Running'],
      ['s_web.1', 'nginx:alpine', 'host1', 'Running'],
    ]);
    expect(await d.swarm('stack', 'ps', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'Error: nothing found in stack: nope\n' });
  });

  it('rm removes the services, then the secrets and configs of the stack, and leaves the rest', async () => {
    expect(await d.swarm('stack', 'rm', 's')).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Removing service s_api\nRemoving service s_web\nRemoving secret s_db_pw\nRemoving config s_conf\nRemoving network s_default\n',
    });
    expect((await d.services.listNetworks({})).map((n) => n.Spec.Name)).toEqual(['ingress']);
    expect((await d.services.listServices({}, false)).map((s) => s.Spec.Name).sort()).toEqual(['loose', 't_db']);
    expect((await d.services.listSecrets({})).map((s) => s.Spec.Name)).toEqual(['shared_key']);
    expect(await d.swarm('stack', 'rm', 's', 't')).toEqual({ code: 0, stdout: 'Removing service t_db\n', stderr: 'Nothing found in stack: s\n' });
  });
});

describe('swarm stack deploy with the compose loader', () => {
  it('reads a compose file and deploys it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarm-stack-'));
    try {
      writeFileSync(join(dir, 'pw.txt'), 'hunter2');
      writeFileSync(
        join(dir, 'compose.yml'),
        ['services:', '  web:', '    image: nginx:alpine', '    deploy:', '      replicas: 2', '    secrets: [pw]', 'secrets:', '  pw:', '    file: ./pw.txt', ''].join('\n'),
      );
      const real = await startFakeDaemon();
      try {
        const r = await real.swarm('stack', 'deploy', '-c', join(dir, 'compose.yml'), 'app');
        expect(r.code).toBe(0);
        expect(r.stdout).toBe('Creating network app_default\nCreating secret app_pw\nCreating service app_web\n');
        expect(real.services.secretData('app_pw')).toBe(b64('hunter2'));
        const spec = (await real.services.inspectService('app_web')).Spec;
        expect(spec).toMatchObject({ Labels: { [NS]: 'app' }, Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: { ContainerSpec: { Image: 'nginx:alpine' }, Networks: [{ Target: 'app_default', Aliases: ['web'] }] } });
        expect((await real.services.inspectNetwork('app_default')).Spec.Labels).toEqual({ [NS]: 'app' });
      } finally {
        await real.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
