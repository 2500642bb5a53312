// The allocator: networks' subnets and VNIs, services' published ports and VIPs, tasks' and
// nodes' addresses on overlay networks. Pure (no I/O, no clock): it reads a view of the store
// and returns what to write; the caller commits it in one transaction with the conditional
// network updates (AddressPlanner.networkUpdates) and allocates again when that conflicts.
//
// Used by the services API (network create, service create/update: allocateEndpoint) and by the
// leader's task loop (new tasks: allocateTaskNetworking; nodes: planNodeAttachments).
export { AddressPlanner, downNodeIds, holdsAddresses, ipOf, type AllocatorView } from './addresses.js';
export {
  allocateEndpoint,
  allocatePorts,
  INGRESS_PORT_MAX,
  INGRESS_PORT_MIN,
  isIngressPort,
  NO_INGRESS_WARNING,
  publishesIngress,
  resolveNetwork,
  type EndpointAllocation,
  type EndpointRequest,
} from './endpoint.js';
export { allocateTaskNetworking, attachmentNetwork, planNodeAttachments, type NodeAttachmentPlan, type TaskNetworking } from './attachments.js';
export {
  findIngress,
  ingressNetworkSpec,
  ipamNetwork,
  NETWORK_NAME,
  networkSubnet,
  networkVni,
  newNetworkObject,
  VNI_OPTION,
  type AddressPool,
  type NetworkDraft,
} from './networks.js';
