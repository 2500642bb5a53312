import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ComposeError } from './errors.js';
import { loadCompose } from './load.js';
import { stringifyCompose } from './stringify.js';
import { issuesOf, load, removeFixtures, writeFixture } from './testing.js';

afterEach(removeFixtures);

describe('YAML', () => {
  it('resolves anchors, aliases and merge keys (one and several), and keeps x- extensions', () => {
    const { config, warnings } = load(`
x-logging: &defaults
  restart_policy:
    condition: on-failure
    max_attempts: 3
  labels:
    team: shop
x-resources: &resources
  resources:
    limits: {cpus: "0.5", memory: 64M}
x-image: &image "registry.local/app:1"

services:
  api:
    image: *image
    x-owner: alice
    deploy:
      <<: [*defaults, *resources]
      replicas: 2
      labels:
        team: api   # overrides the merged value
  worker:
    image: *image
    deploy:
      <<: *defaults
`);
    expect(warnings).toEqual([]);
    expect(config.services['api']).toEqual({
      image: 'registry.local/app:1',
      'x-owner': 'alice',
      networks: { default: {} },
      deploy: {
        replicas: 2,
        labels: { team: 'api' },
        resources: { limits: { cpus: '0.5', memory: '64M' } },
        restart_policy: { condition: 'on-failure', max_attempts: 3 },
      },
    });
    expect(config.services['worker']?.deploy).toEqual({ labels: { team: 'shop' }, restart_policy: { condition: 'on-failure', max_attempts: 3 } });
    expect(config['x-image']).toBe('registry.local/app:1');
    expect(Object.keys(config).filter((k) => k.startsWith('x-'))).toEqual(['x-logging', 'x-resources', 'x-image']);
  });

  it('accepts the obsolete version key, quoted or not', () => {
    expect(load('version: 3.8\nservices:\n  web: {image: x}\n').warnings).toEqual([]);
    expect(load('version: "3"\nservices:\n  web: {image: x}\n').warnings).toEqual([]);
  });

  it('reads 0440 as octal, as compose does (and 0o440)', () => {
    const { config } = load(`
services:
  web:
    image: busybox
    secrets:
      - {source: a, mode: 0440}
      - {source: b, mode: 0o400}
      - {source: c, mode: "0600"}
secrets:
  a: {external: true}
  b: {external: true}
  c: {external: true}
`);
    expect(config.services['web']?.secrets?.map((s) => s.mode)).toEqual([0o440, 0o400, 0o600]);
  });

  it('reports syntax errors with file, line and column, and duplicate keys', () => {
    expect(issuesOf('services:\n  web:\n    image: a\n    image: b\n')).toEqual([
      { path: expect.stringMatching(/compose\.yml:4:5$/) as unknown as string, message: 'Map keys must be unique' },
    ]);
    const [bad] = issuesOf('services:\n  web:\n   image: [a\n');
    expect(bad?.path).toMatch(/compose\.yml:\d+:\d+$/);
    expect(issuesOf('services: {}\n---\nservices: {}\n')[0]?.message).toBe('has several YAML documents: a compose file holds one');
    expect(issuesOf('# nothing\n')[0]?.message).toBe('is empty: a compose file is a mapping with at least a services key');
    expect(issuesOf('- a\n- b\n')[0]?.message).toBe('must be a mapping (services:, networks:, ...) at the top level');
    expect(issuesOf('a: &x [*x]\n')[0]?.path).toMatch(/compose\.yml/);
  });

  it('reports a missing file by the name given', () => {
    const dir = writeFixture({});
    const file = join(dir, 'nope.yml');
    expect(() => loadCompose({ files: [file], env: {} })).toThrow(new ComposeError([{ path: file, message: 'cannot read: no such file' }]));
  });
});

describe('environment and env_file', () => {
  it('merges env_file entries (in order) under environment, list and map forms alike', () => {
    const { config } = load(
      `
services:
  web:
    image: busybox
    env_file: [common.env, {path: web.env, required: true}, {path: missing.env, required: false}]
    environment:
      - FROM_LIST=1
      - WEB=from-environment
      - PASSED_THROUGH
      - NOT_SET_ANYWHERE
  db:
    image: busybox
    env_file: db/db.env
    environment:
      NUM: 5432
      BOOL: true
      NULLED:
`,
      {
        'common.env': 'COMMON=1\nWEB=from-common\nREF=${SHELL_VAR}-${COMMON}\n',
        'web.env': '# web\nWEB=from-web-env\n',
        'db/db.env': 'NULLED=from-file\n',
      },
      { env: { PASSED_THROUGH: 'from-shell', SHELL_VAR: 'sh' } },
    );
    expect(config.services['web']?.environment).toEqual({
      COMMON: '1',
      WEB: 'from-environment',
      REF: 'sh-1',
      FROM_LIST: '1',
      PASSED_THROUGH: 'from-shell',
      NOT_SET_ANYWHERE: null,
    });
    expect(config.services['db']?.environment).toEqual({ NULLED: 'from-file', NUM: '5432', BOOL: 'true' });
  });

  it('a missing required env_file is an error naming the entry', () => {
    expect(issuesOf('services:\n  web:\n    image: busybox\n    env_file: [a.env, nope.env]\n', { 'a.env': 'A=1\n' })).toEqual([
      { path: 'services.web.env_file[1]', message: 'cannot read nope.env: no such file' },
    ]);
  });

  it('env_file paths are relative to the working directory', () => {
    const dir = writeFixture({ 'sub/compose.yml': 'services:\n  web:\n    image: busybox\n    env_file: app.env\n', 'app.env': 'WHERE=top\n', 'sub/app.env': 'WHERE=sub\n' });
    expect(loadCompose({ files: [join(dir, 'sub/compose.yml')], env: {} }).config.services['web']?.environment).toEqual({ WHERE: 'sub' });
    const moved = loadCompose({ files: [join(dir, 'sub/compose.yml')], env: {}, workingDir: dir });
    expect(moved.config.services['web']?.environment).toEqual({ WHERE: 'top' });
    expect(moved.workingDir).toBe(dir);
  });
});

describe('stringifyCompose', () => {
  const yml = `
x-note: "costs $$5"
services:
  web:
    image: nginx
    command: echo "$$HOME" \${GREETING:-hi}
    ports: ["8080:80", "9000-9001:9000-9001/udp"]
    volumes: ["data:/data", "./html:/usr/share/nginx/html:ro", "/anon"]
    tmpfs: ["/run:size=64m,mode=1777"]
    environment: [A=1, B]
    secrets: [{source: s, mode: 0440}]
    healthcheck: {disable: true}
    depends_on: [db]
    deploy:
      mode: replicated-job
      resources: {limits: {memory: 1g}}
  db:
    image: postgres
networks:
  back: {attachable: true}
volumes:
  data:
secrets:
  s: {file: ./s.txt}
`;

  it('prints sections in compose order and keys sorted, with $ escaped', () => {
    const { config } = load(yml, { 's.txt': 'x' }, { env: { B: 'b' } });
    const out = stringifyCompose(config);
    expect(out.split('\n').filter((l) => /^\S/.test(l))).toEqual(['services:', 'networks:', 'volumes:', 'secrets:', 'x-note: costs $$5']);
    expect(out).toContain('      - echo\n      - $$HOME\n      - hi\n');
    expect(out).toContain('      - mode: 0o440\n        source: s\n');
    expect(out.indexOf('  db:')).toBeLessThan(out.indexOf('  web:'));
  });

  it('prints what loads back to the same model', () => {
    const first = load(yml, { 's.txt': 'x' }, { env: { B: 'b' } });
    const dir = writeFixture({ 'again.yml': stringifyCompose(first.config) });
    const again = loadCompose({ files: [join(dir, 'again.yml')], env: { B: 'changed: must not matter' }, workingDir: first.dir });
    expect(again.config).toEqual(first.config);
    expect(again.warnings).toEqual([]);
  });
});
