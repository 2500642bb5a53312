import { allocateAddress, type AddressAllocation, type NetworkAllocation } from '../../../overlay-net/index.js';
import { SwarmError } from '../../errors.js';
import type { NetworkObject, NodeObject, ServiceObject, StoreAction, TaskObject } from '../../store/index.js';
import { taskStateIndex } from '../scheduler/index.js';
import { ipamNetwork } from './networks.js';

// Addresses on overlay networks, handed out serially (the next free one after the network's
// LastAllocated, wrapping) from what the store holds: service VIPs, the attachments of tasks that
// may still use theirs, and the nodes' routing-mesh addresses. Every allocation moves the
// network's LastAllocated, written back conditionally (expectVersion) in the same transaction as
// what got the address: two managers allocating on one network at once conflict, and the loser
// allocates again. So no address is ever handed out twice, also across a leader change.

/** What the allocator reads from the store. */
export interface AllocatorView {
  networks: readonly NetworkObject[];
  services: readonly ServiceObject[];
  tasks: readonly TaskObject[];
  nodes: readonly NodeObject[];
}

const RUNNING = taskStateIndex('running');
const ASSIGNED = taskStateIndex('assigned');

/**
 * Whether a task's addresses are still taken: until it is told to stop (desired beyond running)
 * and either has ended, never reached a node, or sits on a node that is down (no agent will use
 * them; serial allocation keeps them from coming back soon if that node returns).
 */
export function holdsAddresses(t: TaskObject, downNodes: ReadonlySet<string> = new Set()): boolean {
  if (taskStateIndex(t.DesiredState) <= RUNNING) return true;
  if (t.NodeID !== undefined && downNodes.has(t.NodeID)) return false;
  const state = taskStateIndex(t.Status.State);
  return state >= ASSIGNED && state <= RUNNING;
}

/** Nodes whose tasks no agent reports on. */
export function downNodeIds(nodes: readonly NodeObject[]): Set<string> {
  return new Set(nodes.filter((n) => n.Status.State === 'down').map((n) => n.ID));
}

/** "10.0.1.5" of "10.0.1.5/24". */
export function ipOf(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}

interface NetworkBook {
  network: NetworkObject;
  ipam: NetworkAllocation;
  prefix: string;
  used: AddressAllocation[];
  last: string | undefined;
  moved: boolean;
}

/**
 * One transaction's allocations: built from the store's view, then asked for addresses; its
 * networkUpdates() go into the same commit as the objects that carry them.
 */
export class AddressPlanner {
  private readonly books = new Map<string, NetworkBook>();
  private readonly all: readonly NetworkObject[];

  constructor(view: AllocatorView) {
    this.all = view.networks;
    for (const n of view.networks) {
      const ipam = ipamNetwork(n);
      if (!ipam) continue;
      this.books.set(n.ID, { network: n, ipam, prefix: ipam.subnet.slice(ipam.subnet.indexOf('/')), used: [], last: n.LastAllocated, moved: false });
    }
    const add = (networkId: string, owner: string, addresses: readonly string[]): void => {
      const book = this.books.get(networkId);
      if (!book) return;
      for (const a of addresses) book.used.push({ networkId: book.ipam.networkId, owner, ip: ipOf(a) });
    };
    for (const s of view.services) for (const v of s.Endpoint?.VirtualIPs ?? []) add(v.NetworkID, `vip:${s.ID}`, [v.Addr]);
    const down = downNodeIds(view.nodes);
    for (const t of view.tasks) {
      if (!t.NetworksAttachments || !holdsAddresses(t, down)) continue;
      for (const a of t.NetworksAttachments) add(a.Network.ID, `task:${t.ID}`, a.Addresses);
    }
    for (const n of view.nodes) for (const a of n.Attachments ?? []) add(a.Network.ID, `node:${n.ID}`, a.Addresses);
  }

  /** Every network of the view, in store order. */
  networks(): readonly NetworkObject[] {
    return this.all;
  }

  /**
   * The owner's address on the network ("10.0.1.5/24"): the one it holds already, or the next
   * free one. Owners are "vip:<serviceId>", "task:<taskId>", "node:<nodeId>". Throws
   * UNAVAILABLE naming the network when it is full, NOT_FOUND for a network it does not know.
   */
  allocate(networkId: string, owner: string): string {
    const book = this.books.get(networkId);
    if (!book) throw new SwarmError('NOT_FOUND', `network ${networkId} not found (or it has no subnet)`);
    const held = book.used.find((a) => a.owner === owner);
    if (held) return `${held.ip}${book.prefix}`;
    const got = allocateAddress(book.ipam, book.used, owner, book.last === undefined ? {} : { after: book.last });
    book.used.push(got);
    book.last = got.ip;
    book.moved = true;
    return `${got.ip}${book.prefix}`;
  }

  /** Forgets an allocation this planner made (its object is not written after all). */
  release(networkId: string, owner: string): void {
    const book = this.books.get(networkId);
    if (book) book.used = book.used.filter((a) => a.owner !== owner);
  }

  /** The networks whose LastAllocated moved, each conditional on the version read. */
  networkUpdates(): StoreAction[] {
    const out: StoreAction[] = [];
    for (const b of this.books.values()) {
      if (!b.moved || b.last === undefined) continue;
      out.push({ op: 'update', table: 'networks', object: { ...b.network, LastAllocated: b.last }, expectVersion: b.network.Version.Index });
    }
    return out;
  }
}
