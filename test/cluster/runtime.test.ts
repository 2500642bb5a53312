import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { ClusterHarness, waitFor } from './harness.js';

// Containers through the real daemon and CLI: an image loaded on one node runs on another with
// no registry (peer-to-peer), images build and push, and `swarm run` passes exit codes through.

let h: ClusterHarness;
let work: string;
let registry: TestRegistry;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'swarm-runtime-e2e-'));
  registry = await startRegistry();
  h = ClusterHarness.create('runtime', { extraDaemonArgs: ['--insecure-registry', registry.addr] });
  await h.add('n1');
  await h.add('n2');
  const init = await h.ok('n1', 'init', '--advertise-addr', h.node('n1').addr);
  const token = /swarm join --token (\S+)/.exec(init)![1]!;
  await h.ok('n2', 'join', '--token', token, h.node('n1').addr);
  await writeBusyboxImageArchive(join(work, 'busybox.tar'), { name: 'busybox:test', format: 'docker' });
}, 60_000);

afterAll(async () => {
  await h?.cleanup();
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('containers through the daemon', () => {
  it('loads an image on one node and runs it on another, fetched from the peer', async () => {
    expect(await h.ok('n1', 'image', 'load', '-i', join(work, 'busybox.tar'))).toMatch(/Loaded image: busybox:test/);
    expect((await h.cli('n2', 'image', 'inspect', 'busybox:test')).code).not.toBe(0);
    // n2 learns that n1 is up by gossip, then asks it for the image.
    await waitFor(async () => {
      const peers = await h.api<{ nodes: { state: string }[] }>('n2', 'GET', '/swarm/peers');
      return peers.body.nodes.filter((n) => n.state === 'ready').length === 2 ? true : undefined;
    }, 'n2 to see both nodes ready');
    const r = await h.cli('n2', 'run', '--rm', 'busybox:test', 'sh', '-c', 'echo hello from $(hostname); exit 3');
    expect(r.stdout).toMatch(/hello from /);
    expect(r.code).toBe(3);
    expect(await h.ok('n2', 'image', 'ls')).toMatch(/busybox\s+test/);
  }, 60_000);

  it('names the peers and registry it asked when an image exists nowhere', async () => {
    const r = await h.cli('n2', 'run', '--rm', `${registry.addr}/nothing/here:1`, 'true');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/image not found: .*nothing\/here:1 \(asked: 1 peers, registry 127\.0\.0\.1:\d+/);
  }, 30_000);

  it('builds an image, pushes it to a registry and pulls it on the other node', async () => {
    const ctx = join(work, 'ctx');
    rmSync(ctx, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:test\nCOPY msg.txt /msg.txt\nRUN echo built >> /msg.txt\nCMD ["cat", "/msg.txt"]\n');
    writeFileSync(join(ctx, 'msg.txt'), 'from the context\n');
    const tag = `${registry.addr}/demo/app:1`;
    const build = await h.ok('n1', 'image', 'build', '-t', tag, ctx);
    expect(build).toMatch(/Step 4\/4 : CMD/);
    await h.ok('n1', 'image', 'push', tag);
    // The peer has it too, but a pull asks the registry explicitly.
    await h.ok('n2', 'image', 'pull', tag);
    const r = await h.cli('n2', 'run', '--rm', tag);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from the context\nbuilt\n');
  }, 90_000);

  it('keeps a detached container running across a daemon restart', async () => {
    const id = (await h.ok('n1', 'run', '-d', '--name', 'sleeper', 'busybox:test', 'sh', '-c', 'echo started; sleep 600')).trim();
    expect(id).toMatch(/^[0-9a-f]{12,64}$/);
    await h.node('n1').kill('SIGKILL');
    await h.node('n1').start();
    const ls = await waitFor(async () => {
      const r = await h.cli('n1', 'container', 'ls');
      return r.code === 0 && r.stdout.includes('sleeper') ? r.stdout : undefined;
    }, 'the container to be re-adopted');
    expect(ls).toMatch(/sleeper/);
    expect(await h.ok('n1', 'container', 'logs', 'sleeper')).toMatch(/started/);
    await h.ok('n1', 'container', 'rm', '-f', 'sleeper');
    expect(await h.ok('n1', 'container', 'ls', '-a')).not.toMatch(/sleeper/);
  }, 60_000);
});
