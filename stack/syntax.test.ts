import { afterEach, describe, expect, it } from 'vitest';
import { issuesOf, load, removeFixtures } from './testing.js';
import type { ServiceConfig } from './types.js';

// Short and long syntax of each kind, normalized to the long form.

afterEach(removeFixtures);

function web(body: string, tail = '', env: Record<string, string> = {}): ServiceConfig {
  const indented = body.replace(/^/gm, '    ');
  const { config } = load(`services:\n  web:\n    image: busybox\n${indented}\n${tail}`, { 'secret.txt': 's', 'conf.txt': 'c' }, { env });
  const s = config.services['web'];
  if (!s) throw new Error('no service web');
  return s;
}

describe('ports', () => {
  it('short syntax: target, published:target, protocol, host IP, ranges, numbers', () => {
    expect(web('ports: ["80", "8080:80", "8053:53/udp", "127.0.0.1:8443:443", "[::1]:9443:443/tcp", "9000-9002:9000-9002", "7000-7001", 6000, "127.0.0.1::5000/sctp"]').ports).toEqual([
      { target: 80, protocol: 'tcp', mode: 'ingress' },
      { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
      { target: 53, published: 8053, protocol: 'udp', mode: 'ingress' },
      { target: 443, published: 8443, protocol: 'tcp', mode: 'ingress' },
      { target: 443, published: 9443, protocol: 'tcp', mode: 'ingress' },
      { target: 9000, published: 9000, protocol: 'tcp', mode: 'ingress' },
      { target: 9001, published: 9001, protocol: 'tcp', mode: 'ingress' },
      { target: 9002, published: 9002, protocol: 'tcp', mode: 'ingress' },
      { target: 7000, protocol: 'tcp', mode: 'ingress' },
      { target: 7001, protocol: 'tcp', mode: 'ingress' },
      { target: 6000, protocol: 'tcp', mode: 'ingress' },
      { target: 5000, protocol: 'sctp', mode: 'ingress' },
    ]);
  });

  it('short syntax with a host IP is warned about (swarm publishes on all addresses)', () => {
    const { warnings } = load('services:\n  web:\n    image: busybox\n    ports: ["127.0.0.1:8080:80"]\n');
    expect(warnings).toEqual(['services.web.ports[0]: host IP 127.0.0.1 is not supported in swarm mode, ignored (the port is published on all addresses)']);
  });

  it('long syntax: defaults, strings from interpolation, host mode, names', () => {
    expect(
      web('ports:\n  - target: 80\n    published: "${PUB}"\n  - {target: "53", published: 53, protocol: UDP, mode: host, name: dns}\n  - {target: 9090}', '', { PUB: '8080' }).ports,
    ).toEqual([
      { target: 80, published: 8080, protocol: 'tcp', mode: 'ingress' },
      { target: 53, published: 53, protocol: 'udp', mode: 'host', name: 'dns' },
      { target: 9090, protocol: 'tcp', mode: 'ingress' },
    ]);
  });
});

describe('volumes and tmpfs', () => {
  it('short syntax: named, bind (relative, absolute, ~), anonymous, ro', () => {
    const s = web('volumes:\n  - data:/var/lib/data\n  - ./html:/usr/share/html:ro\n  - /etc/localtime:/etc/localtime:ro\n  - ~/cfg:/cfg:rw\n  - /scratch', 'volumes:\n  data:\n', { HOME: '/home/me' });
    const dir = s.volumes?.[1]?.source?.replace(/\/html$/, '');
    expect(s.volumes).toEqual([
      { type: 'volume', source: 'data', target: '/var/lib/data' },
      { type: 'bind', source: `${dir}/html`, target: '/usr/share/html', read_only: true },
      { type: 'bind', source: '/etc/localtime', target: '/etc/localtime', read_only: true },
      { type: 'bind', source: '/home/me/cfg', target: '/cfg' },
      { type: 'volume', target: '/scratch' },
    ]);
    expect(dir?.startsWith('/')).toBe(true);
  });

  it('long syntax: volume, bind (resolved), tmpfs with size and mode', () => {
    const s = web(
      'volumes:\n  - {type: volume, source: data, target: /data, read_only: true}\n  - {type: bind, source: ./conf, target: /conf}\n  - {type: tmpfs, target: /cache, tmpfs: {size: 64m, mode: 01777}}\n  - {type: volume, target: /anon}',
      'volumes:\n  data: {}\n',
    );
    expect(s.volumes?.[0]).toEqual({ type: 'volume', source: 'data', target: '/data', read_only: true });
    expect(s.volumes?.[1]).toEqual({ type: 'bind', source: expect.stringMatching(/^\/.*\/conf$/) as unknown as string, target: '/conf' });
    expect(s.volumes?.[2]).toEqual({ type: 'tmpfs', target: '/cache', tmpfs: { size: 64 * 1024 * 1024, mode: 0o1777 } });
    expect(s.volumes?.[3]).toEqual({ type: 'volume', target: '/anon' });
  });

  it('tmpfs: string or list, with size and mode options, becomes tmpfs mounts', () => {
    expect(web('tmpfs: /run').volumes).toEqual([{ type: 'tmpfs', target: '/run' }]);
    expect(web('volumes: [/v]\ntmpfs: ["/run:size=1g,mode=700", /tmp]').volumes).toEqual([
      { type: 'volume', target: '/v' },
      { type: 'tmpfs', target: '/run', tmpfs: { size: 1024 ** 3, mode: 0o700 } },
      { type: 'tmpfs', target: '/tmp' },
    ]);
  });
});

describe('secrets and configs', () => {
  it('short and long syntax', () => {
    const s = web(
      'secrets:\n  - db_pw\n  - {source: api_key, target: /etc/key, uid: "1000", gid: 1000, mode: 0400}\nconfigs:\n  - app_conf\n  - {source: app_conf, target: /etc/app.conf}',
      'secrets:\n  db_pw: {file: ./secret.txt}\n  api_key: {external: true}\nconfigs:\n  app_conf: {file: ./conf.txt}\n',
    );
    expect(s.secrets).toEqual([{ source: 'db_pw' }, { source: 'api_key', target: '/etc/key', uid: '1000', gid: '1000', mode: 0o400 }]);
    expect(s.configs).toEqual([{ source: 'app_conf' }, { source: 'app_conf', target: '/etc/app.conf' }]);
  });
});

describe('healthcheck', () => {
  it('test as a string is CMD-SHELL; a list is kept; disable is NONE', () => {
    expect(web('healthcheck:\n  test: curl -f http://localhost/ || exit 1\n  interval: 30s\n  timeout: 5s\n  start_period: 1m\n  retries: "3"').healthcheck).toEqual({
      test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
      interval: '30s',
      timeout: '5s',
      start_period: '1m',
      retries: 3,
    });
    expect(web('healthcheck:\n  test: ["CMD", "pg_isready", "-U", "app"]').healthcheck).toEqual({ test: ['CMD', 'pg_isready', '-U', 'app'] });
    expect(web('healthcheck:\n  disable: true').healthcheck).toEqual({ test: ['NONE'] });
    expect(web('healthcheck:\n  test: [NONE]').healthcheck).toEqual({ test: ['NONE'] });
    expect(web('healthcheck:\n  interval: 5s').healthcheck).toEqual({ interval: '5s' });
  });
});

describe('depends_on', () => {
  it('a list means service_started; the long form keeps the condition', () => {
    const both = (deps: string): ServiceConfig | undefined =>
      load(`services:\n  web:\n    image: busybox\n    depends_on: ${deps}\n  db:\n    image: postgres\n  cache:\n    image: redis\n`).config.services['web'];
    expect(both('[db, cache]')?.depends_on).toEqual({ db: { condition: 'service_started', required: true }, cache: { condition: 'service_started', required: true } });
    expect(both('{db: {condition: service_healthy}, cache: {condition: service_started, required: false}}')?.depends_on).toEqual({
      db: { condition: 'service_healthy', required: true },
      cache: { condition: 'service_started', required: false },
    });
  });
});

describe('networks, command, entrypoint, labels and the rest', () => {
  it('service networks: none means default; a list or a map with aliases', () => {
    expect(web('').networks).toEqual({ default: {} });
    const tail = 'networks:\n  front: {}\n  back:\n';
    expect(web('networks: [front, back]', tail).networks).toEqual({ front: {}, back: {} });
    expect(web('networks:\n  front:\n    aliases: [www]\n  back:', tail).networks).toEqual({ front: { aliases: ['www'] }, back: {} });
  });

  it('command and entrypoint: a string is shell-split, a list kept', () => {
    const s = web('entrypoint: /docker-entrypoint.sh\ncommand: [sh, -c, "echo a b"]');
    expect(s.entrypoint).toEqual(['/docker-entrypoint.sh']);
    expect(s.command).toEqual(['sh', '-c', 'echo a b']);
    expect(web(`command: sh -c 'echo "$$HOME"'`).command).toEqual(['sh', '-c', 'echo "$HOME"']);
  });

  it('labels as a list or a map; extra_hosts in all forms; dns as string or list', () => {
    const s = web('labels: [a=1, "b=x=y", c]\nextra_hosts: ["db:10.0.0.2", "v6=::1"]\ndns: 10.0.0.53\ndns_search: [svc.local]');
    expect(s.labels).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(s.extra_hosts).toEqual(['db=10.0.0.2', 'v6=::1']);
    expect(s.dns).toEqual(['10.0.0.53']);
    expect(s.dns_search).toEqual(['svc.local']);
    expect(web('labels: {a: 1, b: true}\nextra_hosts: {db: 10.0.0.2, multi: [10.0.0.3, "[fe80::1]"]}').extra_hosts).toEqual(['db=10.0.0.2', 'multi=10.0.0.3', 'multi=fe80::1']);
  });

  it('plain container settings are kept', () => {
    const s = web('user: "1000:1000"\nworking_dir: /app\nhostname: box\ninit: true\nread_only: "true"\nstop_signal: SIGINT\nstop_grace_period: 1m30s\ncap_add: [NET_ADMIN]\ncap_drop: [ALL]\ndns_opt: [ndots:1]');
    expect(s).toMatchObject({ user: '1000:1000', working_dir: '/app', hostname: 'box', init: true, read_only: true, stop_signal: 'SIGINT', stop_grace_period: '1m30s', cap_add: ['NET_ADMIN'], cap_drop: ['ALL'], dns_opt: ['ndots:1'] });
  });
});

describe('deploy', () => {
  it('keeps every key, durations as written', () => {
    const s = web(`deploy:
  mode: replicated
  replicas: 3
  endpoint_mode: dnsrr
  labels: [tier=front]
  placement:
    constraints: [node.role == worker, "node.labels.zone!=b", engine.labels.ssd==true, node.platform.os==linux]
    preferences: [{spread: node.labels.zone}]
    max_replicas_per_node: 2
  resources:
    limits: {cpus: 0.5, memory: 64M, pids: 100}
    reservations: {cpus: '0.25', memory: 32m}
  restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
  update_config: {parallelism: 2, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.25, order: start-first}
  rollback_config: {parallelism: 0, failure_action: pause, order: stop-first}`);
    expect(s.deploy).toEqual({
      mode: 'replicated',
      replicas: 3,
      endpoint_mode: 'dnsrr',
      labels: { tier: 'front' },
      placement: {
        constraints: ['node.role == worker', 'node.labels.zone!=b', 'engine.labels.ssd==true', 'node.platform.os==linux'],
        preferences: [{ spread: 'node.labels.zone' }],
        max_replicas_per_node: 2,
      },
      resources: { limits: { cpus: '0.5', memory: '64M', pids: 100 }, reservations: { cpus: '0.25', memory: '32m' } },
      restart_policy: { condition: 'on-failure', delay: '5s', max_attempts: 3, window: '2m' },
      update_config: { parallelism: 2, delay: '10s', failure_action: 'rollback', monitor: '30s', max_failure_ratio: 0.25, order: 'start-first' },
      rollback_config: { parallelism: 0, failure_action: 'pause', order: 'stop-first' },
    });
  });

  it('job modes are deployed as services that restart on failure, with a warning', () => {
    const { config, warnings } = load('services:\n  migrate:\n    image: app\n    deploy: {mode: replicated-job}\n  sweep:\n    image: app\n    deploy: {mode: global-job, restart_policy: {condition: none}}\n');
    expect(config.services['migrate']?.deploy).toEqual({ mode: 'replicated', restart_policy: { condition: 'on-failure' } });
    expect(config.services['sweep']?.deploy).toEqual({ mode: 'global', restart_policy: { condition: 'none' } });
    expect(warnings).toEqual([
      'services.migrate.deploy.mode: replicated-job is not supported by this swarm; deployed as a replicated service whose tasks restart only on failure',
      'services.sweep.deploy.mode: global-job is not supported by this swarm; deployed as a global service whose tasks restart only on failure',
    ]);
  });
});

describe('top-level resources', () => {
  it('networks, volumes, secrets, configs in their forms; the default network appears when used', () => {
    const { config } = load(
      `services:
  web:
    image: busybox
    networks: [front, default, outside]
    volumes: [data:/d, shared:/s]
    configs: [inline, from_env]
networks:
  front:
    driver: overlay
    attachable: true
    internal: "false"
    ipam: {config: [{subnet: 10.10.0.0/24}]}
    labels: {a: b}
  outside:
    external: true
    name: ingress-net
  unused: {}
volumes:
  data:
  shared: {external: {name: nfs-share}}
secrets:
  pw: {file: ./secret.txt, labels: [x=y]}
  ext: {external: true, name: prod_pw}
configs:
  inline: {content: "hello $$USER"}
  from_env: {environment: GREETING}
`,
      { 'secret.txt': 's' },
      { env: { GREETING: 'hi' } },
    );
    expect(config.networks).toEqual({
      front: { driver: 'overlay', attachable: true, internal: false, ipam: { config: [{ subnet: '10.10.0.0/24' }] }, labels: { a: 'b' } },
      outside: { external: true, name: 'ingress-net' },
      unused: {},
      default: {},
    });
    expect(config.volumes).toEqual({ data: {}, shared: { external: true, name: 'nfs-share' } });
    expect(config.secrets['pw']).toEqual({ file: expect.stringMatching(/^\/.*\/secret\.txt$/) as unknown as string, labels: { x: 'y' } });
    expect(config.secrets['ext']).toEqual({ external: true, name: 'prod_pw' });
    expect(config.configs).toEqual({ inline: { content: 'hello $USER' }, from_env: { content: 'hi' } });
  });

  it('a secret file that is missing is an error at load time', () => {
    expect(issuesOf('services:\n  web:\n    image: busybox\n    secrets: [pw]\nsecrets:\n  pw: {file: ./nope.txt}\n')).toEqual([{ path: 'secrets.pw.file', message: 'secret file nope.txt does not exist' }]);
  });
});
