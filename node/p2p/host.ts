import { EventEmitter } from 'node:events';
import { gossipsub, TopicValidatorResult, type GossipSub, type GossipSubComponents, type Message } from '@libp2p/gossipsub';
import { identify, type Identify } from '@libp2p/identify';
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { Logger } from '../log.js';
import { checkClaims, decodeCertificate, encodeCertificate, verifyCertificate, type NodeCertificate } from './ca.js';
import { packr, unpack } from './codec.js';
import { P2PError, errorMessage } from './errors.js';
import { GossipGate, wrapGossip } from './gossip.js';
import type { Identity } from './identity.js';
import { checkPeerCertificate, type TrustConfig } from './trust.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, RPC_PROTOCOL, encodeFrame, type Frame, type RemoteError } from './wire.js';

export type { TrustConfig } from './trust.js';

export interface Caller {
  peerId: string;
  /** undefined only for 'anyone' methods called by a peer without a valid certificate */
  cert: NodeCertificate | undefined;
}

/** anyone: unauthenticated peers too (the join protocol); member: any valid certificate; manager: a manager's. */
export type Access = 'anyone' | 'member' | 'manager';

export type Handler = (payload: unknown, caller: Caller) => Promise<unknown> | unknown;

export interface P2PHostOptions {
  identity: Identity;
  /** multiaddrs, e.g. '/ip4/127.0.0.1/tcp/2377' */
  listen: string[];
  announce?: string[];
  logger: Logger;
  /** default 16 MiB */
  maxFrameBytes?: number;
  /** default 10000 */
  authGraceMs?: number;
}

export interface P2PHostStats {
  /** RPC streams this host opened (one per peer while it stays connected) */
  rpcStreamsOpened: number;
  /** RPC streams peers opened to this host */
  rpcStreamsAccepted: number;
  /** streams closed because of a malformed or oversized frame */
  badFrames: number;
  /** hellos refused (bad signature, expired, wrong peer, revoked, other cluster) */
  helloRefused: number;
  /** inbound connections closed for not authenticating in time */
  graceClosed: number;
  /** gossip messages refused by the topic validator */
  gossipRejected: number;
}

export type P2PHostEvents = {
  'peer:authenticated': [NodeCertificate];
  /** the last connection to a peer closed */
  'peer:disconnected': [string];
};

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
export const DEFAULT_AUTH_GRACE_MS = 10_000;
const OPEN_TIMEOUT_MS = 10_000;
// Longest delay a Node timer takes: in effect "never", whatever the stream does with the value.
const NO_INACTIVITY_TIMEOUT_MS = 2 ** 31 - 1;
// A notify is dropped rather than queued behind this much unsent data (a stalled peer must not
// grow our memory without bound; Raft resends what matters).
const NOTIFY_BACKLOG_BYTES = 32 * 1024 * 1024;
const NOTIFY_QUEUE_WHILE_OPENING = 4096;
const MAX_ERROR_MESSAGE = 4096;
const MAX_METHOD_LENGTH = 256;

type Node = Libp2p<{ identify: Identify; pubsub: GossipSub }>;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Our one outbound RPC stream to a peer: hello, requests and notifies go out, responses come back. */
class Session {
  stream: Stream | undefined;
  queue: Uint8Array[] = [];
  readonly pending = new Map<number, Pending>();
  nextId = 0;
  closed = false;
  constructor(readonly peerId: string) {}
}

/** What we know of a connected peer's identity. */
interface PeerState {
  /** verified against our trust; cleared when it stops verifying */
  cert: NodeCertificate | undefined;
  /** a hello that came while we had no trust to check it with */
  pending: NodeCertificate | undefined;
  /** gossip streams held back until the peer authenticates */
  waiters: { connId: string; resolve: (ok: boolean) => void }[];
}

/** An inbound connection on probation until its peer authenticates. */
interface InboundConn {
  conn: Connection;
  peerId: string;
  timer: NodeJS.Timeout | undefined;
  /** 'anyone' requests in flight: a joiner is not cut off mid-join */
  anyone: number;
  /** the grace ran out while an 'anyone' request was in flight */
  expired: boolean;
}

/**
 * One libp2p host per node: authenticated RPC on one long-lived stream per peer and direction, and
 * gossip among authenticated peers. See node/p2p/README.md for the wire format and trust rules.
 */
export class P2PHost extends EventEmitter<P2PHostEvents> {
  readonly peerId: string;
  readonly #node: Node;
  readonly #log: Logger;
  readonly #maxFrame: number;
  readonly #graceMs: number;
  #trust: TrustConfig | undefined;
  #hello: Uint8Array | undefined;
  #stopped = false;
  readonly #handlers = new Map<string, { access: Access; fn: Handler }>();
  readonly #sessions = new Map<string, Session>();
  readonly #peers = new Map<string, PeerState>();
  readonly #inbound = new Map<string, InboundConn>();
  readonly #addrs = new Map<string, Multiaddr[]>();
  /** multiaddr dialled without a /p2p part → the peer that answered */
  readonly #dialled = new Map<string, string>();
  readonly #topics = new Map<string, Set<(data: Uint8Array, from: string) => void>>();
  readonly #gate: GossipGate;
  readonly #accepted = new WeakMap<Message, { from: string; data: Uint8Array }>();
  readonly #stats: P2PHostStats = { rpcStreamsOpened: 0, rpcStreamsAccepted: 0, badFrames: 0, helloRefused: 0, graceClosed: 0, gossipRejected: 0 };
  readonly #unlisten: (() => void)[] = [];

  private constructor(node: Node, opts: P2PHostOptions) {
    super();
    this.#node = node;
    this.peerId = node.peerId.toString();
    this.#log = opts.logger.child({ module: 'p2p' });
    this.#maxFrame = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#graceMs = opts.authGraceMs ?? DEFAULT_AUTH_GRACE_MS;
    this.#gate = new GossipGate({ trust: () => this.#trust, neighbourAuthenticated: (p) => this.#validCert(p) !== undefined });
  }

  static async start(opts: P2PHostOptions): Promise<P2PHost> {
    for (const a of [...opts.listen, ...(opts.announce ?? [])]) {
      try {
        multiaddr(a);
      } catch (err) {
        throw new P2PError('BAD_MESSAGE', `invalid listen/announce multiaddr ${JSON.stringify(a)}: ${errorMessage(err)}`);
      }
    }
    if (opts.maxFrameBytes !== undefined && !(Number.isInteger(opts.maxFrameBytes) && opts.maxFrameBytes > 0 && opts.maxFrameBytes < 2 ** 32)) {
      throw new P2PError('BAD_MESSAGE', `maxFrameBytes must be an integer in 1..2^32-1, got ${opts.maxFrameBytes}`);
    }
    // Gossipsub's stream handlers are wrapped at registration so that an inbound gossip stream
    // reaches it only once its peer has authenticated (see #holdGossip). libp2p's own stream
    // middleware cannot do this in 3.3: the registrar hands out its stored middleware array and
    // every inbound stream pushes its handler onto it, so outbound streams end up in inbound
    // handlers.
    const late: { host?: P2PHost } = {};
    const pubsub = gossipsub({
      allowPublishToZeroTopicPeers: true,
      fallbackToFloodsub: false,
      emitSelf: false,
      globalSignaturePolicy: 'StrictSign',
      // Many hosts behind one address (loopback tests, NAT) are normal here, not a Sybil attack.
      scoreParams: { IPColocationFactorWeight: 0 },
      // Our topics carry a few small messages; mesh upkeep every 3 s instead of 1 s saves idle CPU.
      heartbeatInterval: 3000,
    });
    const node = await createLibp2p({
      privateKey: opts.identity.privateKey,
      addresses: { listen: opts.listen, ...(opts.announce ? { announce: opts.announce } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        // Default 5 new connections per second per IP: too few when a cluster behind one NAT, or
        // a test on loopback, (re)connects at once.
        inboundConnectionThreshold: 100,
        maxIncomingPendingConnections: 100,
      },
      services: {
        identify: identify(),
        pubsub: (components: GossipSubComponents) =>
          pubsub(withRegistrarHandle(components, (handler) => (stream, conn) => {
            // Fails closed: before the host exists nothing is let through.
            if (!late.host) {
              stream.abort(new P2PError('CLOSED', 'host not ready'));
              return;
            }
            return late.host.#holdGossip(handler)(stream, conn);
          })),
      },
      start: false,
    });
    const host = new P2PHost(node, opts);
    late.host = host;
    try {
      await host.#install();
      await node.start();
    } catch (err) {
      try {
        await node.stop();
      } catch {
        // already failing; the start error is the one to report
      }
      throw new P2PError('UNREACHABLE', `cannot start the p2p host on ${opts.listen.join(', ')}: ${errorMessage(err)}`, { cause: err });
    }
    host.#log.info({ peerId: host.peerId, addrs: host.multiaddrs() }, 'p2p host listening');
    return host;
  }

  multiaddrs(): string[] {
    return this.#node.getMultiaddrs().map((a) => a.toString());
  }

  stats(): P2PHostStats {
    return { ...this.#stats };
  }

  /** PeerIds with an open connection. */
  connectedPeers(): string[] {
    return [...new Set(this.#node.getConnections().map((c) => c.remotePeer.toString()))];
  }

  // ---------------------------------------------------------------- trust

  setTrust(trust: TrustConfig | undefined): void {
    if (this.#stopped) return;
    this.#trust = trust;
    this.#hello = trust ? encodeFrame({ k: 'hello', cert: encodeCertificate(trust.certificate) }, this.#maxFrame) : undefined;
    if (!trust) {
      for (const st of this.#peers.values()) {
        st.cert = undefined;
        st.pending = undefined;
      }
      return;
    }
    const own = verifyCertificate(trust.certificate, trust.caPublicKey, Date.now(), this.peerId);
    if (!own.ok) this.#log.warn({ reason: own.reason }, 'our own certificate does not verify: peers will refuse it');

    // The CA, the revocation list or the clock may have changed: what we accepted before must pass again.
    const now = Date.now();
    for (const [peerId, st] of this.#peers) {
      const cert = st.pending ?? st.cert;
      if (!cert) continue;
      const v = checkPeerCertificate(trust, cert, peerId, now);
      if (!v.ok) this.#refusePeer(peerId, v.reason, cert);
      else if (st.pending) this.#authenticated(peerId, cert);
    }
    // Tell everyone connected who we are now.
    for (const conn of this.#node.getConnections()) {
      if (conn.status !== 'open') continue;
      const peerId = conn.remotePeer.toString();
      const s = this.#sessions.get(peerId);
      if (s && !s.closed) {
        // Still opening: it sends the current hello when it is ready.
        if (s.stream) this.#trySend(s, this.#hello);
      } else {
        this.#session(peerId, conn);
      }
    }
  }

  /** The certificate of an authenticated peer, while it is valid. */
  peerCertificate(peerId: string): NodeCertificate | undefined {
    return this.#validCert(peerId);
  }

  // ---------------------------------------------------------------- RPC

  /** Registers the handler for a method; registering the same method again replaces it. */
  handle(method: string, access: Access, handler: Handler): void {
    checkMethod(method);
    if (access !== 'anyone' && access !== 'member' && access !== 'manager') throw new P2PError('BAD_MESSAGE', `unknown access ${JSON.stringify(access)}`);
    this.#handlers.set(method, { access, fn: handler });
  }

  /**
   * Calls `method` on a peer (a PeerId, or a multiaddr to dial). Rejects with P2PError: REMOTE (with
   * the remote's code in remoteCode) when the handler failed or access was refused, TIMEOUT,
   * UNREACHABLE when no stream could be opened, CLOSED when the stream or this host closed first,
   * BAD_MESSAGE when the payload cannot be encoded within the frame limit.
   */
  async request(peer: string, method: string, payload: unknown, opts: { timeoutMs?: number } = {}): Promise<unknown> {
    if (this.#stopped) throw new P2PError('CLOSED', 'the p2p host is stopped');
    checkMethod(method);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let peerId: string;
    let conn: Connection | undefined;
    if (peer.startsWith('/')) ({ peerId, conn } = await this.#dialAddr(peer, timeoutMs));
    else peerId = checkPeerId(peer);
    if (peerId === this.peerId) return this.#callSelf(method, payload);

    const s = this.#session(peerId, conn);
    const id = s.nextId++;
    const frame = encodeFrame({ k: 'request', id, method, payload }, this.#maxFrame);
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          if (s.pending.delete(id)) reject(new P2PError('TIMEOUT', `${method} to ${peerId}: no response within ${timeoutMs} ms`));
        },
        Math.max(0, deadline - Date.now()),
      );
      s.pending.set(id, { resolve, reject, timer });
      // On failure the session is closed, which rejects this request with it.
      this.#trySend(s, frame);
    });
  }

  /** One-way and best effort: never throws, drops the message when the peer is unreachable. */
  notify(peerId: string, method: string, payload: unknown): void {
    if (this.#stopped) return;
    try {
      checkMethod(method);
      checkPeerId(peerId);
      if (peerId === this.peerId) {
        this.#callSelf(method, payload).catch((err: unknown) => this.#log.debug({ err: errorMessage(err), method }, 'notify to self failed'));
        return;
      }
      const frame = encodeFrame({ k: 'notify', method, payload }, this.#maxFrame);
      const s = this.#session(peerId);
      if ((s.stream && s.stream.writeBufferLength > NOTIFY_BACKLOG_BYTES) || s.queue.length >= NOTIFY_QUEUE_WHILE_OPENING) {
        this.#log.debug({ peer: peerId, method }, 'notify dropped: peer is not keeping up');
        return;
      }
      this.#trySend(s, frame);
    } catch (err) {
      this.#log.debug({ peer: peerId, method, err: errorMessage(err) }, 'notify dropped');
    }
  }

  /** Where to dial a peer (replaces what was known); request(peerId) and notify use these. */
  addPeerAddrs(peerId: string, multiaddrs: string[]): void {
    if (this.#stopped || peerId === this.peerId) return;
    let pid: PeerId;
    try {
      pid = peerIdFromString(peerId);
    } catch {
      this.#log.warn({ peer: peerId }, 'addPeerAddrs: not a PeerId; ignored');
      return;
    }
    const addrs: Multiaddr[] = [];
    for (const a of multiaddrs) {
      try {
        const ma = multiaddr(a);
        const owner = ma.getComponents().find((c) => c.name === 'p2p')?.value;
        if (owner !== undefined && owner !== peerId) throw new Error(`it names peer ${owner}`);
        addrs.push(owner === undefined ? ma : ma.decapsulateCode(0x01a5));
      } catch (err) {
        this.#log.warn({ peer: peerId, addr: a, err: errorMessage(err) }, 'addPeerAddrs: bad multiaddr ignored');
      }
    }
    this.#addrs.set(peerId, addrs);
    (async () => this.#node.peerStore.patch(pid, { multiaddrs: addrs }))().catch((err: unknown) =>
      this.#log.debug({ peer: peerId, err: errorMessage(err) }, 'peer store update failed'),
    );
  }

  // ---------------------------------------------------------------- gossip

  /** Delivers messages on a topic whose author and relaying neighbour both hold valid certificates. */
  subscribe(topic: string, handler: (data: Uint8Array, from: string) => void): void {
    if (this.#stopped) return;
    let set = this.#topics.get(topic);
    if (!set) {
      set = new Set();
      this.#topics.set(topic, set);
      this.#pubsub.topicValidators.set(topic, this.#validate);
      this.#pubsub.subscribe(topic);
    }
    set.add(handler);
  }

  /** Peers whose subscription to a topic we have seen (for a direct exchange with one of them). */
  topicPeers(topic: string): string[] {
    if (this.#stopped) return [];
    return this.#pubsub.getSubscribers(topic).map((p) => p.toString());
  }

  /** Needs trust: the message carries our certificate. Reaches only peers whose subscription we have seen. */
  async publish(topic: string, data: Uint8Array): Promise<void> {
    if (this.#stopped) throw new P2PError('CLOSED', 'the p2p host is stopped');
    const trust = this.#trust;
    if (!trust) throw new P2PError('UNAUTHENTICATED', 'cannot publish before this node has a cluster certificate');
    const bytes = wrapGossip(encodeCertificate(trust.certificate), data);
    try {
      await this.#pubsub.publish(topic, bytes);
    } catch (err) {
      throw new P2PError('UNREACHABLE', `publish on ${topic} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  // ---------------------------------------------------------------- lifecycle

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const off of this.#unlisten.splice(0)) off();
    const closed = new P2PError('CLOSED', 'the p2p host stopped');
    for (const s of [...this.#sessions.values()]) this.#closeSession(s, closed);
    for (const t of this.#inbound.values()) clearTimeout(t.timer);
    this.#inbound.clear();
    for (const st of this.#peers.values()) for (const w of st.waiters.splice(0)) w.resolve(false);
    this.#peers.clear();
    this.#topics.clear();
    try {
      await this.#node.stop();
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'libp2p did not stop cleanly');
    }
    this.#log.info({ peerId: this.peerId }, 'p2p host stopped');
  }

  // ---------------------------------------------------------------- internals: wiring

  get #pubsub(): GossipSub {
    return this.#node.services.pubsub;
  }

  async #install(): Promise<void> {
    const node = this.#node;
    await node.handle(RPC_PROTOCOL, (stream, conn) => this.#onInboundStream(stream, conn), {
      // One per connection is the protocol; a few spare for a peer that reopens after an error.
      maxInboundStreams: 8,
      maxOutboundStreams: 8,
    });

    const listen = <K extends 'connection:open' | 'connection:close' | 'peer:disconnect'>(
      type: K,
      fn: (detail: K extends 'peer:disconnect' ? PeerId : Connection) => void,
    ): void => {
      const h = (evt: CustomEvent<K extends 'peer:disconnect' ? PeerId : Connection>): void => {
        try {
          fn(evt.detail);
        } catch (err) {
          this.#log.error({ err, event: type }, 'p2p event handler failed');
        }
      };
      node.addEventListener(type, h as never);
      this.#unlisten.push(() => node.removeEventListener(type, h as never));
    };
    listen('connection:open', (conn) => this.#onConnectionOpen(conn as Connection));
    listen('connection:close', (conn) => this.#onConnectionClose(conn as Connection));
    listen('peer:disconnect', (peer) => this.#onPeerDisconnect((peer as PeerId).toString()));

    const onMessage = (evt: CustomEvent<Message>): void => this.#onGossip(evt.detail);
    this.#pubsub.addEventListener('message', onMessage);
    this.#unlisten.push(() => this.#pubsub.removeEventListener('message', onMessage));
  }

  #onConnectionOpen(conn: Connection): void {
    if (this.#stopped) return;
    const peerId = conn.remotePeer.toString();
    if (conn.direction === 'inbound') {
      const t: InboundConn = { conn, peerId, timer: undefined, anyone: 0, expired: false };
      this.#inbound.set(conn.id, t);
      if (!this.#validCert(peerId)) this.#armGrace(t);
    }
    if (this.#trust) this.#session(peerId, conn);
  }

  #onConnectionClose(conn: Connection): void {
    const t = this.#inbound.get(conn.id);
    if (t) {
      clearTimeout(t.timer);
      this.#inbound.delete(conn.id);
    }
    const st = this.#peers.get(conn.remotePeer.toString());
    if (st) {
      const [gone, keep] = partition(st.waiters, (w) => w.connId === conn.id);
      st.waiters = keep;
      for (const w of gone) w.resolve(false);
    }
  }

  #onPeerDisconnect(peerId: string): void {
    const st = this.#peers.get(peerId);
    this.#peers.delete(peerId);
    for (const w of st?.waiters ?? []) w.resolve(false);
    const s = this.#sessions.get(peerId);
    if (s) this.#closeSession(s, new P2PError('CLOSED', `connection to ${peerId} closed`));
    this.#log.debug({ peer: peerId, node: st?.cert?.nodeId }, 'peer disconnected');
    this.emit('peer:disconnected', peerId);
  }

  // ---------------------------------------------------------------- internals: authentication

  #peer(peerId: string): PeerState {
    let st = this.#peers.get(peerId);
    if (!st) {
      st = { cert: undefined, pending: undefined, waiters: [] };
      this.#peers.set(peerId, st);
    }
    return st;
  }

  /** The peer's certificate if it is valid right now (time and revocation are checked per call). */
  #validCert(peerId: string): NodeCertificate | undefined {
    const trust = this.#trust;
    const cert = this.#peers.get(peerId)?.cert;
    if (!trust || !cert) return undefined;
    if (!checkClaims(cert, Date.now(), peerId).ok || trust.isRevoked?.(cert) === true) return undefined;
    return cert;
  }

  #onHello(bytes: Uint8Array, peerId: string): void {
    let cert: NodeCertificate;
    try {
      cert = decodeCertificate(bytes);
    } catch (err) {
      this.#refusePeer(peerId, errorMessage(err), undefined);
      return;
    }
    const trust = this.#trust;
    if (!trust) {
      // Nothing to check it with yet (we are joining): setTrust checks it.
      this.#peer(peerId).pending = cert;
      this.#log.debug({ peer: peerId, node: cert.nodeId }, 'hello kept until this node has trust');
      return;
    }
    const v = checkPeerCertificate(trust, cert, peerId, Date.now());
    if (!v.ok) this.#refusePeer(peerId, v.reason, cert);
    else this.#authenticated(peerId, cert);
  }

  #authenticated(peerId: string, cert: NodeCertificate): void {
    const st = this.#peer(peerId);
    st.cert = cert;
    st.pending = undefined;
    for (const t of this.#inbound.values()) {
      if (t.peerId !== peerId) continue;
      clearTimeout(t.timer);
      t.timer = undefined;
      t.expired = false;
    }
    for (const w of st.waiters.splice(0)) w.resolve(true);
    this.#log.debug({ peer: peerId, node: cert.nodeId, role: cert.role }, 'peer authenticated');
    try {
      this.emit('peer:authenticated', cert);
    } catch (err) {
      this.#log.error({ err }, "a 'peer:authenticated' listener threw");
    }
  }

  /** A failed hello: forget what we knew of the peer and close every connection to it at once. */
  #refusePeer(peerId: string, reason: string, cert: NodeCertificate | undefined): void {
    this.#stats.helloRefused++;
    const st = this.#peers.get(peerId);
    if (st) {
      st.cert = undefined;
      st.pending = undefined;
    }
    const conns = this.#node.getConnections(peerIdFromString(peerId));
    this.#log.warn(
      { peer: peerId, node: cert?.nodeId, role: cert?.role, addr: conns[0]?.remoteAddr.toString(), reason },
      'refused peer certificate; closing the connection',
    );
    for (const c of conns) c.abort(new P2PError('UNAUTHENTICATED', reason));
  }

  #armGrace(t: InboundConn): void {
    clearTimeout(t.timer);
    t.timer = setTimeout(() => this.#graceOver(t), this.#graceMs);
    t.timer.unref();
  }

  #graceOver(t: InboundConn): void {
    t.timer = undefined;
    if (this.#stopped || this.#inbound.get(t.conn.id) !== t || this.#validCert(t.peerId)) return;
    if (t.anyone > 0) {
      t.expired = true;
      return;
    }
    this.#stats.graceClosed++;
    this.#log.info({ peer: t.peerId, addr: t.conn.remoteAddr.toString(), graceMs: this.#graceMs }, 'closing inbound connection: no valid certificate in time');
    t.conn.close().catch((err: unknown) => t.conn.abort(err instanceof Error ? err : new Error(String(err))));
  }

  /** Holds an inbound gossip stream until its peer authenticates, so unknown peers get and give no gossip. */
  #holdGossip(handler: StreamHandler): StreamHandler {
    return (stream, conn) => {
      const peerId = conn.remotePeer.toString();
      if (this.#validCert(peerId)) return handler(stream, conn);
      return new Promise<boolean>((resolve) => {
        if (this.#stopped || conn.status !== 'open') resolve(false);
        else this.#peer(peerId).waiters.push({ connId: conn.id, resolve });
      }).then((ok) => {
        if (ok) return handler(stream, conn);
        stream.abort(new P2PError('UNAUTHENTICATED', `gossip stream from ${peerId} refused: the peer never authenticated`));
      });
    };
  }

  // ---------------------------------------------------------------- internals: outbound sessions

  #session(peerId: string, conn?: Connection): Session {
    const existing = this.#sessions.get(peerId);
    if (existing && !existing.closed) return existing;
    const s = new Session(peerId);
    this.#sessions.set(peerId, s);
    void this.#openSession(s, conn);
    return s;
  }

  async #openSession(s: Session, conn: Connection | undefined): Promise<void> {
    try {
      const c = conn?.status === 'open' ? conn : await this.#connect(s.peerId);
      const stream = await c.newStream(RPC_PROTOCOL, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) });
      if (s.closed || this.#stopped) {
        stream.abort(new P2PError('CLOSED', 'session closed while its stream was opening'));
        return;
      }
      this.#stats.rpcStreamsOpened++;
      stream.inactivityTimeout = NO_INACTIVITY_TIMEOUT_MS;
      const decoder = new FrameDecoder(this.#maxFrame);
      stream.addEventListener('message', (evt) => {
        let frames: Frame[];
        try {
          frames = decoder.push(evt.data.subarray());
        } catch (err) {
          this.#badFrame(stream, c, s.peerId, err);
          return;
        }
        for (const f of frames) {
          if (f.k !== 'response') {
            this.#badFrame(stream, c, s.peerId, new P2PError('BAD_MESSAGE', `${f.k} frame on a stream we opened`));
            return;
          }
          this.#onResponse(s, f);
        }
      });
      stream.addEventListener('close', (evt) => {
        const why = evt.error ? `: ${evt.error.message}` : '';
        this.#closeSession(s, new P2PError('CLOSED', `RPC stream to ${s.peerId} closed${why}`));
      });
      if (stream.status !== 'open') throw new Error(`stream is ${stream.status}`);
      s.stream = stream;
      if (this.#hello) stream.send(this.#hello);
      const queued = s.queue;
      s.queue = [];
      for (const f of queued) stream.send(f);
    } catch (err) {
      const e = err instanceof P2PError ? err : new P2PError('UNREACHABLE', `cannot open an RPC stream to ${s.peerId}: ${errorMessage(err)}`, { cause: err });
      this.#log.debug({ peer: s.peerId, err: e.message }, 'RPC stream not opened');
      this.#closeSession(s, e);
    }
  }

  #onResponse(s: Session, f: Extract<Frame, { k: 'response' }>): void {
    const p = s.pending.get(f.id);
    if (!p) return; // timed out already
    s.pending.delete(f.id);
    clearTimeout(p.timer);
    if ('error' in f) p.reject(new P2PError('REMOTE', f.error.message, { remoteCode: f.error.code }));
    else p.resolve(f.result);
  }

  #trySend(s: Session, frame: Uint8Array | undefined): void {
    if (frame === undefined || s.closed) return;
    if (!s.stream) {
      s.queue.push(frame);
      return;
    }
    try {
      s.stream.send(frame);
    } catch (err) {
      this.#closeSession(s, new P2PError('CLOSED', `RPC stream to ${s.peerId} failed: ${errorMessage(err)}`, { cause: err }));
    }
  }

  #closeSession(s: Session, err: P2PError): void {
    if (s.closed) return;
    s.closed = true;
    if (this.#sessions.get(s.peerId) === s) this.#sessions.delete(s.peerId);
    for (const p of s.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    s.pending.clear();
    s.queue = [];
    if (s.stream?.status === 'open') s.stream.abort(err);
  }

  async #connect(peerId: string): Promise<Connection> {
    const pid = peerIdFromString(peerId);
    const open = this.#node.getConnections(pid).find((c) => c.status === 'open');
    if (open) return open;
    const addrs = this.#addrs.get(peerId);
    const target = addrs && addrs.length > 0 ? addrs.map((a) => a.encapsulate(`/p2p/${peerId}`)) : pid;
    return this.#node.dial(target, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) });
  }

  async #dialAddr(addr: string, timeoutMs: number): Promise<{ peerId: string; conn: Connection | undefined }> {
    let ma: Multiaddr;
    try {
      ma = multiaddr(addr);
    } catch (err) {
      throw new P2PError('BAD_MESSAGE', `invalid multiaddr ${JSON.stringify(addr)}: ${errorMessage(err)}`);
    }
    const known = ma.getComponents().find((c) => c.name === 'p2p')?.value ?? this.#dialled.get(ma.toString());
    if (known !== undefined && this.#node.getConnections(peerIdFromString(known)).some((c) => c.status === 'open')) {
      return { peerId: known, conn: undefined };
    }
    let conn: Connection;
    try {
      conn = await this.#node.dial(ma, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new P2PError(timedOut ? 'TIMEOUT' : 'UNREACHABLE', `cannot reach ${addr}: ${errorMessage(err)}`, { cause: err });
    }
    const peerId = conn.remotePeer.toString();
    if (this.#dialled.size > 1024) this.#dialled.clear();
    this.#dialled.set(ma.toString(), peerId);
    return { peerId, conn };
  }

  /** A request to ourselves runs the handler here, with the same encoding and access rules as over the wire. */
  async #callSelf(method: string, payload: unknown): Promise<unknown> {
    const entry = this.#handlers.get(method);
    const copy = unpack(packr.pack(payload));
    const denied = entry ? this.#deny(entry.access, method, this.peerId) : { code: 'NO_HANDLER', message: noHandler(method) };
    if (denied) throw new P2PError('REMOTE', denied.message, { remoteCode: denied.code });
    try {
      const result = await entry!.fn(copy, { peerId: this.peerId, cert: this.#trust?.certificate });
      return unpack(packr.pack(result));
    } catch (err) {
      const e = toRemoteError(err);
      throw new P2PError('REMOTE', e.message, { remoteCode: e.code, cause: err });
    }
  }

  // ---------------------------------------------------------------- internals: inbound streams

  #onInboundStream(stream: Stream, conn: Connection): void {
    if (this.#stopped) {
      stream.abort(new P2PError('CLOSED', 'the p2p host is stopping'));
      return;
    }
    this.#stats.rpcStreamsAccepted++;
    stream.inactivityTimeout = NO_INACTIVITY_TIMEOUT_MS;
    const peerId = conn.remotePeer.toString();
    const decoder = new FrameDecoder(this.#maxFrame);
    const served = { inFlight: 0, remoteDone: false };
    const maybeFinish = (): void => {
      // The peer closed its side and has all its answers: close ours.
      if (served.remoteDone && served.inFlight === 0 && stream.writeStatus === 'writable') stream.close().catch(() => undefined);
    };
    stream.addEventListener('remoteCloseWrite', () => {
      served.remoteDone = true;
      maybeFinish();
    });
    stream.addEventListener('message', (evt) => {
      let frames: Frame[];
      try {
        frames = decoder.push(evt.data.subarray());
      } catch (err) {
        this.#badFrame(stream, conn, peerId, err);
        return;
      }
      for (const f of frames) {
        if (stream.status !== 'open' || this.#stopped) return;
        switch (f.k) {
          case 'hello':
            this.#onHello(f.cert, peerId);
            break;
          case 'request':
            served.inFlight++;
            void this.#serve(f, stream, conn, peerId).finally(() => {
              served.inFlight--;
              maybeFinish();
            });
            break;
          case 'notify':
            this.#onNotify(f, peerId);
            break;
          default:
            this.#badFrame(stream, conn, peerId, new P2PError('BAD_MESSAGE', 'response frame on a stream the peer opened'));
            return;
        }
      }
    });
  }

  #deny(access: Access, method: string, peerId: string): RemoteError | undefined {
    if (access === 'anyone') return undefined;
    const cert = peerId === this.peerId ? this.#trust?.certificate : this.#validCert(peerId);
    if (!cert) return { code: 'UNAUTHENTICATED', message: `${method} needs a valid cluster certificate, and peer ${peerId} has presented none` };
    if (access === 'manager' && cert.role !== 'manager') {
      return { code: 'PERMISSION_DENIED', message: `${method} is for managers only, and node ${cert.nodeId} is a ${cert.role}` };
    }
    return undefined;
  }

  async #serve(f: Extract<Frame, { k: 'request' }>, stream: Stream, conn: Connection, peerId: string): Promise<void> {
    const entry = this.#handlers.get(f.method);
    let out: Frame;
    const denied = entry ? this.#deny(entry.access, f.method, peerId) : { code: 'NO_HANDLER', message: noHandler(f.method) };
    if (denied || !entry) {
      if (denied?.code !== 'NO_HANDLER') this.#log.debug({ peer: peerId, method: f.method, code: denied?.code }, 'request refused');
      out = { k: 'response', id: f.id, error: denied ?? { code: 'NO_HANDLER', message: noHandler(f.method) } };
    } else {
      const cert = this.#validCert(peerId);
      // An unauthenticated joiner is not cut off while its join request runs.
      const probation = cert ? undefined : this.#inbound.get(conn.id);
      if (probation) probation.anyone++;
      try {
        out = { k: 'response', id: f.id, result: await entry.fn(f.payload, { peerId, cert }) };
      } catch (err) {
        out = { k: 'response', id: f.id, error: toRemoteError(err) };
      } finally {
        if (probation) {
          probation.anyone--;
          if (probation.anyone === 0 && probation.expired && !this.#validCert(peerId)) {
            probation.expired = false;
            this.#armGrace(probation);
          }
        }
      }
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeFrame(out, this.#maxFrame);
    } catch (err) {
      this.#log.warn({ peer: peerId, method: f.method, err: errorMessage(err) }, 'response could not be encoded');
      bytes = encodeFrame({ k: 'response', id: f.id, error: toRemoteError(err) }, this.#maxFrame);
    }
    if (stream.writeStatus !== 'writable') return; // the peer or its connection went away
    try {
      stream.send(bytes);
    } catch (err) {
      this.#log.debug({ peer: peerId, method: f.method, err: errorMessage(err) }, 'response not sent');
    }
  }

  #onNotify(f: Extract<Frame, { k: 'notify' }>, peerId: string): void {
    const entry = this.#handlers.get(f.method);
    const denied = entry ? this.#deny(entry.access, f.method, peerId) : { code: 'NO_HANDLER', message: noHandler(f.method) };
    if (denied || !entry) {
      this.#log.debug({ peer: peerId, method: f.method, code: denied?.code }, 'notify dropped');
      return;
    }
    const failed = (err: unknown): void => this.#log.warn({ peer: peerId, method: f.method, err: errorMessage(err) }, 'notify handler failed');
    try {
      const r = entry.fn(f.payload, { peerId, cert: this.#validCert(peerId) });
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /** A malformed or oversized frame: the stream is out of step, and the peer is broken or hostile. */
  #badFrame(stream: Stream, conn: Connection, peerId: string, err: unknown): void {
    this.#stats.badFrames++;
    this.#log.warn({ peer: peerId, addr: conn.remoteAddr.toString(), err: errorMessage(err) }, 'bad RPC frame; closing the connection');
    const e = err instanceof Error ? err : new P2PError('BAD_MESSAGE', String(err));
    stream.abort(e);
    conn.abort(e);
  }

  // ---------------------------------------------------------------- internals: gossip

  readonly #validate = (peer: PeerId, msg: Message): TopicValidatorResult => {
    const v = this.#gate.check(peer.toString(), msg, Date.now());
    if (!v.ok) {
      this.#stats.gossipRejected++;
      this.#log.debug({ topic: msg.topic, via: peer.toString(), reason: v.reason }, 'gossip rejected');
      return TopicValidatorResult.Reject;
    }
    this.#accepted.set(msg, v);
    return TopicValidatorResult.Accept;
  };

  #onGossip(msg: Message): void {
    const handlers = this.#topics.get(msg.topic);
    const v = this.#accepted.get(msg);
    if (!handlers || !v) return;
    for (const h of handlers) {
      try {
        h(v.data, v.from);
      } catch (err) {
        this.#log.error({ err, topic: msg.topic }, 'gossip handler threw');
      }
    }
  }
}

/** The same components, except that stream handlers registered through them pass through `wrap`. */
function withRegistrarHandle(components: GossipSubComponents, wrap: (handler: StreamHandler) => StreamHandler): GossipSubComponents {
  const registrar = components.registrar;
  const wrapped = new Proxy(registrar, {
    get(target, prop, receiver) {
      if (prop === 'handle') {
        return (protocol: string, handler: StreamHandler, options?: Parameters<typeof registrar.handle>[2]) => target.handle(protocol, wrap(handler), options);
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new Proxy(components, {
    get(target, prop, receiver) {
      return prop === 'registrar' ? wrapped : Reflect.get(target, prop, receiver);
    },
  });
}

function toRemoteError(err: unknown): RemoteError {
  // A handler that forwarded a call (follower to leader) passes the far end's code on unchanged.
  if (err instanceof P2PError && err.code === 'REMOTE' && err.remoteCode !== undefined) {
    return { code: err.remoteCode, message: err.message.slice(0, MAX_ERROR_MESSAGE) };
  }
  const code = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'INTERNAL';
  return { code, message: errorMessage(err).slice(0, MAX_ERROR_MESSAGE) };
}

function noHandler(method: string): string {
  return `no handler for ${method} on this node`;
}

function checkMethod(method: string): void {
  if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_LENGTH) {
    throw new P2PError('BAD_MESSAGE', `method must be a non-empty string of at most ${MAX_METHOD_LENGTH} characters`);
  }
}

function checkPeerId(peerId: string): string {
  try {
    peerIdFromString(peerId);
  } catch (err) {
    throw new P2PError('BAD_MESSAGE', `not a PeerId: ${JSON.stringify(peerId)} (${errorMessage(err)})`);
  }
  return peerId;
}

function partition<T>(xs: T[], pred: (x: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const x of xs) (pred(x) ? yes : no).push(x);
  return [yes, no];
}
