import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SwarmError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SwarmBackend } from './backend.js';
import { HttpError, parseJson, readBody } from './http.js';
import { apiRoutes } from './routes.js';
import { API_VERSION, matchRoute, stripVersion, type Reply, type Route, type StreamBody } from './router.js';
import type { RuntimeBackend } from './runtime-backend.js';
import type { ServicesBackend } from './services-backend.js';
import { ValidationError } from './validate.js';

export interface ApiServerOptions {
  socketPath: string;
  backend: SwarmBackend;
  /** Images and local containers; without it those routes answer 503. */
  runtime?: RuntimeBackend;
  /** Services, tasks, secrets and configs (a manager's); without it those routes answer 503 as Docker does on a non-manager. */
  services?: ServicesBackend;
  logger: Logger;
  /** Plain HTTP on TCP as well (TLS comes later): keep it on loopback until then. */
  tcp?: { host: string; port: number };
}

export interface ApiServer {
  close(): Promise<void>;
  /** The bound TCP address when `tcp` was given (port 0 picks a free one). */
  readonly tcp?: { host: string; port: number };
}

// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH = 107;

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { socketPath, backend, logger } = options;
  const handler = createRequestHandler(apiRoutes(backend, options.runtime, options.services), backend, logger);

  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new SwarmError(
      'INVALID_ARGUMENT',
      `API socket path is too long (${Buffer.byteLength(socketPath)} bytes, the limit is ${MAX_SOCKET_PATH}): ${socketPath}`,
      'choose a shorter --api-socket path',
    );
  }
  await mkdir(dirname(socketPath), { recursive: true });
  await removeStaleSocket(socketPath);

  const servers: Server[] = [];
  const unix = createServer(handler);
  await listen(unix, socketPath, () => unix.listen(socketPath));
  servers.push(unix);
  try {
    await chmod(socketPath, 0o660);
    let tcp: ApiServer['tcp'];
    if (options.tcp) {
      const { host, port } = options.tcp;
      const server = createServer(handler);
      await listen(server, `${host}:${port}`, () => server.listen(port, host));
      servers.push(server);
      const addr = server.address();
      tcp = { host, port: typeof addr === 'object' && addr !== null ? addr.port : port };
      if (!['127.0.0.1', '::1', 'localhost'].includes(host)) {
        logger.warn({ host, port: tcp.port }, 'API served over plain TCP on a non-loopback address: anyone who can reach it controls the swarm');
      }
    }
    logger.info({ socketPath, tcp }, 'API listening');
    return { close: () => closeAll(servers), ...(tcp ? { tcp } : {}) };
  } catch (err) {
    await closeAll(servers);
    throw err;
  }
}

function listen(server: Server, where: string, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new SwarmError('UNAVAILABLE', `cannot serve the API on ${where}: ${err.message}`, undefined, { cause: err }));
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          // Idle keep-alive connections would otherwise hold close() open for seconds.
          s.closeAllConnections();
        }),
    ),
  );
}

/** Remove a socket left behind by a daemon that died; refuse to take over a live one or a non-socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) {
    throw new SwarmError('INVALID_ARGUMENT', `refusing to replace ${path}: it exists and is not a socket`, 'choose another --api-socket path');
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new SwarmError(
      'UNAVAILABLE',
      `another process is already serving on ${path}`,
      'stop the other swarm daemon, or give this one a different --api-socket',
    );
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

function errorReply(err: unknown): { status: number; body: { message: string; hint?: string } } {
  if (err instanceof SwarmError) {
    return { status: err.status, body: err.hint === undefined ? { message: err.message } : { message: err.message, hint: err.hint } };
  }
  if (err instanceof HttpError) return { status: err.status, body: { message: err.message } };
  if (err instanceof ValidationError) return { status: 400, body: { message: err.message } };
  return { status: 500, body: { message: err instanceof Error ? err.message : String(err) } };
}

function unexpected(err: unknown): boolean {
  if (err instanceof SwarmError) return err.code === 'INTERNAL';
  return !(err instanceof HttpError || err instanceof ValidationError);
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  const headers: Record<string, string | number> = { ...reply.headers };
  let payload: Buffer | undefined;
  if (reply.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = Buffer.from(`${JSON.stringify(reply.json)}\n`);
  } else if (reply.text !== undefined) {
    headers['Content-Type'] = 'text/plain; charset=utf-8';
    payload = Buffer.from(reply.text);
  }
  headers['Content-Length'] = head ? 0 : (payload?.length ?? 0);
  res.writeHead(reply.status ?? 200, headers);
  res.end(head ? undefined : payload);
}

function createRequestHandler(routes: readonly Route[], backend: SwarmBackend, logger: Logger): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `swarm/${serverVersion(backend)} (linux)`);
    // Streams and long waits stop when the client goes away before the answer is complete.
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Error('the client went away'));
    });
    // Writes to a connection the client closed fail; `close` above already handled that.
    res.on('error', () => undefined);
    void (async () => {
      let error: string | undefined;
      try {
        const reply = await dispatch(routes, req, method, abort.signal);
        if (reply.stream) {
          const failure = await sendStream(res, reply, reply.stream, abort.signal);
          if (failure !== undefined) {
            error = errorReply(failure).body.message;
            if (unexpected(failure) && !abort.signal.aborted) logger.error({ err: failure, method, url: req.url }, 'API stream failed');
          }
        } else {
          send(res, reply, method === 'HEAD');
        }
      } catch (err) {
        const { status, body } = errorReply(err);
        error = body.message;
        // Refusals (not in a swarm, no quorum, bad input) are answers; only surprises are logged as errors.
        if (unexpected(err) && !abort.signal.aborted) logger.error({ err, method, url: req.url }, 'API request failed');
        // The rest of an oversized body is not worth reading: close the connection instead.
        if (status === 413) res.setHeader('Connection', 'close');
        if (!res.headersSent && !res.destroyed) send(res, { status, json: body }, method === 'HEAD');
      }
      const ms = Math.round(performance.now() - started);
      logger.debug({ method, url: req.url, status: res.statusCode, ms, ...(error === undefined ? {} : { error }) }, 'api request');
    })().catch((err: unknown) => logger.error({ err }, 'API response failed'));
  };
}

function serverVersion(backend: SwarmBackend): string {
  try {
    return backend.version().Version;
  } catch {
    return 'unknown';
  }
}

/**
 * Sends a streamed body. Throws what the producer threw before any output (the caller answers it
 * as an ordinary error); returns what it threw after (the body then ended with the error trailer,
 * or the connection was cut).
 */
async function sendStream(res: ServerResponse, reply: Reply, stream: StreamBody, signal: AbortSignal): Promise<unknown> {
  let opened = false;
  const open = (): void => {
    if (opened) return;
    opened = true;
    res.writeHead(reply.status ?? 200, { ...reply.headers, 'Content-Type': stream.contentType });
    // Without this Node holds the headers back until the first body chunk.
    res.flushHeaders();
  };
  if (stream.eager) open();
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (res.destroyed) {
        callback(signal.reason instanceof Error ? signal.reason : new Error('the client went away'));
        return;
      }
      open();
      if (res.write(chunk)) {
        callback();
        return;
      }
      // Backpressure: the producer waits until the client has read what was sent.
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        callback();
      };
      res.on('drain', done);
      res.on('close', done);
    },
  });
  try {
    await stream.write(out, signal);
    if (!out.writableEnded) out.end();
    await finished(out);
  } catch (err) {
    if (!opened) {
      out.destroy();
      throw err;
    }
    if (stream.errorTrailer !== undefined && !res.destroyed && !out.destroyed && !out.writableEnded) {
      // Through `out`, so it lands after any output still queued there.
      out.end(stream.errorTrailer(err));
      await finished(out).catch(() => undefined);
      res.end();
    } else {
      res.destroy();
    }
    return err;
  }
  if (res.destroyed) return undefined;
  open();
  res.end();
  return undefined;
}

async function dispatch(routes: readonly Route[], req: IncomingMessage, method: string, signal: AbortSignal): Promise<Reply> {
  // Split by hand: new URL() would read a path starting with "//" as a host name.
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  const { path } = stripVersion(q < 0 ? target : target.slice(0, q));
  const match = matchRoute(routes, method, path);
  if (match.kind === 'not-found') throw new HttpError(404, 'page not found');
  if (match.kind === 'method-not-allowed') {
    return {
      status: 405,
      headers: { Allow: match.allow.join(', ') },
      json: { message: `method ${method} not allowed on ${path}: use ${match.allow.join(' or ')}` },
    };
  }
  let read = false;
  const once = (): void => {
    if (read) throw new Error('request body read twice');
    read = true;
  };
  return match.route.handle({
    params: match.params,
    query,
    headers: req.headers,
    signal,
    body: async () => {
      once();
      return parseJson(await readBody(req));
    },
    raw: () => {
      once();
      return req;
    },
  });
}
