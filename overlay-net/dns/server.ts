// The embedded DNS server containers use (as Docker's resolver): answers swarm names from the
// endpoint table, relays everything else to the host's resolvers. UDP and TCP on each address it
// is given; malformed input is dropped, never fatal.
import dgram from 'node:dgram';
import { setMaxListeners } from 'node:events';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Logger } from 'pino';
import type { EndpointRecord } from '../types.js';
import { answer } from './answer.js';

export interface DnsServerOptions {
  /** Addresses to serve on, UDP and TCP. */
  addresses: string[];
  /** 53 by default; 0 picks one free port on the first bind, then used on every address. */
  port?: number;
  /** The records the client may see: those of every network it is on. */
  lookup: (clientIp: string, localAddress: string) => EndpointRecord[];
  /** Resolvers for other names: "ip" or "ip:port" ("[v6]:port"), tried in order. */
  upstreams: string[];
  logger?: Logger;
  random?: () => number;
  /** How long each upstream has to answer; 2 s by default. */
  upstreamTimeoutMs?: number;
}

interface Upstream {
  host: string;
  port: number;
}

interface Listener {
  address: string;
  udp: dgram.Socket;
  tcp: net.Server;
  connections: Set<net.Socket>;
}

type Transport = 'udp' | 'tcp';

const DEFAULT_PORT = 53;
const DEFAULT_UPSTREAM_TIMEOUT_MS = 2_000;
/** Forwarded queries at once; past this, SERVFAIL rather than running out of sockets. */
const MAX_FORWARDS_IN_FLIGHT = 1024;
/** Queries a TCP client may have pending before we stop reading from it. */
const MAX_PENDING_PER_CONNECTION = 16;
const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 512;
/** Without EDNS a UDP answer must fit in 512 bytes. */
const CLASSIC_UDP_SIZE = 512;
const MAX_UDP_SIZE = 4096;
const MAX_TCP_SIZE = 65535;
const PORT_ATTEMPTS = 8;

const QR = 0x8000;
const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NOTIMP = 4;
const RCODE_REFUSED = 5;

/** Parses "ip", "ip:port", "[v6]" or "[v6]:port"; a bare IPv6 address has no port. */
export function parseUpstream(text: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  let host: string;
  let port = DEFAULT_PORT;
  if (bracket !== null) {
    host = bracket[1] as string;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (net.isIPv6(text)) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    if (colon >= 0) port = /^\d+$/.test(text.slice(colon + 1)) ? Number(text.slice(colon + 1)) : NaN;
  }
  if (net.isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`not a DNS upstream (ip or ip:port): ${JSON.stringify(text)}`);
  }
  return { host, port };
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export class DnsServer {
  #port: number;
  readonly #listeners = new Map<string, Listener>();
  readonly #lookup: DnsServerOptions['lookup'];
  readonly #logger: Logger | undefined;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  #upstreams: Upstream[];
  /** setAddresses calls run one after another. */
  #chain: Promise<unknown> = Promise.resolve();
  #forwarding = 0;
  #closed = false;
  /** Ends every upstream exchange in flight at close. */
  readonly #stop = new AbortController();

  private constructor(opts: DnsServerOptions) {
    const port = opts.port ?? DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`not a port: ${port}`);
    this.#port = port;
    this.#lookup = opts.lookup;
    this.#logger = opts.logger;
    this.#random = opts.random ?? Math.random;
    this.#timeoutMs = opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    this.#upstreams = opts.upstreams.map(parseUpstream);
    // Every forward in flight listens for close.
    setMaxListeners(MAX_FORWARDS_IN_FLIGHT + 16, this.#stop.signal);
  }

  /** Starts serving on `opts.addresses`; rejects (having closed what it opened) if one cannot be bound. */
  static async listen(opts: DnsServerOptions): Promise<DnsServer> {
    const server = new DnsServer(opts);
    const failures = await server.#apply(opts.addresses);
    const first = failures[0];
    if (first !== undefined) {
      await server.close();
      throw new Error(`cannot serve DNS on ${first.address}: ${first.error instanceof Error ? first.error.message : String(first.error)}`, { cause: first.error });
    }
    return server;
  }

  /** The port served on every address (the one picked, when 0 was asked for and one is bound). */
  get port(): number {
    return this.#port;
  }

  /** Addresses currently served. */
  addresses(): string[] {
    return [...this.#listeners.keys()].sort();
  }

  setUpstreams(upstreams: string[]): void {
    this.#upstreams = upstreams.map(parseUpstream);
  }

  /**
   * Serves exactly these addresses: binds the new ones, closes the ones gone. Never rejects (it is
   * called as networks come and go, without waiting): resolves to the addresses that could not be
   * bound, which are logged and tried again on the next call.
   */
  setAddresses(addresses: string[]): Promise<string[]> {
    const run = this.#chain.then(() => this.#apply(addresses)).then((failures) => failures.map((f) => f.address));
    this.#chain = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      this.#logger?.warn({ err }, 'DNS addresses not applied');
      return addresses;
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    await this.#chain;
    await Promise.all([...this.#listeners.values()].map((l) => this.#unbind(l)));
  }

  async #apply(addresses: readonly string[]): Promise<{ address: string; error: unknown }[]> {
    if (this.#closed) return [];
    const wanted = new Set(addresses);
    await Promise.all([...this.#listeners.values()].filter((l) => !wanted.has(l.address)).map((l) => this.#unbind(l)));
    const failures: { address: string; error: unknown }[] = [];
    for (const address of wanted) {
      if (this.#closed) break;
      if (this.#listeners.has(address)) continue;
      try {
        this.#listeners.set(address, await this.#bind(address));
        this.#logger?.debug({ address, port: this.#port }, 'DNS serving');
      } catch (error) {
        this.#logger?.warn({ err: error, address, port: this.#port }, 'cannot serve DNS on this address');
        failures.push({ address, error });
      }
    }
    return failures;
  }

  async #bind(address: string): Promise<Listener> {
    if (net.isIP(address) === 0) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
    const attempts = this.#port === 0 ? PORT_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket(net.isIPv6(address) ? 'udp6' : 'udp4');
      await bindUdp(udp, this.#port, address);
      const port = udp.address().port;
      let tcp: net.Server;
      try {
        tcp = await listenTcp(address, port);
      } catch (err) {
        udp.close();
        // With a picked port, TCP may hold it already: pick another.
        if (attempt < attempts && errorCode(err) === 'EADDRINUSE') continue;
        throw err;
      }
      this.#port = port;
      const listener: Listener = { address, udp, tcp, connections: new Set() };
      this.#serveUdp(listener);
      this.#serveTcp(listener);
      return listener;
    }
  }

  async #unbind(l: Listener): Promise<void> {
    this.#listeners.delete(l.address);
    for (const c of l.connections) c.destroy();
    await Promise.all([
      new Promise<void>((resolve) => {
        try {
          l.udp.close(() => resolve());
        } catch {
          resolve();
        }
      }),
      new Promise<void>((resolve) => l.tcp.close(() => resolve())),
    ]);
  }

  #serveUdp(l: Listener): void {
    l.udp.on('error', (err) => this.#logger?.warn({ err, address: l.address }, 'DNS UDP socket error'));
    l.udp.on('message', (msg, rinfo) => {
      void this.#handle(msg, rinfo.address, l.address, 'udp').then((reply) => {
        // The address may have been dropped while the answer was being found.
        if (reply === undefined || this.#closed || this.#listeners.get(l.address) !== l) return;
        try {
          l.udp.send(reply, rinfo.port, rinfo.address, (err) => {
            if (err) this.#logger?.debug({ err, client: rinfo.address }, 'DNS reply not sent');
          });
        } catch (err) {
          this.#logger?.debug({ err, client: rinfo.address }, 'DNS reply not sent');
        }
      });
    });
  }

  #serveTcp(l: Listener): void {
    l.tcp.maxConnections = MAX_TCP_CONNECTIONS;
    l.tcp.on('error', (err) => this.#logger?.warn({ err, address: l.address }, 'DNS TCP server error'));
    l.tcp.on('connection', (socket) => {
      l.connections.add(socket);
      socket.on('close', () => l.connections.delete(socket));
      socket.on('error', (err) => this.#logger?.debug({ err }, 'DNS TCP client error'));
      socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
      const client = socket.remoteAddress ?? '';
      let buffered: Buffer = Buffer.alloc(0);
      let pending = 0;
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2) {
          const length = buffered.readUInt16BE(0);
          if (buffered.length < 2 + length) break;
          const query = buffered.subarray(2, 2 + length);
          buffered = buffered.subarray(2 + length);
          pending++;
          if (pending >= MAX_PENDING_PER_CONNECTION) socket.pause();
          void this.#handle(query, client, l.address, 'tcp').then((reply) => {
            pending--;
            if (reply === undefined) {
              socket.destroy();
              return;
            }
            if (socket.destroyed || this.#closed) return;
            const frame = Buffer.alloc(2 + reply.length);
            frame.writeUInt16BE(reply.length, 0);
            reply.copy(frame, 2);
            socket.write(frame);
            if (pending < MAX_PENDING_PER_CONNECTION) socket.resume();
          });
        }
      });
    });
  }

  /** The reply to one query, or undefined to drop it (UDP) or close the connection (TCP). Never throws. */
  async #handle(msg: Buffer, client: string, local: string, transport: Transport): Promise<Buffer | undefined> {
    try {
      let query: dnsPacket.DecodedPacket;
      try {
        query = dnsPacket.decode(msg);
      } catch (err) {
        this.#logger?.debug({ err, client }, 'malformed DNS query dropped');
        return undefined;
      }
      if (query.type !== 'query') return undefined;
      const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
      if (opcode !== 0) return reply(query, RCODE_NOTIMP);
      const question = query.questions?.length === 1 ? query.questions[0] : undefined;
      if (question === undefined) return reply(query, RCODE_FORMERR);
      if ((question.class ?? 'IN') !== 'IN') return await this.#forward(msg, query, transport);
      let records: EndpointRecord[];
      try {
        records = this.#lookup(client, local);
      } catch (err) {
        this.#logger?.warn({ err, client }, 'DNS lookup failed');
        return reply(query, RCODE_SERVFAIL);
      }
      const result = answer({ name: question.name, type: question.type }, records, this.#random);
      if (result.kind === 'forward') return await this.#forward(msg, query, transport);
      return reply(query, 0, result.ips, transport === 'udp' ? udpLimit(query) : MAX_TCP_SIZE);
    } catch (err) {
      this.#logger?.warn({ err, client }, 'DNS query failed');
      return undefined;
    }
  }

  /** Relays the query as it came (its id kept) to the first upstream that answers. */
  async #forward(msg: Buffer, query: dnsPacket.DecodedPacket, transport: Transport): Promise<Buffer> {
    const upstreams = this.#upstreams.filter((u) => !(u.port === this.#port && this.#listeners.has(u.host)));
    if (upstreams.length === 0 || this.#forwarding >= MAX_FORWARDS_IN_FLIGHT) return reply(query, RCODE_SERVFAIL);
    this.#forwarding++;
    try {
      // An upstream's own failure is kept in case no other does better.
      let failure: Buffer | undefined;
      for (const upstream of upstreams) {
        if (this.#closed) break;
        try {
          const exchange = transport === 'udp' ? exchangeUdp : exchangeTcp;
          const response = await exchange(upstream, msg, this.#timeoutMs, this.#stop.signal);
          if (response.length < 12 || response.readUInt16BE(0) !== query.id || (response.readUInt16BE(2) & QR) === 0) continue;
          const rcode = response.readUInt16BE(2) & 0xf;
          if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) {
            failure ??= response;
            continue;
          }
          return response;
        } catch (err) {
          this.#logger?.debug({ err, upstream: `${upstream.host}:${upstream.port}` }, 'DNS upstream did not answer');
        }
      }
      return failure ?? reply(query, RCODE_SERVFAIL);
    } finally {
      this.#forwarding--;
    }
  }
}

/** The largest UDP reply the client takes: its EDNS size, else the classic 512 bytes. */
function udpLimit(query: dnsPacket.DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  if (opt === undefined || opt.type !== 'OPT') return CLASSIC_UDP_SIZE;
  return Math.min(MAX_UDP_SIZE, Math.max(CLASSIC_UDP_SIZE, opt.udpPayloadSize));
}

/**
 * A reply from this server: authoritative for swarm names, A records with TTL 0 so changes show
 * at once. Answers that do not fit are cut, with TC set, so the client asks again over TCP.
 */
function reply(query: dnsPacket.DecodedPacket, rcode: number, ips: readonly string[] = [], limit = MAX_TCP_SIZE): Buffer {
  const question = query.questions?.length === 1 ? query.questions[0] : undefined;
  const edns = query.additionals?.some((a) => a.type === 'OPT') === true;
  const flags = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const packet = (answers: readonly string[], truncated: boolean): dnsPacket.Packet => ({
    type: 'response',
    id: query.id ?? 0,
    flags:
      flags |
      dnsPacket.RECURSION_AVAILABLE |
      (rcode === 0 ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
      (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
      rcode,
    questions: question === undefined ? [] : [question],
    answers: question === undefined ? [] : answers.map((ip) => ({ type: 'A', class: 'IN', name: question.name, ttl: 0, data: ip })),
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
  const full = packet(ips, false);
  if (ips.length === 0 || dnsPacket.encodingLength(full) <= limit) return dnsPacket.encode(full);
  // Every answer has one size: the name as asked, and four bytes of address.
  const base = dnsPacket.encodingLength(packet([], true));
  const each = dnsPacket.encodingLength(packet(ips.slice(0, 1), true)) - base;
  return dnsPacket.encode(packet(ips.slice(0, Math.max(0, Math.floor((limit - base) / each))), true));
}

function bindUdp(socket: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(address: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: false });
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * One upstream exchange: `start` wires a socket to `finish`, which settles once (an answer, an
 * error, the deadline, or the server closing) and then releases the socket and the listeners.
 */
function exchange(timeoutMs: number, signal: AbortSignal, start: (finish: (err: Error | undefined, answer?: Buffer) => void) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let done = false;
    let release = (): void => {};
    const finish = (err: Error | undefined, answer?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      release();
      if (err !== undefined) reject(err);
      else resolve(answer as Buffer);
    };
    const onAbort = (): void => finish(new Error('DNS server closing'));
    const timer = setTimeout(() => finish(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', onAbort);
    release = start(finish);
  });
}

/** Sends a datagram to the upstream and waits for its reply (only from it: the socket is connected). */
function exchangeUdp(upstream: Upstream, msg: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  return exchange(timeoutMs, signal, (finish) => {
    const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4');
    const id = msg.readUInt16BE(0);
    socket.on('error', (err) => finish(err));
    socket.on('message', (answer) => {
      // A stray datagram with another id is not the answer: keep waiting.
      if (answer.length >= 2 && answer.readUInt16BE(0) === id) finish(undefined, answer);
    });
    let released = false;
    // Node passes the error here when the connect fails (no route to the upstream: ENETUNREACH),
    // though its types say no argument. A send on the unconnected socket would then throw out of
    // this callback and take the daemon down; so would one after release (deadline, closing).
    socket.connect(upstream.port, upstream.host, (err?: Error) => {
      if (released) return;
      if (err) {
        finish(err);
        return;
      }
      try {
        socket.send(msg, (sendErr) => {
          if (sendErr) finish(sendErr);
        });
      } catch (thrown) {
        finish(thrown instanceof Error ? thrown : new Error(String(thrown)));
      }
    });
    return () => {
      released = true;
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    };
  });
}

/** Sends a length-prefixed query over a new connection and reads one length-prefixed answer. */
function exchangeTcp(upstream: Upstream, msg: Buffer, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  return exchange(timeoutMs, signal, (finish) => {
    const socket = net.connect({ host: upstream.host, port: upstream.port });
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error('upstream closed the connection')));
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + msg.length);
      frame.writeUInt16BE(msg.length, 0);
      msg.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) finish(undefined, buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
    });
    return () => socket.destroy();
  });
}
