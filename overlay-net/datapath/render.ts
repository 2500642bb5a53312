// Pure renderers: nft rulesets as `nft -f -` text, `ip -batch -` / `bridge -batch -` lines, the
// default route choice and the peer diff. No I/O, so all of it is tested without root.
// Inputs are checked by the caller (names.ts): what arrives here is safe to interpolate.
import { formatCidr, macFromIp, type Cidr } from '../ipam/index.js';
import type { HostNetworkSpec } from '../types.js';
import { BRIDGE_PREFIX, NETWORK_ALIAS_PREFIX, OVERLAY_MTU, VXLAN_PORT, bridgeName, taskIfName, vxlanName } from './names.js';

export const ISOLATION_TABLE = 'swarm';
export const MESH_TABLE = 'swarm_mesh';
export const HOST_PORTS_TABLE = 'swarm_hostports';
export const BALANCING_TABLE = 'swarm_lb';
/** Every table the host namespace gets, for teardown. */
export const HOST_TABLES = [ISOLATION_TABLE, MESH_TABLE, HOST_PORTS_TABLE] as const;

/** nft's interface wildcard for every overlay bridge. */
const BRIDGE_WILDCARD = `${BRIDGE_PREFIX}*`;
// nft 1.0.6 knows `dstnat` only on prerouting: the output hook takes the number.
const DSTNAT = '-100';

/** Adding first makes the delete succeed whether or not the table exists: one atomic file. */
function replaceTable(name: string, body: string[] | undefined): string {
  const head = [`table ip ${name} {}`, `delete table ip ${name}`];
  if (body === undefined) return `${head.join('\n')}\n`;
  return `${[...head, `table ip ${name} {`, ...body, '}'].join('\n')}\n`;
}

/** Removes a table if it exists (the same add-then-delete trick). */
export function renderDeleteTables(names: readonly string[]): string {
  return names.map((n) => replaceTable(n, undefined)).join('');
}

function chain(name: string, hook: string, type: 'filter' | 'nat', priority: string, rules: string[]): string[] {
  return [`\tchain ${name} {`, `\t\ttype ${type} hook ${hook} priority ${priority}; policy accept;`, ...rules.map((r) => `\t\t${r}`), '\t}'];
}

export interface BuiltNetwork {
  spec: HostNetworkSpec;
  cidr: Cidr;
  /** Found in the kernel after a restart, spec not known yet: isolated, but no NAT. */
  recovered?: boolean;
}

/** Base chains only, merged into whatever is there: open() must not drop rules a running host has. */
export function renderIsolationBase(): string {
  return `${[
    `table ip ${ISOLATION_TABLE} {`,
    ...chain('forward', 'forward', 'filter', 'filter', []),
    ...chain('postrouting', 'postrouting', 'nat', 'srcnat', []),
    ...vxlanUntracked(),
    '}',
  ].join('\n')}\n`;
}

/**
 * Table `ip swarm`: networks isolated from each other, internal ones from everything, the
 * outside reaching tasks only through DNAT (published ports), and the per-host gateway NAT.
 */
export function renderIsolation(networks: readonly BuiltNetwork[]): string {
  const sorted = [...networks].sort((a, b) => a.spec.vni - b.spec.vni);
  const forward: string[] = [];
  const postrouting: string[] = [];
  for (const { spec, cidr, recovered } of sorted) {
    const br = bridgeName(spec.vni);
    const subnet = formatCidr(cidr);
    // nft cannot compare iifname with oifname: one rule per bridge.
    forward.push(`iifname "${br}" oifname "${BRIDGE_WILDCARD}" oifname != "${br}" drop`);
    if (spec.internal) {
      forward.push(`iifname "${br}" oifname != "${br}" drop`);
      forward.push(`oifname "${br}" iifname != "${br}" drop`);
    }
    // Replies to the tasks' own connections come in the reply direction; new ones must be DNATed.
    forward.push(`iifname != "${BRIDGE_WILDCARD}" ip daddr ${subnet} ct direction original ct status & dnat == 0 drop`);
    if (!spec.internal && !recovered) postrouting.push(`ip saddr ${subnet} oifname != "${BRIDGE_WILDCARD}" masquerade`);
  }
  return replaceTable(ISOLATION_TABLE, [
    ...chain('forward', 'forward', 'filter', 'filter', forward),
    ...chain('postrouting', 'postrouting', 'nat', 'srcnat', postrouting),
    ...vxlanUntracked(),
  ]);
}

/** Encapsulated overlay packets skip conntrack: nothing matches on their state, and it costs per packet. */
function vxlanUntracked(): string[] {
  return [
    ...chain('vxlan_out', 'output', 'filter', 'raw', [`udp dport ${VXLAN_PORT} notrack`]),
    ...chain('vxlan_in', 'prerouting', 'filter', 'raw', [`udp dport ${VXLAN_PORT} notrack`]),
  ];
}

/** The most values a weighted `numgen inc mod N` map gets: N ≤ this. */
export const MAX_WEIGHT_SLOTS = 10_000;

function gcd(a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b);
}

/** Divided by their greatest common divisor: 10:90 needs 10 values, not 100. */
function reduced(weights: readonly bigint[]): bigint[] {
  const g = weights.reduce((acc, w) => gcd(w, acc), 0n);
  return g <= 1n ? [...weights] : weights.map((w) => w / g);
}

/**
 * How many of the `numgen inc mod N` values each weight gets (N is their sum). Weights are divided
 * by their common divisor and kept exactly when they sum to at most MAX_WEIGHT_SLOTS (or are all
 * equal: plain round-robin, one value each). Otherwise N = MAX_WEIGHT_SLOTS, apportioned by largest
 * remainder (Hamilton): each weight gets the floor of its exact share of N, and the values left go
 * one each to the largest fractions (ties to the earlier weight). A positive weight whose share is
 * under one value gets one anyway (never starved); the values that costs are taken back one each
 * from the largest counts (ties to the later weight). The result is reduced again. BigInt: sums of
 * safe integers may pass 2^53. Weights of 0 get none. The caller keeps the positive weights at most
 * MAX_WEIGHT_SLOTS when they differ.
 */
export function weightSlots(weights: readonly number[]): number[] {
  const exact = reduced(weights.map((w) => BigInt(w)));
  const total = exact.reduce((a, w) => a + w, 0n);
  if (total <= BigInt(MAX_WEIGHT_SLOTS) || exact.every((w) => w <= 1n)) return exact.map(Number);
  const n = BigInt(MAX_WEIGHT_SLOTS);
  const shares = exact.map((w) => ({ count: (w * n) / total, remainder: (w * n) % total, raised: false }));
  for (const s of shares) {
    if (s.count === 0n && s.remainder > 0n) Object.assign(s, { count: 1n, raised: true });
  }
  let left = n - shares.reduce((a, s) => a + s.count, 0n);
  const byRemainder = [...shares.keys()]
    .filter((i) => !shares[i]!.raised && shares[i]!.remainder > 0n)
    .sort((a, b) => {
      const d = shares[b]!.remainder - shares[a]!.remainder;
      return d > 0n ? 1 : d < 0n ? -1 : a - b;
    });
  for (const i of byRemainder) {
    if (left <= 0n) break;
    shares[i]!.count += 1n;
    left -= 1n;
  }
  // Raising made more than N: the caller's bound (positive weights ≤ N) leaves enough above one.
  const bySize = [...shares.keys()].sort((a, b) => {
    const d = shares[b]!.count - shares[a]!.count;
    return d > 0n ? 1 : d < 0n ? -1 : b - a;
  });
  for (let taken = true; left < 0n && taken; ) {
    taken = false;
    for (const i of bySize) {
      if (left >= 0n) break;
      if (shares[i]!.count <= 1n) continue;
      shares[i]!.count -= 1n;
      left += 1n;
      taken = true;
    }
  }
  return reduced(shares.map((s) => s.count)).map(Number);
}

interface DnatTarget {
  ip: string;
  port?: number;
  /** Absent: 1. */
  weight?: number;
}

/**
 * `numgen inc` spreads new connections: each target owns a contiguous range of its values, sized
 * by weight (one value each when equal: round-robin); one target needs no map. Undefined when no
 * target has a share (the caller rejects instead).
 */
function dnatTo(targets: readonly DnatTarget[]): string | undefined {
  const slots = weightSlots(targets.map((t) => t.weight ?? 1));
  const entries: string[] = [];
  let next = 0;
  targets.forEach((t, i) => {
    const n = slots[i]!;
    if (n === 0) return;
    // In a map an address and a port are a concatenation, `ip . port`; the keys are ranges.
    entries.push(`${n === 1 ? next : `${next}-${next + n - 1}`} : ${t.ip}${t.port === undefined ? '' : ` . ${t.port}`}`);
    next += n;
  });
  const only = targets[slots.findIndex((n) => n > 0)];
  if (entries.length === 0 || only === undefined) return undefined;
  if (entries.length === 1) return `dnat ip to ${only.ip}${only.port === undefined ? '' : `:${only.port}`}`;
  return `dnat ip to numgen inc mod ${next} map { ${entries.join(', ')} }`;
}

export interface VipBackends {
  vip: string;
  backends: string[];
  /** Parallel to `backends`: relative shares of new connections (absent: equal; 0: none). */
  weights?: number[];
}

/**
 * Rejects for a destination nobody serves. In filter chains: a reject in a nat chain silently
 * drops. TCP gets a reset: an ICMP error reaches a local socket while connect() still owns it,
 * so Linux keeps it as a soft error and the client waits for the SYN retransmit (1 s, measured).
 */
function rejectRule(match: string, protocol: 'tcp' | 'udp'): string {
  return protocol === 'tcp' ? `${match} reject with tcp reset` : `${match} reject with icmp type port-unreachable`;
}

/** Table `ip swarm_lb` inside a task's netns: its services' VIPs, DNATed to their tasks. */
export function renderTaskBalancing(vips: readonly VipBackends[]): string {
  if (vips.length === 0) return replaceTable(BALANCING_TABLE, undefined);
  const rules = vips.map(({ vip, backends, weights }) => ({ vip, dnat: dnatTo(backends.map((ip, i) => ({ ip, weight: weights?.[i] }))) }));
  const dnat = rules.flatMap(({ vip, dnat: d }) => (d === undefined ? [] : [`ip daddr ${vip} ${d}`]));
  // No task to send to: fail fast instead of letting clients time out.
  const reject = rules
    .filter((r) => r.dnat === undefined)
    .flatMap(({ vip }) => [`ip daddr ${vip} meta l4proto tcp reject with tcp reset`, `ip daddr ${vip} reject with icmp type host-unreachable`]);
  const body = [...chain('prerouting', 'prerouting', 'nat', 'dstnat', dnat), ...chain('output', 'output', 'nat', DSTNAT, dnat)];
  if (reject.length > 0) body.push(...chain('reject_output', 'output', 'filter', 'filter', reject));
  return replaceTable(BALANCING_TABLE, body);
}

export interface PublishedPortBackends {
  protocol: 'tcp' | 'udp';
  port: number;
  /** `weight`: relative share of new connections (absent: 1; 0: none). */
  backends: { ip: string; port: number; weight?: number }[];
}

/** Reject chains for ports without a target: from outside (input) and from this host (output). */
function portRejectChains(ports: readonly { protocol: 'tcp' | 'udp'; port: number }[]): string[] {
  if (ports.length === 0) return [];
  const rules = (local: string): string[] => ports.map(({ protocol, port }) => rejectRule(`${local}${protocol} dport ${port}`, protocol));
  return [
    ...chain('reject_input', 'input', 'filter', 'filter', rules('')),
    ...chain('reject_output', 'output', 'filter', 'filter', rules('fib daddr type local ')),
  ];
}

/**
 * Table `ip swarm_mesh`: a published port on any local address goes to one of the service's
 * tasks anywhere; leaving through the ingress bridge it takes this host's ingress address, so
 * the reply comes back here to be un-NATed.
 */
export function renderMesh(
  ports: readonly PublishedPortBackends[],
  snat: { ip: string; bridge: string } | undefined,
): string {
  if (ports.length === 0) return replaceTable(MESH_TABLE, undefined);
  // Only traffic addressed to this host: connections tasks make to other hosts' ports pass untouched.
  const rules = ports.map((p) => ({ ...p, dnat: dnatTo(p.backends) }));
  const dnat = rules.flatMap(({ protocol, port, dnat: d }) => (d === undefined ? [] : [`fib daddr type local ${protocol} dport ${port} ${d}`]));
  const body = [...chain('prerouting', 'prerouting', 'nat', 'dstnat', dnat), ...chain('output', 'output', 'nat', DSTNAT, dnat)];
  if (snat) body.push(...chain('postrouting', 'postrouting', 'nat', 'srcnat', [`oifname "${snat.bridge}" ct status dnat snat ip to ${snat.ip}`]));
  body.push(...portRejectChains(rules.filter((p) => p.dnat === undefined)));
  return replaceTable(MESH_TABLE, body);
}

export interface HostPort {
  protocol: 'tcp' | 'udp';
  port: number;
  ip: string;
  targetPort: number;
}

/** Table `ip swarm_hostports`: host-mode published ports, straight to the local task. */
export function renderHostPorts(ports: readonly HostPort[]): string {
  if (ports.length === 0) return replaceTable(HOST_PORTS_TABLE, undefined);
  const rules = ports.map((p) => `fib daddr type local ${p.protocol} dport ${p.port} dnat ip to ${p.ip}:${p.targetPort}`);
  return replaceTable(HOST_PORTS_TABLE, [
    ...chain('prerouting', 'prerouting', 'nat', 'dstnat', rules),
    ...chain('output', 'output', 'nat', DSTNAT, rules),
  ]);
}

/** `ip -batch` lines building (or re-asserting) a network's bridge and vxlan; every line is idempotent but `link add`. */
export function renderNetworkLines(
  spec: HostNetworkSpec,
  cidr: Cidr,
  underlay: { dev: string; ip: string },
  existing: { bridge: boolean; vxlan: boolean },
): string[] {
  const br = bridgeName(spec.vni);
  const vx = vxlanName(spec.vni);
  const lines: string[] = [];
  // A bridge without an address of its own takes the lowest MAC among its ports, so it would
  // change as tasks come and go, and tasks would keep sending to the gateway's old MAC until
  // their neighbour entry expires (seconds without DNS). Given one, the bridge keeps it.
  if (!existing.bridge) lines.push(`link add ${br} address ${macFromIp(spec.gateway)} type bridge`);
  // Created here, in the underlay's namespace: its UDP socket lives where it was made.
  if (!existing.vxlan) {
    lines.push(`link add ${vx} type vxlan id ${spec.vni} dstport ${VXLAN_PORT} local ${underlay.ip} dev ${underlay.dev} nolearning proxy`);
  }
  lines.push(
    `link set ${br} mtu ${OVERLAY_MTU}`,
    `link set ${vx} master ${br}`,
    `link set ${vx} up`,
    `link set ${br} alias ${NETWORK_ALIAS_PREFIX}${spec.id}`,
    `link set ${br} up`,
    `addr replace ${spec.gateway}/${cidr.prefix} dev ${br}`,
  );
  return lines;
}

export interface Attachment {
  net: HostNetworkSpec;
  ip: string;
}

/** Default route of a task: the first attachment with a way out, else ingress, else none. */
export function chooseDefaultRoute(attachments: readonly Attachment[]): { dev: string; gateway: string } | undefined {
  const pick = (ok: (a: Attachment) => boolean): { dev: string; gateway: string } | undefined => {
    const i = attachments.findIndex(ok);
    return i < 0 ? undefined : { dev: taskIfName(i), gateway: attachments[i]!.net.gateway };
  };
  return pick((a) => !a.net.internal && !a.net.ingress) ?? pick((a) => !a.net.internal && a.net.ingress);
}

export interface Peer {
  ip: string;
  mac: string;
  vtep: string;
}

export interface PeerPlan {
  bridgeLines: string[];
  ipLines: string[];
  /** What the kernel holds once both batches ran: MAC → VTEP, IP → MAC. */
  fdb: Map<string, string>;
  neigh: Map<string, string>;
}

/**
 * The batch lines that turn the programmed entries into the desired ones. Each line is safe on
 * its own: deletes name only entries that exist, adds are `replace` (a batch stops at the first
 * failure, so no line may depend on state the diff did not see).
 */
export function planPeers(
  dev: string,
  desired: readonly Peer[],
  currentFdb: ReadonlyMap<string, string>,
  currentNeigh: ReadonlyMap<string, string>,
): PeerPlan {
  const fdb = new Map<string, string>();
  const neigh = new Map<string, string>();
  for (const p of desired) {
    fdb.set(p.mac, p.vtep);
    neigh.set(p.ip, p.mac);
  }
  const bridgeLines: string[] = [];
  const ipLines: string[] = [];
  for (const mac of currentFdb.keys()) if (!fdb.has(mac)) bridgeLines.push(`fdb del ${mac} dev ${dev}`);
  for (const [mac, vtep] of fdb) {
    // `replace` also moves a MAC to a new VTEP in place (a vxlan unicast entry has one remote).
    if (currentFdb.get(mac) !== vtep) bridgeLines.push(`fdb replace ${mac} dev ${dev} dst ${vtep} self static`);
  }
  for (const ip of currentNeigh.keys()) if (!neigh.has(ip)) ipLines.push(`neigh del ${ip} dev ${dev}`);
  for (const [ip, mac] of neigh) {
    if (currentNeigh.get(ip) !== mac) ipLines.push(`neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`);
  }
  return { bridgeLines, ipLines, fdb, neigh };
}

/** A remote entry of a vxlan device as `bridge -j fdb show` lists it (local/bridge entries have no dst). */
export interface FdbRow {
  mac?: string;
  dst?: string;
  flags?: string[];
  master?: string;
}

export function fdbFromKernel(rows: readonly FdbRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) {
    if (r.mac && r.dst && r.master === undefined && r.mac !== '00:00:00:00:00:00') out.set(r.mac.toLowerCase(), r.dst);
  }
  return out;
}

export interface NeighRow {
  dst?: string;
  lladdr?: string;
  state?: string[];
}

/** Permanent entries count as programmed; anything else is replaced (it could age out). */
export function neighFromKernel(rows: readonly NeighRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) {
    if (!r.dst) continue;
    const permanent = r.state?.includes('PERMANENT') ?? false;
    out.set(r.dst, permanent && r.lladdr ? r.lladdr.toLowerCase() : '');
  }
  return out;
}
