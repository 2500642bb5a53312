import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { arch, cpus, hostname as osHostname, networkInterfaces, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Message } from '../../raft/index.js';
import { rewriteAsSingleMember } from '../../raft/driver/index.js';
import type { LogLine } from '../api/index.js';
import type {
  InitRequest,
  JoinRequest,
  RaftView,
  SwarmBackend,
  SwarmInspect,
  SystemInfo,
  UpdateSwarmRequest,
  VersionInfo,
} from '../api/index.js';
import {
  AssignmentReceiver,
  NetworkAgent,
  LIVENESS_TOPIC,
  NodeSession,
  PeerLiveness,
  TaskRunner,
  decodeDigest,
  type HeartbeatRedirect,
  type HeartbeatReply,
  type LivenessDigest,
  type TaskFiles,
  type TaskStatusUpdate,
} from '../agent/index.js';
import { ASSIGNMENTS_TOPIC, assignmentsFor, decodeAssignments } from '../manager/dispatcher/index.js';
import { SwarmError } from '../errors.js';
import type { Logger } from '../log.js';
import { removalBlocker } from '../manager/membership/index.js';
import {
  ClusterCA,
  P2PError,
  P2PHost,
  caFingerprint,
  checkProof,
  decodeCertificate,
  encodeCertificate,
  hostPortToMultiaddr,
  loadOrCreateIdentity,
  makeJoinToken,
  parseJoinToken,
  proveSecret,
  type Caller,
  type Identity,
  type NodeCertificate,
} from '../p2p/index.js';
import { ImageSharing, type LocalRuntime } from '../runtime/index.js';
import { ClusterStore, newObjectId } from '../store/index.js';
import { TASK_STATES, type ClusterObject, type ClusterSpec, type NodeObject, type NodeSpec, type StoreAction, type TaskObject } from '../store/index.js';
import { loadLocalState, removeLocalState, saveLocalState, type KnownManager, type LocalState } from './local-state.js';
import { ManagerRole, RAFT_ELECTION_TICK, RAFT_HEARTBEAT_TICK } from './manager-role.js';
import { ServicesApi } from './services-api.js';

export const ENGINE_VERSION = '0.1.0';
export const API_VERSION = '1.47';
const DEFAULT_CERT_EXPIRY_NS = 90 * 24 * 3600 * 1e9;
const JOIN_TIMEOUT_MS = 10_000;

export interface SwarmNodeOptions {
  dataDir: string;
  /** The node's container runtime: its images are shared with peers once the node is in a swarm. */
  runtime?: LocalRuntime;
  /** Default for init/join when the request does not say: HOST:PORT. */
  listenAddr: string;
  advertiseAddr?: string;
  hostname?: string;
  logger: Logger;
  /** Task networking over the overlay; false gives tasks a loopback-only namespace (several nodes in one network namespace). */
  overlay?: { netnsPrefix: string } | false;
  /**
   * The node cannot go on safely (its manager's Raft storage failed, e.g. ENOSPC): the owner
   * should stop the process (fail-stop). Without it the manager stays stopped and answers 503.
   */
  onFatal?: (err: Error) => void;
}

function defaultSpec(partial: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    Name: 'default',
    Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: { SnapshotInterval: 1000, KeepOldSnapshots: 0, ElectionTick: RAFT_ELECTION_TICK, HeartbeatTick: RAFT_HEARTBEAT_TICK },
    Dispatcher: { HeartbeatPeriod: 0 },
    CAConfig: { NodeCertExpiry: DEFAULT_CERT_EXPIRY_NS },
    ...partial,
  };
}

function splitHostPort(addr: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(addr.trim());
  if (!m) throw new SwarmError('INVALID_ARGUMENT', `invalid address "${addr}": expected HOST or HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new SwarmError('INVALID_ARGUMENT', `invalid port in address "${addr}"`);
  return { host: m[1]!, port };
}

/** An address other hosts can reach when the node listens on all interfaces. */
function guessAdvertiseHost(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** '/ip4/10.0.0.1/tcp/2377' → '10.0.0.1:2377', as Docker shows manager addresses. */
function multiaddrToHostPort(ma: string): string {
  const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(ma);
  return m ? `${m[1]}:${m[2]}` : ma;
}

function toB64(b: Uint8Array): string {
  return Buffer.from(b).toString('base64');
}

function fromB64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

interface JoinChallenge {
  caPublicKey: string;
  clusterId: string;
  nonce: Uint8Array;
}

interface JoinRequestPayload {
  nonce: Uint8Array;
  proof: Uint8Array;
  description: NodeObject['Description'];
  advertiseAddr: string;
  multiaddrs: string[];
}

interface JoinReply {
  nodeId: string;
  role: 'manager' | 'worker';
  certificate: Uint8Array;
  caPublicKey: string;
  clusterId: string;
  managers: KnownManager[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * One host's membership in the swarm: init, join, leave and restart; its manager role when it
 * has one; its session with the leader. Implements the API's backend.
 */
export class SwarmNode implements SwarmBackend {
  private readonly opts: SwarmNodeOptions;
  private readonly logger: Logger;
  private identity!: Identity;
  private host: P2PHost | undefined;
  private state: LocalState | undefined;
  private manager: ManagerRole | undefined;
  private session: NodeSession | undefined;
  /** Join nonces handed out by this manager, with their expiry. */
  private readonly nonces = new Map<string, number>();
  private roleChange: Promise<void> | undefined;
  /** Every node's liveness as the leader last gossiped it. */
  private readonly peers = new PeerLiveness();
  private lastLeaderId = '';
  /** This node's tasks: what runs them and what feeds them their assignments. */
  private tasks: { runner: TaskRunner; receiver: AssignmentReceiver; network: Promise<NetworkAgent> | undefined } | undefined;
  /** Services, tasks, secrets and configs for the API (managers only; workers get NOT_A_MANAGER). */
  readonly services = new ServicesApi(
    () => this.requireManager(),
    () => this.fresh(),
    (m, actions) => this.commit(m, actions),
    (nodeId, containerId, opts) => this.fetchTaskLogs(nodeId, containerId, opts),
  );

  private constructor(opts: SwarmNodeOptions) {
    this.opts = opts;
    this.logger = opts.logger;
  }

  /** Opens the node from its data dir; rejoins its swarm when it was in one. */
  static async open(opts: SwarmNodeOptions): Promise<SwarmNode> {
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const node = new SwarmNode(opts);
    node.identity = await loadOrCreateIdentity(opts.dataDir);
    node.state = loadLocalState(opts.dataDir);
    if (node.state) await node.resume(node.state);
    return node;
  }

  private hostname(): string {
    return this.opts.hostname ?? osHostname();
  }

  private description(): NodeObject['Description'] {
    return {
      Hostname: this.hostname(),
      Platform: { Architecture: arch() === 'x64' ? 'x86_64' : arch(), OS: 'linux' },
      Resources: { NanoCPUs: cpus().length * 1e9, MemoryBytes: totalmem() },
      Engine: { EngineVersion: ENGINE_VERSION, Labels: {} },
    };
  }

  // ------------------------------------------------------------------ lifecycle

  private async startHost(listenAddr: string, advertiseAddr: string): Promise<P2PHost> {
    const listen = splitHostPort(listenAddr, 2377);
    const adv = splitHostPort(advertiseAddr, listen.port);
    const host = await P2PHost.start({
      identity: this.identity,
      listen: [`/ip4/${listen.host}/tcp/${listen.port}`],
      announce: [`/ip4/${adv.host}/tcp/${adv.port}`],
      logger: this.logger,
    });
    this.registerHandlers(host);
    this.host = host;
    const runtime = this.opts.runtime;
    if (runtime) {
      const sharing = new ImageSharing(runtime.images, host, this.logger);
      sharing.registerHandlers();
      // Ready peers first by gossip; before the first digest, the managers we know.
      runtime.enableSharing(sharing, () => this.imagePeers());
    }
    return host;
  }

  private resolveAddrs(req: { ListenAddr?: string; AdvertiseAddr?: string }): { listenAddr: string; advertiseAddr: string } {
    const listenAddr = req.ListenAddr || this.opts.listenAddr;
    const listen = splitHostPort(listenAddr, 2377);
    let advertiseAddr = req.AdvertiseAddr || this.opts.advertiseAddr || '';
    if (advertiseAddr === '') {
      const h = listen.host === '0.0.0.0' ? guessAdvertiseHost() : listen.host;
      advertiseAddr = `${h}:${listen.port}`;
    } else {
      const a = splitHostPort(advertiseAddr, listen.port);
      advertiseAddr = `${a.host}:${a.port}`;
    }
    return { listenAddr: `${listen.host}:${listen.port}`, advertiseAddr };
  }

  private trust(state: LocalState): void {
    const cert = decodeCertificate(fromB64(state.certificate));
    this.host!.setTrust({
      caPublicKey: fromB64(state.caPublicKey),
      certificate: cert,
      // A node deleted from the store is no longer trusted by managers.
      isRevoked: (c) => this.manager !== undefined && this.manager.store.count('nodes') > 0 && !this.manager.store.get('nodes', c.nodeId),
    });
    for (const m of state.managers) this.host!.addPeerAddrs(m.peerId, m.addrs);
  }

  private async resume(state: LocalState): Promise<void> {
    const host = await this.startHost(state.listenAddr, state.advertiseAddr);
    this.trust(state);
    if (state.role === 'manager') await this.startManager(state, undefined);
    this.startSession(state);
    this.logger.info({ node: state.nodeId, role: state.role }, 'rejoined the swarm from local state');
    void host;
  }

  private async startManager(state: LocalState, bootstrap: string[] | undefined): Promise<ManagerRole> {
    const manager = await ManagerRole.start({
      nodeId: state.nodeId,
      dataDir: this.opts.dataDir,
      host: this.host!,
      logger: this.logger,
      ...(bootstrap ? { bootstrap } : {}),
      knownManagers: () => this.state?.managers ?? [],
      onStorageFailure: (err) => this.opts.onFatal?.(err),
    });
    this.manager = manager;
    manager.onLocalLiveness = (digest) => this.onLiveness(digest);
    // A new network is relayed at once, before the first endpoints on it are gossiped.
    manager.store.watch((e) => {
      if (e.table === 'networks') void this.tasks?.network?.then((a) => a.refreshRelays()).catch(() => {});
    });
    manager.onLocalAssignments = (bytes) => {
      const m = decodeAssignments(bytes);
      if (m) this.tasks?.receiver.onMessage(m);
    };
    return manager;
  }

  /** Newer liveness news: kept for image sharing, and a down node's endpoints leave the overlay. */
  private onLiveness(digest: LivenessDigest): void {
    if (!this.peers.update(digest)) return;
    const down = digest.nodes.filter((n) => n.state === 'down').map((n) => n.nodeId);
    if (down.length > 0) void this.tasks?.network?.then((a) => a.nodesDown(down)).catch(() => {});
  }

  /** The leader's PeerId as the last heartbeat reply named it. */
  private leaderPeer(): string | undefined {
    const leaderId = this.lastLeaderId;
    return this.state?.managers.find((m) => m.nodeId === leaderId)?.peerId ?? this.state?.managers[0]?.peerId;
  }

  /** Runs the tasks assigned to this node (every node, managers too, as in Docker). */
  private startTasks(state: LocalState): void {
    const runtime = this.opts.runtime;
    const host = this.host;
    if (!runtime || !host || this.tasks) return;
    const call = async (method: string, payload: unknown): Promise<unknown> => {
      const peer = this.leaderPeer();
      if (!peer) throw new Error('no manager known');
      if (this.manager && peer === host.peerId) return this.localCall(method, payload, state.nodeId);
      return host.request(peer, method, payload, { timeoutMs: 10_000 });
    };
    const overlay = this.opts.overlay;
    const network = overlay
      ? NetworkAgent.start({
          nodeId: state.nodeId,
          vtep: splitHostPort(state.advertiseAddr, 2377).host,
          host,
          netnsPrefix: overlay.netnsPrefix,
          logger: this.logger,
          relayedNetworks: () => this.manager?.store.list('networks').map((n) => n.ID) ?? [],
        })
      : undefined;
    // A failure shows on each task that needs the overlay (rejected, with the reason).
    network?.catch((err: unknown) => this.logger.warn({ err }, 'the overlay could not start: tasks on networks will be rejected'));
    const runner = new TaskRunner({
      nodeId: state.nodeId,
      ...(network
        ? {
            network: {
              prepareTask: async (t) => (await network).prepareTask(t),
              setReady: (taskId, ready) => void network.then((a) => a.setReady(taskId, ready)),
              releaseTask: async (taskId) => (await network).releaseTask(taskId),
              refreshTask: (task) => void network.then((a) => a.refreshTask(task)),
              pruneTasks: async (keep) => (await network).pruneTasks(keep),
            },
          }
        : {}),
      runtime,
      logger: this.logger,
      secretsDir: join(this.opts.dataDir, 'runtime', 'secrets'),
      report: async (updates) => {
        await call('dispatcher.taskStatus', { updates });
      },
      files: async (taskId) => (await call('dispatcher.files', { taskId })) as TaskFiles,
    });
    const receiver = new AssignmentReceiver(
      state.nodeId,
      async () => (await call('dispatcher.tasks', {})) as { version: number; tasks: TaskObject[] },
      (tasks) => runner.assign(tasks),
      this.logger,
    );
    this.tasks = { runner, receiver, network };
    void runner.adopt().then(() => receiver.resync());
  }

  private startSession(state: LocalState): void {
    this.startTasks(state);
    this.session = new NodeSession({
      nodeId: state.nodeId,
      logger: this.logger,
      managers: () => this.state?.managers ?? [],
      send: async (peerId, nodeId, timeoutMs) => {
        // The leader may be this very node.
        if (this.manager && peerId === this.host!.peerId) return this.heartbeatHandler(nodeId);
        return (await this.host!.request(peerId, 'dispatcher.heartbeat', { nodeId }, { timeoutMs })) as HeartbeatReply | HeartbeatRedirect;
      },
      onReply: (reply) => this.onHeartbeatReply(reply),
    });
    this.session.start();
  }

  private onHeartbeatReply(reply: HeartbeatReply): void {
    const state = this.state;
    if (!state) return;
    this.lastLeaderId = reply.leaderId;
    this.tasks?.receiver.leaderAt(reply.assignmentsVersion);
    const attachments = reply.attachments;
    if (attachments) void this.tasks?.network?.then((a) => a.setNodeAttachments(attachments)).catch(() => {});
    const known = JSON.stringify(state.managers);
    if (reply.managers.length > 0 && JSON.stringify(reply.managers) !== known) {
      this.state = { ...state, managers: reply.managers };
      for (const m of reply.managers) this.host?.addPeerAddrs(m.peerId, m.addrs);
      saveLocalState(this.opts.dataDir, this.state);
    }
    const cert = decodeCertificate(fromB64(state.certificate));
    const halfLife = cert.issuedAt + (cert.expiresAt - cert.issuedAt) / 2;
    // Renew at half life, on a role change, and when the cluster shortened certificate lifetimes.
    const tooLong = cert.expiresAt - Date.now() > reply.certTtlMs * 1.01;
    if ((reply.role !== state.role || Date.now() > halfLife || tooLong) && !this.roleChange) {
      this.roleChange = this.renew(reply.role).finally(() => {
        this.roleChange = undefined;
      });
    }
  }

  /** Gets a fresh certificate (for a new role, or before expiry) and starts or stops the manager. */
  private async renew(role: 'manager' | 'worker'): Promise<void> {
    const state = this.state;
    if (!state || !this.host) return;
    try {
      const target = state.managers.find((m) => m.peerId !== this.host!.peerId)?.peerId ?? state.managers[0]?.peerId;
      let bytes: Uint8Array;
      if (this.manager) bytes = this.renewHandler({ peerId: this.host.peerId, cert: decodeCertificate(fromB64(state.certificate)) });
      else if (target) bytes = (await this.host.request(target, 'ca.renew', {}, { timeoutMs: 5000 })) as Uint8Array;
      else return;
      const cert = decodeCertificate(bytes);
      const next: LocalState = { ...this.state!, certificate: toB64(bytes), role: cert.role };
      this.state = next;
      saveLocalState(this.opts.dataDir, next);
      this.trust(next);
      if (cert.role === 'manager' && !this.manager) {
        this.logger.info('promoted: starting the manager role');
        await this.startManager(next, undefined);
      } else if (cert.role === 'worker' && this.manager) {
        this.logger.info('demoted: stopping the manager role');
        const m = this.manager;
        this.manager = undefined;
        m.destroy();
      }
      void role;
    } catch (err) {
      this.logger.warn({ err }, 'certificate renewal failed; will retry');
    }
  }

  async stop(): Promise<void> {
    // Task containers keep running: the next daemon re-adopts them.
    await this.tasks?.runner.stopAll();
    await this.tasks?.network?.then((a) => a.close()).catch(() => {});
    this.tasks = undefined;
    this.session?.stop();
    this.manager?.stop();
    await this.host?.stop();
    this.session = undefined;
    this.manager = undefined;
    this.host = undefined;
  }

  // ------------------------------------------------------------------ RPC handlers

  private registerHandlers(host: P2PHost): void {
    host.handle('raft', 'manager', (payload, caller) => {
      const m = payload as Message;
      if (!isObject(payload) || typeof m.type !== 'string' || m.from !== caller.cert?.nodeId || m.to !== this.state?.nodeId) {
        this.logger.warn({ from: caller.peerId }, 'dropped a malformed raft message');
        return undefined;
      }
      try {
        this.manager?.receiveRaft(m);
      } catch (err) {
        this.logger.warn({ err, from: caller.peerId }, 'dropped an invalid raft message');
      }
      return undefined;
    });
    host.handle('store.propose', 'manager', (payload) => {
      if (!(payload instanceof Uint8Array)) throw new SwarmError('INVALID_ARGUMENT', 'store.propose: payload must be bytes');
      return this.requireManager().replicated.proposeLocal(payload);
    });
    host.handle('join.challenge', 'anyone', () => this.challengeHandler());
    host.handle('join.request', 'anyone', (payload, caller) => this.joinHandler(payload, caller));
    host.handle('dispatcher.heartbeat', 'member', (payload, caller) => {
      const nodeId = isObject(payload) ? payload['nodeId'] : undefined;
      if (typeof nodeId !== 'string' || nodeId !== caller.cert?.nodeId) {
        throw new SwarmError('PERMISSION_DENIED', 'a node may only heartbeat for itself');
      }
      return this.heartbeatHandler(nodeId);
    });
    host.handle('ca.renew', 'member', (_payload, caller) => this.renewHandler(caller));
    host.handle('dispatcher.tasks', 'member', (payload, caller) => this.localCall('dispatcher.tasks', payload, caller.cert!.nodeId));
    host.handle('dispatcher.taskStatus', 'member', (payload, caller) => this.localCall('dispatcher.taskStatus', payload, caller.cert!.nodeId));
    host.handle('tasks.logs', 'manager', async (payload) => ({ lines: await this.localLogs(payload) }));
    host.handle('dispatcher.files', 'member', (payload, caller) => this.localCall('dispatcher.files', payload, caller.cert!.nodeId));
    host.subscribe(ASSIGNMENTS_TOPIC, (data) => {
      const m = decodeAssignments(data);
      if (m) this.tasks?.receiver.onMessage(m);
      else this.logger.warn('dropped a malformed assignment message');
    });
    host.subscribe(LIVENESS_TOPIC, (data) => {
      const digest = decodeDigest(data);
      if (digest) this.onLiveness(digest);
      else this.logger.warn('dropped a malformed liveness digest');
    });
    host.on('peer:disconnected', (peerId) => {
      const m = this.manager;
      if (!m?.isLeader()) return;
      const node = m.store.find('nodes', (n) => n.Swarm.PeerId === peerId)[0];
      if (node) m.dispatcher.disconnected(node.ID);
    });
  }

  /** A task container's logs, from this node's runtime or over RPC from the node running it. */
  private async fetchTaskLogs(nodeId: string, containerId: string, opts: { tail: number | undefined; since: Date | undefined }): Promise<LogLine[]> {
    if (nodeId === this.state?.nodeId) return this.localLogs({ containerId, tail: opts.tail, since: opts.since?.toISOString() });
    const peer = this.requireManager().store.get('nodes', nodeId)?.Swarm.PeerId;
    if (!peer || !this.host) throw new SwarmError('UNAVAILABLE', `node ${nodeId} is not reachable`);
    const r = (await this.host.request(peer, 'tasks.logs', { containerId, tail: opts.tail, since: opts.since?.toISOString() }, { timeoutMs: 10_000 })) as { lines: LogLine[] };
    return r.lines;
  }

  /** Up to 10,000 lines of a local container's log (services' tasks: asked by a manager). */
  private async localLogs(payload: unknown): Promise<LogLine[]> {
    const p = payload as { containerId?: unknown; tail?: unknown; since?: unknown } | null;
    const runtime = this.opts.runtime;
    if (!runtime || !p || typeof p.containerId !== 'string') throw new SwarmError('INVALID_ARGUMENT', 'tasks.logs: containerId is required');
    const ac = new AbortController();
    const out: LogLine[] = [];
    const tail = typeof p.tail === 'number' ? p.tail : undefined;
    const since = typeof p.since === 'string' ? new Date(p.since) : undefined;
    for await (const l of runtime.containerLogs(p.containerId, { follow: false, tail, since }, ac.signal)) {
      out.push(l);
      if (out.length >= 10_000) break;
    }
    return out;
  }

  /** The dispatcher's task calls, for a node (remote, or this node when it is the leader). */
  private async localCall(method: string, payload: unknown, nodeId: string): Promise<unknown> {
    const m = this.requireManager();
    switch (method) {
      case 'dispatcher.tasks':
        return { version: m.store.lastIndex(), tasks: assignmentsFor(m.store, nodeId) };
      case 'dispatcher.taskStatus': {
        const updates = (payload as { updates?: unknown } | null)?.updates;
        if (!Array.isArray(updates)) throw new SwarmError('INVALID_ARGUMENT', 'dispatcher.taskStatus: updates must be a list');
        const actions: StoreAction[] = [];
        for (const u of updates as TaskStatusUpdate[]) {
          const t = m.store.get('tasks', u.taskId);
          // A node reports only its own tasks, and states only move forward.
          if (!t || t.NodeID !== nodeId || !u.status || typeof u.status.State !== 'string') continue;
          if (TASK_STATES.indexOf(u.status.State) < TASK_STATES.indexOf(t.Status.State)) continue;
          actions.push({ op: 'update', table: 'tasks', object: { ...t, Status: u.status } });
        }
        if (actions.length > 0) await m.replicated.commit(actions);
        return { ok: true };
      }
      case 'dispatcher.files': {
        const taskId = (payload as { taskId?: unknown } | null)?.taskId;
        const t = typeof taskId === 'string' ? m.store.get('tasks', taskId) : undefined;
        // Secrets go only to the node that runs a task using them.
        if (!t || t.NodeID !== nodeId) throw new SwarmError('PERMISSION_DENIED', `task ${String(taskId)} is not assigned to node ${nodeId}`);
        const cs = t.Spec.ContainerSpec;
        return {
          secrets: (cs.Secrets ?? []).map((r) => ({ secretId: r.SecretID, data: new Uint8Array(this.services.secretData(r.SecretID)) })),
          configs: (cs.Configs ?? []).map((r) => {
            const c = m.store.get('configs', r.ConfigID);
            if (!c) throw new SwarmError('NOT_FOUND', `config ${r.ConfigName} not found`);
            return { configId: r.ConfigID, data: new Uint8Array(Buffer.from(c.Spec.Data, 'base64')) };
          }),
        } satisfies TaskFiles;
      }
      default:
        throw new SwarmError('INVALID_ARGUMENT', `unknown dispatcher call ${method}`);
    }
  }

  private requireManager(): ManagerRole {
    if (!this.manager) {
      throw new SwarmError(
        'NOT_A_MANAGER',
        "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.",
        'run this command on a manager node or promote the current node to a manager',
      );
    }
    return this.manager;
  }

  private cluster(): ClusterObject {
    const c = this.requireManager().store.list('cluster')[0];
    if (!c) throw new SwarmError('UNAVAILABLE', 'the cluster object is not replicated here yet', 'try again in a moment');
    return c;
  }

  private managerList(m: ManagerRole): KnownManager[] {
    return m.store
      .list('nodes')
      .filter((n) => n.Spec.Role === 'manager')
      .map((n) => ({ nodeId: n.ID, peerId: n.Swarm.PeerId, addrs: n.Swarm.Multiaddrs }));
  }

  private heartbeatHandler(nodeId: string): HeartbeatReply | HeartbeatRedirect {
    const m = this.requireManager();
    if (!m.isLeader()) {
      const leaderId = m.leaderId();
      const peerId = leaderId ? m.peerOf(leaderId) : undefined;
      return { redirect: leaderId && peerId ? { leaderId, peerId } : null };
    }
    const node = m.store.get('nodes', nodeId);
    if (!node) throw new SwarmError('NOT_FOUND', `node ${nodeId} is not a member of this swarm`, 'it was removed: join again');
    m.dispatcher.heartbeat(nodeId);
    const ttlNs = m.store.list('cluster')[0]?.Spec.CAConfig.NodeCertExpiry ?? DEFAULT_CERT_EXPIRY_NS;
    // Voting managers prove they are alive by Raft traffic; their session only carries role and
    // certificate news, so it can be slow.
    const voting = m.raft.status().conf.voters.includes(nodeId);
    const periodMs = voting ? Math.max(4000, m.dispatcher.periodMs()) : m.dispatcher.periodMs();
    return { periodMs, leaderId: m.leaderId(), managers: this.managerList(m), role: node.Spec.Role, certTtlMs: ttlNs / 1e6, assignmentsVersion: m.assignments.version(), ...(node.Attachments ? { attachments: node.Attachments } : {}) };
  }

  private renewHandler(caller: Caller): Uint8Array {
    const m = this.requireManager();
    const cert = caller.cert;
    if (!cert) throw new SwarmError('PERMISSION_DENIED', 'renewal needs a certificate');
    const node = m.store.get('nodes', cert.nodeId);
    if (!node) throw new SwarmError('PERMISSION_DENIED', `node ${cert.nodeId} was removed from the swarm`);
    const cluster = this.cluster();
    const ca = ClusterCA.fromJSON(JSON.parse(cluster.CAKey));
    const issued = ca.issue({
      nodeId: cert.nodeId,
      peerId: caller.peerId,
      role: node.Spec.Role,
      ttlMs: cluster.Spec.CAConfig.NodeCertExpiry / 1e6,
      now: Date.now(),
    });
    return encodeCertificate(issued);
  }

  private challengeHandler(): JoinChallenge {
    const cluster = this.cluster();
    const nonce = randomBytes(32);
    const now = Date.now();
    for (const [k, exp] of this.nonces) if (exp < now) this.nonces.delete(k);
    this.nonces.set(nonce.toString('hex'), now + 60_000);
    return { caPublicKey: cluster.TLSInfo.CertIssuerPublicKey, clusterId: cluster.ID, nonce: new Uint8Array(nonce) };
  }

  private async joinHandler(payload: unknown, caller: Caller): Promise<JoinReply> {
    const m = this.requireManager();
    const p = payload as JoinRequestPayload;
    if (!isObject(payload) || !(p.nonce instanceof Uint8Array) || !(p.proof instanceof Uint8Array) || !isObject(p.description)) {
      throw new SwarmError('INVALID_ARGUMENT', 'join request: nonce, proof and description are required');
    }
    const key = Buffer.from(p.nonce).toString('hex');
    const expiry = this.nonces.get(key);
    this.nonces.delete(key);
    if (expiry === undefined || expiry < Date.now()) throw new SwarmError('INVALID_TOKEN', 'join request: unknown or expired challenge');
    const cluster = this.cluster();
    let role: 'manager' | 'worker' | undefined;
    for (const r of ['worker', 'manager'] as const) {
      const token = r === 'worker' ? cluster.JoinTokens.Worker : cluster.JoinTokens.Manager;
      if (checkProof(parseJoinToken(token).secret, p.nonce, caller.peerId, p.proof)) role = r;
    }
    if (!role) {
      throw new SwarmError('INVALID_TOKEN', 'invalid join token: it is not a current token of this swarm (it may have been rotated)', 'get a current one with `swarm join-token worker|manager` on a manager');
    }
    const nodeId = newObjectId();
    const adv = splitHostPort(String(p.advertiseAddr ?? ''), 2377);
    const now = new Date().toISOString();
    const node = {
      ID: nodeId,
      CreatedAt: now,
      UpdatedAt: now,
      Spec: { Labels: {}, Role: role, Availability: 'active' },
      Description: p.description,
      Status: { State: 'unknown', Addr: adv.host },
      ...(role === 'manager' ? { ManagerStatus: { Reachability: 'unknown', Addr: `${adv.host}:${adv.port}` } } : {}),
      Swarm: { PeerId: caller.peerId, Multiaddrs: Array.isArray(p.multiaddrs) ? p.multiaddrs.map(String) : [] },
    } as Omit<NodeObject, 'Version'>;
    await m.replicated.commit([{ op: 'create', table: 'nodes', object: node }]);
    const ca = ClusterCA.fromJSON(JSON.parse(cluster.CAKey));
    const cert = ca.issue({ nodeId, peerId: caller.peerId, role, ttlMs: cluster.Spec.CAConfig.NodeCertExpiry / 1e6, now: Date.now() });
    this.logger.info({ node: nodeId, role, peer: caller.peerId }, 'node joined');
    return {
      nodeId,
      role,
      certificate: encodeCertificate(cert),
      caPublicKey: cluster.TLSInfo.CertIssuerPublicKey,
      clusterId: cluster.ID,
      managers: this.managerList(m),
    };
  }

  // ------------------------------------------------------------------ backend: swarm

  version(): VersionInfo {
    return {
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: '1.24',
      Os: 'linux',
      Arch: arch() === 'x64' ? 'amd64' : arch(),
      GoVersion: `node${process.versions.node}`,
      GitCommit: 'swarm',
      KernelVersion: release(),
    };
  }

  swarmState(): 'inactive' | 'active/manager' | 'active/worker' {
    if (!this.state) return 'inactive';
    return this.manager ? 'active/manager' : 'active/worker';
  }

  async initSwarm(req: InitRequest): Promise<string> {
    if (req.ForceNewCluster && this.state && this.manager) return this.forceNewCluster();
    if (this.state) {
      throw new SwarmError('ALREADY_IN_SWARM', 'this node is already part of a swarm', 'use `swarm leave` to leave this swarm and join another one');
    }
    const { listenAddr, advertiseAddr } = this.resolveAddrs(req);
    const nodeId = newObjectId();
    const clusterId = newObjectId();
    const ca = ClusterCA.create(clusterId);
    const spec = defaultSpec(req.Spec);
    const cert = ca.issue({ nodeId, peerId: this.identity.peerId, role: 'manager', ttlMs: spec.CAConfig.NodeCertExpiry / 1e6, now: Date.now() });
    const host = await this.startHost(listenAddr, advertiseAddr);
    const state: LocalState = {
      nodeId,
      clusterId,
      role: 'manager',
      caPublicKey: toB64(ca.publicKey),
      certificate: toB64(encodeCertificate(cert)),
      listenAddr,
      advertiseAddr,
      managers: [{ nodeId, peerId: host.peerId, addrs: host.multiaddrs() }],
    };
    try {
      this.state = state;
      this.trust(state);
      const manager = await this.startManager(state, [nodeId]);
      await manager.waitForLeader(10_000);
      const now = new Date().toISOString();
      const adv = splitHostPort(advertiseAddr, 2377);
      const fingerprint = caFingerprint(ca.publicKey);
      const cluster: Omit<ClusterObject, 'Version'> = {
        ID: clusterId,
        CreatedAt: now,
        UpdatedAt: now,
        Spec: spec,
        JoinTokens: { Worker: makeJoinToken(fingerprint), Manager: makeJoinToken(fingerprint) },
        TLSInfo: { TrustRoot: toB64(ca.publicKey), CertIssuerPublicKey: toB64(ca.publicKey), CertIssuerSubject: Buffer.from(`CN=swarm-ca/${clusterId}`).toString('base64') },
        DefaultAddrPool: req.DefaultAddrPool.length > 0 ? req.DefaultAddrPool : ['10.0.0.0/8'],
        SubnetSize: req.SubnetSize > 0 ? req.SubnetSize : 24,
        RootRotationInProgress: false,
        CAKey: JSON.stringify(ca.toJSON()),
      };
      const self: Omit<NodeObject, 'Version'> = {
        ID: nodeId,
        CreatedAt: now,
        UpdatedAt: now,
        Spec: { Labels: {}, Role: 'manager', Availability: 'active' },
        Description: this.description(),
        Status: { State: 'ready', Addr: adv.host },
        ManagerStatus: { Reachability: 'reachable', Addr: advertiseAddr },
        Swarm: { PeerId: host.peerId, Multiaddrs: host.multiaddrs() },
      };
      await manager.replicated.commit([
        { op: 'create', table: 'cluster', object: cluster },
        { op: 'create', table: 'nodes', object: self },
        this.services.ingressNetworkAction(cluster),
      ]);
      saveLocalState(this.opts.dataDir, state);
      this.startSession(state);
      return nodeId;
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  /** Undoes a half-done init or join: nothing of it stays on disk. */
  private async abandon(): Promise<void> {
    this.manager?.destroy();
    this.manager = undefined;
    this.session?.stop();
    this.session = undefined;
    await this.host?.stop();
    this.host = undefined;
    this.state = undefined;
    removeLocalState(this.opts.dataDir);
  }

  private async forceNewCluster(): Promise<string> {
    const state = this.state!;
    this.logger.warn('forcing a new one-manager cluster from local state');
    this.session?.stop();
    this.manager?.stop();
    this.manager = undefined;
    await rewriteAsSingleMember(join(this.opts.dataDir, 'raft'), state.nodeId, new ClusterStore());
    const manager = await this.startManager(state, undefined);
    await manager.waitForLeader(10_000);
    // The other managers are gone from Raft: record them as workers so nothing re-adds them.
    const others = manager.store.list('nodes').filter((n) => n.Spec.Role === 'manager' && n.ID !== state.nodeId);
    if (others.length > 0) {
      await manager.replicated.commit(
        others.map((n) => {
          const { ManagerStatus: _gone, ...rest } = n;
          return {
            op: 'update' as const,
            table: 'nodes' as const,
            object: { ...rest, Spec: { ...n.Spec, Role: 'worker' }, Status: { ...n.Status, State: 'down', Message: 'removed by force-new-cluster' } },
          };
        }),
      );
    }
    this.state = { ...state, managers: [{ nodeId: state.nodeId, peerId: this.host!.peerId, addrs: this.host!.multiaddrs() }] };
    saveLocalState(this.opts.dataDir, this.state);
    this.startSession(this.state);
    return state.nodeId;
  }

  async joinSwarm(req: JoinRequest): Promise<void> {
    if (this.state) {
      throw new SwarmError('ALREADY_IN_SWARM', 'this node is already part of a swarm', 'use `swarm leave` to leave this swarm and join another one');
    }
    if (!Array.isArray(req.RemoteAddrs) || req.RemoteAddrs.length === 0) {
      throw new SwarmError('INVALID_ARGUMENT', 'RemoteAddrs: at least one manager address is required');
    }
    let token: { fingerprint: string; secret: string };
    try {
      token = parseJoinToken(req.JoinToken);
    } catch (err) {
      throw new SwarmError('INVALID_TOKEN', (err as Error).message, 'copy the whole token printed by `swarm join-token` on a manager');
    }
    const { listenAddr, advertiseAddr } = this.resolveAddrs(req);
    const host = await this.startHost(listenAddr, advertiseAddr);
    try {
      const remote = hostPortToMultiaddr(req.RemoteAddrs[0]!);
      let challenge: JoinChallenge;
      try {
        challenge = (await host.request(remote, 'join.challenge', {}, { timeoutMs: JOIN_TIMEOUT_MS })) as JoinChallenge;
      } catch (err) {
        throw this.joinError(err, req.RemoteAddrs[0]!);
      }
      if (caFingerprint(fromB64(challenge.caPublicKey)) !== token.fingerprint) {
        throw new SwarmError(
          'INVALID_TOKEN',
          `the manager at ${req.RemoteAddrs[0]} does not belong to the swarm this token is for (CA fingerprint mismatch)`,
          'check the token and the manager address',
        );
      }
      const payload: JoinRequestPayload = {
        nonce: challenge.nonce,
        proof: proveSecret(token.secret, challenge.nonce, host.peerId),
        description: this.description(),
        advertiseAddr,
        multiaddrs: host.multiaddrs(),
      };
      let reply: JoinReply;
      try {
        reply = (await host.request(remote, 'join.request', payload, { timeoutMs: JOIN_TIMEOUT_MS })) as JoinReply;
      } catch (err) {
        throw this.joinError(err, req.RemoteAddrs[0]!);
      }
      const state: LocalState = {
        nodeId: reply.nodeId,
        clusterId: reply.clusterId,
        role: reply.role,
        caPublicKey: reply.caPublicKey,
        certificate: toB64(reply.certificate),
        listenAddr,
        advertiseAddr,
        managers: reply.managers,
      };
      this.state = state;
      this.trust(state);
      const manager = state.role === 'manager' ? await this.startManager(state, undefined) : undefined;
      saveLocalState(this.opts.dataDir, state);
      this.startSession(state);
      // As `docker swarm join`: a manager is joined once it votes, so quorum counts it.
      if (manager) await this.waitUntilVoter(manager, 20_000);
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  private async waitUntilVoter(m: ManagerRole, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!m.raft.status().conf.voters.includes(this.state?.nodeId ?? '')) {
      if (Date.now() > deadline) {
        this.logger.warn('joined, but not yet a voting manager; the leader will promote it when it has caught up');
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private joinError(err: unknown, addr: string): SwarmError {
    if (err instanceof SwarmError) return err;
    if (err instanceof P2PError && err.code === 'REMOTE') {
      const code = err.remoteCode === 'INVALID_TOKEN' ? 'INVALID_TOKEN' : err.remoteCode === 'NOT_A_MANAGER' ? 'NOT_A_MANAGER' : 'UNAVAILABLE';
      return new SwarmError(code, err.message, code === 'INVALID_TOKEN' ? 'get a current token with `swarm join-token worker|manager` on a manager' : undefined);
    }
    return new SwarmError(
      'UNAVAILABLE',
      `could not reach a manager at ${addr}: ${(err as Error).message}`,
      'check the address and port, and that the manager is running and reachable from this host',
    );
  }

  async leaveSwarm(force: boolean): Promise<void> {
    if (!this.state) throw new SwarmError('NOT_IN_SWARM', 'this node is not part of a swarm');
    if (this.manager && !force) {
      const voters = this.manager.raft.status().conf.voters.length;
      throw new SwarmError(
        'CONFLICT',
        `you are attempting to leave the swarm on a node that is participating as a manager; removing it leaves ${voters - 1} managers out of ${voters}`,
        'demote it first with `swarm node demote`, or use --force to ignore this',
      );
    }
    this.session?.stop();
    if (this.tasks) {
      // Leaving: this node's tasks end with it, as in Docker.
      this.tasks.runner.assign([]);
      await this.tasks.runner.stopAll();
      this.tasks.runner.release();
      await this.tasks.network?.then((a) => a.teardown()).catch(() => {});
      this.tasks = undefined;
    }
    if (this.manager?.isLeader()) await this.handOverLeadership(this.manager);
    this.manager?.destroy();
    this.manager = undefined;
    await this.host?.stop();
    this.host = undefined;
    this.session = undefined;
    this.state = undefined;
    removeLocalState(this.opts.dataDir);
  }

  /** A leader that leaves first passes leadership to the most caught-up voter (bounded wait). */
  private async handOverLeadership(m: ManagerRole): Promise<void> {
    const st = m.raft.status();
    const successor = st.conf.voters
      .filter((v) => v !== st.id)
      .sort((a, b) => (st.progress?.[b]?.match ?? 0) - (st.progress?.[a]?.match ?? 0))[0];
    if (!successor) return;
    m.raft.transferLeadership(successor);
    const deadline = Date.now() + 2000;
    while (m.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  async inspectSwarm(): Promise<SwarmInspect> {
    await this.fresh();
    const c = this.cluster();
    return {
      ID: c.ID,
      Version: c.Version,
      CreatedAt: c.CreatedAt,
      UpdatedAt: c.UpdatedAt,
      Spec: c.Spec,
      JoinTokens: c.JoinTokens,
      TLSInfo: c.TLSInfo,
      RootRotationInProgress: c.RootRotationInProgress,
      DefaultAddrPool: c.DefaultAddrPool,
      SubnetSize: c.SubnetSize,
    };
  }

  async updateSwarm(req: UpdateSwarmRequest): Promise<void> {
    const m = this.requireManager();
    await this.fresh();
    const c = this.cluster();
    const fingerprint = parseJoinToken(c.JoinTokens.Worker).fingerprint;
    const updated: ClusterObject = {
      ...c,
      Spec: { ...defaultSpec(), ...req.spec },
      JoinTokens: {
        Worker: req.rotateWorkerToken ? makeJoinToken(fingerprint) : c.JoinTokens.Worker,
        Manager: req.rotateManagerToken ? makeJoinToken(fingerprint) : c.JoinTokens.Manager,
      },
    };
    await this.commit(m, [{ op: 'update', table: 'cluster', object: updated, expectVersion: req.version }]);
  }

  async systemInfo(): Promise<SystemInfo> {
    const s = this.state;
    const base = {
      ID: this.identity.peerId,
      Name: this.hostname(),
      ServerVersion: ENGINE_VERSION,
      OperatingSystem: 'linux',
      OSType: 'linux',
      Architecture: arch() === 'x64' ? 'x86_64' : arch(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
    };
    if (!s) {
      return { ...base, Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null, Nodes: 0, Managers: 0 } };
    }
    const m = this.manager;
    const swarm: SystemInfo['Swarm'] = {
      NodeID: s.nodeId,
      NodeAddr: splitHostPort(s.advertiseAddr, 2377).host,
      LocalNodeState: 'active',
      ControlAvailable: m !== undefined,
      Error: '',
      RemoteManagers: s.managers.map((x) => ({ NodeID: x.nodeId, Addr: multiaddrToHostPort(x.addrs[0] ?? '') })),
      Nodes: m ? m.store.count('nodes') : 0,
      Managers: m ? m.store.list('nodes').filter((n) => n.Spec.Role === 'manager').length : s.managers.length,
    };
    const cert = decodeCertificate(fromB64(s.certificate));
    swarm.NodeCertificate = { Role: cert.role, Serial: cert.serial, IssuedAt: new Date(cert.issuedAt).toISOString(), ExpiresAt: new Date(cert.expiresAt).toISOString() };
    const c = m?.store.list('cluster')[0];
    if (c) swarm.Cluster = { ID: c.ID, Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Spec: c.Spec };
    return { ...base, Swarm: swarm };
  }

  // ------------------------------------------------------------------ backend: nodes

  /** Linearizable reads: what the API shows is at least as new as any write acknowledged before. */
  private async fresh(): Promise<void> {
    const m = this.requireManager();
    try {
      await m.replicated.readFresh();
    } catch (err) {
      throw this.quorumError(err);
    }
  }

  private quorumError(err: unknown): SwarmError {
    if (err instanceof SwarmError && err.code !== 'NO_LEADER' && err.code !== 'TIMEOUT') return err;
    const m = this.manager;
    const voters = m?.raft.status().conf.voters.length ?? 0;
    return new SwarmError(
      'NO_QUORUM',
      `no quorum: the swarm has no leader that a majority of its ${voters} managers can confirm`,
      'restart the managers that are down, or run `swarm init --force-new-cluster` on a surviving manager',
      { cause: err },
    );
  }

  private async commit(m: ManagerRole, actions: StoreAction[]): Promise<void> {
    try {
      await m.replicated.commit(actions);
    } catch (err) {
      if (err instanceof SwarmError && (err.code === 'NO_LEADER' || err.code === 'NO_QUORUM' || err.code === 'TIMEOUT')) throw this.quorumError(err);
      throw err;
    }
  }

  /** The node as the API shows it: ManagerStatus filled in from Raft and liveness. */
  private present(m: ManagerRole, n: NodeObject): NodeObject {
    if (n.Spec.Role !== 'manager' && !n.ManagerStatus) return n;
    const status = m.raft.status();
    const leader = status.leader;
    // A manager that does not vote yet (a learner catching up) does not count for quorum.
    const voting = status.conf.voters.includes(n.ID);
    const reachable = voting && (n.ID === this.state?.nodeId || n.Status.State === 'ready');
    return {
      ...n,
      ManagerStatus: {
        ...(n.ID === leader ? { Leader: true } : {}),
        Reachability: !voting ? 'unknown' : reachable ? 'reachable' : 'unreachable',
        Addr: n.ManagerStatus?.Addr ?? `${n.Status.Addr}:2377`,
      },
    };
  }

  async listNodes(filters: Record<string, string[]>): Promise<NodeObject[]> {
    const m = this.requireManager();
    await this.fresh();
    const match = (values: string[] | undefined, pred: (v: string) => boolean) => !values || values.length === 0 || values.some(pred);
    return m.store
      .list('nodes')
      .filter(
        (n) =>
          match(filters['id'], (v) => n.ID.startsWith(v)) &&
          match(filters['name'], (v) => n.Description.Hostname === v || n.Spec.Name === v) &&
          match(filters['role'], (v) => n.Spec.Role === v) &&
          match(filters['membership'], (v) => v === 'accepted'),
      )
      .map((n) => this.present(m, n))
      .sort((a, b) => a.Description.Hostname.localeCompare(b.Description.Hostname) || a.ID.localeCompare(b.ID));
  }

  private resolveNode(m: ManagerRole, ref: string): NodeObject {
    const exact = m.store.get('nodes', ref);
    if (exact) return exact;
    const byName = m.store.find('nodes', (n) => n.Description.Hostname === ref || n.Spec.Name === ref);
    const byPrefix = m.store.find('nodes', (n) => n.ID.startsWith(ref));
    const hits = byName.length > 0 ? byName : byPrefix;
    if (hits.length === 0) throw new SwarmError('NOT_FOUND', `node ${ref} not found`);
    if (hits.length > 1) throw new SwarmError('CONFLICT', `node ${ref} is ambiguous (${hits.length} matches)`, 'use the node ID');
    return hits[0]!;
  }

  async inspectNode(ref: string): Promise<NodeObject> {
    const m = this.requireManager();
    await this.fresh();
    return this.present(m, this.resolveNode(m, ref));
  }

  private reachableManagers(m: ManagerRole): Set<string> {
    const ids = new Set(m.store.list('nodes').filter((n) => n.Status.State === 'ready').map((n) => n.ID));
    if (this.state) ids.add(this.state.nodeId);
    return ids;
  }

  async updateNode(ref: string, version: number, spec: NodeSpec): Promise<void> {
    const m = this.requireManager();
    await this.fresh();
    const node = this.resolveNode(m, ref);
    if (node.Spec.Role === 'manager' && spec.Role === 'worker') {
      const managers = m.store.list('nodes').filter((n) => n.Spec.Role === 'manager');
      if (managers.length === 1) {
        throw new SwarmError('CONFLICT', `attempting to demote the last manager of the swarm (${node.ID})`, 'promote another node first');
      }
      const blocker = removalBlocker(m.raft.status().conf, this.reachableManagers(m), node.ID);
      if (blocker) throw new SwarmError('CONFLICT', `can't demote ${node.ID}: ${blocker}`, 'bring the unreachable managers back first');
    }
    const updated: NodeObject = { ...node, Spec: { ...spec, Labels: spec.Labels ?? {} } };
    if (spec.Role === 'manager' && !updated.ManagerStatus) {
      updated.ManagerStatus = { Reachability: 'unknown', Addr: `${node.Status.Addr}:2377` };
    }
    if (spec.Role === 'worker') delete updated.ManagerStatus;
    await this.commit(m, [{ op: 'update', table: 'nodes', object: updated, expectVersion: version }]);
  }

  async removeNode(ref: string, force: boolean): Promise<void> {
    const m = this.requireManager();
    await this.fresh();
    const node = this.resolveNode(m, ref);
    if (node.Spec.Role === 'manager' || m.raft.status().conf.voters.includes(node.ID)) {
      throw new SwarmError(
        'CONFLICT',
        `rpc error: node ${node.ID} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
        'run `swarm node demote` first',
      );
    }
    if (node.Status.State !== 'down' && !force) {
      throw new SwarmError('CONFLICT', `node ${node.ID} is not down and can't be removed`, 'stop it first, or use --force');
    }
    await this.commit(m, [{ op: 'delete', table: 'nodes', id: node.ID, expectVersion: node.Version.Index }]);
    m.dispatcher.forget(node.ID);
  }

  /** Other nodes that are up, to ask for images. */
  private imagePeers(): string[] {
    const self = this.host?.peerId;
    const ready = this.peers.current().nodes.filter((n) => n.state === 'ready' && n.peerId !== self).map((n) => n.peerId);
    if (ready.length > 0) return ready;
    return (this.state?.managers ?? []).map((m) => m.peerId).filter((p) => p !== self);
  }

  /** Peer liveness as this node knows it from gossip (works on workers too). */
  peerLiveness(): LivenessDigest {
    return this.peers.current();
  }

  raftStatus(): RaftView {
    return this.requireManager().raftView();
  }

  /** For tests and tools: what this node is. */
  localState(): LocalState | undefined {
    return this.state;
  }

  dataDir(): string {
    return this.opts.dataDir;
  }

  certificate(): NodeCertificate | undefined {
    return this.state ? decodeCertificate(fromB64(this.state.certificate)) : undefined;
  }
}

export function wipeDataDir(dataDir: string): void {
  rmSync(dataDir, { recursive: true, force: true });
}
