import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_VERSION as SERVER_API_VERSION, FakeSwarmBackend } from '../node/api/index.js';
import { API_VERSION } from './client.js';
import type { DaemonOptions } from './daemon-options.js';
import { runCaptured, startFakeDaemon, type FakeDaemon } from './testing.js';

let d: FakeDaemon;

beforeEach(async () => {
  d = await startFakeDaemon(new FakeSwarmBackend({ hostname: 'host1', nodeId: 'x2w0mpnwyjnoqymu9ujfmbc0a' }));
});

afterEach(async () => {
  await d.close();
});

describe('swarm init | join | join-token | leave', () => {
  it('init sends Docker\'s InitRequest and prints docker\'s message with the worker join command', async () => {
    const r = await d.swarm('init', '--advertise-addr', '192.0.2.10', '--default-addr-pool', '10.20.0.0/16', '--default-addr-pool-mask-length', '26', '--dispatcher-heartbeat', '500ms');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout:
        'Swarm initialized: current node (x2w0mpnwyjnoqymu9ujfmbc0a) is now a manager.\n\n' +
        'To add a worker to this swarm, run the following command:\n\n' +
        '    swarm join --token SWMTKN-1-fakefingerprint-worker0 192.0.2.10:2377\n\n' +
        "To add a manager to this swarm, run 'swarm join-token manager' and follow the instructions.\n\n",
    });
    expect(d.backend.calls[0]).toEqual({
      method: 'initSwarm',
      args: [
        {
          ListenAddr: '',
          AdvertiseAddr: '192.0.2.10',
          ForceNewCluster: false,
          DefaultAddrPool: ['10.20.0.0/16'],
          SubnetSize: 26,
          Spec: { Dispatcher: { HeartbeatPeriod: 500_000_000 } },
        },
      ],
    });
  });

  it('init refuses bad flag values naming the flag (exit 2), before any API call', async () => {
    const cases: [string[], string][] = [
      [['--dispatcher-heartbeat', '5'], 'Error: invalid value "5" for --dispatcher-heartbeat: not a duration: use a number with a unit, e.g. 500ms, 5s, 1m30s, 2h'],
      [['--dispatcher-heartbeat', '0s'], 'Error: invalid value "0s" for --dispatcher-heartbeat: must be longer than 0'],
      [['--default-addr-pool', '10.0.0.1/8'], 'Error: invalid value "10.0.0.1/8" for --default-addr-pool: host bits are set: did you mean 10.0.0.0/8?'],
      [['--default-addr-pool-mask-length', '40'], 'Error: invalid value "40" for --default-addr-pool-mask-length: must be between 1 and 32'],
      [['--default-addr-pool', '10.0.0.0/24', '--default-addr-pool-mask-length', '16'], 'Error: invalid value 16 for --default-addr-pool-mask-length: subnets of /16 do not fit in --default-addr-pool 10.0.0.0/24'],
      [['--advertise-addr', '192.0.2.1:0'], 'Error: invalid value "192.0.2.1:0" for --advertise-addr: the port must be a number between 1 and 65535, got "0"'],
      [['--listen-addr'], "Error: option '--listen-addr <addr>' argument missing"],
      [['--frob'], "Error: unknown option '--frob'"],
    ];
    for (const [args, message] of cases) {
      expect(await d.swarm('init', ...args)).toEqual({ code: 2, stdout: '', stderr: `${message}\nHint: run 'swarm init --help' for usage\n` });
    }
    expect(d.backend.calls).toEqual([]);
  });

  it('init on a node already in a swarm prints the API error (exit 1)', async () => {
    await d.swarm('init');
    expect(await d.swarm('init')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error: This node is already part of a swarm. Use "swarm leave" to leave this swarm and join another one.\n',
    });
  });

  it('join sends Docker\'s JoinRequest and says which role the node got', async () => {
    const token = 'SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx';
    const r = await d.swarm('join', '--token', token, '--advertise-addr', '192.0.2.11', '192.0.2.10:2377');
    expect(r).toEqual({ code: 0, stdout: 'This node joined a swarm as a worker.\n', stderr: '' });
    expect(d.backend.calls[0]?.args).toEqual([{ ListenAddr: '', AdvertiseAddr: '192.0.2.11', RemoteAddrs: ['192.0.2.10:2377'], JoinToken: token }]);
    const m = await startFakeDaemon();
    try {
      m.backend.joinRole = 'manager';
      expect((await m.swarm('join', '--token', token, '192.0.2.10')).stdout).toBe('This node joined a swarm as a manager.\n');
    } finally {
      await m.close();
    }
  });

  it('join checks the token and the address before calling the API', async () => {
    expect((await d.swarm('join', '192.0.2.10:2377')).stderr).toBe("Error: required option '--token <token>' not specified\nHint: run 'swarm join --help' for usage\n");
    expect((await d.swarm('join', '--token', 'SWMTKN-1-a-b', '192.0.2.10:70000')).stderr).toMatch(
      /^Error: invalid value "192.0.2.10:70000" for argument host:port: the port must be a number between 1 and 65535/,
    );
    const bad = await d.swarm('join', '--token', 'letmein', '192.0.2.10');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^Error: invalid value "letmein" for --token: expected a join token of the form SWMTKN-1-<fingerprint>-<secret>/);
    expect(d.backend.calls).toEqual([]);
  });

  it('join-token prints the join command, -q the token alone, --rotate replaces it', async () => {
    await d.swarm('init', '--advertise-addr', '192.0.2.10');
    expect((await d.swarm('join-token', 'manager')).stdout).toBe(
      'To add a manager to this swarm, run the following command:\n\n    swarm join --token SWMTKN-1-fakefingerprint-manager0 192.0.2.10:2377\n\n',
    );
    expect((await d.swarm('join-token', '-q', 'worker')).stdout).toBe('SWMTKN-1-fakefingerprint-worker0\n');
    const rotated = await d.swarm('join-token', '--rotate', 'worker');
    expect(rotated.stdout).toMatch(/^Successfully rotated worker join token\.\n\nTo add a worker to this swarm, run the following command:\n\n {4}swarm join --token SWMTKN-1-fakefingerprint-worker1 /);
    const update = d.backend.calls.find((c) => c.method === 'updateSwarm')?.args[0] as { rotateWorkerToken: boolean; rotateManagerToken: boolean; version: number };
    expect(update).toMatchObject({ rotateWorkerToken: true, rotateManagerToken: false, version: 1 });
    expect((await d.swarm('join-token', '--rotate', '-q', 'manager')).stdout).toBe('SWMTKN-1-fakefingerprint-manager2\n');
    expect((await d.swarm('join-token', 'boss')).stderr).toMatch(/^Error: invalid value "boss" for argument role: must be one of worker, manager\n/);
  });

  it('leave needs --force on a manager, with the API\'s hint', async () => {
    await d.swarm('init');
    expect(await d.swarm('leave')).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'Error: You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm.\n' +
        "Hint: use 'swarm leave --force' to leave anyway\n",
    });
    expect(await d.swarm('leave', '--force')).toEqual({ code: 0, stdout: 'Node left the swarm.\n', stderr: '' });
  });
});

describe('swarm info | version', () => {
  it('info prints the swarm summary', async () => {
    await d.swarm('init', '--advertise-addr', '192.0.2.10');
    const r = await d.swarm('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      ' Swarm: active\n' +
        '  NodeID: x2w0mpnwyjnoqymu9ujfmbc0a\n' +
        '  Is Manager: true\n' +
        '  ClusterID: fakecluster0000000000000001\n' +
        '  Managers: 1\n' +
        '  Nodes: 1\n',
    );
    expect(r.stdout).toContain('   Heartbeat Period: 5 seconds\n');
    expect(r.stdout).toContain('  Node Address: 192.0.2.10\n  Manager Addresses:\n   192.0.2.10:2377\n');
    expect(r.stdout).toContain(` Host: ${d.socket}\n`);
    const json = await d.swarm('info', '--format', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ Name: 'host1', Swarm: { LocalNodeState: 'active' } });
  });

  it('info on a node outside a swarm says inactive', async () => {
    expect((await d.swarm('info')).stdout).toContain(' Swarm: inactive\n Operating System:');
  });

  it('version prints client and server, and the client speaks the server\'s API version', async () => {
    expect(API_VERSION).toBe(SERVER_API_VERSION);
    const r = await d.swarm('version');
    expect(r.stdout).toMatch(/^Client:\n Version: {11}\S+\n API version: {7}1\.47\n/);
    expect(r.stdout).toContain('\nServer:\n Engine:\n  Version:          0.1.0\n  API version:      1.47 (minimum version 1.24)\n');
  });
});

describe('global behaviour', () => {
  it('a missing daemon is one clear line, exit 1', async () => {
    const sock = join(tmpdir(), 'swarm-nobody-here.sock');
    expect(await runCaptured(['-H', sock, 'node', 'ls'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: cannot connect to the swarm daemon at ${sock}: is \`swarm daemon\` running?\n`,
    });
    // version still prints the client half first
    const v = await runCaptured(['-H', sock, 'version']);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/^Client:\n/);
  });

  it('finds the daemon by -H unix:///path, by SWARM_HOST, and by default at /run/swarm/swarm.sock', async () => {
    await d.swarm('init');
    expect((await runCaptured(['-H', `unix://${d.socket}`, 'node', 'ls', '-q'])).stdout).toBe('x2w0mpnwyjnoqymu9ujfmbc0a\n');
    expect((await runCaptured(['node', 'ls', '-q'], { SWARM_HOST: `unix://${d.socket}` })).stdout).toBe('x2w0mpnwyjnoqymu9ujfmbc0a\n');
    expect((await runCaptured(['node', 'ls', '-q', '-H', d.socket], { SWARM_HOST: '/nonexistent.sock' })).code).toBe(0);
    expect((await runCaptured(['node', 'ls'], { SWARM_HOST: 'ssh://x' })).stderr).toMatch(/^Error: invalid SWARM_HOST "ssh:\/\/x": use unix:\/\/\/path/);
    expect((await runCaptured(['-H', 'http://x', 'node', 'ls'])).code).toBe(2);
    const fallback = await runCaptured(['node', 'ls']);
    expect(fallback.stderr).toMatch(/^Error: cannot connect to the swarm daemon at \/run\/swarm\/swarm.sock: /);
  });

  it('--log-level debug traces each API call on stderr', async () => {
    const r = await d.swarm('--log-level', 'debug', 'info', '--format', 'json');
    expect(r.stderr).toMatch(/^debug: GET \/v1\.47\/info -> 200 \(\d+ ms\)\n$/);
    expect((await d.swarm('--log-level', 'loud', 'info')).stderr).toMatch(/^Error: invalid value "loud" for --log-level: must be one of trace, debug, info, warn, error, silent\n/);
  });

  it('-v is the version before a command and the command\'s own flag after it (run -v is --volume)', async () => {
    expect((await runCaptured(['-v'])).stdout).toMatch(/^\d+\.\d+\.\d+/);
    const run = await runCaptured(['-H', join(tmpdir(), 'swarm-nobody-here.sock'), 'run', '-v', '/a:/b', 'alpine']);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^Error: cannot connect to the swarm daemon/);
    expect((await runCaptured(['run', '-v', 'nocolon', 'alpine'])).stderr).toMatch(/^Error: invalid value "nocolon" for --volume: /);
  });

  it('help and --version exit 0; unknown commands and a bare group exit 2', async () => {
    const help = await runCaptured(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: swarm \[options\] <command>/);
    expect(help.stdout).toContain('node');
    expect((await runCaptured(['node', 'ls', '--help'])).stdout).toContain('--filter <key=value>');
    expect((await runCaptured(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(await runCaptured(['frob'])).toEqual({ code: 2, stdout: '', stderr: "Error: unknown command 'frob'\nHint: run 'swarm --help' for usage\n" });
    const group = await runCaptured(['node']);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('Usage: swarm node');
    expect((await runCaptured(['node', 'ls', 'extra'])).stderr).toMatch(/^Error: too many arguments for 'ls'/);
  });
});

describe('swarm daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swarm-daemon-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function daemon(...args: string[]): Promise<{ code: number; stderr: string; options: DaemonOptions | undefined }> {
    let options: DaemonOptions | undefined;
    const r = await runCaptured(['daemon', ...args], {}, { runDaemon: async (o) => void (options = o) });
    return { code: r.code, stderr: r.stderr, options };
  }

  it('hands checked options to runDaemon, with docker-like defaults', async () => {
    expect((await daemon()).options).toEqual({ dataDir: '/var/lib/swarm', listenAddr: '0.0.0.0:2377', apiSocket: '/run/swarm/swarm.sock', logLevel: 'warn' });
    const r = await daemon('--data-dir', join(dir, 'data'), '--listen-addr', '127.0.0.1:4000', '--advertise-addr', '127.0.0.1:4000', '--api-socket', `unix://${dir}/api.sock`, '--hostname', 'm1', '--log-level', 'debug');
    expect(r.options).toEqual({ dataDir: join(dir, 'data'), listenAddr: '127.0.0.1:4000', advertiseAddr: '127.0.0.1:4000', apiSocket: `${dir}/api.sock`, hostname: 'm1', logLevel: 'debug' });
    expect((await runCaptured(['--log-level', 'info', 'daemon'], {}, { runDaemon: async (o) => void expect(o.logLevel).toBe('info') })).code).toBe(0);
  });

  it('passes --runtime and --insecure-registry (repeatable) on', async () => {
    const r = await daemon('--runtime', 'runc', '--insecure-registry', 'localhost:5000', '--insecure-registry', 'registry.lan:443');
    expect(r.options).toMatchObject({ runtime: 'runc', insecureRegistries: ['localhost:5000', 'registry.lan:443'] });
    expect((await daemon('--runtime', 'docker')).stderr).toMatch(/^Error: invalid value "docker" for --runtime: must be one of crun, runc\n/);
    expect((await daemon('--insecure-registry', 'localhost:99999')).stderr).toMatch(/^Error: invalid value "localhost:99999" for --insecure-registry: the port must be/);
  });

  it('refuses bad flags with exit 2, naming the flag', async () => {
    expect(await daemon('--listen-addr', '0.0.0.0:2377x')).toMatchObject({ code: 2, options: undefined });
    expect((await daemon('--log-level', 'verbose')).stderr).toBe(
      'Error: invalid value "verbose" for --log-level: must be one of trace, debug, info, warn, error, silent\n' + "Hint: run 'swarm daemon --help' for usage\n",
    );
    expect((await daemon('--api-socket', `/${'x'.repeat(120)}`)).stderr).toMatch(/^Error: invalid value "\/x+" for --api-socket: the path is 121 bytes long; the limit for a unix socket is 107\n/);
  });

  it('reports a daemon that fails to start as an error, exit 1', async () => {
    const r = await runCaptured(['daemon'], {}, { runDaemon: async () => Promise.reject(Object.assign(new Error('cannot serve the API on /run/swarm/swarm.sock: EACCES'), { hint: 'run as root' })) });
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Error: cannot serve the API on /run/swarm/swarm.sock: EACCES\nHint: run as root\n' });
  });
});
