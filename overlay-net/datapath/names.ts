// Names of what the data path creates, and the checks on what callers hand it. Every name and
// address ends up in an `ip`/`bridge` batch line or an nft file, so nothing unchecked gets there.
import { createHash } from 'node:crypto';
import { contains, isIpamError, parseCidr, parseIp, type Cidr } from '../ipam/index.js';
import type { HostNetworkSpec } from '../types.js';
import { DatapathError, invalidArgument } from './errors.js';

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1). */
export const IFNAME_MAX = 15;
/** Netns names are file names; longer task ids are shortened (see taskNetnsName). */
export const NETNS_NAME_MAX = 64;
/** Every overlay device and veth carries this MTU: a 1500-byte underlay minus VXLAN's 50 bytes. */
export const OVERLAY_MTU = 1450;
export const VXLAN_PORT = 4789;
export const VNI_LIMIT = 2 ** 24 - 1;
export const NETNS_DIR = '/var/run/netns';

/** Prefix shared by every device name below: teardown finds its leftovers by it. */
export const BRIDGE_PREFIX = 'swbr';
export const VXLAN_PREFIX = 'swvx';
export const VETH_PREFIX = 'swv';
/** Our devices, and nothing an admin is likely to have named the same way. */
export const OWN_DEVICE = /^(swbr\d+|swvx\d+|swv[0-9a-f]{8})$/;
/** Marks a bridge with the network it serves, so removeNetwork works after a restart. */
export const NETWORK_ALIAS_PREFIX = 'swarm-net:';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function bridgeName(vni: number): string {
  return `${BRIDGE_PREFIX}${vni}`;
}

export function vxlanName(vni: number): string {
  return `${VXLAN_PREFIX}${vni}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** The host end of a task's veth on one network: stable across restarts, 11 characters. */
export function vethHostName(taskId: string, networkId: string): string {
  return `${VETH_PREFIX}${shortHash(`${taskId}\0${networkId}`)}`;
}

/** The task's interface for its i-th attachment, as Docker names them. */
export function taskIfName(index: number): string {
  return `eth${index}`;
}

/** `${prefix}${taskId}`, or when too long, the head of the task id and a hash of all of it (still unique). */
export function taskNetnsName(prefix: string, taskId: string): string {
  const full = `${prefix}${taskId}`;
  if (full.length <= NETNS_NAME_MAX) return full;
  const keep = NETNS_NAME_MAX - prefix.length - 9;
  return `${prefix}${taskId.slice(0, keep)}-${shortHash(taskId)}`;
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`;
}

export function checkId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !SAFE_ID.test(value) || value.length > 128) {
    throw invalidArgument(field, `${JSON.stringify(value)} is not an id (letters, digits, "_", ".", "-"; at most 128)`);
  }
  return value;
}

export function checkNetnsPrefix(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(value)) {
    throw invalidArgument('netnsPrefix', `${JSON.stringify(value)} must be 1..32 letters, digits, "_", ".", "-"`);
  }
  return value;
}

/** A netns name we run commands in: it becomes a path and an argument. */
export function checkNetnsName(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(value)) {
    throw invalidArgument(field, `${JSON.stringify(value)} is not a netns name`);
  }
  return value;
}

/** Parses an IPv4 address, turning the IPAM's error into ours. */
export function checkIp(value: unknown, field: string): string {
  try {
    parseIp(value as string, field);
  } catch (err) {
    if (isIpamError(err)) throw new DatapathError('INVALID_ARGUMENT', err.message, { cause: err });
    throw err;
  }
  return value as string;
}

export function checkCidr(value: unknown, field: string): Cidr {
  try {
    return parseCidr(value as string, field);
  } catch (err) {
    if (isIpamError(err)) throw new DatapathError('INVALID_ARGUMENT', err.message, { cause: err });
    throw err;
  }
}

export function checkMac(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(value)) {
    throw invalidArgument(field, `${JSON.stringify(value)} is not a MAC address (xx:xx:xx:xx:xx:xx)`);
  }
  // Unicast only: a multicast or zero MAC in the fdb would change how the vxlan floods.
  if ((parseInt(value.slice(0, 2), 16) & 1) === 1 || value === '00:00:00:00:00:00') {
    throw invalidArgument(field, `${value} is not a unicast MAC address`);
  }
  return value.toLowerCase();
}

export function checkPort(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw invalidArgument(field, `${JSON.stringify(value)} is not a port (1..65535)`);
  }
  return value;
}

export function checkProtocol(value: unknown, field: string): 'tcp' | 'udp' {
  if (value !== 'tcp' && value !== 'udp') throw invalidArgument(field, `${JSON.stringify(value)} is not "tcp" or "udp"`);
  return value;
}

/** A network spec as the data path needs it: parsed subnet, gateway inside it. */
export function checkNetworkSpec(net: HostNetworkSpec, field = 'net'): Cidr {
  checkId(net.id, `${field}.id`);
  if (!Number.isInteger(net.vni) || net.vni < 1 || net.vni > VNI_LIMIT) {
    throw invalidArgument(`${field}.vni`, `${JSON.stringify(net.vni)} is not a VNI (1..${VNI_LIMIT})`);
  }
  const cidr = checkCidr(net.subnet, `${field}.subnet`);
  if (cidr.prefix > 30) throw invalidArgument(`${field}.subnet`, `${net.subnet} is too small for a gateway and tasks`);
  const gw = parseIp(checkIp(net.gateway, `${field}.gateway`));
  if (!contains(cidr, gw)) throw invalidArgument(`${field}.gateway`, `${net.gateway} is outside ${net.subnet}`);
  if (typeof net.internal !== 'boolean' || typeof net.ingress !== 'boolean') {
    throw invalidArgument(field, 'internal and ingress must be booleans');
  }
  return cidr;
}

/** An address of a task or host on a network: inside its subnet, not its gateway. */
export function checkAddressIn(net: HostNetworkSpec, cidr: Cidr, ip: unknown, field: string): string {
  const value = parseIp(checkIp(ip, field));
  if (!contains(cidr, value)) throw invalidArgument(field, `${String(ip)} is outside ${net.subnet} of network ${net.id}`);
  if (ip === net.gateway) throw invalidArgument(field, `${String(ip)} is the gateway of network ${net.id}`);
  return ip as string;
}
