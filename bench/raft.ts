import '../polyfill.js';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { LocalNetwork, RaftNode } from '../raft/driver/index.js';
import { ClusterCA, encodeCertificate } from '../node/p2p/index.js';
import {
  CountingMachine,
  MEMBERS,
  RAFT_OPTIONS,
  load,
  result,
  summarize,
  type LoadSummary,
  type MemberCommand,
  type MemberMessage,
  type MemberStatus,
  type PeerInfo,
} from './raft-common.js';

// 3 members with the real WAL on disk (fsync on), a 1-proposer and a 64-proposer load phase on the leader.
//   --transport local (default): in one process, over the in-process LocalNetwork.
//   --transport libp2p: 3 processes (bench/raft-member.ts), each with its own identity and P2PHost
//     on 127.0.0.1, certificates from one ClusterCA made here; the leader's process runs the load.
// Last line: {"bench":"raft","transport":"local"|"libp2p","proposers":64,"writesPerSec":...,"p50Ms":...,"p99Ms":...,"singleProposerP50Ms":...}

type Phases = { single: LoadSummary; many: LoadSummary };
/** A command without its id (call() numbers it). */
type Command = WithoutId<MemberCommand>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

function progress(msg: string): void {
  process.stderr.write(`bench:raft: ${msg}\n`);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------- --transport local

async function runLocal(dir: string): Promise<Phases> {
  const net = new LocalNetwork();
  const nodes: RaftNode[] = [];
  try {
    for (const id of MEMBERS) {
      const node = await RaftNode.open({
        id,
        dataDir: join(dir, id),
        transport: net.transport(),
        stateMachine: new CountingMachine(),
        bootstrap: MEMBERS,
        ...RAFT_OPTIONS,
      });
      net.attach(id, (m) => node.step(m));
      nodes.push(node);
    }
    await waitFor(() => nodes.some((n) => n.status().role === 'leader'), 'a leader');
    const leader = nodes.find((n) => n.status().role === 'leader')!;
    await load(leader, 1, 300); // warm up
    const single = summarize(await load(leader, 1, 3000));
    const many = summarize(await load(leader, 64, 5000));
    return { single, many };
  } finally {
    for (const n of nodes) n.stop();
  }
}

// ---------------------------------------------------------------- --transport libp2p

/** A member process, driven over its stdin/stdout with JSON lines. */
class MemberProcess {
  readonly proc: ChildProcessByStdio<Writable, Readable, null>;
  readonly listening: Promise<PeerInfo>;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: string | undefined;

  constructor(
    readonly member: string,
    dir: string,
  ) {
    // The member script beside this one: .js from dist, .ts under tsx (whose loader flags are in execArgv).
    const script = join(import.meta.dirname, `raft-member${extname(import.meta.filename)}`);
    this.proc = spawn(process.execPath, [...process.execArgv, script, '--member', member, '--dir', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.stdin.on('error', () => undefined); // a dead member's closed pipe: its exit reports it
    let listened: (p: PeerInfo) => void = () => undefined;
    let failed: (e: Error) => void = () => undefined;
    this.listening = new Promise<PeerInfo>((res, rej) => {
      listened = res;
      failed = rej;
    });
    this.listening.catch(() => undefined);
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let msg: MemberMessage;
      try {
        msg = JSON.parse(line) as MemberMessage;
      } catch {
        progress(`${member}: not a protocol line: ${line}`);
        return;
      }
      if ('event' in msg) {
        listened({ member: msg.member, peerId: msg.peerId, addrs: msg.addrs });
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${member}: ${msg.error}`));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = `member ${member} exited (${signal ?? `code ${code}`})`;
      const err = new Error(this.exited);
      failed(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  call(cmd: Command, timeoutMs: number): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.member}: no answer to ${cmd.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  async status(): Promise<MemberStatus> {
    return (await this.call({ cmd: 'status' }, 5000)) as MemberStatus;
  }

  async load(proposers: number, durationMs: number): Promise<LoadSummary> {
    return (await this.call({ cmd: 'load', proposers, durationMs }, durationMs + 30_000)) as LoadSummary;
  }

  alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Asks it to stop; kills it if it has not exited within timeoutMs. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.alive()) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.call({ cmd: 'stop' }, timeoutMs).catch(() => undefined);
    this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await gone;
    clearTimeout(timer);
  }
}

async function runLibp2p(dir: string): Promise<Phases> {
  const ca = ClusterCA.create('bench-raft');
  const members: MemberProcess[] = [];
  const killAll = (): void => {
    for (const m of members) if (m.alive()) m.proc.kill('SIGKILL');
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    progress(`${sig}: killing the member processes`);
    killAll();
    rmSync(dir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);
  try {
    for (const id of MEMBERS) members.push(new MemberProcess(id, join(dir, id)));
    const peers = await Promise.all(
      members.map((m) =>
        Promise.race([m.listening, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`${m.member} did not start listening within 20 s`)), 20_000).unref())]),
      ),
    );
    for (const p of peers) progress(`${p.member} listening on ${p.addrs.join(', ')} as ${p.peerId}`);
    const caPublicKey = Buffer.from(ca.publicKey).toString('base64');
    await Promise.all(
      members.map((m, i) => {
        const cert = ca.issue({ nodeId: m.member, peerId: peers[i]!.peerId, role: 'manager', ttlMs: 3_600_000, now: Date.now() });
        return m.call(
          { cmd: 'start', certificate: Buffer.from(encodeCertificate(cert)).toString('base64'), caPublicKey, members: MEMBERS, peers: peers.filter((p) => p.member !== m.member) },
          20_000,
        );
      }),
    );

    // A leader that every member follows.
    const deadline = Date.now() + 20_000;
    let leader: MemberProcess | undefined;
    while (!leader) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a leader that all members know');
      const st = await Promise.all(members.map((m) => m.status()));
      const i = st.findIndex((s) => s.role === 'leader');
      if (i >= 0 && st.every((s) => s.leader === members[i]!.member && s.term === st[i]!.term)) leader = members[i];
      else await new Promise((r) => setTimeout(r, 20));
    }
    progress(`leader: ${leader.member} (pid ${leader.proc.pid ?? '?'}); running the load there`);
    await leader.load(1, 300); // warm up
    const single = await leader.load(1, 3000);
    progress(`1 proposer: ${single.writes} writes in ${single.seconds.toFixed(2)} s`);
    const many = await leader.load(64, 5000);
    progress(`64 proposers: ${many.writes} writes in ${many.seconds.toFixed(2)} s`);
    return { single, many };
  } finally {
    await Promise.all(members.map((m) => m.stop(5000)));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killAll);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { transport: { type: 'string', default: 'local' } } });
  const transport = values.transport;
  if (transport !== 'local' && transport !== 'libp2p') throw new Error(`--transport must be local or libp2p, got ${transport}`);
  const dir = mkdtempSync(join(tmpdir(), 'swarm-bench-raft-'));
  try {
    const { single, many } = transport === 'local' ? await runLocal(dir) : await runLibp2p(dir);
    process.stdout.write(`${JSON.stringify(result(transport, single, many))}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:raft failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
