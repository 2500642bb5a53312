import { SwarmError } from '../../errors.js';
import type { NetworkAttachment, NetworkObject, NodeObject, ServiceObject, TaskObject, TaskSpec } from '../../store/index.js';
import { AddressPlanner, type AllocatorView } from './addresses.js';
import { publishesIngress, resolveNetwork } from './endpoint.js';
import { findIngress } from './networks.js';

// Where tasks and nodes sit on the overlay: a task gets an address on every network of its
// service (the ingress network first when the service publishes on the routing mesh), with the
// service's name and endpoint for the worker's DNS and balancing; every node gets one address on
// the ingress network (its end of the routing mesh).

/** The network as an attachment carries it: the object as it is, without the allocator's bookkeeping. */
export function attachmentNetwork(n: NetworkObject): NetworkObject {
  const { LastAllocated: _last, ...rest } = n;
  return rest;
}

export type TaskNetworking = Pick<TaskObject, 'NetworksAttachments' | 'ServiceAnnotations' | 'Endpoint'>;

/**
 * What a new task carries about its networks. Throws (nothing kept in the planner) when a network
 * is gone or full: UNAVAILABLE or NOT_FOUND naming the network.
 */
export function allocateTaskNetworking(planner: AddressPlanner, task: { ID: string; Spec: TaskSpec }, service: ServiceObject | undefined): TaskNetworking {
  const networks = planner.networks();
  const wanted: { network: NetworkObject; aliases: string[] | undefined }[] = [];
  const ingress = findIngress(networks);
  if (ingress && publishesIngress(service?.Endpoint)) wanted.push({ network: ingress, aliases: undefined });
  for (const ref of task.Spec.Networks ?? []) {
    const n = resolveNetwork(networks, ref.Target);
    if (!n) throw new SwarmError('NOT_FOUND', `network ${ref.Target} not found`);
    if (!wanted.some((w) => w.network.ID === n.ID)) wanted.push({ network: n, aliases: ref.Aliases });
  }
  const owner = `task:${task.ID}`;
  const attachments: NetworkAttachment[] = [];
  try {
    for (const w of wanted) {
      const a: NetworkAttachment = { Network: attachmentNetwork(w.network), Addresses: [planner.allocate(w.network.ID, owner)] };
      if (w.aliases && w.aliases.length > 0) a.Aliases = [...w.aliases];
      attachments.push(a);
    }
  } catch (err) {
    for (const a of attachments) planner.release(a.Network.ID, owner);
    throw err;
  }
  const out: TaskNetworking = {};
  if (attachments.length > 0) out.NetworksAttachments = attachments;
  if (service) {
    out.ServiceAnnotations = { Name: service.Spec.Name };
    if (service.Endpoint) out.Endpoint = service.Endpoint;
  }
  return out;
}

export interface NodeAttachmentPlan {
  /** Nodes to write, each conditional on the version read. */
  nodes: { object: NodeObject; expectVersion: number }[];
  /** The planner whose networkUpdates() go into the same commit (absent when nothing was allocated). */
  planner: AddressPlanner | undefined;
  /** Nodes that could not get an address (the ingress network is full). */
  failures: { nodeId: string; message: string }[];
}

/**
 * Every node gets an address on the ingress network, and loses attachments to networks that are
 * gone (a removed or re-created ingress network). A node's address is freed with the node.
 */
export function planNodeAttachments(view: AllocatorView): NodeAttachmentPlan {
  const ingress = findIngress(view.networks);
  const plan: NodeAttachmentPlan = { nodes: [], planner: undefined, failures: [] };
  for (const node of view.nodes) {
    const current = node.Attachments ?? [];
    const keep = current.filter((a) => ingress !== undefined && a.Network.ID === ingress.ID);
    let next = keep;
    if (ingress && keep.length === 0) {
      plan.planner ??= new AddressPlanner(view);
      try {
        next = [{ Network: attachmentNetwork(ingress), Addresses: [plan.planner.allocate(ingress.ID, `node:${node.ID}`)] }];
      } catch (err) {
        plan.failures.push({ nodeId: node.ID, message: err instanceof Error ? err.message : String(err) });
        continue;
      }
    }
    if (next.length === current.length && next.every((a, i) => a === current[i])) continue;
    const object: NodeObject = { ...node };
    if (next.length > 0) object.Attachments = next;
    else delete object.Attachments;
    plan.nodes.push({ object, expectVersion: node.Version.Index });
  }
  return plan;
}
