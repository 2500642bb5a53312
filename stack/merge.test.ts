import { afterEach, describe, expect, it } from 'vitest';
import { issuesOf, load, removeFixtures } from './testing.js';

// Several -c files, merged in order by the compose specification's merge rules.

afterEach(removeFixtures);

const BASE = `
services:
  web:
    image: shop/web:1
    command: ["serve", "--port", "80"]
    entrypoint: /entry.sh
    environment:
      LOG: info
      MODE: base
    labels: [a=1, b=1]
    ports: ["8080:80", "9090:90"]
    volumes: ["data:/data", "./conf:/conf:ro"]
    secrets: [pw]
    networks: [front]
    depends_on: [db]
    cap_add: [NET_ADMIN]
    dns: 10.0.0.53
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/"]
      interval: 30s
      retries: 3
    deploy:
      replicas: 2
      labels: {tier: front}
      placement:
        constraints: [node.role==worker]
      resources:
        limits: {cpus: "1", memory: 128M}
  db:
    image: postgres:15
networks:
  front:
    attachable: true
volumes:
  data:
secrets:
  pw: {external: true}
  other: {external: true}
`;

const OVERRIDE = `
services:
  web:
    image: shop/web:2
    command: serve --debug
    environment: [MODE=override, EXTRA=1]
    labels: {b: "2", c: "3"}
    ports: ["8080:80", "8081:80", "9090:90/udp"]
    volumes:
      - type: volume
        source: logs
        target: /data
    secrets: [{source: other, target: pw}]
    networks:
      back:
        aliases: [web-back]
    depends_on:
      cache: {condition: service_healthy}
    cap_add: [NET_ADMIN, SYS_TIME]
    dns: [10.0.0.53, 10.0.0.54]
    healthcheck:
      test: curl -f http://localhost/health
      retries: 5
    deploy:
      labels: [canary=true]
      placement:
        constraints: [node.labels.zone==a, node.role==worker]
      resources:
        limits: {memory: 256M}
  cache:
    image: redis:7
networks:
  back: {}
volumes:
  logs:
`;

function mergedWeb(files: Record<string, string>, names: string[]) {
  const { config } = load(files['compose.yml'] ?? '', files, { files: names });
  return { config, web: config.services['web'] };
}

describe('merging -c files', () => {
  const { config, web } = mergedWeb({ 'compose.yml': BASE, 'override.yml': OVERRIDE }, ['compose.yml', 'override.yml']);

  it('scalars are overridden and new services and resources added', () => {
    expect(web?.image).toBe('shop/web:2');
    expect(Object.keys(config.services)).toEqual(['web', 'db', 'cache']);
    expect(config.networks['front']).toEqual({ attachable: true });
    expect(config.networks['back']).toEqual({});
    expect(Object.keys(config.volumes)).toEqual(['data', 'logs']);
  });

  it('command and entrypoint are replaced, never appended', () => {
    expect(web?.command).toEqual(['serve', '--debug']);
    expect(web?.entrypoint).toEqual(['/entry.sh']);
  });

  it('environment and labels merge by key, whatever syntax each file uses', () => {
    expect(web?.environment).toEqual({ LOG: 'info', MODE: 'override', EXTRA: '1' });
    expect(web?.labels).toEqual({ a: '1', b: '2', c: '3' });
    expect(web?.deploy?.labels).toEqual({ tier: 'front', canary: 'true' });
  });

  it('ports merge by host ip, published, target and protocol (equal ones once)', () => {
    expect(web?.ports?.map((p) => `${p.published}:${p.target}/${p.protocol}`)).toEqual(['8080:80/tcp', '9090:90/tcp', '8081:80/tcp', '9090:90/udp']);
  });

  it('volumes merge by target: the later file wins', () => {
    expect(web?.volumes?.map((v) => `${v.type}:${v.source?.replace(/^.*\//, '')}:${v.target}`)).toEqual(['volume:logs:/data', 'bind:conf:/conf']);
  });

  it('secrets merge by target', () => {
    expect(web?.secrets).toEqual([{ source: 'other', target: 'pw' }]);
  });

  it('networks and depends_on merge by name, list and map forms alike', () => {
    expect(web?.networks).toEqual({ front: {}, back: { aliases: ['web-back'] } });
    expect(web?.depends_on).toEqual({ db: { condition: 'service_started', required: true }, cache: { condition: 'service_healthy', required: true } });
  });

  it('other sequences are appended without duplicates', () => {
    expect(web?.cap_add).toEqual(['NET_ADMIN', 'SYS_TIME']);
    expect(web?.dns).toEqual(['10.0.0.53', '10.0.0.54']);
    expect(web?.deploy?.placement?.constraints).toEqual(['node.role==worker', 'node.labels.zone==a']);
  });

  it('mappings merge recursively; healthcheck.test is replaced', () => {
    expect(web?.healthcheck).toEqual({ test: ['CMD-SHELL', 'curl -f http://localhost/health'], interval: '30s', retries: 5 });
    expect(web?.deploy?.resources).toEqual({ limits: { cpus: '1', memory: '256M' } });
    expect(web?.deploy?.replicas).toBe(2);
  });
});

describe('merge tags and order', () => {
  it('!reset removes a value, !override replaces it whole', () => {
    const { web } = mergedWeb(
      {
        'compose.yml': BASE,
        'prod.yml': `
services:
  web:
    ports: !override ["443:443"]
    cap_add: !reset []
    healthcheck: !reset {}
    environment: !override
      ONLY: this
    deploy:
      resources: !reset null
`,
      },
      ['compose.yml', 'prod.yml'],
    );
    expect(web?.ports).toEqual([{ target: 443, published: 443, protocol: 'tcp', mode: 'ingress' }]);
    expect(web?.cap_add).toBeUndefined();
    expect(web?.healthcheck).toBeUndefined();
    expect(web?.environment).toEqual({ ONLY: 'this' });
    expect(web?.deploy?.resources).toBeUndefined();
    expect(web?.deploy?.replicas).toBe(2);
  });

  it('three files apply in order; a tag in a single file is just its value', () => {
    const { web } = mergedWeb(
      {
        'compose.yml': 'services:\n  web:\n    image: a\n    environment: {N: "1"}\n',
        'two.yml': 'services:\n  web:\n    image: b\n    environment: {N: "2"}\n',
        'three.yml': 'services:\n  web:\n    environment: {N: "3"}\n    ports: !override ["80"]\n',
      },
      ['compose.yml', 'two.yml', 'three.yml'],
    );
    expect(web?.image).toBe('b');
    expect(web?.environment).toEqual({ N: '3' });
    expect(web?.ports).toEqual([{ target: 80, protocol: 'tcp', mode: 'ingress' }]);
  });

  it('with several files, an interpolation error names the file it is in', () => {
    const issues = issuesOf('services:\n  web:\n    image: a\n', { 'bad.yml': 'services:\n  web:\n    image: ${MISSING:?set it}\n' }, { files: ['compose.yml', 'bad.yml'] });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toMatch(/\/bad\.yml: services\.web\.image$/);
    expect(issues[0]?.message).toBe('required variable MISSING is missing a value: set it');
  });
});
