import '../../polyfill.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBusyboxImageArchive } from '../fixtures/busybox.js';
import { NetnsHarness } from './netns-harness.js';
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$VERSION $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www'];
async function main() {
  const h = NetnsHarness.create('dbg', { hosts: 3 });
  process.on('SIGTERM', () => void h.cleanup().then(() => process.exit(0)));
  await h.formCluster({ managers: 1 });
  await writeBusyboxImageArchive(join(h.dir, 'busybox.tar'), { name: 'busybox:test', format: 'docker' });
  await h.ok(0, 'image', 'load', '-i', join(h.dir, 'busybox.tar'));
  await h.ok(0, 'network', 'create', '-d', 'overlay', 'appnet');
  await h.ok(0, 'service', 'create', '-d', '--name', 'client', '--network', 'appnet', '--constraint', 'node.hostname==host0', '--init', 'busybox:test', 'sleep', '3600');
  await h.ok(0, 'service', 'create', '-d', '--name', 'web', '--replicas', '2', '--network', 'appnet', '--init', 'busybox:test', ...WEB);
  writeFileSync('/tmp/dbg/info.json', JSON.stringify({ dir: h.dir, hosts: [0, 1, 2].map((i) => h.host(i)), sockets: [0, 1, 2].map((i) => h.socket(i)) }));
  console.log('READY');
  await new Promise((r) => setTimeout(r, 1_500_000));
  await h.cleanup();
}
void main();
