import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../testing.js';

let d: FakeDaemon;

beforeEach(async () => {
  d = await startFakeDaemon();
  await d.backend.initSwarm({ ListenAddr: '', AdvertiseAddr: '192.0.2.1', ForceNewCluster: false, DefaultAddrPool: [], SubnetSize: 0, Spec: {} });
  d.backend.addNode({ id: 'a1b2c3d4e5f6g7h8i9j0k1l2m', hostname: 'host10' });
  d.backend.addNode({ id: 'z9y8x7w6v5u4t3s2r1q0p9o8n', hostname: 'host2', role: 'manager', reachability: 'reachable' });
  d.backend.addNode({ id: 'q1w2e3r4t5y6u7i8o9p0a1s2d', hostname: 'host3', state: 'down', availability: 'drain', engineVersion: '0.0.9' });
  d.backend.calls.length = 0;
});

afterEach(async () => {
  await d.close();
});

describe('swarm node ls', () => {
  it('prints docker\'s table, sorted by hostname, with * after this node\'s ID', async () => {
    const r = await d.swarm('node', 'ls');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n' +
        'fakenode00000000000000001 *   host1      Ready     Active         Leader           0.1.0\n' +
        'z9y8x7w6v5u4t3s2r1q0p9o8n     host2      Ready     Active         Reachable        0.1.0\n' +
        'q1w2e3r4t5y6u7i8o9p0a1s2d     host3      Down      Drain                           0.0.9\n' +
        'a1b2c3d4e5f6g7h8i9j0k1l2m     host10     Ready     Active                          0.1.0\n',
    });
  });

  it('-q prints IDs; --filter goes to the API in docker\'s encoding', async () => {
    const r = await d.swarm('node', 'ls', '-q', '--filter', 'role=manager', '-f', 'name=host');
    expect(r.stdout).toBe('fakenode00000000000000001\nz9y8x7w6v5u4t3s2r1q0p9o8n\n');
    expect(d.backend.calls.find((c) => c.method === 'listNodes')?.args).toEqual([{ role: ['manager'], name: ['host'] }]);
  });

  it('--format json prints one object per node', async () => {
    const lines = (await d.swarm('node', 'ls', '--format', 'json')).stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      Availability: 'Active',
      EngineVersion: '0.1.0',
      Hostname: 'host1',
      ID: 'fakenode00000000000000001',
      ManagerStatus: 'Leader',
      Self: true,
      Status: 'Ready',
    });
  });

  it('refuses bad flag values before calling the API (exit 2)', async () => {
    expect(await d.swarm('node', 'ls', '--filter', 'role')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'Error: invalid value "role" for --filter: expected key=value, e.g. role=manager\nHint: run \'swarm node ls --help\' for usage\n',
    });
    expect((await d.swarm('node', 'ls', '--format', 'yaml')).stderr).toMatch(/^Error: invalid value "yaml" for --format: must be one of table, json\n/);
    expect(d.backend.calls).toEqual([]);
  });

  it('passes an API error for an unknown filter through as one Error line', async () => {
    expect(await d.swarm('node', 'ls', '-f', 'colour=red')).toEqual({
      code: 1,
      stdout: '',
      stderr: "Error: invalid filter 'colour': filter by one of id, label, membership, name, node.label, role\n",
    });
  });
});

describe('swarm node inspect', () => {
  it('prints a JSON array like docker; "self" is this node', async () => {
    const r = await d.swarm('node', 'inspect', 'self', 'host2');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[\n {4}\{\n {8}"ID": "fakenode00000000000000001",/);
    expect((JSON.parse(r.stdout) as { ID: string }[]).map((n) => n.ID)).toEqual(['fakenode00000000000000001', 'z9y8x7w6v5u4t3s2r1q0p9o8n']);
  });

  it('prints what it found, then fails for a missing node (exit 1)', async () => {
    const r = await d.swarm('node', 'inspect', 'host3', 'nope');
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(1);
    expect(r.stderr).toBe('Error: node nope not found\n');
  });

  it('--pretty prints the human form', async () => {
    await d.swarm('node', 'update', '--label-add', 'zone=a', 'host2');
    const r = await d.swarm('node', 'inspect', '--pretty', 'host2');
    expect(r.stdout).toBe(
      [
        'ID:                     z9y8x7w6v5u4t3s2r1q0p9o8n',
        'Labels:',
        ' - zone=a',
        'Hostname:               host2',
        'Joined at:              2025-01-01T00:00:00.000Z',
        'Status:',
        ' State:                 Ready',
        ' Availability:          Active',
        ' Address:               192.0.2.12',
        'Manager Status:',
        ' Address:               192.0.2.12:2377',
        ' Raft Status:           Reachable',
        ' Leader:                No',
        'Platform:',
        ' Operating System:      linux',
        ' Architecture:          x86_64',
        'Resources:',
        ' CPUs:                  4',
        ' Memory:                8GiB',
        'Engine Version:         0.1.0',
        '',
      ].join('\n'),
    );
    expect((await d.swarm('node', 'inspect', '--pretty', '--format', 'json', 'host2')).code).toBe(2);
  });
});

describe('swarm node promote | demote | update | rm', () => {
  it('promote and demote read the node and write Spec.Role back with its version', async () => {
    const r = await d.swarm('node', 'promote', 'host10', 'host2');
    expect(r.stdout).toBe('Node host10 promoted to a manager in the swarm.\nNode host2 is already a manager.\n');
    expect(r.code).toBe(0);
    const update = d.backend.calls.find((c) => c.method === 'updateNode');
    expect(update?.args).toEqual(['a1b2c3d4e5f6g7h8i9j0k1l2m', 3, { Labels: {}, Role: 'manager', Availability: 'active' }]);
    expect((await d.swarm('node', 'demote', 'host10')).stdout).toBe('Manager host10 demoted in the swarm.\n');
    expect((await d.swarm('node', 'demote', 'host10')).stdout).toBe('Node host10 is already a worker.\n');
  });

  it('update merges availability, role and labels into the spec', async () => {
    await d.swarm('node', 'update', '--label-add', 'zone=a', '--label-add', 'ssd', 'host10');
    const r = await d.swarm('node', 'update', '--availability', 'drain', '--label-rm', 'ssd', '--label-add', 'rack=7', 'host10');
    expect(r).toEqual({ code: 0, stdout: 'host10\n', stderr: '' });
    const last = d.backend.calls.filter((c) => c.method === 'updateNode').at(-1);
    expect(last?.args[2]).toEqual({ Labels: { zone: 'a', rack: '7' }, Role: 'worker', Availability: 'drain' });
  });

  it('update checks its flags and says what is missing', async () => {
    expect(await d.swarm('node', 'update', '--availability', 'sleep', 'host10')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'Error: invalid value "sleep" for --availability: must be one of active, pause, drain\nHint: run \'swarm node update --help\' for usage\n',
    });
    expect((await d.swarm('node', 'update', '--role', 'boss', 'host10')).stderr).toMatch(/^Error: invalid value "boss" for --role: must be one of worker, manager\n/);
    expect((await d.swarm('node', 'update', '--label-add', '=x', 'host10')).stderr).toMatch(/^Error: invalid value "=x" for --label-add: the label key is empty/);
    expect((await d.swarm('node', 'update', 'host10')).stderr).toMatch(/^Error: nothing to update: give --availability, --role, --label-add or --label-rm\n/);
    expect((await d.swarm('node', 'update', '--availability', 'drain')).stderr).toMatch(/^Error: missing required argument 'node'\n/);
    expect(d.backend.calls).toEqual([]);
    expect(await d.swarm('node', 'update', '--label-rm', 'nope', 'host10')).toEqual({ code: 1, stdout: '', stderr: "Error: key nope doesn't exist in node's labels\n" });
  });

  it('rm removes each node it can and reports each failure with its hint', async () => {
    const r = await d.swarm('node', 'rm', 'host10', 'host3', 'host2');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('host3\n');
    expect(r.stderr).toBe(
      "Error: node a1b2c3d4e5f6g7h8i9j0k1l2m is not down and can't be removed\n" +
        "Hint: use 'swarm node rm --force host10' to remove it anyway\n" +
        'Error: node z9y8x7w6v5u4t3s2r1q0p9o8n is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal\n' +
        "Hint: run 'swarm node demote host2' first\n",
    );
    expect(await d.swarm('node', 'rm', '--force', 'host10')).toEqual({ code: 0, stdout: 'host10\n', stderr: '' });
  });
});
