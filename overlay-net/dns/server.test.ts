import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { prng, stamped, taskEndpoint } from '../peers/test-helpers.js';
import type { EndpointRecord } from '../types.js';
import { DnsServer, parseUpstream, type DnsServerOptions } from './server.js';

const web = stamped(taskEndpoint('w1', '10.0.1.3', { service: { id: 'web', name: 'shop_web', aliases: ['web'], vip: '10.0.1.100', mode: 'vip' } }), 1);
const outside = stamped(taskEndpoint('x1', '10.9.0.3', { service: { id: 'ext', name: 'example.internal', aliases: [], vip: '10.9.0.100', mode: 'vip' } }), 1);

const servers: DnsServer[] = [];
const sockets: { close(): void }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(opts: Partial<DnsServerOptions> & { records?: EndpointRecord[] } = {}): Promise<DnsServer> {
  const records = opts.records ?? [web];
  const server = await DnsServer.listen({ addresses: ['127.0.0.1'], port: 0, lookup: () => records, upstreams: [], random: prng(1), ...opts });
  servers.push(server);
  return server;
}

let nextId = 1;
function query(name: string, type: dnsPacket.RecordType = 'A', extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: nextId++, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], ...extra });
}

/** Sends a datagram and waits for one back; undefined after `timeoutMs`. */
function udpAsk(port: number, msg: Buffer, address = '127.0.0.1', timeoutMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.on('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.send(msg, port, address);
  });
}

/** Sends length-prefixed frames over one connection; resolves to the replies, or what ended it. */
function tcpAsk(port: number, frames: Buffer[], address = '127.0.0.1', expected = frames.length): Promise<{ replies: Buffer[]; closed: boolean; error?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port });
    const replies: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    const done = (closed: boolean, error?: string): void => {
      socket.destroy();
      resolve({ replies, closed, ...(error ? { error } : {}) });
    };
    socket.setTimeout(3000, () => done(false, 'timeout'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(true, err.code));
    socket.on('close', () => done(true));
    socket.on('connect', () => {
      for (const f of frames) {
        const framed = Buffer.alloc(2 + f.length);
        framed.writeUInt16BE(f.length, 0);
        f.copy(framed, 2);
        socket.write(framed);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (replies.length >= expected) done(false);
    });
  });
}

function decoded(reply: Buffer | undefined): dnsPacket.DecodedPacket & { rcode: string } {
  expect(reply).toBeDefined();
  return dnsPacket.decode(reply as Buffer) as dnsPacket.DecodedPacket & { rcode: string };
}

function ipsOf(p: dnsPacket.DecodedPacket): string[] {
  return (p.answers ?? []).map((a) => (a.type === 'A' ? a.data : '?'));
}

describe('DnsServer', () => {
  it('answers over UDP: authoritative, recursion available, TTL 0, id and name as asked', async () => {
    const server = await start();
    expect(server.port).toBeGreaterThan(0);
    const q = query('Shop_Web.');
    const r = decoded(await udpAsk(server.port, q));
    expect(r.id).toBe(q.readUInt16BE(0));
    expect(r).toMatchObject({ type: 'response', flag_aa: true, flag_ra: true, flag_rd: true, flag_tc: false, rcode: 'NOERROR' });
    expect(r.questions).toEqual([{ name: 'Shop_Web', type: 'A', class: 'IN' }]);
    expect(r.answers).toMatchObject([{ name: 'Shop_Web', type: 'A', class: 'IN', ttl: 0, data: '10.0.1.100' }]);
  });

  it('answers over TCP, several queries on one connection', async () => {
    const server = await start();
    const { replies } = await tcpAsk(server.port, [query('web'), query('tasks.web'), query('web', 'AAAA')]);
    const byId = replies.map((b) => decoded(b)).sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
    expect(byId.map(ipsOf)).toEqual([['10.0.1.100'], ['10.0.1.3'], []]);
    expect(byId[2]).toMatchObject({ rcode: 'NOERROR', flag_aa: true });
  });

  it('passes the client and the local address to lookup', async () => {
    const seen: [string, string][] = [];
    const server = await start({ addresses: ['127.0.0.1', '127.0.0.2'], lookup: (c, l) => (seen.push([c, l]), [web]) });
    await udpAsk(server.port, query('web'), '127.0.0.2');
    await tcpAsk(server.port, [query('web')], '127.0.0.1');
    expect(seen).toEqual([
      ['127.0.0.1', '127.0.0.2'],
      ['127.0.0.1', '127.0.0.1'],
    ]);
  });

  it('forwards unknown names to an upstream, over UDP and TCP, keeping the id', async () => {
    const upstream = await start({ records: [outside] });
    const server = await start({ upstreams: [`127.0.0.1:${upstream.port}`] });
    const q = query('example.internal');
    const r = decoded(await udpAsk(server.port, q));
    expect(r.id).toBe(q.readUInt16BE(0));
    expect(ipsOf(r)).toEqual(['10.9.0.100']);
    const t = await tcpAsk(server.port, [query('example.internal'), query('web')]);
    expect(t.replies.map((b) => ipsOf(decoded(b))).sort()).toEqual([['10.0.1.100'], ['10.9.0.100']]);
    // The upstream's own answer for what it does not know either: SERVFAIL (it has no upstream).
    expect(decoded(await udpAsk(server.port, query('nowhere.example'))).rcode).toBe('SERVFAIL');
  });

  it('moves on from an upstream that does not answer in time, or refuses', async () => {
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    const upstream = await start({ records: [outside] });
    const server = await start({ upstreams: [`127.0.0.1:${silent.address().port}`, `127.0.0.1:${upstream.port}`], upstreamTimeoutMs: 200 });
    const began = Date.now();
    expect(ipsOf(decoded(await udpAsk(server.port, query('example.internal'))))).toEqual(['10.9.0.100']);
    expect(Date.now() - began).toBeGreaterThanOrEqual(150);
    // A closed port answers at once (ICMP port unreachable on the connected socket).
    const refusing = await start({ upstreams: ['127.0.0.1:1', `127.0.0.1:${upstream.port}`] });
    expect(ipsOf(decoded(await udpAsk(refusing.port, query('example.internal'))))).toEqual(['10.9.0.100']);
  });

  it('answers SERVFAIL with no upstream, or when every upstream fails', async () => {
    const none = await start();
    const q = query('example.com');
    const r = decoded(await udpAsk(none.port, q));
    expect(r).toMatchObject({ id: q.readUInt16BE(0), rcode: 'SERVFAIL', flag_ra: true });
    expect(r.questions).toEqual([{ name: 'example.com', type: 'A', class: 'IN' }]);
    const dead = await start({ upstreams: ['127.0.0.1:1'], upstreamTimeoutMs: 300 });
    expect(decoded(await udpAsk(dead.port, query('example.com'))).rcode).toBe('SERVFAIL');
    expect(decoded((await tcpAsk(dead.port, [query('example.com')])).replies[0]).rcode).toBe('SERVFAIL');
  });

  // A host with no route to its upstream (ENETUNREACH; here EACCES: broadcast without SO_BROADCAST):
  // the connect callback gets the error, and a send on the unconnected socket used to throw out of
  // it and kill the daemon.
  it('moves on from an upstream it cannot connect to, and stays up', async () => {
    const upstream = await start({ records: [outside] });
    const server = await start({ upstreams: ['255.255.255.255:53', `127.0.0.1:${upstream.port}`] });
    expect(ipsOf(decoded(await udpAsk(server.port, query('example.internal'))))).toEqual(['10.9.0.100']);
    const alone = await start({ upstreams: ['255.255.255.255:53'] });
    expect(decoded(await udpAsk(alone.port, query('example.com'))).rcode).toBe('SERVFAIL');
  });

  it('answers SERVFAIL when lookup throws', async () => {
    const server = await start({
      lookup: () => {
        throw new Error('boom');
      },
    });
    expect(decoded(await udpAsk(server.port, query('web'))).rcode).toBe('SERVFAIL');
  });

  it('drops garbage over UDP and closes TCP on it, and still answers afterwards', async () => {
    const server = await start();
    const random = prng(9);
    const sender = dgram.createSocket('udp4');
    sockets.push(sender);
    for (let i = 0; i < 50; i++) {
      const junk = Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)));
      // Half look like plain queries in the header, so they reach the question decoder.
      if (junk.length >= 4 && i % 2 === 0) junk.writeUInt16BE(0x0100, 2);
      await new Promise<void>((resolve) => sender.send(junk, server.port, '127.0.0.1', () => resolve()));
    }
    expect(await udpAsk(server.port, Buffer.from([1, 2, 3]), '127.0.0.1', 300)).toBeUndefined();
    const t = await tcpAsk(server.port, [Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    expect(t).toMatchObject({ replies: [], closed: true });
    expect(ipsOf(decoded(await udpAsk(server.port, query('web'))))).toEqual(['10.0.1.100']);
    expect((await tcpAsk(server.port, [query('web')])).replies).toHaveLength(1);
  });

  it('answers FORMERR to a query without one question, NOTIMP to other opcodes', async () => {
    const server = await start();
    const empty = dnsPacket.encode({ type: 'query', id: 77, questions: [] });
    expect(decoded(await udpAsk(server.port, empty))).toMatchObject({ id: 77, rcode: 'FORMERR' });
    const notify = query('web');
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    expect(decoded(await udpAsk(server.port, notify)).rcode).toBe('NOTIMP');
  });

  it('cuts a long UDP answer to fit, with TC set, and gives all of it over TCP', async () => {
    const many = Array.from({ length: 100 }, (_, i) =>
      stamped(taskEndpoint(`c${i}`, `10.0.1.${i + 2}`, { service: { id: 'c', name: 'cache', aliases: [], mode: 'dnsrr' } }), 1),
    );
    const server = await start({ records: many });
    const small = await udpAsk(server.port, query('cache'));
    expect(small?.length).toBeLessThanOrEqual(512);
    const r = decoded(small);
    expect(r.flag_tc).toBe(true);
    expect(r.answers?.length).toBeGreaterThan(10);
    const edns = decoded(await udpAsk(server.port, query('cache', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] })));
    expect(edns).toMatchObject({ flag_tc: false });
    expect(edns.answers).toHaveLength(100);
    expect(edns.additionals?.[0]?.type).toBe('OPT');
    const t = await tcpAsk(server.port, [query('cache')]);
    expect(decoded(t.replies[0]).answers).toHaveLength(100);
  });

  it('binds added addresses and closes removed ones', async () => {
    const server = await start();
    expect(server.addresses()).toEqual(['127.0.0.1']);
    expect(await udpAsk(server.port, query('web'), '127.0.0.2', 300)).toBeUndefined();
    expect(await server.setAddresses(['127.0.0.1', '127.0.0.2'])).toEqual([]);
    expect(server.addresses()).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(ipsOf(decoded(await udpAsk(server.port, query('web'), '127.0.0.2')))).toEqual(['10.0.1.100']);
    expect((await tcpAsk(server.port, [query('web')], '127.0.0.2')).replies).toHaveLength(1);
    await server.setAddresses(['127.0.0.2']);
    expect(server.addresses()).toEqual(['127.0.0.2']);
    expect(await tcpAsk(server.port, [query('web')], '127.0.0.1')).toMatchObject({ replies: [], error: 'ECONNREFUSED' });
    expect(ipsOf(decoded(await udpAsk(server.port, query('web'), '127.0.0.2')))).toEqual(['10.0.1.100']);
  });

  it('starts with no address, and reports addresses it cannot bind without rejecting', async () => {
    const server = await DnsServer.listen({ addresses: [], port: 0, lookup: () => [web], upstreams: [] });
    servers.push(server);
    expect(server.addresses()).toEqual([]);
    expect(await server.setAddresses(['127.0.0.1', '192.0.2.1', 'bogus'])).toEqual(['192.0.2.1', 'bogus']);
    expect(server.addresses()).toEqual(['127.0.0.1']);
    expect(ipsOf(decoded(await udpAsk(server.port, query('web'))))).toEqual(['10.0.1.100']);
  });

  it('fails to listen on a port already taken', async () => {
    const first = await start();
    await expect(DnsServer.listen({ addresses: ['127.0.0.1'], port: first.port, lookup: () => [], upstreams: [] })).rejects.toThrow(/cannot serve DNS on 127.0.0.1/);
  });

  it('closes promptly while a query waits on a silent upstream', async () => {
    const silent = dgram.createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    const server = await DnsServer.listen({ addresses: ['127.0.0.1'], port: 0, lookup: () => [], upstreams: [`127.0.0.1:${silent.address().port}`] });
    const pending = udpAsk(server.port, query('example.com'), '127.0.0.1', 500);
    await new Promise((r) => setTimeout(r, 50));
    const began = Date.now();
    await server.close();
    expect(Date.now() - began).toBeLessThan(500);
    expect(await pending).toBeUndefined();
  });
});

describe('parseUpstream', () => {
  it('reads ip, ip:port and bracketed IPv6', () => {
    expect(parseUpstream('1.1.1.1')).toEqual({ host: '1.1.1.1', port: 53 });
    expect(parseUpstream('127.0.0.53:5353')).toEqual({ host: '127.0.0.53', port: 5353 });
    expect(parseUpstream('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 53 });
    expect(parseUpstream('[2001:db8::1]:54')).toEqual({ host: '2001:db8::1', port: 54 });
    for (const bad of ['', 'dns.example', '1.1.1.1:0', '1.1.1.1:70000', '1.1.1.1:x', '[1.1.1.1']) expect(() => parseUpstream(bad), bad).toThrow(TypeError);
  });
});
