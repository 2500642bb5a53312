// The shapes the overlay's parts share: a network as a host builds it, and the endpoint records
// hosts gossip about each other (as Docker's networkdb endpoint table).

/** A network as a host needs it to build its data path. */
export interface HostNetworkSpec {
  id: string;
  name: string;
  vni: number;
  /** CIDR, e.g. "10.0.1.0/24". */
  subnet: string;
  gateway: string;
  /** No way out: no NAT, no default route through it, no forwarding to other interfaces. */
  internal: boolean;
  /** The routing-mesh network. */
  ingress: boolean;
}

/** A published port of a service, as every host needs it for the routing mesh. */
export interface PublishedPort {
  protocol: 'tcp' | 'udp';
  publishedPort: number;
  targetPort: number;
  mode: 'ingress' | 'host';
}

/** What DNS and balancing need about the service an endpoint belongs to. */
export interface EndpointService {
  id: string;
  /** The full service name, e.g. "web_app". */
  name: string;
  /** Other names on this network (a stack's short service name among them). */
  aliases: string[];
  /** The service's VIP on this network (no prefix length); absent for dnsrr. */
  vip?: string;
  mode: 'vip' | 'dnsrr';
  ports: PublishedPort[];
  /**
   * This endpoint's relative share of new connections through the VIP and the routing mesh
   * (canary steps); absent: 1, equal shares. 0: none.
   */
  weight?: number;
  /** A blue/green preview: named `preview.<name>` in DNS, and outside the VIP and the mesh until promoted. */
  preview?: boolean;
}

/** One address on an overlay network: a task's, or a node's routing-mesh address. */
export interface EndpointRecord {
  networkId: string;
  /** `task:<taskId>` or `node:<nodeId>`; unique within a network. */
  owner: string;
  ip: string;
  mac: string;
  /** Underlay address of the host the endpoint lives on. */
  vtep: string;
  nodeId: string;
  service?: EndpointService;
  /** Running, and healthy when it has a health check: may receive traffic. */
  ready: boolean;
  /** Lamport time of the write, and the node that wrote it (breaks ties). */
  version: number;
  origin: string;
  /** A tombstone: the endpoint is gone. */
  deleted: boolean;
}
