import { SwarmError } from '../errors.js';
import type { SecretObject, ServiceSpec } from '../store/index.js';
import { boolValue, filtersParam, HttpError, sinceParam, tailParam, versionParam } from './http.js';
import { route, type Reply, type Route } from './router.js';
import type { LogLine } from './runtime-backend.js';
import type { ConfigCreate, ConfigUpdate, Filters, SecretCreate, ServicesBackend } from './services-backend.js';
import { logsBody } from './stream.js';
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
  withDefault,
  type Decoder,
} from './validate.js';

// The Engine API routes for services, tasks, secrets and configs (a manager's): decode and check
// the request, call the ServicesBackend, shape the answer. Secret data never leaves: answers are
// built from named fields only.

/** As Docker answers on a node that cannot serve cluster state. */
export const NOT_A_MANAGER_MESSAGE = 'This node is not a swarm manager. Use "swarm init" or "swarm join" to connect this node to swarm and try again.';

// --- query parameters -------------------------------------------------------------------------


/** `rollback=previous` asks for a server-side rollback; nothing else is a valid value (Docker's). */
function rollbackParam(query: URLSearchParams): boolean {
  const v = query.get('rollback');
  if (v === null || v === '') return false;
  if (v === 'previous') return true;
  throw new HttpError(400, `invalid query parameter "rollback": must be "previous", got ${JSON.stringify(v)}`);
}

export function checkValues(filters: Filters, key: string, allowed: readonly string[]): void {
  for (const v of filters[key] ?? []) {
    if (!allowed.includes(v)) throw new ValidationError('', `invalid filter '${key}=${v}': ${key} must be one of ${allowed.join(', ')}`);
  }
}

// Docker's accepted filters (daemon/cluster/filters.go).
const SERVICE_FILTERS = ['id', 'label', 'mode', 'name'] as const;
const TASK_FILTERS = ['desired-state', 'id', 'label', 'name', 'node', 'service'] as const;
const SECRET_FILTERS = ['id', 'label', 'name', 'names'] as const;

/**
 * `names` (exact names, what `docker stack` uses) is answered here: the backend gets the other
 * filters, and the objects whose name is not one of `names` are dropped.
 */
async function listByName<T extends { Spec: { Name: string } }>(filters: Filters, list: (f: Filters) => Promise<T[]>): Promise<T[]> {
  const { names, ...rest } = filters;
  const objects = await list(rest);
  return names === undefined ? objects : objects.filter((o) => names.includes(o.Spec.Name));
}

// --- names ---------------------------------------------------------------------------------------

/** Swarmkit's service names: a DNS label of letters, digits, "-" and "_". */
const SERVICE_NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
/** Swarmkit's secret and config names. */
const OBJECT_NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;

const ADJECTIVES = ['admiring', 'bold', 'brave', 'clever', 'eager', 'focused', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'quirky', 'serene', 'vibrant'];
const SURNAMES = ['babbage', 'curie', 'dijkstra', 'euler', 'hopper', 'knuth', 'lamport', 'liskov', 'lovelace', 'noether', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak', 'yonath'];

/** Docker names an unnamed service as it names containers: adjective_surname. */
function randomServiceName(): string {
  const pick = (list: readonly string[]): string => list[Math.floor(Math.random() * list.length)] ?? 'x';
  return `${pick(ADJECTIVES)}_${pick(SURNAMES)}`;
}

const serviceName: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (s === '') return s;
  if (s.length > 63 || !SERVICE_NAME.test(s)) {
    throw new ValidationError(path, `must be at most 63 characters of [a-zA-Z0-9-_], starting and ending with a letter or digit, got ${JSON.stringify(s)}`);
  }
  return s;
};

const objectName: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (s.length === 0 || s.length > 64 || !OBJECT_NAME.test(s)) {
    throw new ValidationError(path, `must be 1 to 64 characters of [a-zA-Z0-9-_.], starting and ending with a letter or digit, got ${JSON.stringify(s)}`);
  }
  return s;
};

// --- service spec ----------------------------------------------------------------------------

const strings = arrayOf(string);
const labels = mapOf(string);
const nonNegative = integer({ min: 0 });
/** Durations are nanoseconds, as in Docker's API. */
const duration = nonNegative;

const nonEmpty: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (s.trim() === '') throw new ValidationError(path, 'must not be empty');
  return s;
};

const absolutePath: Decoder<string> = (value, path) => {
  const s = string(value, path);
  if (!s.startsWith('/')) throw new ValidationError(path, `must be an absolute path, got ${JSON.stringify(s)}`);
  return s;
};

const mountDecoder = object({
  Type: withDefault(oneOf(['bind', 'volume', 'tmpfs'] as const), () => 'volume' as const),
  Source: optional(string),
  Target: required(absolutePath),
  ReadOnly: optional(boolean),
  TmpfsOptions: optional(object({ SizeBytes: optional(nonNegative), Mode: optional(nonNegative) })),
});

type DecodedMount = ReturnType<typeof mountDecoder>;

const checkedMount: Decoder<DecodedMount> = (value, path) => {
  const m = mountDecoder(value, path);
  if (m.Type === 'bind' && (m.Source === undefined || !m.Source.startsWith('/'))) {
    throw new ValidationError(`${path}.Source`, `of a bind mount must be an absolute host path, got ${JSON.stringify(m.Source ?? '')}`);
  }
  if (m.Type === 'tmpfs' && m.Source !== undefined && m.Source !== '') {
    throw new ValidationError(`${path}.Source`, 'must be empty for a tmpfs mount');
  }
  if (m.Type !== 'tmpfs' && m.TmpfsOptions !== undefined) throw new ValidationError(`${path}.TmpfsOptions`, `cannot be given for a ${m.Type} mount`);
  return m;
};

const fileTarget = object({
  Name: required(nonEmpty),
  UID: withDefault(string, () => '0'),
  GID: withDefault(string, () => '0'),
  Mode: withDefault(integer({ min: 0, max: 0o7777 }), () => 0o444),
});

const secretRef = object({ File: required(fileTarget), SecretID: required(nonEmpty), SecretName: required(nonEmpty) });
const configRef = object({ File: required(fileTarget), ConfigID: required(nonEmpty), ConfigName: required(nonEmpty) });

const containerSpecDecoder = object({
  Image: required(nonEmpty),
  Labels: optional(labels),
  Command: optional(strings),
  Args: optional(strings),
  Hostname: optional(string),
  Env: optional(strings),
  Dir: optional(string),
  User: optional(string),
  Init: optional(boolean),
  ReadOnly: optional(boolean),
  Mounts: optional(arrayOf(checkedMount)),
  StopSignal: optional(string),
  StopGracePeriod: optional(duration),
  Healthcheck: optional(
    object({ Test: optional(strings), Interval: optional(duration), Timeout: optional(duration), Retries: optional(nonNegative), StartPeriod: optional(duration) }),
  ),
  Hosts: optional(strings),
  DNSConfig: optional(object({ Nameservers: optional(strings), Search: optional(strings), Options: optional(strings) })),
  Secrets: optional(arrayOf(secretRef)),
  Configs: optional(arrayOf(configRef)),
  CapabilityAdd: optional(strings),
  CapabilityDrop: optional(strings),
});

const resources = object({ NanoCPUs: optional(nonNegative), MemoryBytes: optional(nonNegative) });

const taskSpecDecoder = object({
  ContainerSpec: required(containerSpecDecoder),
  Resources: optional(object({ Limits: optional(object({ NanoCPUs: optional(nonNegative), MemoryBytes: optional(nonNegative), Pids: optional(nonNegative) })), Reservations: optional(resources) })),
  RestartPolicy: optional(
    object({ Condition: optional(oneOf(['none', 'on-failure', 'any'] as const)), Delay: optional(duration), MaxAttempts: optional(nonNegative), Window: optional(duration) }),
  ),
  Placement: optional(
    object({
      Constraints: optional(arrayOf(constraint())),
      Preferences: optional(arrayOf(object({ Spread: required(object({ SpreadDescriptor: required(nonEmpty) })) }))),
      MaxReplicas: optional(nonNegative),
    }),
  ),
  Networks: optional(arrayOf(object({ Target: required(nonEmpty), Aliases: optional(strings) }))),
  ForceUpdate: optional(nonNegative),
});

/** Swarmkit's constraint syntax: KEY==VALUE or KEY!=VALUE. */
function constraint(): Decoder<string> {
  return (value, path) => {
    const s = string(value, path);
    if (!/^\s*[\w.-]+\s*(?:==|!=)\s*\S.*$/.test(s)) {
      throw new ValidationError(path, `must be KEY==VALUE or KEY!=VALUE such as node.role==manager, got ${JSON.stringify(s)}`);
    }
    return s;
  };
}

const updateConfigDecoder = object({
  Parallelism: optional(nonNegative),
  Delay: optional(duration),
  FailureAction: optional(oneOf(['continue', 'pause', 'rollback'] as const)),
  Monitor: optional(duration),
  MaxFailureRatio: optional((value: unknown, path: string) => {
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new ValidationError(path, `must be a number between 0 and 1, got ${JSON.stringify(value)}`);
    return value;
  }),
  Order: optional(oneOf(['stop-first', 'start-first'] as const)),
});

const port = (min: number): Decoder<number> => integer({ min, max: 65535 });

const portDecoder = object({
  Name: optional(string),
  Protocol: optional(oneOf(['tcp', 'udp', 'sctp'] as const)),
  TargetPort: required(port(1)),
  PublishedPort: optional(port(0)),
  PublishMode: optional(oneOf(['ingress', 'host'] as const)),
});

/** Absent (or null) and {} are replicated with 1 replica, as Docker reads them. */
const modeDecoder: Decoder<ServiceSpec['Mode']> = (value, path) => {
  if (!isPlainObject(value)) throw new ValidationError(path, `must be an object, got ${value === null ? 'null' : typeof value}`);
  const replicated = value['Replicated'];
  const global = value['Global'];
  const hasReplicated = replicated !== undefined && replicated !== null;
  const hasGlobal = global !== undefined && global !== null;
  if (hasReplicated && hasGlobal) throw new ValidationError(path, 'must have exactly one of Replicated, Global: got both');
  if (hasGlobal) {
    if (!isPlainObject(global)) throw new ValidationError(`${path}.Global`, 'must be an object ({})');
    return { Global: {} };
  }
  if (!hasReplicated) return { Replicated: { Replicas: 1 } };
  const r = object({ Replicas: withDefault(nonNegative, () => 1) })(replicated, `${path}.Replicated`);
  return { Replicated: { Replicas: r.Replicas } };
};

const serviceSpecShape = object({
  Name: withDefault(serviceName, () => ''),
  Labels: withDefault(labels, () => ({})),
  TaskTemplate: required(taskSpecDecoder),
  Mode: withDefault(modeDecoder, () => ({ Replicated: { Replicas: 1 } })),
  UpdateConfig: optional(updateConfigDecoder),
  RollbackConfig: optional(updateConfigDecoder),
  EndpointSpec: optional(object({ Mode: optional(oneOf(['vip', 'dnsrr'] as const)), Ports: optional(arrayOf(portDecoder)) })),
  DependsOn: optional(
    arrayOf(object({ Service: required(nonEmpty), Condition: withDefault(oneOf(['service_started', 'service_healthy'] as const), () => 'service_started' as const) })),
  ),
  Strategy: optional(
    object({
      Type: required(oneOf(['rolling', 'canary', 'blue-green'] as const)),
      Steps: optional(arrayOf(integer({ min: 1, max: 100 }))),
      StepInterval: optional(duration),
    }),
  ),
});

/** The spec as the backend takes it: only known fields, every one checked. */
const serviceSpecDecoder: Decoder<ServiceSpec> = (value, path) => {
  const spec: ServiceSpec = serviceSpecShape(value, path);
  const endpoint = spec.EndpointSpec;
  if (endpoint?.Mode === 'dnsrr') {
    const ingress = (endpoint.Ports ?? []).findIndex((p) => (p.PublishMode ?? 'ingress') === 'ingress');
    if (ingress >= 0) {
      throw new ValidationError(`EndpointSpec.Ports[${ingress}]`, "is published in ingress mode, which can't be used with EndpointSpec.Mode dnsrr: publish it with PublishMode host");
    }
  }
  const steps = spec.Strategy?.Steps ?? [];
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]! <= steps[i - 1]!) throw new ValidationError(`Strategy.Steps[${i}]`, `must rise: ${steps[i]} after ${steps[i - 1]}`);
  }
  if (spec.Strategy && spec.Strategy.Type !== 'canary' && (spec.Strategy.Steps || spec.Strategy.StepInterval)) {
    throw new ValidationError('Strategy', `Steps and StepInterval are for Type canary, not ${spec.Strategy.Type}`);
  }
  const seen = new Set<string>();
  for (const [i, p] of (endpoint?.Ports ?? []).entries()) {
    if (p.PublishedPort === undefined || p.PublishedPort === 0) continue;
    const key = `${p.PublishedPort}/${p.Protocol ?? 'tcp'}`;
    if (seen.has(key)) throw new ValidationError(`EndpointSpec.Ports[${i}].PublishedPort`, `${key} is published more than once`);
    seen.add(key);
  }
  return spec;
};

// --- secrets and configs ---------------------------------------------------------------------

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Swarmkit's limits: secrets under 500 KiB, configs under 1000 KiB, and never empty. */
function base64Data(limit: number): Decoder<string> {
  return (value, path) => {
    const s = string(value, path).replace(/\s+/g, '');
    if (!BASE64.test(s)) throw new ValidationError(path, 'must be base64 (standard alphabet, padded)');
    const size = Buffer.from(s, 'base64').length;
    if (size === 0 || size >= limit) throw new ValidationError(path, `must decode to more than 0 and less than ${limit} bytes, got ${size}`);
    return s;
  };
}

const secretCreateDecoder: Decoder<SecretCreate> = object({ Name: required(objectName), Labels: withDefault(labels, () => ({})), Data: required(base64Data(500 * 1024)) });
const configCreateDecoder: Decoder<ConfigCreate> = object({ Name: required(objectName), Labels: withDefault(labels, () => ({})), Data: required(base64Data(1000 * 1024)) });
/** Docker's ConfigSpec on update: absent Labels clear them; absent Data keeps the stored data (swarmkit's nil). */
const configUpdateDecoder: Decoder<ConfigUpdate> = object({ Name: required(string), Labels: withDefault(labels, () => ({})), Data: optional(base64Data(1000 * 1024)) });

/** Only named fields leave: never Spec.Data, never EncryptedData, whatever the backend returned. */
export function publicSecret(s: SecretObject): Omit<SecretObject, 'EncryptedData'> {
  return { ID: s.ID, Version: s.Version, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Spec: { Name: s.Spec.Name, Labels: s.Spec.Labels } };
}

// --- logs ------------------------------------------------------------------------------------

/** Go's url.QueryEscape, as Docker escapes log attributes. */
function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Docker's details prefix: the attributes sorted by key, k=v joined by ",". */
export function logDetails(attrs: Record<string, string>): string {
  return Object.keys(attrs)
    .sort()
    .map((k) => `${queryEscape(k)}=${queryEscape(attrs[k] ?? '')}`)
    .join(',');
}

// --- the routes ------------------------------------------------------------------------------

/** The backend of a manager's routes, or the answer Docker gives on a node that is not one. */
export function managerBackend(services: ServicesBackend | undefined): () => ServicesBackend {
  return () => {
    if (services === undefined) {
      throw new SwarmError('NOT_A_MANAGER', NOT_A_MANAGER_MESSAGE, "run 'swarm init' to start a swarm, or run this command on a manager");
    }
    return services;
  };
}

export function serviceRoutes(services: ServicesBackend | undefined): Route[] {
  const sb = managerBackend(services);
  const ok: Reply = {};
  const noContent: Reply = { status: 204 };
  const id = (params: Record<string, string>): string => params.id ?? '';

  return [
    route('GET', '/services', async ({ query }) => {
      const filters = filtersParam(query, SERVICE_FILTERS);
      checkValues(filters, 'mode', ['replicated', 'global']);
      return { json: await sb().listServices(filters, boolValue(query, 'status')) };
    }),
    // X-Registry-Auth is accepted and ignored: nodes pull with their own credentials.
    route('POST', '/services/create', async ({ body }) => {
      const backend = sb();
      const spec = decodeAs('ServiceSpec', serviceSpecDecoder, (await body()) ?? {});
      if (spec.Name === '') spec.Name = randomServiceName();
      const created = await backend.createService(spec);
      return { status: 201, json: { ID: created.ID, Warnings: created.Warnings } };
    }),
    route('GET', '/services/{id}', async ({ params }) => ({ json: await sb().inspectService(id(params)) })),
    route('POST', '/services/{id}/update', async ({ params, query, body }) => {
      const backend = sb();
      const version = versionParam(query);
      const rollback = rollbackParam(query);
      const spec = decodeAs('ServiceSpec', serviceSpecDecoder, (await body()) ?? {});
      if (spec.Name === '') throw new ValidationError('', 'invalid ServiceSpec: Name must not be empty on update: give the service\'s name');
      const result = await backend.updateService(id(params), version, spec, { rollback });
      return { json: { Warnings: result.Warnings } };
    }),
    // Not in Docker's API: the next canary step now, or the blue/green switch.
    route('POST', '/services/{id}/promote', async ({ params }) => {
      await sb().promoteService(id(params));
      return ok;
    }),
    route('DELETE', '/services/{id}', async ({ params }) => {
      await sb().removeService(id(params));
      return ok;
    }),
    route('GET', '/services/{id}/logs', async ({ params, query }) => {
      const backend = sb();
      const stdout = boolValue(query, 'stdout');
      const stderr = boolValue(query, 'stderr');
      if (!stdout && !stderr) throw new HttpError(400, 'you must choose at least one stream: set stdout=1 and/or stderr=1');
      const details = boolValue(query, 'details');
      const opts = { follow: boolValue(query, 'follow'), tail: tailParam(query), since: sinceParam(query) };
      // Unknown services get a 404 before the headers go out.
      const service = await backend.inspectService(id(params));
      async function* lines(signal: AbortSignal): AsyncIterable<LogLine> {
        for await (const l of backend.serviceLogs(service.ID, opts, signal)) {
          const prefix = details
            ? `${logDetails({ 'com.docker.swarm.node.id': l.nodeId, 'com.docker.swarm.service.id': service.ID, 'com.docker.swarm.task.id': l.taskId })} `
            : '';
          yield { stream: l.stream, time: l.time, line: `${prefix}${l.line}` };
        }
      }
      const out = logsBody(lines, { stdout, stderr, timestamps: boolValue(query, 'timestamps') });
      return { stream: { ...out, eager: true } };
    }),

    route('GET', '/tasks', async ({ query }) => {
      const filters = filtersParam(query, TASK_FILTERS);
      checkValues(filters, 'desired-state', ['running', 'shutdown', 'accepted']);
      return { json: await sb().listTasks(filters) };
    }),
    route('GET', '/tasks/{id}', async ({ params }) => ({ json: await sb().inspectTask(id(params)) })),

    route('GET', '/secrets', async ({ query }) => {
      const backend = sb();
      const filters = filtersParam(query, SECRET_FILTERS);
      return { json: (await listByName(filters, (f) => backend.listSecrets(f))).map(publicSecret) };
    }),
    route('POST', '/secrets/create', async ({ body }) => {
      const backend = sb();
      const spec = decodeAs('SecretSpec', secretCreateDecoder, (await body()) ?? {});
      return { status: 201, json: { ID: (await backend.createSecret(spec)).ID } };
    }),
    route('GET', '/secrets/{id}', async ({ params }) => ({ json: publicSecret(await sb().inspectSecret(id(params))) })),
    route('DELETE', '/secrets/{id}', async ({ params }) => {
      await sb().removeSecret(id(params));
      return noContent;
    }),

    route('GET', '/configs', async ({ query }) => {
      const backend = sb();
      const filters = filtersParam(query, SECRET_FILTERS);
      return { json: await listByName(filters, (f) => backend.listConfigs(f)) };
    }),
    route('POST', '/configs/create', async ({ body }) => {
      const backend = sb();
      const spec = decodeAs('ConfigSpec', configCreateDecoder, (await body()) ?? {});
      return { status: 201, json: { ID: (await backend.createConfig(spec)).ID } };
    }),
    route('GET', '/configs/{id}', async ({ params }) => ({ json: await sb().inspectConfig(id(params)) })),
    route('POST', '/configs/{id}/update', async ({ params, query, body }) => {
      const backend = sb();
      const version = versionParam(query);
      const spec = decodeAs('ConfigSpec', configUpdateDecoder, (await body()) ?? {});
      await backend.updateConfig(id(params), version, spec);
      return ok;
    }),
    route('DELETE', '/configs/{id}', async ({ params }) => {
      await sb().removeConfig(id(params));
      return noContent;
    }),
  ];
}
