// Overlay IPAM: pure subnet, VNI, address and MAC allocation from the list of existing allocations.
export { IpamError, isIpamError, type IpamErrorReason } from './errors.js';
export {
  parseIp,
  formatIp,
  parseCidr,
  formatCidr,
  blockSize,
  lastAddress,
  contains,
  overlaps,
  macFromIp,
  type Cidr,
} from './ipv4.js';
export {
  allocateNetwork,
  allocateAddress,
  lowestFreeVni,
  DEFAULT_POOL_CONFIG,
  VNI_MIN,
  VNI_MAX,
  MAX_SUBNET_PREFIX,
  type PoolConfig,
  type NetworkAllocation,
  type NetworkRequest,
  type AddressAllocation,
  type AddressOptions,
} from './allocate.js';
