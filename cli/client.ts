import { request, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { ValueError } from './format.js';

// The API client: JSON over HTTP on the daemon's unix socket (or TCP), speaking the Engine API
// version the server implements. Errors come back as ApiError (the server's message and hint)
// or ConnectionError (no daemon there).

export const API_VERSION = '1.47';
export const DEFAULT_SOCKET = '/run/swarm/swarm.sock';

export type Endpoint = { socketPath: string } | { host: string; port: number };

/** -H / SWARM_HOST: unix:///path, a bare path, or tcp://host:port. */
export function parseHost(value: string): Endpoint {
  if (value.startsWith('unix://')) {
    const path = value.slice('unix://'.length);
    if (path === '') throw new ValueError('expected unix:///path/to/socket');
    return { socketPath: path };
  }
  if (value.startsWith('tcp://')) {
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(value);
    const port = Number(m?.[2]);
    if (!m?.[1] || !(port >= 1 && port <= 65535)) throw new ValueError('expected tcp://HOST:PORT');
    return { host: m[1].replace(/^\[|\]$/g, ''), port };
  }
  if (value.includes('://')) throw new ValueError('use unix:///path/to/socket, /path/to/socket or tcp://HOST:PORT');
  if (value === '') throw new ValueError('expected a socket path');
  return { socketPath: value };
}

export function describeEndpoint(e: Endpoint): string {
  return 'socketPath' in e ? e.socketPath : `tcp://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/** The server refused or failed the request. */
export class ApiError extends Error {
  readonly status: number;
  readonly hint: string | undefined;

  constructor(status: number, message: string, hint?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.hint = hint;
  }
}

/** No daemon answered at the endpoint. */
export class ConnectionError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionError';
    this.hint = hint;
  }
}

/** An array repeats the parameter (Docker's `t=a&t=b`). */
export type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface OpenOptions {
  query?: Query | undefined;
  /** A JSON body. */
  body?: unknown;
  /** A body sent as is (a tar upload), with `contentType`. */
  raw?: Readable | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
  /** Aborting closes the connection: the daemon stops the work (a log follow, a pull). */
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Called once per request with a one-line summary (for --log-level debug). */
  trace?: (line: string) => void;
}

export class ApiClient {
  readonly endpoint: Endpoint;
  private readonly trace: ((line: string) => void) | undefined;

  constructor(endpoint: Endpoint, options: ClientOptions = {}) {
    this.endpoint = endpoint;
    this.trace = options.trace;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T = void>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }

  delete(path: string, query?: Query): Promise<void> {
    return this.request<void>('DELETE', path, { query });
  }

  /**
   * A request whose answer is a stream (progress, logs, an archive) or whose body is one (a tar):
   * resolves with the response as soon as its headers arrive. A non-2xx answer throws ApiError.
   */
  async open(method: string, path: string, options: OpenOptions = {}): Promise<IncomingMessage> {
    const fullPath = this.fullPath(path, options.query);
    const started = Date.now();
    const res = await new Promise<IncomingMessage>((resolvePromise, reject) => {
      const where = describeEndpoint(this.endpoint);
      const json = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
      const body = options.raw ?? json;
      let answered = false;
      const req = request(
        {
          ...this.endpoint,
          agent: false,
          method,
          path: fullPath,
          ...(options.signal ? { signal: options.signal } : {}),
          headers: {
            ...(json ? { 'Content-Type': 'application/json' } : options.raw ? { 'Content-Type': options.contentType ?? 'application/octet-stream' } : {}),
            ...(Buffer.isBuffer(body) ? { 'Content-Length': body.length } : {}),
            ...options.headers,
            'User-Agent': 'swarm-cli',
          },
        },
        (r) => {
          answered = true;
          resolvePromise(r);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        // The daemon may answer (an error, say) before it has read the whole upload.
        if (!answered) reject(err.name === 'AbortError' ? err : connectionError(err, where));
      });
      if (body instanceof Readable) {
        body.on('error', (err) => {
          req.destroy(err);
          reject(err);
        });
        body.pipe(req);
      } else {
        req.end(body);
      }
    });
    this.trace?.(`${method} ${fullPath} -> ${res.statusCode ?? 0} (${Date.now() - started} ms)`);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    // Refused: the rest of an upload is not wanted.
    if (options.raw instanceof Readable) options.raw.destroy();
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    throw apiError(status, (res.headers['content-type'] ?? '').startsWith('application/json') ? parseOrText(text) : text, text);
  }

  private fullPath(path: string, query: Query | undefined): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v as readonly string[]) params.append(k, item);
      else params.set(k, String(v));
    }
    const qs = params.toString();
    return `/v${API_VERSION}${path}${qs === '' ? '' : `?${qs}`}`;
  }

  /** `T` is what the route returns; the body is parsed JSON (or text), not checked against `T`. */
  async request<T>(method: string, path: string, options: { query?: Query | undefined; body?: unknown } = {}): Promise<T> {
    const fullPath = this.fullPath(path, options.query);
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const started = Date.now();
    const res = await this.send(method, fullPath, payload);
    this.trace?.(`${method} ${fullPath} -> ${res.status} (${Date.now() - started} ms)`);
    const parsed = res.json ? parseOrText(res.text) : res.text;
    if (res.status >= 200 && res.status < 300) return (res.text === '' ? undefined : parsed) as T;
    throw apiError(res.status, parsed, res.text);
  }

  private send(method: string, path: string, payload: Buffer | undefined): Promise<{ status: number; json: boolean; text: string }> {
    const where = describeEndpoint(this.endpoint);
    return new Promise((resolvePromise, reject) => {
      const req = request(
        {
          ...this.endpoint,
          // One connection per request: a pooled socket the daemon has closed would fail with
          // EPIPE instead of a clear "cannot connect", and would keep a finished CLI alive.
          agent: false,
          method,
          path,
          headers: {
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
            'User-Agent': 'swarm-cli',
          },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolvePromise({
              status: res.statusCode ?? 0,
              json: (res.headers['content-type'] ?? '').startsWith('application/json'),
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => reject(connectionError(err, where)));
      req.end(payload);
    });
  }
}

function apiError(status: number, parsed: unknown, text: string): ApiError {
  const body = typeof parsed === 'object' && parsed !== null ? (parsed as { message?: unknown; hint?: unknown }) : {};
  const message = typeof body.message === 'string' ? body.message : text.trim() || `HTTP ${status}`;
  return new ApiError(status, message, typeof body.hint === 'string' ? body.hint : undefined);
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function connectionError(err: NodeJS.ErrnoException, where: string): ConnectionError {
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new ConnectionError(`cannot connect to the swarm daemon at ${where}: is \`swarm daemon\` running?`, undefined, { cause: err });
    case 'EACCES':
      return new ConnectionError(
        `permission denied while connecting to the swarm daemon at ${where}`,
        "run as root, or as a member of the socket's group",
        { cause: err },
      );
    default:
      return new ConnectionError(`cannot talk to the swarm daemon at ${where}: ${err.message}`, undefined, { cause: err });
  }
}
