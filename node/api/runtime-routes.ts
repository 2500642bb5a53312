import type { IncomingHttpHeaders } from 'node:http';
import { SwarmError } from '../errors.js';
import { boolValue, filtersParam, HttpError, sinceParam, tailParam } from './http.js';
import { route, type Reply, type Route } from './router.js';
import type { ContainerCreateBody, ImageSummary, ProgressEvent, RegistryAuth, RuntimeBackend, WaitCondition } from './runtime-backend.js';
import { logsBody, progressBody, tarBody } from './stream.js';
import {
  arrayOf,
  boolean,
  decodeAs,
  integer,
  isPlainObject,
  mapOf,
  object,
  oneOf,
  optional,
  required,
  string,
  ValidationError,
  type Decoder,
} from './validate.js';

// The Engine API routes for images and this node's own containers: decode, call the runtime,
// shape the answer (streams included). No runtime logic lives here.

const NO_RUNTIME = 'this daemon runs no container runtime';

// --- query parameters -------------------------------------------------------------------------

function requiredParam(query: URLSearchParams, name: string, what: string): string {
  const v = query.get(name);
  if (v === null || v.trim() === '') throw new HttpError(400, `missing query parameter "${name}": ${what}`);
  return v;
}

/** An optional integer parameter; absent or empty is undefined. */
function intParam(query: URLSearchParams, name: string, min: number): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    throw new HttpError(400, `invalid query parameter "${name}": must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}


/** Image refs in the path are whole references ("localhost:5000/a/b:1"); `tag` is appended as Docker does. */
function withTag(name: string, tag: string | null): string {
  if (tag === null || tag === '') return name;
  return /^[a-z0-9]+:[0-9a-f]{32,}$/i.test(tag) ? `${name}@${tag}` : `${name}:${tag}`;
}

/** Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+, optionally after a "/". */
function containerName(query: URLSearchParams): string | undefined {
  const v = query.get('name');
  if (v === null || v === '') return undefined;
  const name = v.startsWith('/') ? v.slice(1) : v;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
    throw new HttpError(400, `invalid query parameter "name": Invalid container name (${v}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name;
}

// --- registry auth ----------------------------------------------------------------------------

const authDecoder = object({
  username: optional(string),
  password: optional(string),
  serveraddress: optional(string),
  // Docker's AuthConfig also carries base64("user:password") in `auth`.
  auth: optional(string),
  email: optional(string),
  identitytoken: optional(string),
});

function toRegistryAuth(raw: ReturnType<typeof authDecoder>): RegistryAuth | undefined {
  let { username, password } = raw;
  if (username === undefined && raw.auth !== undefined && raw.auth !== '') {
    const plain = Buffer.from(raw.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i > 0) {
      username = plain.slice(0, i);
      password = plain.slice(i + 1);
    }
  }
  const auth: RegistryAuth = {
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(raw.serveraddress ? { serveraddress: raw.serveraddress } : {}),
  };
  return Object.keys(auth).length === 0 ? undefined : auth;
}

/** X-Registry-Auth: base64url JSON (the docker CLI sends "e30=", `{}`, when it has nothing). */
export function registryAuthHeader(headers: IncomingHttpHeaders): RegistryAuth | undefined {
  const raw = headers['x-registry-auth'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value.trim() === '') return undefined;
  let parsed: unknown;
  try {
    // Node's base64 decoder reads the URL-safe alphabet too.
    parsed = JSON.parse(Buffer.from(value.trim(), 'base64').toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid X-Registry-Auth header: must be base64-encoded JSON such as {"username":"u","password":"p"}');
  }
  try {
    return toRegistryAuth(authDecoder(parsed, ''));
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, `invalid X-Registry-Auth header: ${err.message}`);
    throw err;
  }
}

// --- bodies ---------------------------------------------------------------------------------

const strings = arrayOf(string);
const nonNegative = integer({ min: 0 });

const healthcheckDecoder = object({
  Test: optional(strings),
  Interval: optional(nonNegative),
  Timeout: optional(nonNegative),
  Retries: optional(nonNegative),
  StartPeriod: optional(nonNegative),
});

const mountDecoder = object({
  Type: required(oneOf(['bind', 'volume', 'tmpfs'] as const)),
  Source: optional(string),
  Target: required(string),
  ReadOnly: optional(boolean),
  TmpfsOptions: optional(object({ SizeBytes: optional(nonNegative), Mode: optional(nonNegative) })),
});

const hostConfigDecoder = object({
  Binds: optional(strings),
  Mounts: optional(arrayOf(mountDecoder)),
  Tmpfs: optional(mapOf(string)),
  Memory: optional(nonNegative),
  NanoCpus: optional(nonNegative),
  // Docker reads 0 and -1 as unlimited.
  PidsLimit: optional(integer({ min: -1 })),
  CapAdd: optional(strings),
  CapDrop: optional(strings),
  ReadonlyRootfs: optional(boolean),
  Init: optional(boolean),
  AutoRemove: optional(boolean),
});

const nonEmptyString: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (s.trim() === '') throw new ValidationError(path, 'must not be empty: give the image to run');
  return s;
};

/** Only the fields the runtime takes: the docker CLI sends many more, which are ignored as Docker ignores unknown ones. */
const containerCreateDecoder: Decoder<ContainerCreateBody> = object({
  Image: required(nonEmptyString),
  Cmd: optional(strings),
  Entrypoint: optional(strings),
  Env: optional(strings),
  WorkingDir: optional(string),
  User: optional(string),
  Hostname: optional(string),
  Labels: optional(mapOf(string)),
  StopSignal: optional(string),
  StopTimeout: optional(integer({ min: -1 })),
  Healthcheck: optional(healthcheckDecoder),
  HostConfig: optional(hostConfigDecoder),
});

/** Docker's buildargs: a JSON object of strings; null means "unset" and is left out. */
function buildArgsParam(query: URLSearchParams): Record<string, string> {
  const raw = query.get('buildargs');
  if (raw === null || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch (err) {
    throw new HttpError(400, `invalid query parameter "buildargs": ${(err as Error).message}`);
  }
  if (!isPlainObject(parsed)) throw new HttpError(400, 'invalid query parameter "buildargs": must be a JSON object such as {"VERSION":"1.2"}');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (v === null) continue;
    if (typeof v !== 'string') throw new HttpError(400, `invalid query parameter "buildargs": the value of ${JSON.stringify(k)} must be a string`);
    out[k] = v;
  }
  return out;
}

// --- image list filters -------------------------------------------------------------------------

function boolFilter(key: string, values: string[]): boolean[] {
  return values.map((v) => {
    const b = ({ true: true, '1': true, false: false, '0': false } as Record<string, boolean>)[v.toLowerCase()];
    if (b === undefined) throw new ValidationError('', `invalid filter '${key}=${v}': ${key} must be true or false`);
    return b;
  });
}

/** Go's path.Match for one reference pattern ("alpine", "localhost:5000/*:1"). */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) re += ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`);
}

function splitRepoTag(repoTag: string): [string, string] {
  const i = repoTag.lastIndexOf(':');
  return i > repoTag.lastIndexOf('/') ? [repoTag.slice(0, i), repoTag.slice(i + 1)] : [repoTag, ''];
}

const untagged = (i: ImageSummary): boolean => i.RepoTags.length === 0 || i.RepoTags.every((t) => t === '<none>:<none>');

/** `docker images REPO[:TAG]` sends a reference filter; dangling=true lists untagged images. */
function filterImages(images: ImageSummary[], filters: Record<string, string[]>): ImageSummary[] {
  let out = images;
  const dangling = boolFilter('dangling', filters['dangling'] ?? []);
  if (dangling.length > 0) out = out.filter((i) => dangling.includes(untagged(i)));
  const refs = filters['reference'];
  if (refs !== undefined) {
    const patterns = refs.map(globRegex);
    out = out.filter((i) =>
      i.RepoTags.some((t) => {
        const [repo] = splitRepoTag(t);
        return patterns.some((p) => p.test(t) || p.test(repo));
      }),
    );
  }
  return out;
}

// --- the routes --------------------------------------------------------------------------------

const WAIT_CONDITIONS = ['not-running', 'next-exit', 'removed'] as const satisfies readonly WaitCondition[];

function isStatus(err: unknown, status: number): boolean {
  return err instanceof SwarmError && err.status === status;
}

export function runtimeRoutes(runtime: RuntimeBackend | undefined): Route[] {
  const rt = (): RuntimeBackend => {
    if (runtime === undefined) {
      throw new SwarmError('UNAVAILABLE', NO_RUNTIME, 'start the daemon with a container runtime (crun or runc) on PATH');
    }
    return runtime;
  };
  const noContent: Reply = { status: 204 };

  return [
    // Literal paths first: the greedy {name...} routes below would take /images/get as an image.
    route('GET', '/images/json', async ({ query }) => {
      const filters = filtersParam(query, ['dangling', 'reference']);
      return { json: filterImages(await rt().listImages(boolValue(query, 'all')), filters) };
    }),
    route('POST', '/images/create', async ({ query, headers }) => {
      if ((query.get('fromSrc') ?? '') !== '') throw new HttpError(400, 'importing a rootfs (fromSrc) is not supported: use POST /images/load with an image archive');
      const ref = withTag(requiredParam(query, 'fromImage', 'give the image to pull, e.g. fromImage=alpine&tag=3.20'), query.get('tag'));
      const auth = registryAuthHeader(headers);
      const backend = rt();
      return { stream: progressBody((progress, signal) => backend.pullImage(ref, auth, progress, signal)) };
    }),
    route('POST', '/images/load', async ({ raw }) => {
      const backend = rt();
      const archive = raw();
      return {
        stream: progressBody(async (progress, signal) => {
          const names = await backend.loadImages(archive, progress, signal);
          return names.map((n): ProgressEvent => ({ stream: n.startsWith('sha256:') ? `Loaded image ID: ${n}\n` : `Loaded image: ${n}\n` }));
        }),
      };
    }),
    route('GET', '/images/get', async ({ query }) => {
      const names = query.getAll('names').filter((n) => n !== '');
      if (names.length === 0) throw new HttpError(400, 'missing query parameter "names": give one or more images, e.g. names=alpine&names=busybox');
      const format = query.get('format') ?? 'docker';
      if (format !== 'docker' && format !== 'oci') throw new HttpError(400, `invalid query parameter "format": must be docker or oci, got ${JSON.stringify(format)}`);
      const backend = rt();
      return { stream: tarBody((out, signal) => backend.saveImages(names, format, out, signal)) };
    }),
    route('POST', '/images/prune', async ({ query }) => {
      const filters = filtersParam(query, ['dangling']);
      // Docker: dangling=false prunes every unused image (`docker image prune -a`).
      const all = boolFilter('dangling', filters['dangling'] ?? []).includes(false);
      return { json: await rt().pruneImages(all) };
    }),
    route('GET', '/images/{name...}/json', async ({ params }) => ({ json: await rt().inspectImage(params.name ?? '') })),
    route('GET', '/images/{name...}/get', async ({ params }) => {
      const backend = rt();
      const name = params.name ?? '';
      return { stream: tarBody((out, signal) => backend.saveImages([name], 'docker', out, signal)) };
    }),
    route('POST', '/images/{name...}/push', async ({ params, query, headers }) => {
      const ref = withTag(params.name ?? '', query.get('tag'));
      const auth = registryAuthHeader(headers);
      const backend = rt();
      return { stream: progressBody((progress, signal) => backend.pushImage(ref, auth, progress, signal)) };
    }),
    route('POST', '/images/{name...}/tag', async ({ params, query }) => {
      const repo = requiredParam(query, 'repo', 'give the repository of the new name, e.g. repo=localhost:5000/app&tag=1');
      const tag = query.get('tag') || 'latest';
      await rt().tagImage(params.name ?? '', repo, tag);
      return { status: 201 };
    }),
    route('DELETE', '/images/{name...}', async ({ params, query }) => ({ json: await rt().removeImage(params.name ?? '', boolValue(query, 'force')) })),

    route('POST', '/build', async ({ query, raw }) => {
      if ((query.get('remote') ?? '') !== '') throw new HttpError(400, 'building from a remote context (remote=) is not supported: send the context as a tar body');
      if ((query.get('target') ?? '') !== '') throw new HttpError(400, 'multi-stage targets (target=) are not supported');
      const tags = query.getAll('t').filter((t) => t !== '');
      const opts = {
        tags,
        dockerfile: query.get('dockerfile') || 'Dockerfile',
        buildArgs: buildArgsParam(query),
        noCache: boolValue(query, 'nocache'),
      };
      const backend = rt();
      const context = raw();
      return {
        stream: progressBody(async (progress, signal) => {
          const id = await backend.buildImage(context, opts, progress, signal);
          // Docker's classic builder ends this way; the docker CLI reads the aux ID for --iidfile and -q.
          return [
            { aux: { ID: id } },
            { stream: `Successfully built ${id.replace(/^sha256:/, '').slice(0, 12)}\n` },
            ...tags.map((t) => ({ stream: `Successfully tagged ${t.includes(':') && t.lastIndexOf(':') > t.lastIndexOf('/') ? t : `${t}:latest`}\n` })),
          ];
        }),
      };
    }),
    route('POST', '/auth', async ({ body }) => {
      const auth = toRegistryAuth(decodeAs('AuthConfig', authDecoder, (await body()) ?? {})) ?? {};
      return { json: await rt().login(auth) };
    }),

    route('GET', '/containers/json', async ({ query }) => {
      const filters = query.get('filters');
      if (filters !== null && filters.trim() !== '' && filters.trim() !== '{}') {
        throw new HttpError(400, 'invalid query parameter "filters": container filters are not supported yet');
      }
      return { json: await rt().listContainers(boolValue(query, 'all')) };
    }),
    route('POST', '/containers/create', async ({ query, body }) => {
      const name = containerName(query);
      const spec = decodeAs('ContainerConfig', containerCreateDecoder, (await body()) ?? {});
      return { status: 201, json: await rt().createContainer(name, spec) };
    }),
    route('GET', '/containers/{id}/json', async ({ params }) => ({ json: await rt().inspectContainer(params.id ?? '') })),
    route('POST', '/containers/{id}/start', async ({ params }) => {
      await rt().startContainer(params.id ?? '');
      return noContent;
    }),
    route('POST', '/containers/{id}/wait', async ({ params, query }) => {
      const raw = query.get('condition') || 'not-running';
      if (!(WAIT_CONDITIONS as readonly string[]).includes(raw)) {
        throw new HttpError(400, `invalid query parameter "condition": must be one of ${WAIT_CONDITIONS.join(', ')}, got ${JSON.stringify(raw)}`);
      }
      const condition = raw as WaitCondition;
      const backend = rt();
      const id = params.id ?? '';
      // Unknown containers get a 404 before the headers go out.
      await backend.inspectContainer(id);
      return {
        stream: {
          contentType: 'application/json',
          // Docker sends the headers at once: `docker run` waits for them before it starts the container.
          eager: true,
          write: async (out, signal) => {
            try {
              out.write(`${JSON.stringify(await backend.waitContainer(id, { condition, signal }))}\n`);
            } catch (err) {
              // With condition=removed the container may be gone by the time the wait returns.
              if (!(condition === 'removed' && isStatus(err, 404))) throw err;
              out.write(`${JSON.stringify({ StatusCode: 0 })}\n`);
            }
          },
          errorTrailer: (err) => `${JSON.stringify({ StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } })}\n`,
        },
      };
    }),
    route('GET', '/containers/{id}/logs', async ({ params, query }) => {
      const stdout = boolValue(query, 'stdout');
      const stderr = boolValue(query, 'stderr');
      if (!stdout && !stderr) throw new HttpError(400, 'you must choose at least one stream: set stdout=1 and/or stderr=1');
      const opts = { follow: boolValue(query, 'follow'), tail: tailParam(query), since: sinceParam(query) };
      const backend = rt();
      const id = params.id ?? '';
      // Unknown containers get a 404 before the headers, which go out at once: the docker CLI
      // waits for them, and `logs -f` of a quiet container must not look hung (moby#47448).
      await backend.inspectContainer(id);
      const body = logsBody((signal) => backend.containerLogs(id, opts, signal), { stdout, stderr, timestamps: boolValue(query, 'timestamps') });
      return { stream: { ...body, eager: true } };
    }),
    route('POST', '/containers/{id}/stop', async ({ params, query }) => {
      await rt().stopContainer(params.id ?? '', intParam(query, 't', -1));
      return noContent;
    }),
    route('POST', '/containers/{id}/kill', async ({ params, query }) => {
      const signal = query.get('signal') || 'SIGKILL';
      if (!/^(?:\d{1,2}|(?:SIG)?[A-Z][A-Z0-9+-]*)$/i.test(signal)) {
        throw new HttpError(400, `invalid query parameter "signal": must be a signal name or number such as SIGTERM or 15, got ${JSON.stringify(signal)}`);
      }
      await rt().killContainer(params.id ?? '', signal);
      return noContent;
    }),
    route('DELETE', '/containers/{id}', async ({ params, query }) => {
      await rt().removeContainer(params.id ?? '', boolValue(query, 'force'));
      return noContent;
    }),
  ];
}
