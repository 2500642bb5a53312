import type { ClusterSpec, NodeSpec } from '../store/index.js';
import type { InitRequest, JoinRequest, SwarmBackend, SwarmInspect, SystemInfo } from './backend.js';
import { boolValue, filtersParam, strictBool, versionParam } from './http.js';
import { networkRoutes } from './network-routes.js';
import { API_VERSION, MIN_API_VERSION, route, type Reply, type Route } from './router.js';
import type { RuntimeBackend } from './runtime-backend.js';
import { runtimeRoutes } from './runtime-routes.js';
import { serviceRoutes } from './service-routes.js';
import type { ServicesBackend } from './services-backend.js';
import {
  arrayOf,
  boolean,
  decodeAs,
  integer,
  mapOf,
  object,
  oneOf,
  optional,
  required,
  string,
  ValidationError,
  withDefault,
  type Decoder,
  type Field,
} from './validate.js';

// The Engine API routes this node serves: decode the request, call the backend, shape the reply.
// No cluster logic lives here.

/** An object decoder whose fields all have defaults: absent decodes to its zero value. */
function zeroed<T>(decode: Decoder<T>): Field<T> {
  return withDefault(decode, () => decode({}, ''));
}

const nonNegative = integer({ min: 0 });
const labels = mapOf(string);

function nonEmpty<T extends string | unknown[]>(decode: Decoder<T>, what: string): Decoder<T> {
  return (value, path) => {
    const v = decode(value, path);
    if (v.length === 0) throw new ValidationError(path, `must not be empty: ${what}`);
    return v;
  };
}

// Docker decodes bodies into Go structs: absent fields are zero values, and on /swarm/init and
// /swarm/update Docker reads a zero as "keep the default / current value".
const clusterSpecFields = {
  Name: withDefault(string, () => ''),
  Labels: withDefault(labels, () => ({})),
  Orchestration: zeroed(object({ TaskHistoryRetentionLimit: withDefault(nonNegative, () => 0) })),
  Raft: zeroed(
    object({
      SnapshotInterval: withDefault(nonNegative, () => 0),
      KeepOldSnapshots: withDefault(nonNegative, () => 0),
      ElectionTick: withDefault(nonNegative, () => 0),
      HeartbeatTick: withDefault(nonNegative, () => 0),
    }),
  ),
  Dispatcher: zeroed(object({ HeartbeatPeriod: withDefault(nonNegative, () => 0) })),
  CAConfig: zeroed(object({ NodeCertExpiry: withDefault(nonNegative, () => 0) })),
};

const clusterSpecDecoder: Decoder<ClusterSpec> = object(clusterSpecFields);

/** For init: only the sections the client sent, so the backend can tell "unset" apart. */
const partialClusterSpecDecoder: Decoder<Partial<ClusterSpec>> = object({
  Name: optional(string),
  Labels: optional(labels),
  Orchestration: optional(clusterSpecFields.Orchestration.decode),
  Raft: optional(clusterSpecFields.Raft.decode),
  Dispatcher: optional(clusterSpecFields.Dispatcher.decode),
  CAConfig: optional(clusterSpecFields.CAConfig.decode),
});

const initRequestDecoder: Decoder<InitRequest> = object({
  ListenAddr: withDefault(string, () => ''),
  AdvertiseAddr: withDefault(string, () => ''),
  ForceNewCluster: withDefault(boolean, () => false),
  DefaultAddrPool: withDefault(arrayOf(string), () => []),
  SubnetSize: withDefault(integer({ min: 0, max: 32 }), () => 0),
  Spec: withDefault(partialClusterSpecDecoder, () => ({})),
});

const joinRequestDecoder: Decoder<JoinRequest> = object({
  ListenAddr: withDefault(string, () => ''),
  AdvertiseAddr: withDefault(string, () => ''),
  RemoteAddrs: required(nonEmpty(arrayOf(string), 'give the address of at least one manager')),
  JoinToken: required(nonEmpty(string, 'give the join token of the swarm')),
});

const nodeSpecDecoder: Decoder<NodeSpec> = object({
  Name: optional(string),
  Labels: withDefault(labels, () => ({})),
  Role: required(oneOf(['manager', 'worker'] as const)),
  Availability: required(oneOf(['active', 'pause', 'drain'] as const)),
});

/** Docker's accepted node filters (daemon/cluster/filters.go). */
const NODE_FILTERS = ['id', 'label', 'membership', 'name', 'node.label', 'role'] as const;

function checkNodeFilterValues(filters: Record<string, string[]>): void {
  const allowed: Record<string, readonly string[]> = { role: ['manager', 'worker'], membership: ['accepted', 'pending'] };
  for (const [key, values] of Object.entries(allowed)) {
    for (const v of filters[key] ?? []) {
      if (!values.includes(v.toLowerCase())) {
        throw new ValidationError('', `invalid filter '${key}=${v}': ${key} must be one of ${values.join(', ')}`);
      }
    }
  }
}

const ok: Reply = {};

// The cluster object in the store carries the CA's private key (CAKey): only named fields leave.
function publicSwarm(s: SwarmInspect): SwarmInspect {
  return {
    ID: s.ID,
    Version: s.Version,
    CreatedAt: s.CreatedAt,
    UpdatedAt: s.UpdatedAt,
    Spec: s.Spec,
    JoinTokens: s.JoinTokens,
    TLSInfo: { TrustRoot: s.TLSInfo.TrustRoot, CertIssuerSubject: s.TLSInfo.CertIssuerSubject, CertIssuerPublicKey: s.TLSInfo.CertIssuerPublicKey },
    RootRotationInProgress: s.RootRotationInProgress,
    DefaultAddrPool: s.DefaultAddrPool,
    SubnetSize: s.SubnetSize,
  };
}

function publicInfo(info: SystemInfo): SystemInfo {
  const c = info.Swarm.Cluster;
  if (c === undefined) return info;
  return { ...info, Swarm: { ...info.Swarm, Cluster: { ID: c.ID, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Spec: c.Spec } } };
}

export function apiRoutes(backend: SwarmBackend, runtime?: RuntimeBackend, services?: ServicesBackend): Route[] {
  const ping = async (): Promise<Reply> => ({
    text: 'OK',
    headers: {
      'Api-Version': API_VERSION,
      Ostype: 'linux',
      Swarm: backend.swarmState(),
      'Docker-Experimental': 'false',
      'Cache-Control': 'no-cache',
      Pragma: 'no-cache',
    },
  });

  return [
    route('GET', '/_ping', ping),
    route('HEAD', '/_ping', ping),
    // The API module is the authority on which API versions it serves.
    route('GET', '/version', async () => ({ json: { ...backend.version(), ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION } })),
    route('GET', '/info', async () => ({ json: publicInfo(await backend.systemInfo()) })),

    route('GET', '/swarm', async () => ({ json: publicSwarm(await backend.inspectSwarm()) })),
    // Not in Docker's API: node liveness as this node learned it by gossip (workers too).
    route('GET', '/swarm/peers', async () => ({ json: backend.peerLiveness() })),
    // Not in Docker's API: this manager's Raft view, local (no quorum round trip), for checking invariants.
    route('GET', '/swarm/raft', async () => ({ json: backend.raftStatus() })),
    route('POST', '/swarm/init', async ({ body }) => {
      const req = decodeAs('InitRequest', initRequestDecoder, (await body()) ?? {});
      return { json: await backend.initSwarm(req) };
    }),
    route('POST', '/swarm/join', async ({ body }) => {
      await backend.joinSwarm(decodeAs('JoinRequest', joinRequestDecoder, (await body()) ?? {}));
      return ok;
    }),
    route('POST', '/swarm/leave', async ({ query }) => {
      await backend.leaveSwarm(boolValue(query, 'force'));
      return ok;
    }),
    route('POST', '/swarm/update', async ({ query, body }) => {
      const version = versionParam(query);
      const rotateWorkerToken = strictBool(query, 'rotateWorkerToken');
      const rotateManagerToken = strictBool(query, 'rotateManagerToken');
      const spec = decodeAs('ClusterSpec', clusterSpecDecoder, (await body()) ?? {});
      await backend.updateSwarm({ version, spec, rotateWorkerToken, rotateManagerToken });
      return ok;
    }),

    route('GET', '/nodes', async ({ query }) => {
      const filters = filtersParam(query, NODE_FILTERS);
      checkNodeFilterValues(filters);
      return { json: await backend.listNodes(filters) };
    }),
    route('GET', '/nodes/{id}', async ({ params }) => ({ json: await backend.inspectNode(params.id ?? '') })),
    route('POST', '/nodes/{id}/update', async ({ params, query, body }) => {
      const version = versionParam(query);
      const spec = decodeAs('NodeSpec', nodeSpecDecoder, (await body()) ?? {});
      await backend.updateNode(params.id ?? '', version, spec);
      return ok;
    }),
    route('DELETE', '/nodes/{id}', async ({ params, query }) => {
      await backend.removeNode(params.id ?? '', boolValue(query, 'force'));
      return ok;
    }),

    ...runtimeRoutes(runtime),
    ...serviceRoutes(services),
    ...networkRoutes(services),
  ];
}
