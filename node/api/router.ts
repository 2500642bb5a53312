import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { HttpError } from './http.js';

// Route matching, Docker style: paths may carry a `/v1.NN` prefix, which is checked against the
// supported range; templates name their parameters as `{id}` (one segment) or `{name...}` (one or
// more segments: image names carry slashes, as in /images/localhost:5000/a/b:1/json).

/** The Engine API version this server speaks (the docker CLI negotiates down to it). */
export const API_VERSION = '1.47';
/** The oldest version a client may ask for, as Docker 27. */
export const MIN_API_VERSION = '1.24';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';

export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The request body as JSON; undefined when empty. Read at most once (this or raw()). */
  body(): Promise<unknown>;
  /** The request body as it arrives, unbuffered and without the JSON size limit (tar uploads). */
  raw(): Readable;
  /** Aborted when the client goes away before the answer is complete. */
  signal: AbortSignal;
}

/**
 * A body written as it is produced. Headers go out with the first byte, so a failure before any
 * output is still an ordinary error answer (as Docker's `output.Flushed()` check); a failure after
 * it ends the body with `errorTrailer`, or cuts the connection when there is none.
 */
export interface StreamBody {
  contentType: string;
  /** Send the headers at once (Docker's wait: clients block until they arrive). */
  eager?: boolean;
  /** Writes the body to `out`; need not end it. `signal` fires when the client goes away. */
  write(out: Writable, signal: AbortSignal): Promise<void>;
  /** The last bytes of a body whose producer failed after output began. */
  errorTrailer?: (err: unknown) => string | Buffer;
}

export interface Reply {
  status?: number;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as text/plain (and for HEAD, only its headers). */
  text?: string;
  headers?: Record<string, string>;
  /** Streamed instead of `json`/`text`. */
  stream?: StreamBody;
}

export interface Route {
  method: Method;
  template: string;
  handle(ctx: RouteContext): Promise<Reply>;
  regex: RegExp;
  keys: string[];
}

export function route(method: Method, template: string, handle: (ctx: RouteContext) => Promise<Reply>): Route {
  const keys: string[] = [];
  const pattern = template
    .split('/')
    .map((part) => {
      const m = /^\{(\w+)(\.\.\.)?\}$/.exec(part);
      if (m?.[1] === undefined) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      keys.push(m[1]);
      // Greedy: the regex backtracks, so /images/{name...}/json leaves the last /json to the literal.
      return m[2] === undefined ? '([^/]+)' : '([^/]+(?:/[^/]+)*)';
    })
    .join('/');
  return { method, template, handle, regex: new RegExp(`^${pattern}$`), keys };
}

export type Match =
  | { kind: 'found'; route: Route; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: Method[] }
  | { kind: 'not-found' };

export function matchRoute(routes: readonly Route[], method: string, path: string): Match {
  const allow: Method[] = [];
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (m === null) continue;
    if (r.method !== method) {
      if (!allow.includes(r.method)) allow.push(r.method);
      continue;
    }
    const params: Record<string, string> = {};
    for (const [i, key] of r.keys.entries()) {
      try {
        params[key] = decodeURIComponent(m[i + 1] ?? '');
      } catch {
        return { kind: 'not-found' }; // malformed %-escape: no object can have that name
      }
    }
    return { kind: 'found', route: r, params };
  }
  return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
}

function compareVersions(a: string, b: string): number {
  const [amaj = 0, amin = 0] = a.split('.').map(Number);
  const [bmaj = 0, bmin = 0] = b.split('.').map(Number);
  return amaj !== bmaj ? amaj - bmaj : amin - bmin;
}

/**
 * Strip and check the optional `/vX.Y` prefix. Returns the path the routes match against.
 * A version outside the supported range is refused with Docker's own messages.
 */
export function stripVersion(path: string): { path: string; version?: string } {
  const m = /^\/v([0-9]+(?:\.[0-9]+)?)(\/.*)?$/.exec(path);
  if (m?.[1] === undefined) return { path };
  const version = m[1];
  if (compareVersions(version, API_VERSION) > 0) {
    throw new HttpError(400, `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw new HttpError(
      400,
      `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
    );
  }
  return { path: m[2] ?? '/', version };
}
