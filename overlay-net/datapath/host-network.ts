// The per-host data path of the overlay, as Docker's overlay driver in its simple form: per
// network a bridge and a VXLAN device in the host's own namespace, per task a netns with one veth
// per network, remote endpoints as static fdb + neighbour entries, and nftables for isolation,
// gateway NAT, VIP balancing and the ingress routing mesh. The kernel is the state: every call
// re-reads what it needs, so a restarted daemon converges on what is already there.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { blockSize, formatCidr, macFromIp, overlaps, parseIp, type Cidr } from '../ipam/index.js';
import type { Logger } from '../../node/log.js';
import type { HostNetworkSpec } from '../types.js';
import { invalidArgument } from './errors.js';
import {
  NETNS_DIR,
  NETWORK_ALIAS_PREFIX,
  OVERLAY_MTU,
  OWN_DEVICE,
  VXLAN_PORT,
  bridgeName,
  checkAddressIn,
  checkId,
  checkIp,
  checkMac,
  checkNetnsName,
  checkNetnsPrefix,
  checkNetworkSpec,
  checkPort,
  checkProtocol,
  netnsPath,
  taskIfName,
  taskNetnsName,
  vethHostName,
  vxlanName,
} from './names.js';
import {
  HOST_TABLES,
  MAX_WEIGHT_SLOTS,
  chooseDefaultRoute,
  fdbFromKernel,
  neighFromKernel,
  planPeers,
  renderDeleteTables,
  renderHostPorts,
  renderIsolation,
  renderIsolationBase,
  renderMesh,
  renderNetworkLines,
  renderTaskBalancing,
  type Attachment,
  type BuiltNetwork,
  type FdbRow,
  type HostPort,
  type NeighRow,
  type Peer,
  type PublishedPortBackends,
  type VipBackends,
} from './render.js';
import { Shell, type Netns } from './runner.js';

function checkWeight(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(field, `${JSON.stringify(value)} is not a weight (a non-negative safe integer)`);
  }
  return value;
}

/** Unequal weights map onto at most MAX_WEIGHT_SLOTS `numgen` values, at least one per positive weight. */
function checkWeightCount(weights: readonly number[], field: string): void {
  const positive = weights.filter((w) => w > 0);
  if (positive.length > MAX_WEIGHT_SLOTS && positive.some((w) => w !== positive[0])) {
    throw invalidArgument(field, `${positive.length} backends with unequal weights; at most ${MAX_WEIGHT_SLOTS} can be weighted`);
  }
}

export interface HostNetworkOptions {
  /** This host's underlay address (the VTEP), e.g. "10.220.5.1"; the device holding it is the underlay device. */
  underlayIp: string;
  /** Prefix of task namespace names in /var/run/netns, unique per daemon, e.g. "swt1a2b-". */
  netnsPrefix: string;
  /** Run every command inside this existing named netns (tests, benches: a "host" namespace) instead of the caller's own. */
  hostNetns?: string;
  logger?: Logger;
}

/** What `ip -j [-d] addr|link show` lists, as far as we read it. */
interface LinkRow {
  ifindex?: number;
  ifname?: string;
  link_index?: number;
  address?: string;
  ifalias?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: { id?: number; local?: string; link?: string; port?: number; learning?: boolean; proxy?: boolean };
  };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

interface RouteRow {
  dst?: string;
}

interface NetworkState {
  spec: HostNetworkSpec;
  cidr: Cidr;
  /** Remote entries as last programmed (MAC → VTEP, IP → MAC); undefined: read the kernel first. */
  fdb: Map<string, string> | undefined;
  neigh: Map<string, string> | undefined;
}

export class HostNetwork {
  private readonly nets = new Map<string, NetworkState>();
  private meshPorts: PublishedPortBackends[] = [];
  private hostPorts: HostPort[] = [];
  private closed = false;
  /** Calls run one at a time: each reads the kernel, then writes what it read was missing. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly sh: Shell,
    private readonly host: Netns,
    private readonly underlay: { ip: string; dev: string },
    private readonly prefix: string,
    private readonly logger: Logger | undefined,
  ) {}

  static async open(opts: HostNetworkOptions): Promise<HostNetwork> {
    const underlayIp = checkIp(opts.underlayIp, 'underlayIp');
    const prefix = checkNetnsPrefix(opts.netnsPrefix);
    const host = opts.hostNetns === undefined ? undefined : checkNetnsName(opts.hostNetns, 'hostNetns');
    if (host !== undefined && !existsSync(netnsPath(host))) throw invalidArgument('hostNetns', `${netnsPath(host)} does not exist`);
    const sh = new Shell(opts.logger);
    const rows = await sh.ipJson<LinkRow>(host, ['-4', 'addr', 'show']);
    const dev = rows.find((r) => r.addr_info?.some((a) => a.local === underlayIp))?.ifname;
    if (dev === undefined) {
      throw invalidArgument('underlayIp', `no device in ${host === undefined ? 'this namespace' : `netns ${host}`} holds ${underlayIp}`);
    }
    // The name goes into batch lines, which split on blanks and treat "#" as a comment.
    if (!/^[^\s#"]+$/.test(dev)) throw invalidArgument('underlayIp', `underlay device name ${JSON.stringify(dev)} is unusable`);
    // Tasks reach the outside, and published ports reach remote tasks, through this host's routing.
    await sh.sysctl(host, 'net.ipv4.ip_forward', '1');
    // Traffic inside one overlay network is bridged and needs no filtering (isolation and NAT act
    // on routed traffic); with br_netfilter loaded it would go through conntrack and every chain
    // (measured: overlay throughput 0.79 → 0.85 of the underlay). Per namespace since Linux 5.3.
    if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
      await sh.sysctl(host, 'net.bridge.bridge-nf-call-iptables', '0').catch((err: unknown) => opts.logger?.debug({ err }, 'bridged traffic stays filtered'));
    }
    // Merged, not replaced: a restarted daemon keeps isolating networks until it re-renders them.
    await sh.nft(host, renderIsolationBase());
    opts.logger?.info({ underlayIp, dev, hostNetns: host }, 'overlay data path open');
    return new HostNetwork(sh, host, { ip: underlayIp, dev }, prefix, opts.logger);
  }

  private serial<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw invalidArgument(what, 'the host network is closed');
      return fn();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  networks(): string[] {
    return [...this.nets.keys()];
  }

  ensureNetwork(net: HostNetworkSpec): Promise<void> {
    return this.serial('ensureNetwork', async () => {
      const cidr = checkNetworkSpec(net);
      for (const other of this.nets.values()) {
        if (other.spec.id === net.id) continue;
        if (other.spec.vni === net.vni) throw invalidArgument('net.vni', `${net.vni} is already used by network ${other.spec.id}`);
        if (overlaps(other.cidr, cidr)) throw invalidArgument('net.subnet', `${net.subnet} overlaps ${other.spec.subnet} of network ${other.spec.id}`);
      }
      const previous = this.nets.get(net.id);
      if (previous && previous.spec.vni !== net.vni) await this.deleteNetworkDevices(previous.spec.vni);

      const br = bridgeName(net.vni);
      const vx = vxlanName(net.vni);
      const rows = await this.sh.ipJson<LinkRow>(this.host, ['-d', 'addr', 'show']);
      const bridgeRow = rows.find((r) => r.ifname === br);
      const vxlanRow = rows.find((r) => r.ifname === vx);
      const lines: string[] = [];
      const bridgeOk = bridgeRow?.linkinfo?.info_kind === 'bridge';
      if (bridgeRow && !bridgeOk) lines.push(`link del ${br}`);
      const vxlanOk = vxlanRow !== undefined && this.vxlanMatches(vxlanRow, net.vni);
      if (vxlanRow && !vxlanOk) lines.push(`link del ${vx}`);
      // A gateway the spec no longer has (same VNI, new subnet) must go, or two routes compete.
      if (bridgeOk && previous && (previous.spec.gateway !== net.gateway || previous.cidr.prefix !== cidr.prefix)) {
        const stale = bridgeRow?.addr_info?.find((a) => a.family === 'inet' && a.local === previous.spec.gateway);
        if (stale) lines.push(`addr del ${stale.local}/${stale.prefixlen} dev ${br}`);
      }
      lines.push(...renderNetworkLines(net, cidr, this.underlay, { bridge: bridgeOk, vxlan: vxlanOk }));
      await this.sh.ipBatch(this.host, lines);

      const keepPeers = previous !== undefined && previous.spec.vni === net.vni && vxlanOk;
      // A vxlan device made just now holds no entries; one found existing is read on the first setPeers.
      const fresh = (): Map<string, string> | undefined => (vxlanOk ? undefined : new Map());
      this.nets.set(net.id, {
        spec: { ...net },
        cidr,
        fdb: keepPeers ? previous.fdb : fresh(),
        neigh: keepPeers ? previous.neigh : fresh(),
      });
      await this.applyIsolation();
      this.logger?.debug({ network: net.id, vni: net.vni, created: !vxlanOk }, 'overlay network ensured');
    });
  }

  private vxlanMatches(row: LinkRow, vni: number): boolean {
    const d = row.linkinfo?.info_data;
    return (
      row.linkinfo?.info_kind === 'vxlan' &&
      d?.id === vni &&
      d.local === this.underlay.ip &&
      d.port === VXLAN_PORT &&
      d.link === this.underlay.dev &&
      d.learning === false &&
      d.proxy === true
    );
  }

  /**
   * Networks built before a daemon restart and not ensured again yet stay isolated: their bridges
   * are found by alias and address, and rendered without NAT until their spec is known again.
   */
  private async applyIsolation(): Promise<void> {
    const known = new Set([...this.nets.values()].map((n) => n.spec.vni));
    const links = await this.sh.ipJson<LinkRow>(this.host, ['link', 'show']);
    const stray = links.filter((r) => /^swbr\d+$/.test(r.ifname ?? '') && !known.has(Number(r.ifname!.slice(4))) && r.ifalias?.startsWith(NETWORK_ALIAS_PREFIX));
    const recovered: BuiltNetwork[] = [];
    if (stray.length > 0) {
      const addrs = await this.sh.ipJson<LinkRow>(this.host, ['-4', 'addr', 'show']);
      for (const r of stray) {
        const gw = addrs.find((a) => a.ifname === r.ifname)?.addr_info?.find((a) => a.local !== undefined && a.prefixlen !== undefined);
        if (!gw?.local || gw.prefixlen === undefined) continue;
        const size = blockSize(gw.prefixlen);
        const cidr = { base: parseIp(gw.local) - (parseIp(gw.local) % size), prefix: gw.prefixlen };
        const id = r.ifalias!.slice(NETWORK_ALIAS_PREFIX.length);
        recovered.push({ spec: { id, name: id, vni: Number(r.ifname!.slice(4)), subnet: formatCidr(cidr), gateway: gw.local, internal: false, ingress: false }, cidr, recovered: true });
      }
    }
    await this.sh.nft(this.host, renderIsolation([...this.nets.values(), ...recovered]));
  }

  /** Deletes a network's devices explicitly, vxlan first (its VNI is free again at once). */
  private async deleteNetworkDevices(vni: number): Promise<void> {
    const names = new Set((await this.sh.ipJson<LinkRow>(this.host, ['link', 'show'])).map((r) => r.ifname));
    const lines = [vxlanName(vni), bridgeName(vni)].filter((n) => names.has(n)).map((n) => `link del ${n}`);
    await this.sh.ipBatch(this.host, lines);
  }

  removeNetwork(networkId: string): Promise<void> {
    return this.serial('removeNetwork', async () => {
      checkId(networkId, 'networkId');
      let vni = this.nets.get(networkId)?.spec.vni;
      if (vni === undefined) {
        // Built before a restart: the bridge's alias names the network.
        const rows = await this.sh.ipJson<LinkRow>(this.host, ['link', 'show']);
        const br = rows.find((r) => r.ifalias === `${NETWORK_ALIAS_PREFIX}${networkId}` && /^swbr\d+$/.test(r.ifname ?? ''));
        if (br?.ifname) vni = Number(br.ifname.slice(4));
      }
      if (vni !== undefined) await this.deleteNetworkDevices(vni);
      const wasKnown = this.nets.delete(networkId);
      if (wasKnown) await this.applyIsolation();
    });
  }

  attachTask(taskId: string, attachments: Attachment[]): Promise<{ netnsPath: string }> {
    return this.serial('attachTask', async () => {
      checkId(taskId, 'taskId');
      const wanted = this.checkAttachments(attachments);
      const ns = taskNetnsName(this.prefix, taskId);
      const path = netnsPath(ns);
      if (!existsSync(path)) await this.sh.ip(undefined, ['netns', 'add', ns]);

      const taskRows = await this.sh.ipJson<LinkRow>(ns, ['addr', 'show']);
      let hostRows = await this.sh.ipJson<LinkRow>(this.host, ['link', 'show']);
      const hostIndex = (name: string): number | undefined => hostRows.find((r) => r.ifname === name)?.ifindex;
      // Kept only if it is still the pair we made: right MAC, peer index is our host end.
      const kept = wanted.map((a, i) => {
        const row = taskRows.find((r) => r.ifname === taskIfName(i));
        const peer = hostIndex(vethHostName(taskId, a.net.id));
        return row !== undefined && peer !== undefined && row.address === macFromIp(a.ip) && row.link_index === peer;
      });
      const stale = taskRows
        .map((r) => r.ifname ?? '')
        .filter((name) => /^eth\d+$/.test(name) && !kept[Number(name.slice(3))]);
      if (stale.length > 0) {
        await this.sh.ipBatch(ns, stale.map((name) => `link del ${name}`));
        hostRows = await this.sh.ipJson<LinkRow>(this.host, ['link', 'show']);
      }

      const hostLines: string[] = [];
      wanted.forEach((a, i) => {
        const hostEnd = vethHostName(taskId, a.net.id);
        if (!kept[i]) {
          if (hostIndex(hostEnd) !== undefined) hostLines.push(`link del ${hostEnd}`);
          hostLines.push(
            `link add ${hostEnd} mtu ${OVERLAY_MTU} type veth peer name ${taskIfName(i)} address ${macFromIp(a.ip)} mtu ${OVERLAY_MTU} netns ${ns}`,
          );
        }
        hostLines.push(`link set ${hostEnd} master ${bridgeName(a.net.vni)}`, `link set ${hostEnd} up`);
      });
      await this.sh.ipBatch(this.host, hostLines);

      const taskLines = ['link set lo up'];
      wanted.forEach((a, i) => {
        const prefix = this.nets.get(a.net.id)!.cidr.prefix;
        taskLines.push(`addr replace ${a.ip}/${prefix} dev ${taskIfName(i)}`, `link set ${taskIfName(i)} up`);
      });
      const route = chooseDefaultRoute(wanted);
      if (route) taskLines.push(`route replace default via ${route.gateway} dev ${route.dev}`);
      else if ((await this.sh.ipJson<RouteRow>(ns, ['route', 'show', 'default'])).length > 0) taskLines.push('route del default');
      await this.sh.ipBatch(ns, taskLines);
      this.logger?.debug({ task: taskId, netns: ns, networks: wanted.map((a) => a.net.id) }, 'task attached');
      return { netnsPath: path };
    });
  }

  /** Each attachment on a distinct built network, at an address of its subnet; specs as built. */
  private checkAttachments(attachments: Attachment[]): Attachment[] {
    if (!Array.isArray(attachments)) throw invalidArgument('attachments', 'must be a list');
    const seen = new Set<string>();
    return attachments.map((a, i) => {
      const field = `attachments[${i}]`;
      const state = this.nets.get(a?.net?.id);
      if (!state) throw invalidArgument(`${field}.net`, `network ${JSON.stringify(a?.net?.id)} is not built on this host (ensureNetwork first)`);
      if (seen.has(state.spec.id)) throw invalidArgument(`${field}.net`, `network ${state.spec.id} is attached twice`);
      seen.add(state.spec.id);
      return { net: state.spec, ip: checkAddressIn(state.spec, state.cidr, a.ip, `${field}.ip`) };
    });
  }

  detachTask(taskId: string): Promise<void> {
    return this.serial('detachTask', async () => {
      checkId(taskId, 'taskId');
      await this.deleteTaskNetns(taskNetnsName(this.prefix, taskId));
    });
  }

  /** Veths first, explicitly: `ip netns del` frees them later, in the background. */
  private async deleteTaskNetns(ns: string): Promise<void> {
    if (!existsSync(netnsPath(ns))) return;
    try {
      const rows = await this.sh.ipJson<LinkRow>(ns, ['link', 'show']);
      const links = rows.map((r) => r.ifname ?? '').filter((n) => n !== '' && n !== 'lo');
      await this.sh.ipBatch(ns, links.map((n) => `link del ${n}`));
    } catch (err) {
      // A stale name (no namespace mounted on it after a crash) still has to go.
      this.logger?.warn({ netns: ns, err }, 'could not delete the task veths; deleting the netns anyway');
    }
    // Its nft tables (balancing) go with the namespace.
    await this.sh.ip(undefined, ['netns', 'del', ns]);
  }

  /** Deletes the namespaces (and veths) of every task of this host but those in `keep`. */
  pruneTasks(keep: ReadonlySet<string>): Promise<void> {
    return this.serial('pruneTasks', async () => {
      const wanted = new Set([...keep].map((id) => taskNetnsName(this.prefix, id)));
      const names = existsSync(NETNS_DIR) ? await readdir(NETNS_DIR) : [];
      for (const ns of names) if (ns.startsWith(this.prefix) && !wanted.has(ns)) await this.deleteTaskNetns(ns);
    });
  }

  setPeers(networkId: string, peers: Peer[]): Promise<void> {
    return this.serial('setPeers', async () => {
      const state = this.builtNetwork(networkId);
      const desired = this.checkPeers(state, peers);
      const dev = vxlanName(state.spec.vni);
      try {
        await this.programPeers(state, dev, desired);
      } catch (err) {
        // A batch stops at its first failing line: the memo no longer says what the kernel has.
        state.fdb = undefined;
        state.neigh = undefined;
        this.logger?.warn({ network: networkId, err }, 'peer batch failed; re-reading the kernel and retrying');
        await this.programPeers(state, dev, desired);
      }
    });
  }

  private async programPeers(state: NetworkState, dev: string, desired: Peer[]): Promise<void> {
    if (state.fdb === undefined || state.neigh === undefined) {
      const [fdbRows, neighRows] = await Promise.all([
        this.sh.bridgeJson<FdbRow>(this.host, ['fdb', 'show', 'dev', dev]),
        this.sh.ipJson<NeighRow>(this.host, ['neigh', 'show', 'dev', dev]),
      ]);
      state.fdb = fdbFromKernel(fdbRows);
      state.neigh = neighFromKernel(neighRows);
    }
    const plan = planPeers(dev, desired, state.fdb, state.neigh);
    const results = await Promise.allSettled([this.sh.bridgeBatch(this.host, plan.bridgeLines), this.sh.ipBatch(this.host, plan.ipLines)]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    state.fdb = plan.fdb;
    state.neigh = plan.neigh;
  }

  /** Valid, consistent, remote: an entry pointing at our own VTEP would hide a local task. */
  private checkPeers(state: NetworkState, peers: Peer[]): Peer[] {
    if (!Array.isArray(peers)) throw invalidArgument('peers', 'must be a list');
    const byIp = new Map<string, string>();
    const byMac = new Map<string, string>();
    const out: Peer[] = [];
    peers.forEach((p, i) => {
      const field = `peers[${i}]`;
      const ip = checkAddressIn(state.spec, state.cidr, p?.ip, `${field}.ip`);
      const mac = checkMac(p.mac, `${field}.mac`);
      const vtep = checkIp(p.vtep, `${field}.vtep`);
      if ((byIp.get(ip) ?? mac) !== mac) throw invalidArgument(`${field}.mac`, `${ip} is given two MACs (${byIp.get(ip)}, ${mac})`);
      if ((byMac.get(mac) ?? vtep) !== vtep) throw invalidArgument(`${field}.vtep`, `${mac} is given two VTEPs (${byMac.get(mac)}, ${vtep})`);
      byIp.set(ip, mac);
      byMac.set(mac, vtep);
      if (vtep === this.underlay.ip) return;
      out.push({ ip, mac, vtep });
    });
    return out;
  }

  private builtNetwork(networkId: string): NetworkState {
    checkId(networkId, 'networkId');
    const state = this.nets.get(networkId);
    if (!state) throw invalidArgument('networkId', `network ${networkId} is not built on this host (ensureNetwork first)`);
    return state;
  }

  setNodeAddress(networkId: string, ip: string | undefined): Promise<void> {
    return this.serial('setNodeAddress', async () => {
      const state = this.builtNetwork(networkId);
      if (ip !== undefined) checkAddressIn(state.spec, state.cidr, ip, 'ip');
      const br = bridgeName(state.spec.vni);
      const [row] = await this.sh.ipJson<LinkRow>(this.host, ['addr', 'show', 'dev', br]);
      const lines: string[] = [];
      for (const a of row?.addr_info ?? []) {
        if (a.family !== 'inet' || a.local === state.spec.gateway || a.local === ip) continue;
        lines.push(`addr del ${a.local}/${a.prefixlen} dev ${br}`);
      }
      if (ip !== undefined) {
        // Peers reach this address at macFromIp(ip) (their fdb/neigh entries): the bridge must own that MAC.
        lines.push(`link set ${br} address ${macFromIp(ip)}`, `addr replace ${ip}/${state.cidr.prefix} dev ${br}`);
      }
      await this.sh.ipBatch(this.host, lines);
    });
  }

  setTaskBalancing(taskId: string, vips: VipBackends[]): Promise<void> {
    return this.serial('setTaskBalancing', async () => {
      checkId(taskId, 'taskId');
      if (!Array.isArray(vips)) throw invalidArgument('vips', 'must be a list');
      const seen = new Set<string>();
      const checked = vips.map((v, i) => {
        const vip = checkIp(v?.vip, `vips[${i}].vip`);
        if (seen.has(vip)) throw invalidArgument(`vips[${i}].vip`, `${vip} is listed twice`);
        seen.add(vip);
        if (!Array.isArray(v.backends)) throw invalidArgument(`vips[${i}].backends`, 'must be a list');
        const backends = v.backends.map((b, j) => checkIp(b, `vips[${i}].backends[${j}]`));
        if (v.weights === undefined) return { vip, backends };
        if (!Array.isArray(v.weights)) throw invalidArgument(`vips[${i}].weights`, 'must be a list');
        if (v.weights.length !== backends.length) {
          throw invalidArgument(`vips[${i}].weights`, `has ${v.weights.length} entries for ${backends.length} backends`);
        }
        const weights = v.weights.map((w, j) => checkWeight(w, `vips[${i}].weights[${j}]`));
        checkWeightCount(weights, `vips[${i}].weights`);
        return { vip, backends, weights };
      });
      const ns = taskNetnsName(this.prefix, taskId);
      if (!existsSync(netnsPath(ns))) {
        if (checked.length === 0) return;
        throw invalidArgument('taskId', `task ${taskId} has no netns here (attachTask first)`);
      }
      await this.sh.nft(ns, renderTaskBalancing(checked));
    });
  }

  setPublishedPorts(ports: PublishedPortBackends[], snatIp: string | undefined): Promise<void> {
    return this.serial('setPublishedPorts', async () => {
      if (!Array.isArray(ports)) throw invalidArgument('ports', 'must be a list');
      const checked = ports.map((p, i) => {
        const field = `ports[${i}]`;
        if (!Array.isArray(p?.backends)) throw invalidArgument(`${field}.backends`, 'must be a list');
        const protocol = checkProtocol(p.protocol, `${field}.protocol`);
        const port = checkPort(p.port, `${field}.port`);
        const backends = p.backends.map((b, j): PublishedPortBackends['backends'][number] => {
          const target = { ip: checkIp(b?.ip, `${field}.backends[${j}].ip`), port: checkPort(b.port, `${field}.backends[${j}].port`) };
          return b.weight === undefined ? target : { ...target, weight: checkWeight(b.weight, `${field}.backends[${j}].weight`) };
        });
        checkWeightCount(backends.map((b) => b.weight ?? 1), `${field}.backends`);
        return { protocol, port, backends };
      });
      this.checkPortClash('ports', checked, this.hostPorts);
      let snat: { ip: string; bridge: string } | undefined;
      if (snatIp !== undefined && checked.length > 0) {
        const ingress = [...this.nets.values()].find((s) => s.spec.ingress);
        if (!ingress) throw invalidArgument('snatIp', 'no ingress network is built on this host (ensureNetwork first)');
        snat = { ip: checkAddressIn(ingress.spec, ingress.cidr, snatIp, 'snatIp'), bridge: bridgeName(ingress.spec.vni) };
      }
      await this.sh.nft(this.host, renderMesh(checked, snat));
      this.meshPorts = checked;
    });
  }

  setHostPorts(ports: HostPort[]): Promise<void> {
    return this.serial('setHostPorts', async () => {
      if (!Array.isArray(ports)) throw invalidArgument('ports', 'must be a list');
      const checked = ports.map((p, i) => ({
        protocol: checkProtocol(p?.protocol, `ports[${i}].protocol`),
        port: checkPort(p.port, `ports[${i}].port`),
        ip: checkIp(p.ip, `ports[${i}].ip`),
        targetPort: checkPort(p.targetPort, `ports[${i}].targetPort`),
      }));
      this.checkPortClash('ports', checked, this.meshPorts);
      await this.sh.nft(this.host, renderHostPorts(checked));
      this.hostPorts = checked;
    });
  }

  /** A port published twice would go to whichever DNAT rule the kernel happens to run first. */
  private checkPortClash(field: string, ports: { protocol: string; port: number }[], others: { protocol: string; port: number }[]): void {
    const taken = new Set(others.map((p) => `${p.protocol}/${p.port}`));
    const seen = new Set<string>();
    ports.forEach((p, i) => {
      const key = `${p.protocol}/${p.port}`;
      if (p.protocol === 'udp' && p.port === VXLAN_PORT) throw invalidArgument(`${field}[${i}].port`, `udp/${VXLAN_PORT} carries the overlay itself`);
      if (seen.has(key)) throw invalidArgument(`${field}[${i}].port`, `${key} is listed twice`);
      if (taken.has(key)) throw invalidArgument(`${field}[${i}].port`, `${key} is already published in the other mode`);
      seen.add(key);
    });
  }

  /** Forgets everything in memory; devices, namespaces and rules stay (tasks keep running). */
  close(): Promise<void> {
    return this.serial('close', async () => {
      this.forget();
      this.closed = true;
    });
  }

  /** Removes every task netns, device and nft table this host network made (leaving the swarm). */
  async teardown(): Promise<void> {
    const run = async (): Promise<void> => {
      const names = existsSync(NETNS_DIR) ? await readdir(NETNS_DIR) : [];
      for (const ns of names.filter((n) => n.startsWith(this.prefix))) await this.deleteTaskNetns(ns);
      const rows = await this.sh.ipJson<LinkRow>(this.host, ['link', 'show']);
      const own = rows.map((r) => r.ifname ?? '').filter((n) => OWN_DEVICE.test(n));
      // Veths, then vxlans, then bridges: nothing is deleted from under something else.
      const order = (n: string): number => (n.startsWith('swbr') ? 2 : n.startsWith('swvx') ? 1 : 0);
      own.sort((a, b) => order(a) - order(b));
      await this.sh.ipBatch(this.host, own.map((n) => `link del ${n}`));
      await this.sh.nft(this.host, renderDeleteTables(HOST_TABLES));
      this.forget();
    };
    // Allowed after close: it works from what the kernel has, not from memory.
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private forget(): void {
    this.nets.clear();
    this.meshPorts = [];
    this.hostPorts = [];
  }
}
