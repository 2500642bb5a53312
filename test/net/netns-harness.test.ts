import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { NodeObject } from '../../node/store/types.js';
import { NetnsHarness } from './netns-harness.js';
import { spawnSync } from 'node:child_process';

function rootLinks(): string {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
}

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

describe('NetnsHarness: hosts in network namespaces on a bridge', () => {
  let h: NetnsHarness | undefined;

  afterEach(async () => {
    await h?.cleanup();
  });

  it('connects two hosts over the underlay, with no default route, and leaves nothing behind', async () => {
    h = NetnsHarness.create('underlay', { hosts: 2 });
    const [a, b] = [h.host(0), h.host(1)];
    expect(h.prefix.length + 3).toBeLessThanOrEqual(15);
    expect(a.ip).not.toBe(b.ip);
    expect(namespaces()).toContain(a.netns);
    expect(rootLinks()).toContain(`${h.prefix}br`);

    const ab = await h.exec(0, ['busybox', 'ping', '-c1', '-W1', b.ip]);
    expect(ab.code, ab.stderr + ab.stdout).toBe(0);
    const ba = await h.exec(1, ['busybox', 'ping', '-c1', '-W1', a.ip]);
    expect(ba.code, ba.stderr + ba.stdout).toBe(0);

    const routes = await h.exec(0, ['ip', 'route']);
    expect(routes.code).toBe(0);
    expect(routes.stdout).toContain(h.subnet);
    expect(routes.stdout).not.toMatch(/default/);

    const prefix = h.prefix;
    await h.cleanup();
    await h.cleanup(); // idempotent
    expect(namespaces()).not.toContain(prefix);
    expect(rootLinks()).not.toContain(prefix);
  });
});

describe('a cluster over namespace hosts', () => {
  let h: NetnsHarness | undefined;

  afterAll(async () => {
    await h?.cleanup();
  });

  it('forms 1 manager + 2 workers whose node addresses are the underlay IPs', async () => {
    h = NetnsHarness.create('cluster', { hosts: 3 });
    await h.formCluster({ managers: 1 });
    const table = await h.ok(0, 'node', 'ls');
    const rows = table.split('\n').slice(1).filter((l) => l.trim() !== '');
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toMatch(/\sReady\s/);
    expect(rows.filter((r) => /Leader/.test(r))).toHaveLength(1);

    const nodes = JSON.parse(await h.ok(0, 'node', 'inspect', 'host0', 'host1', 'host2')) as NodeObject[];
    const byName = new Map(nodes.map((n) => [n.Description.Hostname, n]));
    for (let i = 0; i < 3; i++) {
      const n = byName.get(h.host(i).name);
      expect(n, `node ${h.host(i).name}`).toBeDefined();
      expect(n!.Status.State).toBe('ready');
      expect(n!.Status.Addr).toBe(h.host(i).ip);
      expect(n!.Spec.Role).toBe(i === 0 ? 'manager' : 'worker');
    }
    expect(byName.get('host0')!.ManagerStatus?.Addr).toBe(h.addr(0));
  }, 45_000);
});
