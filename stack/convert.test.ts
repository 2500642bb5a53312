import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceSpec } from '../node/store/index.js';
import { convertStack } from './convert.js';
import { ComposeError } from './errors.js';
import { load, removeFixtures } from './testing.js';

afterEach(removeFixtures);

const SHOP = `
services:
  web:
    image: shop/web:1.4
    command: ["serve", "--port", "8080"]
    environment:
      LOG_LEVEL: info
      DB_HOST: db
    labels:
      app: web
    ports:
      - "80:8080"
      - target: 9090
        published: 9090
        mode: host
    networks: [backend]
    depends_on:
      db:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:8080/health"]
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 30s
    deploy:
      replicas: 3
      labels: {tier: frontend}
      placement:
        constraints: [node.role == worker, node.labels.zone != dmz]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: '0.5', memory: 256M}
        reservations: {cpus: '0.25', memory: 128M}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      update_config: {parallelism: 1, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.1, order: start-first}
      rollback_config: {parallelism: 2, order: stop-first}
  agent:
    image: shop/agent:2
    entrypoint: /agent --verbose
    volumes: ["/var/run/swarm.sock:/var/run/swarm.sock:ro"]
    networks: [backend]
    deploy:
      mode: global
      resources:
        limits: {memory: 64M}
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    volumes: ["db-data:/var/lib/postgresql/data"]
    secrets:
      - db_password
      - source: tls_cert
        target: /etc/ssl/db.crt
        uid: "999"
        mode: 0400
    networks:
      backend:
        aliases: [database]
    healthcheck:
      test: pg_isready -U postgres
      interval: 5s
    stop_grace_period: 1m
    deploy:
      placement:
        constraints: [node.labels.db == true]
networks:
  backend:
    driver: overlay
    attachable: true
    ipam:
      config: [{subnet: 10.20.0.0/24}]
volumes:
  db-data:
secrets:
  db_password:
    file: ./db_password.txt
  tls_cert:
    external: true
`;

const NS = { 'com.docker.stack.namespace': 'shop' };

describe('convertStack: a realistic three-service stack', () => {
  const loaded = load(SHOP, { 'db_password.txt': 'hunter2\n' });
  const stack = convertStack(loaded, 'shop');
  const spec = (name: string): ServiceSpec | undefined => stack.services.find((s) => s.Name === name);

  it('names every service STACK_service, in file order', () => {
    expect(stack.services.map((s) => s.Name)).toEqual(['shop_web', 'shop_agent', 'shop_db']);
  });

  it('web: replicated, published ports, placement, resources, restart and update policies, depends_on healthy', () => {
    expect(spec('shop_web')).toStrictEqual({
      Name: 'shop_web',
      Labels: { tier: 'frontend', ...NS },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'shop/web:1.4',
          Labels: { app: 'web', ...NS },
          Args: ['serve', '--port', '8080'],
          Env: ['DB_HOST=db', 'LOG_LEVEL=info'],
          Healthcheck: { Test: ['CMD', 'wget', '-qO-', 'http://localhost:8080/health'], Interval: 10e9, Timeout: 2e9, Retries: 3, StartPeriod: 30e9 },
        },
        Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 256 * 1024 ** 2 }, Reservations: { NanoCPUs: 2.5e8, MemoryBytes: 128 * 1024 ** 2 } },
        RestartPolicy: { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 120e9 },
        Placement: {
          Constraints: ['node.role == worker', 'node.labels.zone != dmz'],
          Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
          MaxReplicas: 2,
        },
        Networks: [{ Target: 'shop_backend', Aliases: ['web'] }],
      },
      Mode: { Replicated: { Replicas: 3 } },
      EndpointSpec: {
        Mode: 'vip',
        Ports: [
          { Protocol: 'tcp', TargetPort: 8080, PublishedPort: 80, PublishMode: 'ingress' },
          { Protocol: 'tcp', TargetPort: 9090, PublishedPort: 9090, PublishMode: 'host' },
        ],
      },
      UpdateConfig: { Parallelism: 1, Delay: 10e9, FailureAction: 'rollback', Monitor: 30e9, MaxFailureRatio: 0.1, Order: 'start-first' },
      RollbackConfig: { Parallelism: 2, Order: 'stop-first' },
      DependsOn: [{ Service: 'shop_db', Condition: 'service_healthy' }],
    });
  });

  it('agent: global, entrypoint as Command, a read-only bind mount', () => {
    expect(spec('shop_agent')).toStrictEqual({
      Name: 'shop_agent',
      Labels: NS,
      TaskTemplate: {
        ContainerSpec: {
          Image: 'shop/agent:2',
          Labels: NS,
          Command: ['/agent', '--verbose'],
          Mounts: [{ Type: 'bind', Source: '/var/run/swarm.sock', Target: '/var/run/swarm.sock', ReadOnly: true }],
        },
        Resources: { Limits: { MemoryBytes: 64 * 1024 ** 2 } },
        Networks: [{ Target: 'shop_backend', Aliases: ['agent'] }],
      },
      Mode: { Global: {} },
      EndpointSpec: { Mode: 'vip', Ports: [] },
    });
  });

  it('db: a stack secret and an external one by name, a namespaced volume, aliases, health check', () => {
    expect(spec('shop_db')).toStrictEqual({
      Name: 'shop_db',
      Labels: NS,
      TaskTemplate: {
        ContainerSpec: {
          Image: 'postgres:16',
          Labels: NS,
          Env: ['POSTGRES_PASSWORD_FILE=/run/secrets/db_password'],
          Mounts: [{ Type: 'volume', Source: 'shop_db-data', Target: '/var/lib/postgresql/data' }],
          StopGracePeriod: 60e9,
          Healthcheck: { Test: ['CMD-SHELL', 'pg_isready -U postgres'], Interval: 5e9 },
          Secrets: [
            { File: { Name: 'db_password', UID: '0', GID: '0', Mode: 0o444 }, SecretID: '', SecretName: 'shop_db_password' },
            { File: { Name: '/etc/ssl/db.crt', UID: '999', GID: '0', Mode: 0o400 }, SecretID: '', SecretName: 'tls_cert' },
          ],
        },
        Placement: { Constraints: ['node.labels.db == true'] },
        Networks: [{ Target: 'shop_backend', Aliases: ['database', 'db'] }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'vip', Ports: [] },
    });
  });

  it('the overlay network and the secrets, namespaced; external ones kept by name', () => {
    expect(stack.networks).toStrictEqual([{ Name: 'shop_backend', Labels: NS, Driver: 'overlay', Attachable: true, Internal: false, Subnet: '10.20.0.0/24', External: false }]);
    expect(stack.secrets).toStrictEqual([
      { Name: 'shop_db_password', Labels: NS, Data: Buffer.from('hunter2\n').toString('base64'), External: false },
      { Name: 'tls_cert', Labels: {}, External: true },
    ]);
    expect(stack.configs).toStrictEqual([]);
  });
});

describe('convertStack: the rest', () => {
  it('the default network STACK_default, only networks in use, explicit names and external networks', () => {
    const loaded = load(`
services:
  a: {image: x}
  b: {image: x, networks: [default, edge, shared]}
networks:
  edge: {name: custom-edge, internal: true, labels: [team=net]}
  shared: {external: true, name: ingress-shared}
  unused: {}
`);
    const stack = convertStack(loaded, 'app');
    expect(stack.networks).toStrictEqual([
      { Name: 'app_default', Labels: { 'com.docker.stack.namespace': 'app' }, Driver: 'overlay', Attachable: false, Internal: false, External: false },
      { Name: 'custom-edge', Labels: { team: 'net', 'com.docker.stack.namespace': 'app' }, Driver: 'overlay', Attachable: false, Internal: true, External: false },
      { Name: 'ingress-shared', Labels: {}, Driver: 'overlay', Attachable: false, Internal: false, External: true },
    ]);
    expect(stack.services[0]?.TaskTemplate.Networks).toEqual([{ Target: 'app_default', Aliases: ['a'] }]);
    expect(stack.services[1]?.TaskTemplate.Networks).toEqual([
      { Target: 'app_default', Aliases: ['b'] },
      { Target: 'custom-edge', Aliases: ['b'] },
      { Target: 'ingress-shared', Aliases: ['b'] },
    ]);
  });

  it('configs from a file, inline content and external; volumes by explicit name and external; tmpfs and anonymous volumes', () => {
    const loaded = load(
      `
services:
  web:
    image: nginx
    configs: [site, {source: motd, target: /etc/motd, mode: 0440}, {source: ext, gid: "101"}]
    volumes: ["named:/a", "ext:/b", "/anon", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    tmpfs: /run
    extra_hosts: ["db=10.0.0.2"]
    dns: [10.0.0.53]
    dns_search: svc.local
    user: "1000"
    working_dir: /srv
    hostname: web-1
    init: true
    read_only: true
    stop_signal: SIGQUIT
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    environment: [UNSET_NAMED]
configs:
  site: {file: ./site.conf, labels: {v: "1"}}
  motd: {content: "hello\\n"}
  ext: {external: true}
volumes:
  named: {name: shared-named}
  ext: {external: true}
`,
      { 'site.conf': 'server {}' },
    );
    const stack = convertStack(loaded, 'web');
    expect(stack.configs).toStrictEqual([
      { Name: 'web_site', Labels: { v: '1', 'com.docker.stack.namespace': 'web' }, Data: Buffer.from('server {}').toString('base64'), External: false },
      { Name: 'web_motd', Labels: { 'com.docker.stack.namespace': 'web' }, Data: Buffer.from('hello\n').toString('base64'), External: false },
      { Name: 'ext', Labels: {}, External: true },
    ]);
    const c = stack.services[0]?.TaskTemplate.ContainerSpec;
    expect(c?.Configs).toStrictEqual([
      { File: { Name: 'site', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: '', ConfigName: 'web_site' },
      { File: { Name: '/etc/motd', UID: '0', GID: '0', Mode: 0o440 }, ConfigID: '', ConfigName: 'web_motd' },
      { File: { Name: 'ext', UID: '0', GID: '101', Mode: 0o444 }, ConfigID: '', ConfigName: 'ext' },
    ]);
    expect(c?.Mounts).toStrictEqual([
      { Type: 'volume', Source: 'shared-named', Target: '/a' },
      { Type: 'volume', Source: 'ext', Target: '/b' },
      { Type: 'volume', Target: '/anon' },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1024 * 1024 } },
      { Type: 'tmpfs', Target: '/run' },
    ]);
    expect(c).toMatchObject({
      Hosts: ['10.0.0.2 db'],
      DNSConfig: { Nameservers: ['10.0.0.53'], Search: ['svc.local'] },
      User: '1000',
      Dir: '/srv',
      Hostname: 'web-1',
      Init: true,
      ReadOnly: true,
      StopSignal: 'SIGQUIT',
      CapabilityAdd: ['NET_ADMIN'],
      CapabilityDrop: ['MKNOD'],
    });
    // A variable named without a value and set nowhere is left out, not passed empty.
    expect(c?.Env).toBeUndefined();
  });

  it('depends_on: service_started kept, service_completed_successfully dropped (warned at load)', () => {
    const loaded = load('services:\n  app:\n    image: x\n    depends_on:\n      db: {condition: service_started}\n      migrate: {condition: service_completed_successfully}\n  db: {image: x}\n  migrate: {image: x}\n');
    expect(convertStack(loaded, 's').services[0]?.DependsOn).toEqual([{ Service: 's_db', Condition: 'service_started' }]);
    expect(convertStack(loaded, 's').services[1]?.DependsOn).toBeUndefined();
  });

  it('update_config without parallelism gets docker\'s 1; job modes restart on failure', () => {
    const loaded = load('services:\n  a:\n    image: x\n    deploy:\n      mode: replicated-job\n      replicas: 4\n      update_config: {delay: 1s}\n');
    const [a] = convertStack(loaded, 's').services;
    expect(a?.UpdateConfig).toStrictEqual({ Parallelism: 1, Delay: 1e9 });
    expect(a?.Mode).toEqual({ Replicated: { Replicas: 4 } });
    expect(a?.TaskTemplate.RestartPolicy).toEqual({ Condition: 'on-failure' });
  });

  it('refuses stack names a swarm cannot use, and service names past 63 characters', () => {
    const loaded = load(`services:\n  ${'s'.repeat(60)}: {image: x}\n`);
    expect(() => convertStack(loaded, 'bad.name')).toThrow(new ComposeError([{ path: 'stack name', message: 'invalid stack name "bad.name": use letters and digits, with "-" or "_" between them' }]));
    expect(() => convertStack(loaded, 'shop')).toThrow(`services.${'s'.repeat(60)}: service name shop_${'s'.repeat(60)} is longer than 63 characters`);
  });

  it('a secret file that vanished after loading is an error naming it', () => {
    const loaded = load('services:\n  a:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw: {file: pw.txt}\n', { 'pw.txt': 'x' });
    rmSync(join(loaded.dir, 'pw.txt'));
    expect(() => convertStack(loaded, 's')).toThrow(`secrets.pw.file: cannot read ${join(loaded.dir, 'pw.txt')}: no such file`);
  });
});

describe('x-swarm-deploy: canary and blue/green', () => {
  it('becomes the service Strategy', () => {
    const loaded = load(
      'services:\n  web:\n    image: w\n    x-swarm-deploy: {strategy: canary, steps: [10, 50, 100], step_interval: 30s}\n  api:\n    image: a\n    x-swarm-deploy: {strategy: blue-green}\n  db: {image: d}\n',
    );
    const byName = new Map(convertStack(loaded, 's').services.map((x) => [x.Name, x]));
    expect(byName.get('s_web')?.Strategy).toEqual({ Type: 'canary', Steps: [10, 50, 100], StepInterval: 30e9 });
    expect(byName.get('s_api')?.Strategy).toEqual({ Type: 'blue-green' });
    expect(byName.get('s_db')?.Strategy).toBeUndefined();
  });

  it('names the field and the reason of a bad declaration', () => {
    const bad = (decl: string) => () => convertStack(load(`services:\n  web:\n    image: w\n    x-swarm-deploy: ${decl}\n`), 's');
    expect(bad('{strategy: linear}')).toThrow('services.web.x-swarm-deploy.strategy: must be rolling, canary or blue-green, got "linear"');
    expect(bad('{strategy: canary, steps: [50, 10]}')).toThrow('services.web.x-swarm-deploy.steps: must rise, e.g. [10, 50, 100]');
    expect(bad('{strategy: blue-green, steps: [10]}')).toThrow('services.web.x-swarm-deploy: steps and step_interval are for strategy canary, not blue-green');
    expect(bad('{strategy: canary, every: 1s}')).toThrow('services.web.x-swarm-deploy.every: unknown key (strategy, steps, step_interval)');
  });
});
