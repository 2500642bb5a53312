import { readFileSync } from 'node:fs';
import { DatapathQueue } from './datapath-queue.js';
import type { Logger } from '../log.js';
import { ipOf, networkSubnet, networkVni } from '../manager/allocator/index.js';
import type { P2PHost } from '../p2p/index.js';
import type { NetworkAttachment, NetworkObject, TaskObject } from '../store/index.js';
import {
  DnsServer,
  HostNetwork,
  PeerTable,
  decodePeerMessage,
  encodePeerMessage,
  ingressPorts,
  macFromIp,
  peerTopic,
  remotePeers,
  taskBalancing,
  upstreamsFromResolvConf,
  type EndpointRecord,
  type EndpointService,
  type HostNetworkSpec,
  type PublishedPort,
} from '../../overlay-net/index.js';

export interface NetworkAgentDeps {
  nodeId: string;
  /** This host's underlay address: where other hosts send its VXLAN traffic. */
  vtep: string;
  host: P2PHost;
  /** Names of task network namespaces start with this (unique per daemon on a machine). */
  netnsPrefix: string;
  logger: Logger;
  /** Run the data path in this named netns instead of our own (benches). */
  hostNetns?: string;
  /**
   * Managers: every network of the cluster. A manager relays the gossip of each (gossipsub only
   * forwards topics a node subscribes to, and workers connect to managers, not to each other) and
   * keeps its table, so any host can catch up from it.
   */
  relayedNetworks?: () => string[];
  random?: () => number;
}

/** How often each network's table is compared with a random peer's. */
const ANTI_ENTROPY_MS = 1_000;
/** Tombstones outlive every plausible gossip delay, then go. */
const TOMBSTONE_TTL_MS = 10 * 60_000;
/** Table changes within this window are programmed together. */
const PROGRAM_BATCH_MS = 10;

interface LocalTask {
  task: TaskObject;
  networks: { net: HostNetworkSpec; ip: string; aliases: string[] }[];
  ready: boolean;
}

export function hostNetworkOf(n: NetworkObject): HostNetworkSpec {
  const cfg = networkSubnet(n);
  const vni = networkVni(n);
  if (!cfg || vni === undefined) throw new Error(`network ${n.Spec.Name} has no address allocation`);
  return { id: n.ID, name: n.Spec.Name, vni, subnet: cfg.Subnet, gateway: cfg.Gateway, internal: n.Spec.Internal === true, ingress: n.Spec.Ingress === true };
}

function addressOf(a: NetworkAttachment): string {
  const addr = a.Addresses[0];
  if (!addr) throw new Error(`no address on network ${a.Network.Spec.Name}`);
  return ipOf(addr);
}

function portsOf(task: TaskObject): PublishedPort[] {
  return (task.Endpoint?.Ports ?? [])
    .filter((p) => p.PublishedPort !== undefined && (p.Protocol ?? 'tcp') !== 'sctp')
    .map((p) => ({ protocol: (p.Protocol ?? 'tcp') as 'tcp' | 'udp', publishedPort: p.PublishedPort!, targetPort: p.TargetPort, mode: p.PublishMode ?? 'ingress' }));
}

/**
 * The worker side of overlay networks: builds each network this host has tasks on, attaches
 * tasks, gossips their endpoints (Lamport-versioned, with tombstones, repaired by a periodic
 * exchange with a random peer), and programs peers, VIP balancing, the routing mesh and the
 * embedded DNS from the table.
 */
export class NetworkAgent {
  private readonly table: PeerTable;
  private readonly local = new Map<string, LocalTask>();
  private readonly built = new Map<string, HostNetworkSpec>();
  private readonly subscribed = new Set<string>();
  private readonly relayed = new Set<string>();
  /** What each task's namespace and the routing mesh were last programmed with: unchanged rules are not rewritten. */
  private readonly applied = new Map<string, string>();
  private ingress: { net: HostNetworkSpec; ip: string } | undefined;
  private dirty = new Set<string>();
  private programTimer: NodeJS.Timeout | undefined;
  private entropyTimer: NodeJS.Timeout | undefined;
  /** Data path changes run one at a time; what a starting task waits on goes first. */
  private readonly datapath = new DatapathQueue();
  private dns: DnsServer | undefined;
  private closed = false;
  private readonly random: () => number;

  private constructor(
    private readonly deps: NetworkAgentDeps,
    private readonly net: HostNetwork,
  ) {
    this.table = new PeerTable(deps.nodeId);
    this.random = deps.random ?? Math.random;
  }

  static async start(deps: NetworkAgentDeps): Promise<NetworkAgent> {
    const net = await HostNetwork.open({ underlayIp: deps.vtep, netnsPrefix: deps.netnsPrefix, logger: deps.logger, ...(deps.hostNetns ? { hostNetns: deps.hostNetns } : {}) });
    const agent = new NetworkAgent(deps, net);
    deps.host.handle('overlay.sync', 'member', (payload) => agent.onSync(payload));
    let upstreams: string[] = [];
    try {
      upstreams = upstreamsFromResolvConf(readFileSync('/etc/resolv.conf', 'utf8'), []);
    } catch {
      // No resolv.conf: names outside the swarm do not resolve.
    }
    agent.dns = await DnsServer.listen({ addresses: [], lookup: (client, local) => agent.visibleRecords(client, local), upstreams, logger: deps.logger });
    agent.entropyTimer = setInterval(() => void agent.antiEntropy(), ANTI_ENTROPY_MS);
    agent.entropyTimer.unref();
    agent.refreshRelays();
    return agent;
  }

  // ---------------------------------------------------------------- tasks

  /**
   * Before a task's container starts: its networks built, its namespace attached, its endpoints
   * announced (not ready yet). Undefined when the task is on no network.
   */
  async prepareTask(task: TaskObject): Promise<{ netnsPath: string; nameservers: string[] } | undefined> {
    const attachments = task.NetworksAttachments ?? [];
    if (attachments.length === 0) return undefined;
    const networks = attachments.map((a) => ({ net: hostNetworkOf(a.Network), ip: addressOf(a), aliases: a.Aliases ?? [] }));
    const entry: LocalTask = { task, networks, ready: this.local.get(task.ID)?.ready ?? false };
    const fresh: string[] = [];
    const { netnsPath } = await this.serial(
      async () => {
        for (const n of networks) {
          if (!this.built.has(n.net.id)) fresh.push(n.net.id);
          await this.build(n.net);
        }
        const attached = await this.net.attachTask(task.ID, networks.map((n) => ({ net: n.net, ip: n.ip })));
        // Known as local only once its namespace exists: programming reaches into it.
        this.local.set(task.ID, entry);
        return attached;
      },
      { urgent: true },
    );
    // A network new on this host: its peers are learned and programmed before the task starts,
    // or the task's first replies would have nowhere to go.
    if (fresh.length > 0) {
      await Promise.all(fresh.map((id) => this.catchUp(id)));
      await this.serial(() => this.program(fresh), { urgent: true });
    }
    this.announce(entry);
    await this.refreshHostPorts({ urgent: true });
    const primary = networks.find((n) => !n.net.ingress) ?? networks[0]!;
    return { netnsPath, nameservers: [primary.net.gateway] };
  }

  /** A task's container is running (and healthy when it has a check): it may take traffic. */
  setReady(taskId: string, ready: boolean): void {
    const entry = this.local.get(taskId);
    if (!entry || entry.ready === ready) return;
    entry.ready = ready;
    this.announce(entry);
  }

  /** The task's traffic share changed (canary step, blue/green switch): its endpoints say so. */
  refreshTask(task: TaskObject): void {
    const entry = this.local.get(task.ID);
    if (!entry) return;
    entry.task = task;
    this.announce(entry);
  }

  /** A task stopped: its endpoints are withdrawn everywhere, its namespace removed. */
  async releaseTask(taskId: string): Promise<void> {
    const entry = this.local.get(taskId);
    // Unknown here: a task adopted after a daemon restart and removed before it was prepared
    // again. Its namespace (and the veths in it) may still be there.
    if (!entry) return this.serial(() => this.net.detachTask(taskId));
    this.local.delete(taskId);
    this.applied.delete(`task:${taskId}`);
    for (const n of entry.networks) {
      const tomb = this.table.deleteLocal(n.net.id, `task:${taskId}`, Date.now());
      if (tomb) this.publish(n.net.id, [tomb]);
      this.dirty.add(n.net.id);
    }
    this.scheduleProgram();
    await this.serial(async () => {
      await this.net.detachTask(taskId);
      for (const n of entry.networks) {
        if (n.net.ingress || [...this.local.values()].some((t) => t.networks.some((x) => x.net.id === n.net.id))) continue;
        await this.net.removeNetwork(n.net.id);
        // The table stays (and keeps listening): its tombstones must outlive the network here.
        this.built.delete(n.net.id);
      }
    });
    void this.dns?.setAddresses(this.dnsAddresses());
    await this.refreshHostPorts();
  }

  /** Removes the namespace of every task on this host that is not in `keep` and not prepared here. */
  async pruneTasks(keep: ReadonlySet<string>): Promise<void> {
    await this.serial(() => this.net.pruneTasks(new Set([...keep, ...this.local.keys()])));
  }

  /** This node's own addresses, from the leader: its routing-mesh address on ingress. */
  setNodeAttachments(attachments: NetworkAttachment[] | undefined): void {
    const a = attachments?.find((x) => x.Network.Spec.Ingress === true);
    if (!a) return;
    const ip = addressOf(a);
    if (this.ingress?.ip === ip) return;
    const net = hostNetworkOf(a.Network);
    this.ingress = { net, ip };
    void this.serial(async () => {
      await this.build(net);
      await this.net.setNodeAddress(net.id, ip);
    })
      .then(() => {
        const rec = this.table.setLocal({ networkId: net.id, owner: `node:${this.deps.nodeId}`, ip, mac: macFromIp(ip), vtep: this.deps.vtep, nodeId: this.deps.nodeId, ready: true });
        if (rec) this.publish(net.id, [rec]);
        this.dirty.add(net.id);
        this.scheduleProgram();
      })
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'could not join the ingress network'));
  }

  /**
   * Nodes the leader declared down: their endpoints leave every balancer and peer table here
   * (their tasks run elsewhere now). A node that comes back re-asserts what it still runs.
   */
  nodesDown(nodeIds: string[]): void {
    const now = Date.now();
    for (const id of nodeIds) {
      if (id === this.deps.nodeId) continue;
      for (const tomb of this.table.dropNode(id, now)) this.dirty.add(tomb.networkId);
    }
    if (this.dirty.size > 0) this.scheduleProgram();
  }

  // ---------------------------------------------------------------- table and gossip

  private announce(entry: LocalTask): void {
    const t = entry.task;
    for (const n of entry.networks) {
      const vipAddr = t.Endpoint?.VirtualIPs?.find((v) => v.NetworkID === n.net.id)?.Addr;
      const vip = vipAddr === undefined ? undefined : ipOf(vipAddr);
      const service: EndpointService = {
        id: t.ServiceID,
        name: t.ServiceAnnotations?.Name ?? t.ServiceID,
        aliases: n.aliases,
        ...(vip ? { vip } : {}),
        mode: t.Endpoint?.Spec.Mode ?? 'vip',
        ports: portsOf(t),
        ...(t.Traffic ? { weight: t.Traffic.Weight } : {}),
        ...(t.Traffic?.Preview ? { preview: true } : {}),
      };
      const rec = this.table.setLocal({ networkId: n.net.id, owner: `task:${t.ID}`, ip: n.ip, mac: macFromIp(n.ip), vtep: this.deps.vtep, nodeId: this.deps.nodeId, service, ready: entry.ready });
      if (rec) this.publish(n.net.id, [rec]);
      this.dirty.add(n.net.id);
    }
    this.scheduleProgram();
  }

  private publish(networkId: string, records: EndpointRecord[]): void {
    if (this.closed) return;
    this.deps.host.publish(peerTopic(networkId), encodePeerMessage({ kind: 'records', networkId, records })).catch((err: unknown) => this.deps.logger.debug({ err, networkId }, 'endpoint gossip not sent'));
  }

  private localOwners(): Set<string> {
    const owners = new Set<string>([...this.local.keys()].map((id) => `task:${id}`));
    if (this.ingress) owners.add(`node:${this.deps.nodeId}`);
    return owners;
  }

  private receive(records: EndpointRecord[]): void {
    if (records.length === 0) return;
    const { changed, answers } = this.table.merge(records, this.localOwners(), Date.now());
    for (const r of changed) this.dirty.add(r.networkId);
    for (const a of answers) this.publish(a.networkId, [a]);
    if (changed.length > 0) this.scheduleProgram();
  }

  private onSync(payload: unknown): { records: Uint8Array } {
    const m = decodePeerMessage(payload instanceof Uint8Array ? payload : new Uint8Array());
    if (m.kind !== 'digest') return { records: encodePeerMessage({ kind: 'records', networkId: m.networkId, records: [] }) };
    return { records: encodePeerMessage({ kind: 'records', networkId: m.networkId, records: this.table.missingFrom(m.networkId, m.digest) }) };
  }

  /** Pulls what a random peer on each network has and this host lacks. */
  private async antiEntropy(): Promise<void> {
    if (this.closed) return;
    this.table.prune(undefined, TOMBSTONE_TTL_MS, Date.now());
    this.refreshRelays();
    for (const id of this.subscribed) {
      const peers = this.deps.host.topicPeers(peerTopic(id));
      const candidates = peers.length > 0 ? peers : this.deps.host.connectedPeers();
      const peer = candidates[Math.floor(this.random() * candidates.length)];
      if (!peer) continue;
      await this.pull(peer, id);
    }
  }

  private async pull(peer: string, networkId: string): Promise<void> {
    try {
      const digest = encodePeerMessage({ kind: 'digest', networkId, digest: this.table.digest(networkId) });
      const reply = (await this.deps.host.request(peer, 'overlay.sync', digest, { timeoutMs: 3_000 })) as { records?: unknown };
      if (!(reply?.records instanceof Uint8Array)) return;
      const m = decodePeerMessage(reply.records);
      if (m.kind === 'records' && m.networkId === networkId) this.receive(m.records);
    } catch (err) {
      this.deps.logger.debug({ err, peer, networkId }, 'endpoint exchange failed');
    }
  }

  /** A network is new on this host: listen to its gossip and catch up at once. */
  private async build(net: HostNetworkSpec): Promise<void> {
    if (!this.built.has(net.id)) {
      await this.net.ensureNetwork(net);
      this.built.set(net.id, net);
      void this.dns?.setAddresses(this.dnsAddresses());
    }
    this.listen(net.id);
  }

  /** Once listening to a network, a host keeps its table current (and its tombstones) for good. */
  private listen(networkId: string): void {
    if (this.subscribed.has(networkId)) return;
    this.subscribed.add(networkId);
    this.deps.host.subscribe(peerTopic(networkId), (data) => {
      try {
        const m = decodePeerMessage(data);
        if (m.kind === 'records' && m.networkId === networkId) this.receive(m.records);
      } catch (err) {
        this.deps.logger.debug({ err }, 'bad endpoint gossip dropped');
      }
    });
  }

  /** Pulls the network's table from up to 3 peers at once (those on its topic first). */
  private async catchUp(networkId: string): Promise<void> {
    const onTopic = this.deps.host.topicPeers(peerTopic(networkId));
    const others = this.deps.host.connectedPeers().filter((p) => !onTopic.includes(p));
    const order = [...onTopic.sort(() => this.random() - 0.5), ...others.sort(() => this.random() - 0.5)];
    await Promise.all(order.slice(0, 3).map((p) => this.pull(p, networkId)));
  }

  /** Managers relay every network's gossip (see NetworkAgentDeps.relayedNetworks); call when networks change. */
  refreshRelays(): void {
    const ids = this.deps.relayedNetworks?.() ?? [];
    for (const id of ids) {
      if (this.relayed.has(id)) continue;
      this.relayed.add(id);
      this.listen(id);
    }
    const current = new Set(ids);
    for (const id of this.relayed) {
      if (current.has(id)) continue;
      this.relayed.delete(id);
    }
  }

  // ---------------------------------------------------------------- programming

  private scheduleProgram(): void {
    this.programTimer ??= setTimeout(() => {
      this.programTimer = undefined;
      const ids = [...this.dirty];
      this.dirty.clear();
      void this.serial(() => this.program(ids)).catch((err: unknown) => {
        this.deps.logger.warn({ err }, 'programming the overlay failed; retrying');
        for (const id of ids) this.dirty.add(id);
        setTimeout(() => this.scheduleProgram(), 500).unref();
      });
    }, PROGRAM_BATCH_MS);
  }

  private async program(networkIds: string[]): Promise<void> {
    if (this.closed) return;
    // Each part on its own: one that fails (a task going away meanwhile) must not hold up the rest.
    let failed: unknown;
    const attempt = async (what: string, work: () => Promise<void>): Promise<void> => {
      try {
        await work();
      } catch (err) {
        failed = err;
        this.deps.logger.debug({ err, what }, 'overlay programming step failed');
      }
    };
    // Each network's live records, read once for this round.
    const recordsOf = new Map<string, EndpointRecord[]>();
    const records = (id: string): EndpointRecord[] => {
      let r = recordsOf.get(id);
      if (!r) recordsOf.set(id, (r = this.table.records(id)));
      return r;
    };
    for (const id of networkIds) {
      if (!this.built.has(id)) continue;
      await attempt(`peers of ${id}`, () => this.net.setPeers(id, remotePeers(records(id), this.deps.vtep)));
      const ingress = this.ingress;
      if (ingress?.net.id === id) {
        await attempt('routing mesh', async () => {
          const ports = ingressPorts(records(id));
          const key = JSON.stringify([ports, ingress.ip]);
          if (this.applied.get('mesh') === key) return;
          await this.net.setPublishedPorts(ports, ingress.ip);
          this.applied.set('mesh', key);
        });
      }
    }
    const touched = new Set(networkIds);
    for (const [taskId, t] of this.local) {
      if (!t.networks.some((n) => touched.has(n.net.id))) continue;
      // A task waiting to start goes before the rest of this round.
      await this.datapath.yieldToUrgent();
      const byNetwork = new Map(t.networks.map((n) => [n.net.id, records(n.net.id)]));
      await attempt(`balancing of ${taskId}`, async () => {
        // Released meanwhile: nothing to program.
        if (!this.local.has(taskId)) return;
        const vips = taskBalancing(byNetwork, t.networks.map((n) => n.net.id));
        // Most changes (a task starting, a tombstone) leave a namespace's rules as they were:
        // skipping those keeps the queue short when it matters, during an update.
        const key = JSON.stringify(vips);
        if (this.applied.get(`task:${taskId}`) === key) return;
        await this.net.setTaskBalancing(taskId, vips);
        this.applied.set(`task:${taskId}`, key);
      });
    }
    if (failed !== undefined) throw failed;
  }

  private async refreshHostPorts(opts: { urgent?: boolean } = {}): Promise<void> {
    const ports: { protocol: 'tcp' | 'udp'; port: number; ip: string; targetPort: number }[] = [];
    for (const t of this.local.values()) {
      const ip = (t.networks.find((n) => !n.net.ingress) ?? t.networks[0])?.ip;
      if (!ip) continue;
      for (const p of portsOf(t.task)) if (p.mode === 'host') ports.push({ protocol: p.protocol, port: p.publishedPort, ip, targetPort: p.targetPort });
    }
    await this.serial(() => this.net.setHostPorts(ports), opts);
  }

  /** The records a DNS client may see: those of every network its task is on. */
  private visibleRecords(clientIp: string, localAddress: string): EndpointRecord[] {
    for (const t of this.local.values()) {
      if (t.networks.some((n) => n.ip === clientIp)) return t.networks.flatMap((n) => this.table.records(n.net.id));
    }
    const net = [...this.built.values()].find((n) => n.gateway === localAddress);
    return net ? this.table.records(net.id) : [];
  }

  private dnsAddresses(): string[] {
    return [...new Set([...this.built.values()].map((n) => n.gateway))];
  }

  private serial<T>(work: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    return this.datapath.run(work, opts);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Daemon stop: forget, but leave the kernel as it is (containers keep running). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.entropyTimer) clearInterval(this.entropyTimer);
    if (this.programTimer) clearTimeout(this.programTimer);
    await this.dns?.close();
    await this.datapath.idle();
    await this.net.close();
  }

  /** Leaving the swarm: everything goes. */
  async teardown(): Promise<void> {
    await this.close();
    await this.net.teardown();
  }
}
