import { createServer } from 'node:net';
import { gossipsub, type GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { afterEach, describe, expect, it } from 'vitest';
import { SwarmError } from '../errors.js';
import { ClusterCA, encodeCertificate, type NodeCertificate } from './ca.js';
import { P2PError } from './errors.js';
import type { P2PHost } from './host.js';
import { Hosts, eventually, link, newIdentity, trustFor } from './test-helpers.js';
import { RPC_PROTOCOL } from './wire.js';

const hosts = new Hosts();
const raws: Libp2p[] = [];
afterEach(async () => {
  await hosts.stopAll();
  await Promise.allSettled(raws.splice(0).map((r) => r.stop()));
});

/** A bare libp2p node that speaks the transports but none of our rules. */
async function rawNode(withGossip = false): Promise<Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>; pubsub?: GossipSub }>> {
  const node = await createLibp2p({
    privateKey: (await newIdentity()).privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ...(withGossip ? { pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, scoreParams: { IPColocationFactorWeight: 0 } }) } : {}),
    },
  });
  raws.push(node);
  return node;
}

function tcpPort(addr: string): number {
  return Number(/\/tcp\/(\d+)/.exec(addr)![1]);
}

function frame(body: Uint8Array, length = body.length): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, length);
  out.set(body, 4);
  return out;
}

async function pair(roleA: 'manager' | 'worker' = 'manager', roleB: 'manager' | 'worker' = 'manager') {
  const ca = ClusterCA.create('cluster');
  const a = await hosts.start();
  const b = await hosts.start();
  a.setTrust(trustFor(ca, a, roleA));
  b.setTrust(trustFor(ca, b, roleB));
  await link(a, b);
  return { ca, a, b };
}

function rejection(p: Promise<unknown>): Promise<P2PError> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(P2PError);
      return err as P2PError;
    },
  );
}

describe('P2PHost RPC', () => {
  it('answers requests with any msgpack value, to a PeerId or a bare multiaddr', async () => {
    const { a, b } = await pair();
    b.handle('echo', 'member', (payload, caller) => ({ payload, caller: caller.peerId, node: caller.cert?.nodeId }));
    const payload = { n: 1, s: 'x', list: [true, null], bytes: new Uint8Array([1, 2, 3]) };
    const r = (await a.request(b.peerId, 'echo', payload)) as { payload: typeof payload; caller: string; node: string };
    expect(r.payload).toEqual(payload);
    expect(r.payload.bytes).toBeInstanceOf(Uint8Array);
    expect(r.caller).toBe(a.peerId);
    expect(r.node).toBe(`node-${a.peerId.slice(-6)}`);
    const port = tcpPort(b.multiaddrs()[0]!);
    expect(await a.request(`/ip4/127.0.0.1/tcp/${port}`, 'echo', 5)).toMatchObject({ payload: 5 });
  });

  it('carries handler errors back with their codes', async () => {
    const { a, b } = await pair();
    b.handle('quorum', 'member', () => {
      throw new SwarmError('NO_QUORUM', 'the managers have no quorum');
    });
    b.handle('plain', 'member', async () => {
      throw new Error('kaput');
    });
    b.handle('forward', 'member', async () => a.request(b.peerId, 'nothing', null).catch(() => b.request(a.peerId, 'fails', null)));
    a.handle('fails', 'member', () => {
      throw new SwarmError('NOT_A_MANAGER', 'not a manager');
    });
    const q = await rejection(a.request(b.peerId, 'quorum', null));
    expect(q).toMatchObject({ code: 'REMOTE', remoteCode: 'NO_QUORUM', message: 'the managers have no quorum' });
    expect(await rejection(a.request(b.peerId, 'plain', null))).toMatchObject({ code: 'REMOTE', remoteCode: 'INTERNAL', message: 'kaput' });
    expect(await rejection(a.request(b.peerId, 'missing', null))).toMatchObject({ code: 'REMOTE', remoteCode: 'NO_HANDLER' });
    // A code that crossed one hop already crosses the next one unchanged.
    expect(await rejection(a.request(b.peerId, 'forward', null))).toMatchObject({ code: 'REMOTE', remoteCode: 'NOT_A_MANAGER' });
  });

  it('times out a request that gets no answer, and ignores the late answer', async () => {
    const { a, b } = await pair();
    let release!: () => void;
    b.handle('slow', 'member', () => new Promise<string>((r) => (release = () => r('late'))));
    b.handle('fast', 'member', () => 'fast');
    const started = Date.now();
    const err = await rejection(a.request(b.peerId, 'slow', null, { timeoutMs: 200 }));
    expect(err.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    release();
    expect(await a.request(b.peerId, 'fast', null)).toBe('fast');
  });

  it('delivers notifies in order, and drops them silently where they may not go', async () => {
    const { a, b } = await pair();
    const got: number[] = [];
    b.handle('raft', 'member', (p) => {
      got.push(p as number);
    });
    for (let i = 0; i < 500; i++) a.notify(b.peerId, 'raft', i);
    a.notify(b.peerId, 'unknown', 1);
    a.notify('not-a-peer-id', 'raft', 1);
    a.notify(b.peerId, 'raft', new Uint8Array(17 * 1024 * 1024)); // over the frame limit
    await eventually(() => got.length === 500, '500 notifies');
    expect(got).toEqual([...Array(500).keys()]);
  });

  it('uses one stream per peer and direction for many requests', async () => {
    const { a, b } = await pair();
    b.handle('n', 'member', (p) => p);
    a.handle('n', 'member', (p) => p);
    for (let i = 0; i < 200; i++) expect(await a.request(b.peerId, 'n', i)).toBe(i);
    const parallel = await Promise.all([...Array(200).keys()].map((i) => a.request(b.peerId, 'n', i)));
    expect(parallel).toEqual([...Array(200).keys()]);
    for (let i = 0; i < 50; i++) await b.request(a.peerId, 'n', i);
    expect(a.stats()).toMatchObject({ rpcStreamsOpened: 1, rpcStreamsAccepted: 1 });
    expect(b.stats()).toMatchObject({ rpcStreamsOpened: 1, rpcStreamsAccepted: 1 });
  });

  it('calls its own handlers for requests addressed to itself', async () => {
    const ca = ClusterCA.create('c');
    const a = await hosts.start();
    a.setTrust(trustFor(ca, a, 'worker'));
    a.handle('me', 'member', (p, caller) => ({ p, node: caller.cert?.nodeId }));
    a.handle('boss', 'manager', () => 'never');
    expect(await a.request(a.peerId, 'me', new Uint8Array([1]))).toEqual({ p: new Uint8Array([1]), node: `node-${a.peerId.slice(-6)}` });
    expect(await rejection(a.request(a.peerId, 'boss', null))).toMatchObject({ code: 'REMOTE', remoteCode: 'PERMISSION_DENIED' });
  });

  it('reports unreachable peers and refuses payloads over the frame limit before sending', async () => {
    const a = await hosts.start({ maxFrameBytes: 1024 });
    const b = await hosts.start();
    b.handle('x', 'anyone', () => 1);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await rejection(a.request(`/ip4/127.0.0.1/tcp/${port}`, 'x', null))).toMatchObject({ code: 'UNREACHABLE' });
    expect(await rejection(a.request(b.peerId, 'x', null))).toMatchObject({ code: 'UNREACHABLE' });
    expect(await rejection(a.request('nonsense', 'x', null))).toMatchObject({ code: 'BAD_MESSAGE' });
    a.addPeerAddrs(b.peerId, b.multiaddrs());
    expect(await a.request(b.peerId, 'x', null)).toBe(1);
    expect(await rejection(a.request(b.peerId, 'x', new Uint8Array(2048)))).toMatchObject({ code: 'BAD_MESSAGE' });
  });
});

describe('P2PHost with three hosts', () => {
  it('serves several callers at once, each seen with its own certificate', async () => {
    const ca = ClusterCA.create('c');
    const [m, w1, w2] = [await hosts.start(), await hosts.start(), await hosts.start()];
    m.setTrust(trustFor(ca, m, 'manager', {}, 'm'));
    w1.setTrust(trustFor(ca, w1, 'worker', {}, 'w1'));
    w2.setTrust(trustFor(ca, w2, 'worker', {}, 'w2'));
    await link(w1, m);
    await link(w2, m);
    m.handle('whoami', 'member', async (p, caller) => `${caller.cert?.nodeId}:${String(p)}`);
    for (const w of [w1, w2]) w.handle('status', 'manager', (_p, caller) => `${w.peerId === w1.peerId ? 'w1' : 'w2'} for ${caller.cert?.nodeId}`);
    const calls = [...Array(50).keys()].flatMap((i) => [w1.request(m.peerId, 'whoami', i), w2.request(m.peerId, 'whoami', i)]);
    const answers = await Promise.all(calls);
    expect(answers.filter((a) => String(a).startsWith('w1:'))).toHaveLength(50);
    expect(answers.filter((a) => String(a).startsWith('w2:'))).toHaveLength(50);
    expect(await m.request(w1.peerId, 'status', null)).toBe('w1 for m');
    expect(await m.request(w2.peerId, 'status', null)).toBe('w2 for m');
    // Workers never connected to each other, and one may not order the other around.
    w2.addPeerAddrs(w1.peerId, w1.multiaddrs());
    expect(await rejection(w2.request(w1.peerId, 'status', null))).toMatchObject({ remoteCode: 'PERMISSION_DENIED' });
  });

  it('reconnects to a restarted peer at its new address, with a fresh stream and hello', async () => {
    const ca = ClusterCA.create('c');
    const identity = await newIdentity();
    const a = await hosts.start();
    let b = await hosts.start({ identity });
    a.setTrust(trustFor(ca, a, 'manager'));
    const bTrust = trustFor(ca, b, 'worker');
    b.setTrust(bTrust);
    b.handle('v', 'member', () => 1);
    await link(a, b);
    expect(await a.request(b.peerId, 'v', null)).toBe(1);
    const gone = new Promise<string>((r) => a.once('peer:disconnected', r));
    await b.stop();
    expect(await gone).toBe(b.peerId);
    expect(await rejection(a.request(b.peerId, 'v', null, { timeoutMs: 2_000 }))).toMatchObject({ code: expect.stringMatching(/UNREACHABLE|TIMEOUT/) });
    b = await hosts.start({ identity });
    b.setTrust(bTrust);
    b.handle('v', 'member', () => 2);
    a.addPeerAddrs(b.peerId, b.multiaddrs());
    expect(await a.request(b.peerId, 'v', null)).toBe(2);
    await eventually(() => b.peerCertificate(a.peerId) !== undefined, 'b to authenticate a again');
    expect(a.stats().rpcStreamsOpened).toBe(2);
  });
});

describe('P2PHost authentication and access', () => {
  it('lets a worker call member methods but never a manager method', async () => {
    const { a: manager, b: worker } = await pair('manager', 'worker');
    let reached = 0;
    manager.handle('store.propose', 'manager', () => ++reached);
    manager.handle('heartbeat', 'member', (_p, c) => c.cert?.role);
    expect(await worker.request(manager.peerId, 'heartbeat', null)).toBe('worker');
    const denied = await rejection(worker.request(manager.peerId, 'store.propose', null));
    expect(denied).toMatchObject({ code: 'REMOTE', remoteCode: 'PERMISSION_DENIED' });
    worker.handle('store.propose', 'manager', () => 'worker ok');
    expect(await manager.request(worker.peerId, 'store.propose', null)).toBe('worker ok');
    expect(reached).toBe(0);
    expect(manager.peerCertificate(worker.peerId)?.role).toBe('worker');
  });

  it('lets a peer without a certificate call anyone methods only', async () => {
    const ca = ClusterCA.create('c');
    const server = await hosts.start();
    server.setTrust(trustFor(ca, server, 'manager'));
    const stranger = await hosts.start();
    const calls: string[] = [];
    server.handle('join.challenge', 'anyone', (_p, caller) => {
      calls.push('challenge');
      return { cert: caller.cert === undefined, peer: caller.peerId };
    });
    server.handle('heartbeat', 'member', () => calls.push('heartbeat'));
    server.handle('raft', 'manager', () => calls.push('raft'));
    const addr = server.multiaddrs()[0]!;
    expect(await stranger.request(addr, 'join.challenge', null)).toEqual({ cert: true, peer: stranger.peerId });
    expect(await rejection(stranger.request(server.peerId, 'heartbeat', null))).toMatchObject({ remoteCode: 'UNAUTHENTICATED' });
    expect(await rejection(stranger.request(server.peerId, 'raft', null))).toMatchObject({ remoteCode: 'UNAUTHENTICATED' });
    stranger.notify(server.peerId, 'raft', 1);
    expect(await stranger.request(server.peerId, 'join.challenge', null)).toMatchObject({ cert: true });
    expect(calls).toEqual(['challenge', 'challenge']);
  });

  it('closes an inbound connection that does not authenticate within the grace period', async () => {
    const ca = ClusterCA.create('c');
    const server = await hosts.start({ authGraceMs: 300 });
    server.setTrust(trustFor(ca, server, 'manager'));
    server.handle('hi', 'anyone', () => 'hi');
    const stranger = await hosts.start();
    const gone: string[] = [];
    stranger.on('peer:disconnected', (p) => gone.push(p));
    const opened = Date.now();
    expect(await stranger.request(server.multiaddrs()[0]!, 'hi', null)).toBe('hi');
    expect(stranger.connectedPeers()).toContain(server.peerId);
    await eventually(() => gone.includes(server.peerId), 'the server to hang up');
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    expect(server.stats().graceClosed).toBe(1);
  });

  it('does not cut off a joiner while its anyone request runs past the grace period', async () => {
    const ca = ClusterCA.create('c');
    const server = await hosts.start({ authGraceMs: 150 });
    server.setTrust(trustFor(ca, server, 'manager'));
    server.handle('join.request', 'anyone', () => new Promise((r) => setTimeout(() => r('joined'), 500)));
    const joiner = await hosts.start();
    expect(await joiner.request(server.multiaddrs()[0]!, 'join.request', null)).toBe('joined');
    // ... and it gets a fresh grace period afterwards, to send its hello.
    await eventually(() => server.stats().graceClosed === 1, 'the grace to run out after the join');
  });

  it('joins: a peer without trust, once given trust, authenticates both ways on the same connection', async () => {
    const ca = ClusterCA.create('c');
    const manager = await hosts.start({ authGraceMs: 1_000 });
    manager.setTrust(trustFor(ca, manager, 'manager'));
    manager.handle('join.request', 'anyone', (_p, caller) =>
      encodeCertificate(ca.issue({ nodeId: 'joiner', peerId: caller.peerId, role: 'worker', ttlMs: 60_000, now: Date.now() })),
    );
    manager.handle('heartbeat', 'member', (_p, caller) => caller.cert?.nodeId);
    const joiner = await hosts.start();
    const seen: NodeCertificate[] = [];
    joiner.on('peer:authenticated', (c) => seen.push(c));
    const { decodeCertificate } = await import('./ca.js');
    const cert = decodeCertificate((await joiner.request(manager.multiaddrs()[0]!, 'join.request', null)) as Uint8Array);
    expect(joiner.peerCertificate(manager.peerId)).toBeUndefined();
    joiner.setTrust({ caPublicKey: ca.publicKey, certificate: cert });
    // The manager's hello, kept while the joiner could not check it, is checked now (or, under
    // load, when it arrives).
    await eventually(() => joiner.peerCertificate(manager.peerId)?.role === 'manager', 'the joiner to accept the manager hello');
    expect(seen.map((c) => c.peerId)).toEqual([manager.peerId]);
    await eventually(() => manager.peerCertificate(joiner.peerId)?.nodeId === 'joiner', 'the manager to accept the hello');
    expect(await joiner.request(manager.peerId, 'heartbeat', null)).toBe('joiner');
    await new Promise((r) => setTimeout(r, 1_200)); // not synchronisation: proves nothing happens past the grace period
    expect(manager.connectedPeers()).toContain(joiner.peerId);
    expect(manager.stats().graceClosed).toBe(0);
  });

  /** A PeerId that differs from `id` (its last character changed, never to itself). */
  function otherPeerId(id: string): string {
    return id.slice(0, -1) + (id.endsWith('x') ? 'y' : 'x');
  }

  it.each([
    ['revoked', (ca: ClusterCA, h: P2PHost) => trustFor(ca, h, 'worker', {}, 'removed-node')],
    ['expired', (ca: ClusterCA, h: P2PHost) => ({ ...trustFor(ca, h, 'worker'), certificate: ca.issue({ nodeId: 'n', peerId: h.peerId, role: 'worker', ttlMs: 1, now: Date.now() - 1000 }) })],
    ['from another CA', (_ca: ClusterCA, h: P2PHost) => trustFor(ClusterCA.create('cluster'), h, 'worker')],
    ['for another peer', (ca: ClusterCA, h: P2PHost) => ({ ...trustFor(ca, h, 'worker'), certificate: ca.issue({ nodeId: 'n', peerId: otherPeerId(h.peerId), role: 'worker', ttlMs: 60_000, now: Date.now() }) })],
  ])('refuses a hello with a certificate that is %s and closes the connection', async (_what, makeTrust) => {
    const ca = ClusterCA.create('cluster');
    const server = await hosts.start();
    server.setTrust(trustFor(ca, server, 'manager', { isRevoked: (c) => c.nodeId === 'removed-node' }));
    server.handle('heartbeat', 'member', () => 'ok');
    const client = await hosts.start();
    const clientTrust = makeTrust(ca, client);
    // The client trusts the real CA so that only the server's judgement matters.
    client.setTrust({ ...clientTrust, caPublicKey: ca.publicKey });
    const gone: string[] = [];
    client.on('peer:disconnected', (p) => gone.push(p));
    const result = await client.request(server.multiaddrs()[0]!, 'heartbeat', null).catch((e: unknown) => e);
    expect(result).toBeInstanceOf(P2PError);
    expect(['UNAUTHENTICATED', undefined]).toContain((result as P2PError).remoteCode);
    await eventually(() => gone.includes(server.peerId), 'the server to hang up');
    expect(server.stats().helloRefused).toBeGreaterThanOrEqual(1);
    expect(server.peerCertificate(client.peerId)).toBeUndefined();
  });

  it('replaces a peer certificate when a new hello arrives (renewal, promotion)', async () => {
    const { ca, a: manager, b: node } = await pair('manager', 'worker');
    manager.handle('raft', 'manager', () => 'raft ok');
    expect(await rejection(node.request(manager.peerId, 'raft', null))).toMatchObject({ remoteCode: 'PERMISSION_DENIED' });
    const before = manager.peerCertificate(node.peerId)!;
    node.setTrust(trustFor(ca, node, 'manager'));
    await eventually(() => manager.peerCertificate(node.peerId)?.role === 'manager', 'the promoted certificate');
    expect(manager.peerCertificate(node.peerId)!.serial).not.toBe(before.serial);
    expect(await node.request(manager.peerId, 'raft', null)).toBe('raft ok');
    expect(node.stats().rpcStreamsOpened).toBe(1);
  });

  it('drops a peer whose certificate is revoked later, when trust is set again', async () => {
    const { ca, a, b } = await pair();
    const revoked = new Set<string>();
    const trust = trustFor(ca, a, 'manager', { isRevoked: (c) => revoked.has(c.nodeId) });
    a.setTrust(trust);
    a.handle('m', 'member', () => 'ok');
    expect(await b.request(a.peerId, 'm', null)).toBe('ok');
    revoked.add(`node-${b.peerId.slice(-6)}`);
    // Gated at once, per request...
    expect(await rejection(b.request(a.peerId, 'm', null))).toMatchObject({ remoteCode: 'UNAUTHENTICATED' });
    // ... and disconnected when the daemon re-applies its trust.
    a.setTrust(trust);
    await eventually(() => !a.connectedPeers().includes(b.peerId), 'the revoked peer to be disconnected');
  });
});

describe('P2PHost malformed input', () => {
  it.each([
    ['garbage', frame(new Uint8Array([0xc1, 0xc1, 0xc1]))],
    ['a huge length prefix', frame(new Uint8Array([1, 2, 3]), 0xffffffff)],
    ['a length over maxFrameBytes', frame(new Uint8Array(8), 64 * 1024 * 1024)],
    ['a well-formed frame of the wrong shape', frame(new Uint8Array([0x2a]))],
    ['a response on the wrong stream', frame(new Uint8Array([0x82, 0xa1, 0x6b, 0xa8, ...Buffer.from('response'), 0xa2, 0x69, 0x64, 0x01]))],
  ])('drops the connection of a peer that sends %s, and keeps serving others', async (_what, bytes) => {
    const { a, b } = await pair();
    b.handle('ping', 'member', () => 'pong');
    b.handle('open', 'anyone', () => 'open');
    const raw = await rawNode();
    const stream = await raw.dialProtocol(multiaddr(b.multiaddrs()[0]!), RPC_PROTOCOL);
    stream.send(bytes);
    await eventually(() => raw.getConnections().length === 0, 'the host to drop the raw connection');
    expect(b.stats().badFrames).toBe(1);
    expect(await a.request(b.peerId, 'ping', null)).toBe('pong');
    const stranger = await hosts.start();
    expect(await stranger.request(b.multiaddrs()[0]!, 'open', null)).toBe('open');
  });

  it('survives a raw peer that opens streams and never speaks', async () => {
    const { a, b } = await pair();
    b.handle('ping', 'member', () => 'pong');
    const raw = await rawNode();
    for (let i = 0; i < 3; i++) await raw.dialProtocol(multiaddr(b.multiaddrs()[0]!), RPC_PROTOCOL);
    expect(await a.request(b.peerId, 'ping', null)).toBe('pong');
  });
});

describe('P2PHost gossip', () => {
  it('relays between authenticated hosts, author checked end to end, in a line A - B - C', async () => {
    const ca = ClusterCA.create('c');
    const [a, b, c] = [await hosts.start(), await hosts.start(), await hosts.start()];
    for (const [h, role] of [[a, 'manager'], [b, 'manager'], [c, 'worker']] as const) h.setTrust(trustFor(ca, h, role));
    await link(a, b);
    await link(c, b);
    expect(a.connectedPeers()).not.toContain(c.peerId);
    const atC: { data: string; from: string }[] = [];
    const atB: string[] = [];
    c.subscribe('assignments', (d, from) => atC.push({ data: Buffer.from(d).toString(), from }));
    b.subscribe('assignments', (d) => atB.push(Buffer.from(d).toString()));
    a.subscribe('assignments', () => undefined);
    let seq = 0;
    await eventually(async () => {
      await a.publish('assignments', Buffer.from(`v${seq++}`));
      return atC.length > 0;
    }, 'a message from A to reach C through B');
    expect(atC[0]!.from).toBe(a.peerId);
    expect(atC[0]!.data).toMatch(/^v\d+$/);
    expect(atB.length).toBeGreaterThan(0);
    expect(c.stats().gossipRejected).toBe(0);
  });

  it('takes no gossip from a peer that never authenticated', async () => {
    const ca = ClusterCA.create('c');
    const a = await hosts.start({ authGraceMs: 8_000 });
    const b = await hosts.start();
    a.setTrust(trustFor(ca, a, 'manager'));
    b.setTrust(trustFor(ca, b, 'worker'));
    await link(b, a);
    const got: string[] = [];
    a.subscribe('t', (d, from) => got.push(`${from === b.peerId ? 'b' : from}:${Buffer.from(d).toString()}`));
    b.subscribe('t', () => undefined);

    const rogue = await rawNode(true);
    const rogueSub = rogue.services.pubsub!;
    rogueSub.subscribe('t');
    await rogue.dial(multiaddr(a.multiaddrs()[0]!));
    // The rogue sees A's subscription, so its publishes are really sent to A.
    await eventually(() => rogueSub.getSubscribers('t').some((p) => p.toString() === a.peerId), "A's subscription at the rogue");
    let seq = 0;
    await eventually(async () => {
      await rogueSub.publish('t', Buffer.from(`rogue${seq}`));
      await b.publish('t', Buffer.from(`b${seq++}`));
      return got.length >= 3;
    }, 'three messages from B');
    expect(got.every((m) => m.startsWith('b:b'))).toBe(true);
    expect(seq).toBeGreaterThanOrEqual(3);
  });

  it('refuses to publish without a certificate', async () => {
    const a = await hosts.start();
    expect(await rejection(a.publish('t', new Uint8Array([1])))).toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('P2PHost lifecycle', () => {
  it('stop() fails what is pending, frees the port and tells the peers', async () => {
    const { a, b } = await pair();
    b.handle('hang', 'member', () => new Promise(() => undefined));
    const gone: string[] = [];
    b.on('peer:disconnected', (p) => gone.push(p));
    const pending = rejection(a.request(b.peerId, 'hang', null, { timeoutMs: 30_000 }));
    const port = tcpPort(a.multiaddrs()[0]!);
    await a.stop();
    expect(await pending).toMatchObject({ code: 'CLOSED' });
    expect(await rejection(a.request(b.peerId, 'hang', null))).toMatchObject({ code: 'CLOSED' });
    a.notify(b.peerId, 'hang', null); // no throw
    await a.stop(); // idempotent
    await eventually(() => gone.includes(a.peerId), 'b to see a leave');
    const again = await hosts.start({ listen: [`/ip4/127.0.0.1/tcp/${port}`] });
    expect(tcpPort(again.multiaddrs()[0]!)).toBe(port);
  });

  it('keeps its PeerId across restarts with a persisted identity', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadOrCreateIdentity } = await import('./identity.js');
    const dir = await mkdtemp(join(tmpdir(), 'swarm-p2p-host-'));
    try {
      const first = await hosts.start({ identity: await loadOrCreateIdentity(dir) });
      const id = first.peerId;
      await first.stop();
      const second = await hosts.start({ identity: await loadOrCreateIdentity(dir) });
      expect(second.peerId).toBe(id);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('P2PHost performance', () => {
  it('measures the round trip of 1000 sequential requests on loopback', async () => {
    const { a, b } = await pair();
    b.handle('rtt', 'member', (p) => p);
    for (let i = 0; i < 100; i++) await a.request(b.peerId, 'rtt', i); // warm up
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = process.hrtime.bigint();
      await a.request(b.peerId, 'rtt', { i, term: 7, entries: [] });
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((x, y) => x - y);
    const p = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3);
    console.log(`p2p rpc round trip over 1000 sequential requests: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`);
    expect(times).toHaveLength(1000);
  });
});
