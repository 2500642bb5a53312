import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as K from './keys.js';
import { issuesOf, load, removeFixtures } from './testing.js';

// Cross-check against the official compose schema (compose-spec.json, draft-07), read from
// ../shared/reference beside the repository (never copied into it):
// - every key the schema defines is one our loader either honours or warns about, and no other;
// - valid fixtures pass the schema and load; invalid fixtures fail both, at the same place.

afterEach(removeFixtures);

// Beside the checkout (../shared), or where this workplace keeps it, or where COMPOSE_SPEC_JSON says.
const SCHEMA_CANDIDATES = [
  process.env['COMPOSE_SPEC_JSON'],
  fileURLToPath(new URL('../../shared/reference/compose-spec.json', import.meta.url)),
  '/work/shared/reference/compose-spec.json',
].filter((p): p is string => typeof p === 'string' && p !== '');
const SCHEMA_PATH = SCHEMA_CANDIDATES.find((p) => existsSync(p)) ?? SCHEMA_CANDIDATES[1]!;

type SchemaNode = { properties?: Record<string, SchemaNode>; $ref?: string; oneOf?: SchemaNode[]; items?: SchemaNode; patternProperties?: Record<string, SchemaNode> };
interface ComposeSchema extends SchemaNode {
  definitions: Record<string, SchemaNode>;
}

let cached: { schema: ComposeSchema; validate: ValidateFunction } | undefined;

function official(): { schema: ComposeSchema; validate: ValidateFunction } {
  if (cached) return cached;
  if (!existsSync(SCHEMA_PATH)) {
    throw new Error(`the official compose schema is missing: expected it at ${SCHEMA_PATH} (../shared/reference/compose-spec.json from the repository root); the cross-check reads it from there and it must not be copied into the repository`);
  }
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as ComposeSchema & { $schema?: string };
  // Its $schema is draft-07 spelled with https and without '#', which Ajv does not know by that
  // name; Ajv's default dialect is draft-07, so the schema is compiled as that.
  const { $schema: _dialect, ...body } = schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  cached = { schema, validate: ajv.compile(body) };
  return cached;
}

function props(node: SchemaNode | undefined): string[] {
  return Object.keys(node?.properties ?? {}).sort();
}

function def(name: string): SchemaNode {
  const d = official().schema.definitions[name];
  if (!d) throw new Error(`no definition ${name} in the schema`);
  return d;
}

/** The object branch of a property that is `oneOf: [string, object]` or an array of such. */
function objectBranch(node: SchemaNode | undefined): SchemaNode | undefined {
  const n = node?.items ?? node;
  return n?.oneOf?.find((b) => b.properties) ?? n;
}

function sorted(...lists: (readonly string[])[]): string[] {
  return lists.flat().sort();
}

describe('our key tables match the official schema', () => {
  it('the schema is there', () => {
    expect(() => official()).not.toThrow();
  });

  it('top level and services: every key is honoured or warned about', () => {
    const s = official().schema;
    expect(sorted(K.TOP_LEVEL_KEYS, K.TOP_LEVEL_UNSUPPORTED)).toEqual(props(s));
    expect(sorted(K.SERVICE_KEYS, K.SERVICE_UNSUPPORTED)).toEqual(props(def('service')));
  });

  it('deploy and everything under it', () => {
    const d = def('deployment');
    const p = d.properties ?? {};
    expect(sorted(K.DEPLOY_KEYS)).toEqual(props(d));
    expect(sorted(K.PLACEMENT_KEYS)).toEqual(props(p['placement']));
    expect(sorted(K.RESOURCES_KEYS)).toEqual(props(p['resources']));
    expect(sorted(K.LIMITS_KEYS)).toEqual(props(p['resources']?.properties?.['limits']));
    expect(sorted(K.RESERVATIONS_KEYS, K.RESERVATIONS_UNSUPPORTED)).toEqual(props(p['resources']?.properties?.['reservations']));
    expect(sorted(K.RESTART_POLICY_KEYS)).toEqual(props(p['restart_policy']));
    expect(sorted(K.UPDATE_CONFIG_KEYS)).toEqual(props(p['update_config']));
    expect(sorted(K.UPDATE_CONFIG_KEYS)).toEqual(props(p['rollback_config']));
    expect(props(p['placement']?.properties?.['preferences']?.items)).toEqual(['spread']);
  });

  it('service sub-keys: healthcheck, ports, volumes, secrets/configs, networks, depends_on', () => {
    const svc = def('service').properties ?? {};
    expect(sorted(K.HEALTHCHECK_KEYS, K.HEALTHCHECK_UNSUPPORTED)).toEqual(props(def('healthcheck')));
    expect(sorted(K.PORT_KEYS, K.PORT_UNSUPPORTED)).toEqual(props(objectBranch(svc['ports'])));
    expect(sorted(K.VOLUME_MOUNT_KEYS, K.VOLUME_MOUNT_UNSUPPORTED)).toEqual(props(objectBranch(svc['volumes'])));
    expect(sorted(K.FILE_REFERENCE_KEYS)).toEqual(props(objectBranch(def('service_config_or_secret'))));
    const netMap = svc['networks']?.oneOf?.find((b) => b.patternProperties)?.patternProperties ?? {};
    expect(sorted(K.SERVICE_NETWORK_KEYS, K.SERVICE_NETWORK_UNSUPPORTED)).toEqual(props(objectBranch(Object.values(netMap)[0])));
    const depMap = svc['depends_on']?.oneOf?.find((b) => b.patternProperties)?.patternProperties ?? {};
    expect(sorted(K.DEPENDS_ON_KEYS)).toEqual(props(Object.values(depMap)[0]));
  });

  it('top-level networks, volumes, secrets, configs', () => {
    const net = def('network');
    expect(sorted(K.NETWORK_KEYS, K.NETWORK_UNSUPPORTED)).toEqual(props(net));
    expect(sorted(K.IPAM_KEYS, K.IPAM_UNSUPPORTED)).toEqual(props(net.properties?.['ipam']));
    expect(sorted(K.IPAM_CONFIG_KEYS, K.IPAM_CONFIG_UNSUPPORTED)).toEqual(props(net.properties?.['ipam']?.properties?.['config']?.items));
    expect(sorted(K.VOLUME_KEYS, K.VOLUME_UNSUPPORTED)).toEqual(props(def('volume')));
    expect(sorted(K.SECRET_KEYS, K.SECRET_UNSUPPORTED)).toEqual(props(def('secret')));
    expect(sorted(K.CONFIG_KEYS, K.CONFIG_UNSUPPORTED)).toEqual(props(def('config')));
  });
});

// Files the fixtures refer to.
const FILES = { 'pw.txt': 'secret\n', 'nginx.conf': 'server {}\n', 'app.env': 'A=1\n' };

const VALID: Record<string, string> = {
  // The example from the course notes on `docker stack deploy`.
  'course notes: getstartedlab': `
version: "3"
services:
  web:
    image: parshikovpavel/begin:2
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "80:80"
    networks:
      - webnet
networks:
  webnet:
`,
  'three services, every deploy key': `
services:
  web:
    image: shop/web:1
    ports: ["8080:80", {target: 443, published: 8443, protocol: tcp, mode: host}]
    depends_on:
      db: {condition: service_healthy}
    deploy:
      mode: replicated
      replicas: 3
      endpoint_mode: vip
      labels: {tier: front}
      placement:
        constraints: [node.role == worker]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 64M, pids: 100}
        reservations: {cpus: "0.25", memory: 32M}
      restart_policy: {condition: any, delay: 5s, max_attempts: 3, window: 1m}
      update_config: {parallelism: 1, delay: 10s, failure_action: rollback, monitor: 30s, max_failure_ratio: 0.2, order: start-first}
      rollback_config: {parallelism: 1, delay: 0s, failure_action: pause, monitor: 5s, max_failure_ratio: 0, order: stop-first}
  agent:
    image: shop/agent
    deploy: {mode: global}
  db:
    image: postgres:16
    secrets: [db_pw, {source: ext_pw, target: /run/secrets/pw, uid: "999", gid: "999", mode: 0400}]
    healthcheck: {test: ["CMD", "pg_isready"], interval: 5s, timeout: 2s, retries: 5, start_period: 10s}
secrets:
  db_pw: {file: ./pw.txt}
  ext_pw: {external: true}
`,
  'anchors, merge keys and extensions': `
x-defaults: &defaults
  image: busybox
  environment: &env
    TZ: UTC
  x-note: shared
services:
  one:
    <<: *defaults
    command: sleep 1d
  two:
    <<: *defaults
    environment:
      <<: *env
      EXTRA: "1"
`,
  'short and long syntax of everything': `
services:
  app:
    image: app:1
    entrypoint: ["/init"]
    command: ["serve"]
    env_file: [app.env]
    environment: [A=2, B]
    labels: [a=b]
    ports: ["80", "9000-9001:9000-9001/udp", 53]
    volumes: ["data:/data", "./conf:/conf:ro", "/anon", {type: tmpfs, target: /cache, tmpfs: {size: 1000000}}]
    tmpfs: [/run]
    configs: [nginx, {source: inline, target: /etc/inline}]
    networks:
      front: {aliases: [www]}
      default:
    extra_hosts: {db: 10.0.0.2}
    dns: 10.0.0.53
    healthcheck: {disable: true}
    user: "1000"
    working_dir: /srv
    hostname: app
    init: true
    read_only: true
    stop_signal: SIGTERM
    stop_grace_period: 30s
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
networks:
  front: {driver: overlay, attachable: true, ipam: {config: [{subnet: 10.9.0.0/24}]}}
volumes:
  data: {}
configs:
  nginx: {file: ./nginx.conf}
  inline: {content: hello}
`,
  'compose keys a swarm ignores (warned, still valid)': `
services:
  web:
    image: web
    build: .
    container_name: web
    privileged: true
    restart: always
    depends_on:
      init: {condition: service_completed_successfully, required: false}
  init:
    image: init
    network_mode: host
    profiles: [setup]
`,
};

// Invalid in the official schema and in our loader. Each entry: the file, and where both must
// place the problem (a path prefix).
const INVALID: Record<string, [string, string]> = {
  'unknown service key': ['services:\n  web:\n    image: x\n    imagee: y\n', 'services.web'],
  'unknown top-level key': ['services:\n  web: {image: x}\nextras: {}\n', ''],
  'unknown deploy key': ['services:\n  web:\n    image: x\n    deploy: {replica: 2}\n', 'services.web.deploy'],
  'long volume without type': ['services:\n  web:\n    image: x\n    volumes: [{source: data, target: /d}]\nvolumes: {data: {}}\n', 'services.web.volumes[0]'],
  'depends_on without condition': ['services:\n  web:\n    image: x\n    depends_on: {db: {required: true}}\n  db: {image: y}\n', 'services.web.depends_on.db'],
  'depends_on with an unknown condition': ['services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_ready}}\n  db: {image: y}\n', 'services.web.depends_on.db.condition'],
  'update order not in the enum': ['services:\n  web:\n    image: x\n    deploy: {update_config: {order: random}}\n', 'services.web.deploy.update_config.order'],
  'unknown healthcheck key': ['services:\n  web:\n    image: x\n    healthcheck: {test: "true", every: 5s}\n', 'services.web.healthcheck'],
  'service name with a space': ['services:\n  "we b": {image: x}\n', 'services'],
  'unknown secret key': ['services:\n  web: {image: x}\nsecrets:\n  s: {file: ./pw.txt, path: /x}\n', 'secrets.s'],
  'command as a number': ['services:\n  web:\n    image: x\n    command: 42\n', 'services.web.command'],
  'cap_add as a string': ['services:\n  web:\n    image: x\n    cap_add: NET_ADMIN\n', 'services.web.cap_add'],
  'unknown key in a long port': ['services:\n  web:\n    image: x\n    ports: [{target: 80, publish: 80}]\n', 'services.web.ports[0]'],
  'a label value as a list': ['services:\n  web:\n    image: x\n    labels: {a: [1, 2]}\n', 'services.web.labels'],
  'services as a list': ['services:\n  - web\n', 'services'],
  'unknown ipam config key': ['services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {ipam: {config: [{cidr: 10.0.0.0/24}]}}\n', 'networks.n.ipam.config[0]'],
  'unknown restart_policy key': ['services:\n  web:\n    image: x\n    deploy: {restart_policy: {attempts: 3}}\n', 'services.web.deploy.restart_policy'],
  'unknown placement preference': ['services:\n  web:\n    image: x\n    deploy: {placement: {preferences: [{pack: node.labels.zone}]}}\n', 'services.web.deploy.placement.preferences[0]'],
  'env_file entry without path': ['services:\n  web:\n    image: x\n    env_file: [{required: false}]\n', 'services.web.env_file[0]'],
  'aliases as a string': ['services:\n  web:\n    image: x\n    networks: {n: {aliases: www}}\nnetworks: {n: {}}\n', 'services.web.networks'],
  'resources limits with an unknown key': ['services:\n  web:\n    image: x\n    deploy: {resources: {limits: {gpus: 1}}}\n', 'services.web.deploy.resources.limits'],
};

/** Ajv's /services/web/ports/0 as our services.web.ports[0]. */
function dotted(e: ErrorObject): string {
  return e.instancePath
    .split('/')
    .slice(1)
    .map((seg, i) => (/^\d+$/.test(seg) ? `[${seg}]` : `${i === 0 ? '' : '.'}${seg.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('');
}

function within(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);
}

describe('valid fixtures pass the official schema and our loader', () => {
  it.each(Object.entries(VALID))('%s', (_name, yml) => {
    const { validate } = official();
    const ok = validate(parse(yml, { merge: true }));
    expect(validate.errors ?? [], 'official schema').toEqual([]);
    expect(ok).toBe(true);
    expect(() => load(yml, FILES)).not.toThrow();
  });
});

describe('invalid fixtures fail the official schema and our loader, at the same place', () => {
  it.each(Object.entries(INVALID))('%s', (_name, [yml, where]) => {
    const { validate } = official();
    expect(validate(parse(yml, { merge: true })), 'the official schema accepts it').toBe(false);
    const schemaPaths = (validate.errors ?? []).map(dotted);
    expect(schemaPaths.some((p) => within(p, where)), `schema errors at ${schemaPaths.join(', ')}`).toBe(true);
    const ours = issuesOf(yml, FILES).map((i) => i.path);
    expect(ours.some((p) => within(p, where)), `our issues at ${ours.join(', ')}`).toBe(true);
  });
});
