import { createHash } from 'node:crypto';
import { SwarmError } from '../errors.js';
import type {
  ClusterObject,
  ClusterSpec,
  NodeAvailability,
  NodeObject,
  NodeRole,
  NodeSpec,
  NodeState,
  Reachability,
} from '../store/index.js';
import type {
  InitRequest,
  JoinRequest,
  RaftView,
  SwarmBackend,
  SwarmInspect,
  SystemInfo,
  UpdateSwarmRequest,
  VersionInfo,
} from './backend.js';

// An in-memory SwarmBackend for tests of API clients (the API's own tests, the CLI's). It keeps
// Docker's observable behaviour where clients depend on it (version checks, ref resolution,
// manager-only calls, filter semantics) and records every call. Not for production use.

export interface FakeNode {
  id?: string;
  hostname: string;
  role?: NodeRole;
  state?: NodeState;
  availability?: NodeAvailability;
  leader?: boolean;
  reachability?: Reachability;
  engineVersion?: string;
  addr?: string;
  labels?: Record<string, string>;
}

const FIXED_TIME = '2025-01-01T00:00:00.000Z';

export const FAKE_DEFAULT_SPEC: ClusterSpec = {
  Name: 'default',
  Labels: {},
  Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, ElectionTick: 10, HeartbeatTick: 1 },
  Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
  CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
};

const clone = <T>(v: T): T => structuredClone(v);

export class FakeSwarmBackend implements SwarmBackend {
  /** Every backend call, in order, with its arguments. */
  readonly calls: { method: keyof SwarmBackend; args: unknown[] }[] = [];
  /** The role `joinSwarm` gives this node. */
  joinRole: NodeRole = 'worker';
  /** The next error any call throws (then cleared): to test error paths. */
  failNext: Error | undefined;

  readonly hostname: string;
  readonly nodeId: string;
  private local: 'inactive' | NodeRole = 'inactive';
  private cluster: ClusterObject | undefined;
  private readonly nodes = new Map<string, NodeObject>();
  private index = 1;
  private tokenGeneration = 0;
  private nodeAddr = '';

  constructor(options: { hostname?: string; nodeId?: string } = {}) {
    this.hostname = options.hostname ?? 'host1';
    this.nodeId = options.nodeId ?? 'fakenode00000000000000001';
  }

  private record(method: keyof SwarmBackend, ...args: unknown[]): void {
    this.calls.push({ method, args: clone(args) });
    const err = this.failNext;
    if (err !== undefined) {
      this.failNext = undefined;
      throw err;
    }
  }

  /** Add a node to the cluster's node table (the swarm must be active). */
  addNode(n: FakeNode): NodeObject {
    const id = n.id ?? `fakenode${String(this.nodes.size + 1).padStart(17, '0')}`;
    const role = n.role ?? 'worker';
    const addr = n.addr ?? `192.0.2.${this.nodes.size + 10}`;
    const node: NodeObject = {
      ID: id,
      Version: { Index: this.index++ },
      CreatedAt: FIXED_TIME,
      UpdatedAt: FIXED_TIME,
      Spec: { Labels: { ...n.labels }, Role: role, Availability: n.availability ?? 'active' },
      Description: {
        Hostname: n.hostname,
        Platform: { Architecture: 'x86_64', OS: 'linux' },
        Resources: { NanoCPUs: 4_000_000_000, MemoryBytes: 8 * 1024 ** 3 },
        Engine: { EngineVersion: n.engineVersion ?? '0.1.0', Labels: {} },
      },
      Status: { State: n.state ?? 'ready', Addr: addr },
      Swarm: { PeerId: `12D3KooW${id}`, Multiaddrs: [`/ip4/${addr}/tcp/2377`] },
    };
    if (role === 'manager') {
      node.ManagerStatus = { Leader: n.leader ?? false, Reachability: n.reachability ?? 'reachable', Addr: `${addr}:2377` };
    }
    this.nodes.set(id, node);
    return clone(node);
  }

  private requireManager(): ClusterObject {
    if (this.local === 'inactive' || this.cluster === undefined) {
      throw new SwarmError(
        'NOT_IN_SWARM',
        'This node is not a swarm manager. Use "swarm init" or "swarm join" to connect this node to swarm and try again.',
        "run 'swarm init' to start a swarm, or 'swarm join' to join one",
      );
    }
    if (this.local !== 'manager') {
      throw new SwarmError(
        'NOT_A_MANAGER',
        "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.",
        'run this command on a manager node, or promote this node to a manager',
      );
    }
    return this.cluster;
  }

  private tokens(): { Worker: string; Manager: string } {
    const g = this.tokenGeneration;
    return { Worker: `SWMTKN-1-fakefingerprint-worker${g}`, Manager: `SWMTKN-1-fakefingerprint-manager${g}` };
  }

  private resolve(ref: string): NodeObject {
    const exact = this.nodes.get(ref);
    if (exact) return exact;
    const byName = [...this.nodes.values()].filter((n) => n.Description.Hostname === ref || n.Spec.Name === ref);
    if (byName.length === 1 && byName[0]) return byName[0];
    const byPrefix = [...this.nodes.values()].filter((n) => n.ID.startsWith(ref));
    const matches = byName.length > 1 ? byName : byPrefix;
    if (matches.length > 1) throw new SwarmError('INVALID_ARGUMENT', `node ${ref} is ambiguous (${matches.length} matches found)`);
    if (matches.length === 1 && matches[0]) return matches[0];
    throw new SwarmError('NOT_FOUND', `node ${ref} not found`);
  }

  async systemInfo(): Promise<SystemInfo> {
    this.record('systemInfo');
    const managers = [...this.nodes.values()].filter((n) => n.ManagerStatus !== undefined);
    const active = this.local !== 'inactive';
    const isManager = this.local === 'manager';
    return {
      ID: 'FAKE:ENGINE:ID',
      Name: this.hostname,
      ServerVersion: '0.1.0',
      OperatingSystem: 'Debian GNU/Linux 12 (bookworm)',
      OSType: 'linux',
      Architecture: 'x86_64',
      NCPU: 4,
      MemTotal: 8 * 1024 ** 3,
      Swarm: {
        NodeID: active ? this.nodeId : '',
        NodeAddr: active ? this.nodeAddr : '',
        LocalNodeState: active ? 'active' : 'inactive',
        ControlAvailable: isManager,
        Error: '',
        RemoteManagers: active ? managers.map((n) => ({ NodeID: n.ID, Addr: n.ManagerStatus?.Addr ?? '' })) : null,
        Nodes: isManager ? this.nodes.size : 0,
        Managers: isManager ? managers.length : 0,
        ...(isManager && this.cluster
          ? {
              Cluster: {
                ID: this.cluster.ID,
                Version: clone(this.cluster.Version),
                CreatedAt: this.cluster.CreatedAt,
                UpdatedAt: this.cluster.UpdatedAt,
                Spec: clone(this.cluster.Spec),
              },
            }
          : {}),
      },
    };
  }

  version(): VersionInfo {
    return {
      Version: '0.1.0',
      ApiVersion: '1.47',
      MinAPIVersion: '1.24',
      Os: 'linux',
      Arch: 'amd64',
      GoVersion: 'node v20',
      GitCommit: 'fake',
      KernelVersion: '6.1.0',
    };
  }

  swarmState(): 'inactive' | 'active/manager' | 'active/worker' {
    return this.local === 'inactive' ? 'inactive' : `active/${this.local}`;
  }

  async inspectSwarm(): Promise<SwarmInspect> {
    this.record('inspectSwarm');
    return clone({ ...this.requireManager(), JoinTokens: this.tokens() });
  }

  async initSwarm(req: InitRequest): Promise<string> {
    this.record('initSwarm', req);
    if (this.local !== 'inactive') {
      throw new SwarmError(
        'ALREADY_IN_SWARM',
        'This node is already part of a swarm. Use "swarm leave" to leave this swarm and join another one.',
      );
    }
    const spec: ClusterSpec = { ...clone(FAKE_DEFAULT_SPEC), ...clone(req.Spec) };
    this.cluster = {
      ID: 'fakecluster0000000000000001',
      Version: { Index: this.index++ },
      CreatedAt: FIXED_TIME,
      UpdatedAt: FIXED_TIME,
      Spec: spec,
      JoinTokens: this.tokens(),
      // Go []byte fields in Docker's types: base64 on the wire, or the docker CLI cannot decode them.
      TLSInfo: { TrustRoot: 'ZmFrZS1jYS1rZXk=', CertIssuerPublicKey: 'ZmFrZS1jYS1rZXk=', CertIssuerSubject: 'c3dhcm0tY2E=' },
      DefaultAddrPool: req.DefaultAddrPool.length > 0 ? req.DefaultAddrPool : ['10.0.0.0/8'],
      SubnetSize: req.SubnetSize || 24,
      RootRotationInProgress: false,
      CAKey: 'fake-ca-private-key',
    };
    this.local = 'manager';
    this.nodeAddr = (req.AdvertiseAddr || '192.0.2.1').replace(/:\d+$/, '');
    this.addNode({ id: this.nodeId, hostname: this.hostname, role: 'manager', leader: true, addr: this.nodeAddr });
    return this.nodeId;
  }

  async joinSwarm(req: JoinRequest): Promise<void> {
    this.record('joinSwarm', req);
    if (this.local !== 'inactive') {
      throw new SwarmError(
        'ALREADY_IN_SWARM',
        'This node is already part of a swarm. Use "swarm leave" to leave this swarm and join another one.',
      );
    }
    if (!req.JoinToken.startsWith('SWMTKN-1-')) throw new SwarmError('INVALID_TOKEN', 'invalid join token');
    this.local = this.joinRole;
    this.nodeAddr = (req.AdvertiseAddr || '192.0.2.2').replace(/:\d+$/, '');
  }

  async leaveSwarm(force: boolean): Promise<void> {
    this.record('leaveSwarm', force);
    if (this.local === 'inactive') throw new SwarmError('NOT_IN_SWARM', 'This node is not part of a swarm');
    if (this.local === 'manager' && !force) {
      throw new SwarmError(
        'CONFLICT',
        'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm.',
        "use 'swarm leave --force' to leave anyway",
      );
    }
    this.local = 'inactive';
    this.cluster = undefined;
    this.nodes.clear();
  }

  async updateSwarm(req: UpdateSwarmRequest): Promise<void> {
    this.record('updateSwarm', req);
    const cluster = this.requireManager();
    if (req.version !== cluster.Version.Index) {
      throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the swarm changed since it was read: read it again and retry');
    }
    if (req.rotateWorkerToken || req.rotateManagerToken) this.tokenGeneration++;
    cluster.Spec = clone(req.spec);
    cluster.JoinTokens = this.tokens();
    cluster.Version = { Index: this.index++ };
  }

  async listNodes(filters: Record<string, string[]>): Promise<NodeObject[]> {
    this.record('listNodes', filters);
    this.requireManager();
    const labelMatch = (labels: Record<string, string>, want: string[]): boolean =>
      want.every((w) => {
        const [k = '', v] = w.split(/=(.*)/s);
        return v === undefined ? k in labels : labels[k] === v;
      });
    return [...this.nodes.values()]
      .filter((n) => {
        const f = (key: string): string[] | undefined => (filters[key]?.length ? filters[key] : undefined);
        const id = f('id');
        const name = f('name');
        const role = f('role');
        const membership = f('membership');
        const label = f('label');
        const nodeLabel = f('node.label');
        return (
          (!id || id.some((p) => n.ID.startsWith(p))) &&
          (!name || name.some((p) => n.Description.Hostname.startsWith(p) || (n.Spec.Name ?? '').startsWith(p))) &&
          (!role || role.includes(n.Spec.Role)) &&
          (!membership || membership.includes('accepted')) &&
          (!label || labelMatch(n.Description.Engine.Labels, label)) &&
          (!nodeLabel || labelMatch(n.Spec.Labels, nodeLabel))
        );
      })
      .map(clone);
  }

  async inspectNode(ref: string): Promise<NodeObject> {
    this.record('inspectNode', ref);
    this.requireManager();
    return clone(this.resolve(ref));
  }

  async updateNode(ref: string, version: number, spec: NodeSpec): Promise<void> {
    this.record('updateNode', ref, version, spec);
    this.requireManager();
    const node = this.resolve(ref);
    if (version !== node.Version.Index) {
      throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the node changed since it was read: read it again and retry');
    }
    node.Spec = clone(spec);
    if (spec.Role === 'manager' && !node.ManagerStatus) {
      node.ManagerStatus = { Leader: false, Reachability: 'reachable', Addr: `${node.Status.Addr}:2377` };
    } else if (spec.Role === 'worker') {
      delete node.ManagerStatus;
    }
    node.Version = { Index: this.index++ };
  }

  peerLiveness(): { version: number; nodes: { nodeId: string; peerId: string; role: string; state: string }[] } {
    this.record('peerLiveness');
    const nodes = [...this.nodes.values()].map((n) => ({ nodeId: n.ID, peerId: `peer-${n.ID}`, role: n.Spec.Role, state: n.Status.State }));
    return { version: nodes.length, nodes };
  }

  /** Term 1; the indexes are the last Version.Index handed out; the digest is over the fake's tables. */
  raftStatus(): RaftView {
    this.record('raftStatus');
    const cluster = this.requireManager();
    const leader = [...this.nodes.values()].find((n) => n.ManagerStatus?.Leader)?.ID ?? '';
    const index = this.index - 1;
    return {
      NodeID: this.nodeId,
      Role: leader === this.nodeId ? 'leader' : 'follower',
      Term: 1,
      Leader: leader,
      CommitIndex: index,
      AppliedIndex: index,
      StoreDigest: createHash('sha256').update(JSON.stringify({ index, cluster, nodes: [...this.nodes.values()] })).digest('hex'),
    };
  }

  async removeNode(ref: string, force: boolean): Promise<void> {
    this.record('removeNode', ref, force);
    this.requireManager();
    const node = this.resolve(ref);
    if (node.Spec.Role === 'manager') {
      throw new SwarmError(
        'CONFLICT',
        `node ${node.ID} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        `run 'swarm node demote ${ref}' first`,
      );
    }
    if (node.Status.State !== 'down' && !force) {
      throw new SwarmError('CONFLICT', `node ${node.ID} is not down and can't be removed`, `use 'swarm node rm --force ${ref}' to remove it anyway`);
    }
    this.nodes.delete(node.ID);
  }
}
