import '../polyfill.js';
import { join } from 'node:path';
import type { ServiceObject, TaskObject } from '../node/store/types.js';
import { waitFor } from '../test/cluster/harness.js';
import { writeBusyboxImageArchive } from '../test/fixtures/busybox.js';
import { httpGetCommand, RequestLoad } from '../test/net/http.js';
import { NetnsHarness } from '../test/net/netns-harness.js';

// A rolling update under load: 3 namespace hosts (1 manager, 2 workers) on the overlay, a web
// service of 10 healthy replicas, requests without pause through its VIP (from inside a client
// task) and through the routing mesh (from a host's namespace). Times `service update
// --env-add VERSION=v2 --update-parallelism 2 --update-order start-first` until UpdateStatus is
// completed, and counts the requests that failed meanwhile (the goal: none).
// Last line: {"bench":"update","replicas":10,"totalMs":...,"failedRequests":...,...}

const REPLICAS = Number(process.argv.find((a) => a.startsWith('--replicas='))?.slice(11) ?? 10);
const IMAGE = 'busybox:bench';
const PORT = 8080;
/** Serves "$VERSION $(hostname)". */
const WEB = ['sh', '-c', `mkdir -p /www && echo "$VERSION $(hostname)" > /www/index.html && exec httpd -f -p ${PORT} -h /www`];
const HEALTH_CMD = `${httpGetCommand('127.0.0.1', PORT, 1)} | grep -q 200`;

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${msg}\n`);
}

async function main(): Promise<void> {
  const h = NetnsHarness.create('bench-update', { hosts: 3 });
  const loads: RequestLoad[] = [];
  const onSignal = (): void => {
    for (const l of loads) l.stop();
    process.exit(130); // NetnsHarness cleans up at exit
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await h.formCluster({ managers: 1 });
    log('cluster formed: host0 manager, host1 and host2 workers');
    await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: IMAGE, format: 'docker' });
    await h.ok(0, 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
    await h.ok(0, 'network', 'create', '-d', 'overlay', 'benchnet');
    await h.ok(0, 'service', 'create', '-d', '--name', 'client', '--network', 'benchnet', '--init', IMAGE, 'sleep', '3600');
    await h.ok(0, 'service', 'create', '-d', '--name', 'web', '--replicas', String(REPLICAS), '--network', 'benchnet', '-p', `${PORT}:${PORT}`,
      '--env', 'VERSION=v1', '--init', '--stop-grace-period', '2s', '--health-cmd', HEALTH_CMD, '--health-interval', '300ms', '--health-retries', '2', IMAGE, ...WEB);

    const running = async (service: string, n: number): Promise<TaskObject[]> =>
      waitFor(
        async () => {
          const f = encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }));
          const ts = (await h.api<TaskObject[]>(0, 'GET', `/tasks?filters=${f}`)).body.filter((t) => t.Status.State === 'running');
          return ts.length === n ? ts : undefined;
        },
        `${n} running tasks of ${service}`,
        120_000,
        200,
      );
    await running('web', REPLICAS);
    const [client] = await running('client', 1);
    const pid = client?.Status.ContainerStatus?.PID;
    if (!pid) throw new Error('the client task has no pid');
    log(`${REPLICAS} replicas healthy; load starts`);

    // Through the VIP: the client container's network and mount namespaces (its DNS, its busybox).
    const vip = new RequestLoad('vip', ['-t', String(pid), '-n', '-m'], 'web', PORT);
    // Through the routing mesh: from host2's namespace to host1's published port.
    const mesh = new RequestLoad('mesh', [`--net=/var/run/netns/${h.host(2).netns}`], h.host(1).ip, PORT);
    loads.push(vip, mesh);
    await waitFor(() => (vip.counts().ok >= 5 && mesh.counts().ok >= 5 ? true : undefined), 'both loads to be answered', 20_000, 100);
    const before = loads.map((l) => ({ name: l.name, ...l.counts() }));
    for (const b of before) if (b.failed > 0) log(`${b.name}: ${b.failed} failed before the update: ${b.samples.join(' | ')}`);

    const t0 = performance.now();
    await h.ok(0, 'service', 'update', '-d', '--env-add', 'VERSION=v2', '--update-parallelism', '2', '--update-order', 'start-first', 'web');
    const final = await waitFor(
      async () => {
        const st = (await h.api<ServiceObject>(0, 'GET', '/services/web')).body.UpdateStatus?.State;
        return st === 'completed' || st === 'paused' || st === 'rollback_started' || st === 'rollback_completed' ? st : undefined;
      },
      'the update to end',
      300_000,
      100,
    );
    const totalMs = Math.round(performance.now() - t0);
    for (const l of loads) l.stop();
    if (final !== 'completed') throw new Error(`the update ended ${final}, not completed`);
    log(`update completed in ${totalMs} ms`);

    const [v, m] = [vip.counts(), mesh.counts()];
    for (const [name, c] of [['vip', v], ['mesh', m]] as const) {
      log(`${name}: ${c.ok} ok (${c.byVersion.get('v2') ?? 0} from v2), ${c.failed} failed${c.failed > 0 ? `: ${c.samples.join(' | ')}` : ''}`);
    }
    const result = { bench: 'update', replicas: REPLICAS, totalMs, failedRequests: v.failed + m.failed, requests: v.ok + v.failed + m.ok + m.failed, vipFailed: v.failed, meshFailed: m.failed };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    for (const l of loads) l.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await h.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:update failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
