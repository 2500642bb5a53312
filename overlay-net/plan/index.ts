// What a host must program, computed from the endpoint table (pure).
export { remotePeers, taskBalancing, ingressPorts, type RemotePeer, type VipBalancing, type IngressPort, type IngressBackend } from './plan.js';
