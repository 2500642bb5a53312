import { Command } from 'commander';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeFixtures, writeFixture } from '../../stack/testing.js';
import { createContext } from '../context.js';
import { reportError } from '../errors.js';
import { registerStackConfig, stackConfig } from './stack-config.js';

// `swarm stack config` through its own command function and through a commander tree as
// cli/commands/stack.ts builds it: no daemon involved.

afterEach(removeFixtures);

function harness(env: Record<string, string | undefined> = {}) {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: { write: (s: string | Uint8Array) => (out.stdout += String(s)) },
    stderr: { write: (s: string | Uint8Array) => (out.stderr += String(s)) },
    env,
  };
  const ctx = createContext(io, {}, () => ({}));
  /** Runs `swarm stack ...args` and returns the exit code as runCli would. */
  const run = async (...args: string[]): Promise<number> => {
    const program = new Command('swarm').exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: () => undefined });
    registerStackConfig(program.command('stack'), ctx);
    try {
      await program.parseAsync(['stack', ...args], { from: 'user' });
      return 0;
    } catch (err) {
      return reportError(io.stderr, err);
    }
  };
  return { out, ctx, run };
}

const BASE = 'services:\n  web:\n    image: nginx:${TAG:-1.25}\n    ports: ["8080:80"]\n    build: .\n';
const OVERRIDE = 'services:\n  web:\n    deploy:\n      replicas: 2\n';

describe('swarm stack config', () => {
  it('prints the merged, interpolated file; warnings go to stderr', async () => {
    const dir = writeFixture({ 'compose.yml': BASE, 'prod.yml': OVERRIDE });
    const h = harness({ TAG: '1.27' });
    expect(await h.run('config', '-c', join(dir, 'compose.yml'), '--compose-file', join(dir, 'prod.yml'))).toBe(0);
    expect(h.out.stdout).toBe(
      [
        'services:',
        '  web:',
        '    deploy:',
        '      replicas: 2',
        '    image: nginx:1.27',
        '    networks:',
        '      default: {}',
        '    ports:',
        '      - mode: ingress',
        '        protocol: tcp',
        '        published: 8080',
        '        target: 80',
        'networks:',
        '  default: {}',
        '',
      ].join('\n'),
    );
    expect(h.out.stderr).toBe('Warning: Ignoring unsupported options: build\n');
  });

  it('exits 1 with one Error line per problem and prints nothing on stdout', async () => {
    const dir = writeFixture({ 'compose.yml': 'services:\n  web:\n    image: x\n    deploy:\n      replicas: -1\n      mode: everywhere\n  db:\n    ports: ["99999"]\n' });
    const h = harness();
    expect(await h.run('config', '-c', join(dir, 'compose.yml'))).toBe(1);
    expect(h.out.stdout).toBe('');
    expect(h.out.stderr).toBe(
      [
        'Error: services.web.deploy.mode: must be one of replicated, global, replicated-job, global-job (got "everywhere")',
        'Error: services.web.deploy.replicas: must be a non-negative integer',
        'Error: services.db.image: required',
        'Error: services.db.ports[0]: invalid target port 99999: must be from 1 to 65535',
        '',
      ].join('\n'),
    );
  });

  it('a missing file and a missing variable are reported the same way', async () => {
    const dir = writeFixture({ 'compose.yml': 'services:\n  web:\n    image: ${IMAGE:?which image}\n' });
    const h = harness();
    expect(await h.run('config', '-c', join(dir, 'compose.yml'), '-c', join(dir, 'nope.yml'))).toBe(1);
    expect(h.out.stderr).toBe(`Error: ${join(dir, 'compose.yml')}: services.web.image: required variable IMAGE is missing a value: which image\nError: ${join(dir, 'nope.yml')}: cannot read: no such file\n`);
  });

  it('without -c it is a usage error (exit 2)', async () => {
    const h = harness();
    expect(await h.run('config')).toBe(2);
    expect(h.out.stderr).toBe('Error: specify a compose file with --compose-file (-c)\n');
    expect(() => stackConfig(h.ctx, [])).toThrow('specify a compose file with --compose-file (-c)');
  });

  it('reads variables from the CLI environment, not the process', () => {
    const dir = writeFixture({ 'compose.yml': 'services:\n  web:\n    image: app:${SWARM_STACK_TEST_TAG}\n' });
    const h = harness({ SWARM_STACK_TEST_TAG: 'from-cli-env' });
    stackConfig(h.ctx, [join(dir, 'compose.yml')]);
    expect(h.out.stdout).toContain('image: app:from-cli-env\n');
  });
});
