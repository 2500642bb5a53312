// The overlay's per-host data path: bridges, VXLAN, task namespaces, peers and nftables.
export { HostNetwork, type HostNetworkOptions } from './host-network.js';
export { DatapathError, isDatapathError, type DatapathErrorCode } from './errors.js';
export type { Attachment, Peer, VipBackends, PublishedPortBackends, HostPort } from './render.js';
export { bridgeName, vxlanName, vethHostName, taskNetnsName, OVERLAY_MTU } from './names.js';
