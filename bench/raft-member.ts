import '../polyfill.js';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Message } from '../raft/index.js';
import { RaftNode } from '../raft/driver/index.js';
import { createLogger } from '../node/log.js';
import { P2PHost, decodeCertificate, loadOrCreateIdentity } from '../node/p2p/index.js';
import { CountingMachine, RAFT_OPTIONS, load, summarize, type LoadSummary, type MemberCommand, type MemberMessage, type MemberStatus } from './raft-common.js';

// One Raft member of `npm run bench:raft -- --transport libp2p`, in its own process: its own
// identity and P2PHost on 127.0.0.1 (port 0), a RaftNode with a real WAL in --dir, Raft messages
// as 'raft' notifies between managers (as node/cluster/manager-role.ts sends them). Driven by
// bench/raft.ts over stdin/stdout, JSON lines (see MemberCommand and MemberMessage); exits when
// its stdin closes, so it does not outlive the parent.

function args(): { member: string; dir: string } {
  const { values } = parseArgs({ options: { member: { type: 'string' }, dir: { type: 'string' } } });
  if (!values.member || !values.dir) {
    process.stderr.write('usage: raft-member --member <id> --dir <data dir>\n');
    process.exit(2);
  }
  return { member: values.member, dir: values.dir };
}

const { member, dir } = args();

const logger = createLogger('warn', { member });
let host: P2PHost | undefined;
let node: RaftNode | undefined;
let exiting = false;

function send(msg: MemberMessage): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  // Whatever happens below, the process goes.
  setTimeout(() => process.exit(code), 3000).unref();
  node?.stop();
  await host?.stop().catch(() => undefined);
  process.exit(code);
}

async function start(c: Extract<MemberCommand, { cmd: 'start' }>): Promise<null> {
  const h = host;
  if (!h) throw new Error('the host is not running');
  if (node) throw new Error('already started');
  h.setTrust({ caPublicKey: new Uint8Array(Buffer.from(c.caPublicKey, 'base64')), certificate: decodeCertificate(new Uint8Array(Buffer.from(c.certificate, 'base64'))) });
  const peerOf = new Map<string, string>();
  for (const p of c.peers) {
    peerOf.set(p.member, p.peerId);
    h.addPeerAddrs(p.peerId, p.addrs);
  }
  h.handle('raft', 'manager', (payload, caller) => {
    const m = payload as Message;
    // As the daemon does: a manager speaks only for itself, and only to us.
    if (typeof payload !== 'object' || payload === null || m.from !== caller.cert?.nodeId || m.to !== member) {
      logger.warn({ from: caller.peerId }, 'dropped a malformed raft message');
      return undefined;
    }
    node?.step(m);
    return undefined;
  });
  node = await RaftNode.open({
    id: member,
    dataDir: join(dir, 'raft'),
    transport: {
      send: (m) => {
        const peer = peerOf.get(m.to);
        if (peer) h.notify(peer, 'raft', m);
      },
    },
    stateMachine: new CountingMachine(),
    bootstrap: c.members,
    ...RAFT_OPTIONS,
  });
  node.on('failed', (err) => {
    logger.error({ err }, 'raft storage failed');
    void shutdown(1);
  });
  return null;
}

function status(): MemberStatus {
  if (!node) throw new Error('not started');
  const s = node.status();
  return { role: s.role, leader: s.leader, term: s.term, applied: s.applied };
}

async function runLoad(c: Extract<MemberCommand, { cmd: 'load' }>): Promise<LoadSummary> {
  if (!node) throw new Error('not started');
  if (node.status().role !== 'leader') throw new Error(`${member} is not the leader`);
  return summarize(await load(node, c.proposers, c.durationMs));
}

async function handle(line: string): Promise<void> {
  if (line.trim() === '') return;
  const c = JSON.parse(line) as MemberCommand;
  try {
    switch (c.cmd) {
      case 'start':
        send({ id: c.id, ok: true, result: await start(c) });
        break;
      case 'status':
        send({ id: c.id, ok: true, result: status() });
        break;
      case 'load':
        send({ id: c.id, ok: true, result: await runLoad(c) });
        break;
      case 'stop':
        send({ id: c.id, ok: true, result: null });
        await shutdown(0);
        break;
    }
  } catch (err) {
    send({ id: c.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

async function main(): Promise<void> {
  const identity = await loadOrCreateIdentity(join(dir, 'p2p'));
  host = await P2PHost.start({ identity, listen: ['/ip4/127.0.0.1/tcp/0'], logger });
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    handle(line).catch((err: unknown) => logger.error({ err }, 'bad command'));
  });
  // The parent is gone (or done with us): so are we.
  lines.on('close', () => void shutdown(0));
  send({ event: 'listening', member: member, peerId: host.peerId, addrs: host.multiaddrs() });
}

process.once('SIGINT', () => void shutdown(130));
process.once('SIGTERM', () => void shutdown(143));
main().catch((err: unknown) => {
  process.stderr.write(`raft-member ${member}: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});
