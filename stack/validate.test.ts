import { afterEach, describe, expect, it } from 'vitest';
import { ComposeError } from './errors.js';
import { issuesOf, load, removeFixtures } from './testing.js';

afterEach(removeFixtures);

/** A compose file with one service `web` (image busybox unless the body sets one) and `tail` after it. */
function svc(body: string, tail = ''): string {
  const lines = body.replace(/^/gm, '    ');
  return `services:\n  web:\n${/^\s*image:/m.test(body) ? '' : '    image: busybox\n'}${lines}\n${tail}`;
}

// Each bad input, and exactly the issues it must produce.
const CASES: [string, string, { path: string; message: string }[]][] = [
  ['negative replicas', svc('deploy:\n  replicas: -1'), [{ path: 'services.web.deploy.replicas', message: 'must be a non-negative integer' }]],
  ['replicas not a number', svc('deploy:\n  replicas: three'), [{ path: 'services.web.deploy.replicas', message: 'must be a non-negative integer' }]],
  ['replicas with global mode', svc('deploy:\n  mode: global\n  replicas: 2'), [{ path: 'services.web.deploy.replicas', message: 'only for mode replicated (a global service runs one task per node)' }]],
  ['unknown deploy mode', svc('deploy:\n  mode: everywhere'), [{ path: 'services.web.deploy.mode', message: 'must be one of replicated, global, replicated-job, global-job (got "everywhere")' }]],
  ['missing image', 'services:\n  web:\n    command: ["true"]\n', [{ path: 'services.web.image', message: 'required' }]],
  ['build without image', 'services:\n  web:\n    build: .\n', [{ path: 'services.web.image', message: 'required: a swarm cannot build images; build and push the image, then name it here' }]],
  ['unknown service key, with a suggestion', svc('enviroment: {A: 1}'), [{ path: 'services.web.enviroment', message: 'unknown key (did you mean environment?)' }]],
  ['unknown top-level key', 'service:\n  web:\n    image: busybox\n', [{ path: 'service', message: 'unknown key (did you mean services?)' }, { path: 'services', message: 'required: a stack needs at least one service' }]],
  ['bad durations', svc('deploy:\n  update_config:\n    delay: 10\n    monitor: "10"'), [
    { path: 'services.web.deploy.update_config.delay', message: 'must be a duration string such as 10s or 1m30s' },
    { path: 'services.web.deploy.update_config.monitor', message: 'invalid duration "10": use a number with a unit, e.g. 500ms, 10s, 1m30s, 2h' },
  ]],
  ['bad memory', svc('deploy:\n  resources:\n    limits:\n      memory: 64 megs'), [{ path: 'services.web.deploy.resources.limits.memory', message: 'invalid size "64 megs": use a number with an optional unit b, k, m, g, e.g. 64M or 1.5g' }]],
  ['bad cpus', svc('deploy:\n  resources:\n    reservations:\n      cpus: lots'), [{ path: 'services.web.deploy.resources.reservations.cpus', message: 'invalid number of CPUs "lots": use a decimal number, e.g. 0.5 or 2' }]],
  ['constraint without an operator', svc('deploy:\n  placement:\n    constraints: ["node.role=manager"]'), [{ path: 'services.web.deploy.placement.constraints[0]', message: 'invalid constraint "node.role=manager": expected KEY==VALUE or KEY!=VALUE, e.g. node.role==manager' }]],
  ['constraint on an unknown key', svc('deploy:\n  placement:\n    constraints: ["node.rol == manager"]'), [{ path: 'services.web.deploy.placement.constraints[0]', message: 'unknown constraint key "node.rol": use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<label> or engine.labels.<label>' }]],
  ['constraint on a role that does not exist', svc('deploy:\n  placement:\n    constraints: ["node.role == boss"]'), [{ path: 'services.web.deploy.placement.constraints[0]', message: 'node.role is manager or worker, not "boss"' }]],
  ['spread over something not a label', svc('deploy:\n  placement:\n    preferences: [{spread: node.hostname}]'), [{ path: 'services.web.deploy.placement.preferences[0].spread', message: 'cannot spread over "node.hostname": use node.labels.<label> or engine.labels.<label>' }]],
  ['max_replicas_per_node with global mode', svc('deploy:\n  mode: global\n  placement: {max_replicas_per_node: 1}'), [{ path: 'services.web.deploy.placement.max_replicas_per_node', message: 'only for mode replicated (a global service runs one task per node)' }]],
  ['restart condition', svc('deploy:\n  restart_policy: {condition: always}'), [{ path: 'services.web.deploy.restart_policy.condition', message: 'must be one of none, on-failure, any (got "always")' }]],
  ['update failure_action, rollback_config cannot roll back', svc('deploy:\n  update_config: {failure_action: retry}\n  rollback_config: {failure_action: rollback}'), [
    { path: 'services.web.deploy.update_config.failure_action', message: 'must be one of continue, pause, rollback (got "retry")' },
    { path: 'services.web.deploy.rollback_config.failure_action', message: 'must be one of continue, pause (got "rollback")' },
  ]],
  ['max_failure_ratio out of range, bad order', svc('deploy:\n  update_config: {max_failure_ratio: 1.5, order: first}'), [
    { path: 'services.web.deploy.update_config.max_failure_ratio', message: 'must be a number from 0 to 1' },
    { path: 'services.web.deploy.update_config.order', message: 'must be one of stop-first, start-first (got "first")' },
  ]],
  ['endpoint mode', svc('deploy:\n  endpoint_mode: round-robin'), [{ path: 'services.web.deploy.endpoint_mode', message: 'must be one of vip, dnsrr (got "round-robin")' }]],
  ['dnsrr with ingress ports', svc('ports: ["80:80"]\ndeploy:\n  endpoint_mode: dnsrr'), [{ path: 'services.web.deploy.endpoint_mode', message: 'dnsrr cannot be used with ports published in ingress mode (use mode: host, or endpoint_mode: vip)' }]],
  ['port out of range and bad protocol', svc('ports: ["70000:80", "80/icmp"]'), [
    { path: 'services.web.ports[0]', message: 'invalid published port 70000: must be from 1 to 65535' },
    { path: 'services.web.ports[1]', message: 'invalid protocol "icmp": use tcp, udp or sctp' },
  ]],
  ['port ranges of different lengths, published range for one target', svc('ports: ["9000-9002:9000-9001", "8000-8010:80"]'), [
    { path: 'services.web.ports[0]', message: 'invalid port "9000-9002:9000-9001": the published and target ranges differ in length' },
    { path: 'services.web.ports[1]', message: 'invalid port "8000-8010:80": a swarm publishes a fixed port, not one picked from a range' },
  ]],
  ['long port without target, bad mode', svc('ports:\n  - {published: 80, mode: bridge}'), [
    { path: 'services.web.ports[0].target', message: 'required' },
    { path: 'services.web.ports[0].mode', message: 'must be one of ingress, host (got "bridge")' },
  ]],
  ['same ingress port published twice', 'services:\n  a:\n    image: x\n    ports: ["80:80"]\n  b:\n    image: x\n    ports: ["80:8080"]\n', [{ path: 'services.b.ports[0]', message: 'port 80/tcp is already published by services.a.ports[0]' }]],
  ['relative container path, unknown volume mode', svc('volumes: ["data:data", "./x:/x:rox"]', 'volumes:\n  data:\n'), [
    { path: 'services.web.volumes[0]', message: 'invalid volume "data:data": the container path "data" must be absolute' },
    { path: 'services.web.volumes[1]', message: 'invalid volume "./x:/x:rox": unknown mode "rox" (use ro or rw)' },
  ]],
  ['long volume without type; bind without source', svc('volumes:\n  - {source: data, target: /d}\n  - {type: bind, target: /b}'), [
    { path: 'services.web.volumes[0].type', message: 'required' },
    { path: 'services.web.volumes[1].source', message: 'required for a bind mount' },
  ]],
  ['undefined volume, network, secret and config', svc('volumes: ["data:/d"]\nnetworks: [back]\nsecrets: [pw]\nconfigs: [{source: conf}]'), [
    { path: 'services.web.networks[0]', message: 'undefined network "back": declare it under the top-level networks key' },
    { path: 'services.web.volumes[0]', message: 'undefined volume "data": declare it under the top-level volumes key' },
    { path: 'services.web.secrets[0]', message: 'undefined secret "pw": declare it under the top-level secrets key' },
    { path: 'services.web.configs[0].source', message: 'undefined config "conf": declare it under the top-level configs key' },
  ]],
  ['depends_on an unknown service, on itself, without condition', svc('depends_on:\n  web: {condition: service_started}\n  ghost: {condition: service_started}\n  db: {}', '  db:\n    image: postgres\n'), [
    { path: 'services.web.depends_on.web', message: 'a service cannot depend on itself' },
    { path: 'services.web.depends_on.db.condition', message: 'required' },
    { path: 'services.web.depends_on.ghost', message: 'undefined service "ghost"' },
  ]],
  ['depends_on neither a list nor a mapping', svc('depends_on: db'), [{ path: 'services.web.depends_on', message: 'must be a list of services or a mapping of service to condition' }]],
  ['dependency cycle', 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n', [{ path: 'services.a.depends_on', message: 'dependency cycle: a -> b -> c -> a' }]],
  ['healthcheck', svc('healthcheck:\n  test: [curl, localhost]\n  retries: -2\n  interval: soon'), [
    { path: 'services.web.healthcheck.test', message: 'a list must start with CMD, CMD-SHELL or NONE' },
    { path: 'services.web.healthcheck.interval', message: 'invalid duration "soon": use a number with a unit, e.g. 500ms, 10s, 1m30s, 2h' },
    { path: 'services.web.healthcheck.retries', message: 'must be a non-negative integer' },
  ]],
  ['healthcheck disable with test', svc('healthcheck:\n  disable: true\n  test: ["CMD", "true"]'), [{ path: 'services.web.healthcheck.disable', message: 'cannot be combined with test' }]],
  ['wrong types', svc('init: maybe\ncommand: 42\nenvironment: [1]\nlabels: {a: [1]}\ncap_add: NET_ADMIN'), [
    { path: 'services.web.command', message: 'must be a string or a list of strings' },
    { path: 'services.web.environment[0]', message: 'must be a string KEY=VALUE' },
    { path: 'services.web.labels.a', message: 'must be a string, a number or a boolean' },
    { path: 'services.web.init', message: 'must be true or false' },
    { path: 'services.web.cap_add', message: 'must be a list of strings' },
  ]],
  ['unterminated quote in a command', svc(`command: echo "hi`), [{ path: 'services.web.command', message: 'unterminated double quote in "echo \\"hi"' }]],
  ['invalid service name, service not a mapping', 'services:\n  "we b":\n    image: x\n  other: nginx\n', [
    { path: 'services.we b', message: 'invalid service name: use letters, digits, ".", "_" and "-"' },
    { path: 'services.other', message: 'must be a mapping' },
  ]],
  ['network driver, bad subnet, external with driver', 'services:\n  web:\n    image: x\n    networks: [a, b]\nnetworks:\n  a:\n    driver: bridge\n    ipam: {config: [{subnet: 10.0.0.0/33}]}\n  b:\n    external: true\n    driver: overlay\n', [
    { path: 'networks.a.driver', message: 'must be overlay, the network driver of a swarm (got "bridge")' },
    { path: 'networks.a.ipam.config[0].subnet', message: 'invalid subnet "10.0.0.0/33": expected CIDR notation such as 10.0.9.0/24' },
    { path: 'networks.b.driver', message: 'conflicts with external: true (an external resource is not created by the stack)' },
  ]],
  ['secret without a source, from the environment; config with two sources', 'services:\n  web:\n    image: x\nsecrets:\n  a: {labels: {x: y}}\n  b: {environment: PW}\nconfigs:\n  c: {content: x, environment: Y}\n', [
    { path: 'secrets.a', message: 'must set file or external: true' },
    { path: 'secrets.b.environment', message: 'secrets from environment variables are not supported by swarm stacks: use file or external' },
    { path: 'configs.c.environment', message: 'variable Y is not set' },
    { path: 'configs.c', message: 'set one of content, environment, not several' },
  ]],
  ['no services', 'services: {}\n', [{ path: 'services', message: 'must define at least one service' }]],
  ['extra_hosts and dns', svc('extra_hosts: ["db:not-an-ip", "nohost"]\ndns: [8.8.8]'), [
    { path: 'services.web.dns[0]', message: 'invalid IP address "8.8.8"' },
    { path: 'services.web.extra_hosts[0]', message: 'invalid IP address "not-an-ip" for db' },
    { path: 'services.web.extra_hosts[1]', message: 'expected HOST=IP, got "nohost"' },
  ]],
];

describe('validation', () => {
  it.each(CASES)('%s', (_name, yml, expected) => {
    expect(issuesOf(yml)).toEqual(expected);
  });

  it(`covers at least 15 distinct bad inputs (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(15);
  });

  it('reports every problem of a file at once, one line per issue in the error message', () => {
    const yml = svc('deploy:\n  replicas: -1\n  endpoint_mode: x\nports: ["abc"]\ncolour: blue');
    let err: unknown;
    try {
      load(yml);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ComposeError);
    const ce = err as ComposeError;
    expect(ce.code).toBe('INVALID_ARGUMENT');
    expect(ce.issues).toHaveLength(4);
    expect(ce.message.split('\n')).toEqual([
      'services.web.colour: unknown key',
      'services.web.ports[0]: invalid target port "abc": must be a number from 1 to 65535',
      'services.web.deploy.replicas: must be a non-negative integer',
      'services.web.deploy.endpoint_mode: must be one of vip, dnsrr (got "x")',
    ]);
  });
});

describe('warnings', () => {
  it('names the service keys a swarm ignores, as docker does', () => {
    const { warnings } = load(
      'services:\n  web:\n    image: x\n    build: .\n    privileged: true\n    container_name: w\n    restart: always\n  db:\n    image: y\n    network_mode: host\n    devices: ["/dev/fuse"]\n    links: [web]\n    cgroup_parent: x\n    privileged: false\n',
    );
    expect(warnings).toEqual(['Ignoring unsupported options: build, cgroup_parent, container_name, devices, links, network_mode, privileged, restart']);
  });

  it('names nested options and conditions it cannot honour', () => {
    const { warnings, config } = load(
      `services:
  web:
    image: x
    depends_on:
      init: {condition: service_completed_successfully}
      db: {condition: service_healthy, required: false, restart: true}
    healthcheck: {test: "true", start_interval: 1s}
    volumes: ["./a:/a:z", {type: volume, target: /v, volume: {nocopy: true}}]
    networks:
      default: {ipv4_address: 10.0.0.5}
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu]}]
  init: {image: x}
  db: {image: x}
name: shop
include: [other.yml]
secrets:
  s: {external: true, driver: vault}
volumes:
  v: {driver: nfs}
`,
    );
    expect(warnings).toEqual([
      'include: not supported by swarm stacks, ignored',
      'name: ignored: the stack is named on the command line',
      'services.web.volumes[0]: mode z is not supported by swarm, ignored',
      'services.web.volumes[1].volume: not supported by swarm, ignored',
      'services.web.healthcheck.start_interval: not supported by swarm, ignored',
      'services.web.depends_on.init.condition: service_completed_successfully is not supported by swarm (tasks are restarted, never complete); this dependency is ignored',
      'services.web.depends_on.db.restart: not supported by swarm, ignored',
      'services.web.depends_on.db.required: optional dependencies are not supported; the service waits for db all the same',
      'services.web.networks.default.ipv4_address: not supported by swarm, ignored',
      'services.web.deploy.resources.reservations.devices: not supported by swarm, ignored',
      'volumes.v.driver: not supported by swarm (volumes are created by each node with the local driver), ignored',
      'secrets.s.driver: not supported by swarm, ignored',
    ]);
    expect(config.services['web']?.depends_on?.['init']?.condition).toBe('service_completed_successfully');
  });
});
