import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { SwarmError, type SwarmErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type Credentials, registryKey } from './credentials.js';
import { MANIFEST_ACCEPT } from './media-types.js';

// A client for one registry speaking the distribution API (v2): the ping that learns how the
// registry wants to be authenticated, bearer tokens per scope and basic auth, redirects (blob
// downloads often go to a CDN), and the manifest and blob calls that pull and push need.

export interface RegistryClientOptions {
  logger: Logger;
  /** host[:port] (or bare hosts) allowed over plain HTTP. */
  insecureRegistries?: string[] | undefined;
  credentials?: { get(registry: string): Credentials | undefined } | undefined;
  /** Docker's certs.d: `<certsDir>/<host:port>/*.crt` are extra CAs trusted for that registry. */
  certsDir?: string | undefined;
}

type Challenge = { scheme: 'basic'; realm?: string } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string | undefined;
  /** Docker-Content-Digest, when the registry sent it. */
  digest: string | undefined;
}

const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_REDIRECTS = 5;
const TOKEN_DEFAULT_TTL_S = 60;

/** Docker Hub's API lives on another host than its name. */
export function registryHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

export function isInsecure(domain: string, insecure: readonly string[] | undefined): boolean {
  if (!insecure || insecure.length === 0) return false;
  const host = domain.replace(/:\d+$/, '');
  return insecure.some((entry) => {
    const e = entry.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    return e === domain || (!/:\d+$/.test(e) && e === host);
  });
}

/** Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (or Basic). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  for (const value of values) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
    if (!m) continue;
    const scheme = m[1]!.toLowerCase();
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    if (scheme === 'bearer' && params.realm) {
      return { scheme: 'bearer', realm: params.realm, ...(params.service ? { service: params.service } : {}), ...(params.scope ? { scope: params.scope } : {}) };
    }
    if (scheme === 'basic') return { scheme: 'basic', ...(params.realm ? { realm: params.realm } : {}) };
  }
  return undefined;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return String(e?.code ?? e?.cause?.code ?? '');
}

function errorText(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return [e?.message, e?.cause?.message].filter(Boolean).join(': ');
}

function isTlsError(err: unknown): boolean {
  const code = errorCode(err);
  return (
    code.startsWith('ERR_SSL') ||
    code.startsWith('ERR_TLS') ||
    code === 'EPROTO' ||
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code) ||
    /ssl|tls|certificate/i.test(errorText(err))
  );
}

/** A registry's `{"errors":[{code,message}]}` body as one line, or the start of whatever it sent. */
async function describeBody(res: Dispatcher.ResponseData): Promise<string> {
  let text: string;
  try {
    text = (await res.body.text()).slice(0, 2000);
  } catch {
    return '';
  }
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    if (Array.isArray(doc.errors) && doc.errors.length > 0) {
      return doc.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    }
  } catch {
    // Not JSON: show the text.
  }
  return text.trim().slice(0, 200);
}

export class RegistryClient {
  /** As named in references (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  private readonly host: string;
  private readonly insecure: boolean;
  private readonly dispatcher: Dispatcher;
  private readonly logger: Logger;
  private readonly creds: Credentials | undefined;
  private base: string | undefined;
  private challenge: Challenge | null | undefined;
  private pinging: Promise<void> | undefined;
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  constructor(registry: string, opts: RegistryClientOptions, explicitCredentials?: Credentials) {
    this.registry = registry;
    this.host = registryHost(registry);
    this.logger = opts.logger;
    this.insecure = isInsecure(registry, opts.insecureRegistries);
    this.creds = explicitCredentials ?? opts.credentials?.get(registryKey(registry));
    const extraCAs = readCertsDir(opts.certsDir, registry);
    this.dispatcher = new Agent({
      connect: {
        timeout: 10_000,
        // An insecure registry may still speak TLS with a certificate nobody vouches for.
        ...(this.insecure ? { rejectUnauthorized: false } : extraCAs.length > 0 ? { ca: [...rootCertificates, ...extraCAs] } : {}),
      },
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** `GET /v2/` with credentials, as `swarm login` does: succeeds when they are accepted. */
  async checkLogin(): Promise<void> {
    await this.ping();
    const challenge = this.challenge;
    if (!challenge) return;
    if (!this.creds) throw this.denied('login', 401, 'no credentials given');
    if (challenge.scheme === 'bearer') {
      await this.fetchToken(challenge, [], true);
      return;
    }
    const res = await this.send('GET', `${this.base}/v2/`, { authorization: this.basicHeader()! });
    const detail = res.statusCode === 200 ? '' : await describeBody(res);
    if (res.statusCode === 200) await res.body.dump();
    else throw this.denied('login', res.statusCode, detail);
  }

  /** The manifest or index at `reference` (tag or digest); undefined when the registry has none. */
  async getManifest(path: string, reference: string): Promise<FetchedManifest | undefined> {
    const res = await this.call('GET', `/v2/${path}/manifests/${reference}`, this.scope(path, 'pull'), { accept: MANIFEST_ACCEPT });
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    await this.expect(res, [200], `fetching manifest ${path}:${reference}`);
    const length = Number(res.headers['content-length'] ?? 0);
    if (length > MAX_MANIFEST_BYTES) {
      res.body.destroy();
      throw new SwarmError('INVALID_ARGUMENT', `manifest ${path}:${reference} on ${this.registry} is ${length} bytes, over the ${MAX_MANIFEST_BYTES} byte limit`);
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new SwarmError('INVALID_ARGUMENT', `manifest ${path}:${reference} on ${this.registry} is over the ${MAX_MANIFEST_BYTES} byte limit`);
      }
      parts.push(chunk as Buffer);
    }
    const type = header(res, 'content-type')?.split(';')[0]?.trim();
    return { bytes: Buffer.concat(parts), mediaType: type || undefined, digest: header(res, 'docker-content-digest') };
  }

  /** The blob's bytes as a stream (the caller verifies them while storing). */
  async getBlob(path: string, digest: string): Promise<Readable> {
    const res = await this.call('GET', `/v2/${path}/blobs/${digest}`, this.scope(path, 'pull'));
    if (res.statusCode === 404) {
      await res.body.dump();
      throw new SwarmError('NOT_FOUND', `blob ${digest} not found in ${this.registry}/${path}`, 'the registry lost a layer of this image; push it again');
    }
    await this.expect(res, [200], `fetching blob ${digest} of ${path}`);
    return res.body;
  }

  async hasBlob(path: string, digest: string, push: boolean): Promise<boolean> {
    const res = await this.call('HEAD', `/v2/${path}/blobs/${digest}`, this.scope(path, push ? 'pull,push' : 'pull'));
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw this.failure(res.statusCode, `checking blob ${digest} of ${path}`, '');
  }

  /** POST an upload session, then PUT the whole blob to it with `?digest=` (a monolithic upload). */
  async uploadBlob(path: string, digest: string, size: number, open: () => Readable): Promise<void> {
    const scope = this.scope(path, 'pull,push');
    const started = await this.call('POST', `/v2/${path}/blobs/uploads/`, scope, { 'content-length': '0' });
    await this.expect(started, [202], `starting the upload of ${digest} to ${path}`);
    const location = header(started, 'location');
    await started.body.dump();
    if (!location) throw new SwarmError('UNAVAILABLE', `${this.registry} started an upload without a Location header`);
    const url = new URL(location, `${this.base}/v2/`);
    url.searchParams.set('digest', digest);
    const res = await this.call('PUT', url.toString(), scope, { 'content-type': 'application/octet-stream', 'content-length': String(size) }, open);
    await this.expect(res, [201, 204], `uploading blob ${digest} to ${path}`);
    await res.body.dump();
  }

  /** PUT the manifest under `reference`; returns the digest the registry computed. */
  async putManifest(path: string, reference: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.call('PUT', `/v2/${path}/manifests/${reference}`, this.scope(path, 'pull,push'), { 'content-type': mediaType, 'content-length': String(bytes.length) }, () => bytes);
    await this.expect(res, [200, 201, 202], `pushing manifest ${path}:${reference}`);
    const digest = header(res, 'docker-content-digest');
    await res.body.dump();
    return digest;
  }

  private scope(path: string, actions: string): string {
    return `repository:${path}:${actions}`;
  }

  private async expect(res: Dispatcher.ResponseData, ok: number[], what: string): Promise<void> {
    if (ok.includes(res.statusCode)) return;
    const detail = await describeBody(res);
    throw this.failure(res.statusCode, what, detail);
  }

  private failure(status: number, what: string, detail: string): SwarmError {
    if (status === 401 || status === 403) return this.denied(what, status, detail);
    const code: SwarmErrorCode = status === 404 ? 'NOT_FOUND' : status >= 500 || status === 429 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT';
    return new SwarmError(code, `${what}: ${this.registry} answered ${status}${detail ? ` (${detail})` : ''}`, status >= 500 ? 'the registry has a problem; retry later' : undefined);
  }

  private denied(what: string, status: number, detail: string): SwarmError {
    const hint = this.creds
      ? `the credentials stored for ${this.registry} were refused or lack access; run swarm login ${this.registry} again`
      : `the repository may not exist, or ${this.registry} requires swarm login ${this.registry}`;
    return new SwarmError('PERMISSION_DENIED', `${what}: access denied by ${this.registry} (${status}${detail ? `: ${detail}` : ''})`, hint);
  }

  /** Learns the scheme (https, or http for insecure registries) and the auth challenge, once. */
  private ping(): Promise<void> {
    this.pinging ??= this.doPing().catch((err: unknown) => {
      this.pinging = undefined;
      throw err;
    });
    return this.pinging;
  }

  private async doPing(): Promise<void> {
    // An insecure registry may still serve TLS (unverified); only if that fails, plain HTTP.
    const schemes = this.insecure ? ['https', 'http'] : ['https'];
    let res: Dispatcher.ResponseData | undefined;
    for (const scheme of schemes) {
      try {
        res = await this.send('GET', `${scheme}://${this.host}/v2/`, {});
        this.base = `${scheme}://${this.host}`;
        break;
      } catch (err) {
        if (scheme === schemes[schemes.length - 1]) throw err;
        this.logger.debug({ registry: this.registry, err: errorText(err) }, 'registry: https failed, trying plain http');
      }
    }
    if (!res) throw new SwarmError('UNAVAILABLE', `cannot reach registry ${this.registry}`);
    const status = res.statusCode;
    const challengeHeader = res.headers['www-authenticate'];
    await res.body.dump();
    if (status === 200) {
      this.challenge = null;
    } else if (status === 401) {
      const challenge = parseChallenge(challengeHeader);
      if (!challenge) throw new SwarmError('UNAVAILABLE', `registry ${this.registry} asks for authentication in a way swarm does not support (${String(challengeHeader)})`);
      this.challenge = challenge;
    } else {
      throw new SwarmError('UNAVAILABLE', `${this.host} does not speak the registry API v2 (GET /v2/ answered ${status})`, 'check the registry address and port');
    }
    this.logger.debug({ registry: this.registry, base: this.base, auth: this.challenge?.scheme ?? 'none' }, 'registry: pinged');
  }

  /**
   * One API call with authentication: the authorization for `scope` is sent up front; a 401 is
   * answered once, with a token for the scope the registry's challenge names.
   */
  private async call(
    method: 'GET' | 'HEAD' | 'POST' | 'PUT',
    pathOrUrl: string,
    scope: string,
    headers: Record<string, string> = {},
    body?: () => Readable | Buffer,
  ): Promise<Dispatcher.ResponseData> {
    await this.ping();
    const url = pathOrUrl.startsWith('/') ? `${this.base}${pathOrUrl}` : pathOrUrl;
    let extraScope: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorization(scope, extraScope, attempt > 0);
      const payload = body?.();
      const res = await this.send(method, url, { ...headers, ...(authorization ? { authorization } : {}) }, payload);
      if (res.statusCode !== 401 || attempt > 0) return res;
      const challenge = parseChallenge(res.headers['www-authenticate']);
      if (!challenge) return res;
      await res.body.dump();
      // The refused request may not have read its body: close it, the retry opens a new one.
      if (payload && !Buffer.isBuffer(payload)) payload.destroy();
      this.challenge = challenge;
      if (challenge.scheme === 'bearer' && challenge.scope && challenge.scope !== scope) extraScope = challenge.scope;
      if (challenge.scheme === 'basic' && !this.creds) throw this.denied(`${method} ${new URL(url).pathname}`, 401, 'authentication required');
    }
  }

  private async authorization(scope: string, extraScope: string | undefined, fresh: boolean): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.basicHeader();
    const scopes = extraScope ? [scope, extraScope] : [scope];
    return `Bearer ${await this.fetchToken(challenge, scopes, fresh)}`;
  }

  private basicHeader(): string | undefined {
    return this.creds ? `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}` : undefined;
  }

  /** A bearer token from the challenge's realm for `scopes`, cached until shortly before it expires. */
  private async fetchToken(challenge: Challenge & { scheme: 'bearer' }, scopes: string[], fresh: boolean): Promise<string> {
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (!fresh && cached && cached.expiresAt > Date.now()) return cached.token;
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    if (this.creds) url.searchParams.set('account', this.creds.username);
    const auth = this.basicHeader();
    const res = await this.send('GET', url.toString(), auth ? { authorization: auth } : {});
    if (res.statusCode !== 200) {
      const detail = await describeBody(res);
      throw this.denied(`getting a token from ${url.origin}${url.pathname}`, res.statusCode, detail);
    }
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = (await res.body.json()) as typeof doc;
    } catch {
      throw new SwarmError('UNAVAILABLE', `the token server of ${this.registry} (${url.origin}) answered something that is not JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') throw new SwarmError('UNAVAILABLE', `the token server of ${this.registry} (${url.origin}) sent no token`);
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : TOKEN_DEFAULT_TTL_S;
    // Refresh a little early so a token does not expire between check and use.
    this.tokens.set(key, { token, expiresAt: Date.now() + Math.max(ttl - 10, ttl / 2) * 1000 });
    return token;
  }

  /** One HTTP exchange, following redirects; credentials never follow a redirect to another origin. */
  private async send(method: string, url: string, headers: Record<string, string>, body?: Readable | Buffer): Promise<Dispatcher.ResponseData> {
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; ; hop++) {
      const h = { 'user-agent': 'swarm', ...headers };
      if (current.origin !== origin) delete (h as Record<string, string>).authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(current, { method: method as Dispatcher.HttpMethod, headers: h, body: hop === 0 ? body : undefined, dispatcher: this.dispatcher });
      } catch (err) {
        throw this.networkError(err, current);
      }
      const location = header(res, 'location');
      if ((method === 'GET' || method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.statusCode) && location) {
        await res.body.dump();
        if (hop >= MAX_REDIRECTS) throw new SwarmError('UNAVAILABLE', `${this.registry}: too many redirects for ${url}`);
        current = new URL(location, current);
        continue;
      }
      return res;
    }
  }

  private networkError(err: unknown, url: URL): SwarmError {
    if (err instanceof SwarmError) return err;
    let text = errorText(err) || errorCode(err);
    if (url.protocol === 'https:' && isTlsError(err)) {
      // OpenSSL's messages carry file names and line numbers: keep the reason only.
      const reason = /:([a-z][a-z0-9 _-]+):\.\.\//i.exec(text)?.[1];
      if (reason === 'wrong version number' || reason === 'packet length too long') text = `${reason}: the server does not speak TLS`;
      else if (reason) text = reason;
      return new SwarmError(
        'UNAVAILABLE',
        `cannot reach registry ${this.registry} over HTTPS (${url.host}): ${text}`,
        `if it serves plain HTTP, start the daemon with --insecure-registry ${this.registry} (localhost and 127.0.0.1 are not insecure by default); for a private CA, trust it for this registry`,
        { cause: err },
      );
    }
    const code = errorCode(err);
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'host not found' : text;
    return new SwarmError('UNAVAILABLE', `cannot reach registry ${this.registry} (${url.host}): ${why}`, 'check the registry address, that it is running, and the network', { cause: err });
  }
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function readCertsDir(certsDir: string | undefined, registry: string): string[] {
  if (!certsDir) return [];
  const dir = join(certsDir, registry);
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.crt'))
      .sort()
      .map((f) => readFileSync(join(dir, f), 'utf8'));
  } catch {
    return [];
  }
}
