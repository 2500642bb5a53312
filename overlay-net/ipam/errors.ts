// Typed IPAM errors: a SwarmError that also names the offending field and a machine-readable reason.
import { SwarmError } from '../../node/errors.js';

export type IpamErrorReason =
  | 'invalid-cidr'
  | 'invalid-ip'
  | 'ipv6-unsupported'
  | 'invalid-config'
  | 'invalid-owner'
  | 'subnet-too-small'
  | 'overlapping-subnet'
  | 'gateway-outside-subnet'
  | 'gateway-reserved'
  | 'network-conflict'
  | 'pool-exhausted'
  | 'vni-exhausted'
  | 'address-exhausted';

const UNAVAILABLE_REASONS: ReadonlySet<IpamErrorReason> = new Set<IpamErrorReason>([
  'pool-exhausted',
  'vni-exhausted',
  'address-exhausted',
]);

export class IpamError extends SwarmError {
  /** The request or config field at fault, e.g. `subnet`, `gateway`, `cfg.pools[1]`. */
  readonly field: string;
  readonly reason: IpamErrorReason;

  constructor(field: string, reason: IpamErrorReason, message: string, hint?: string) {
    super(UNAVAILABLE_REASONS.has(reason) ? 'UNAVAILABLE' : 'INVALID_ARGUMENT', `${field}: ${message}`, hint);
    this.name = 'IpamError';
    this.field = field;
    this.reason = reason;
  }
}

export function isIpamError(err: unknown, reason?: IpamErrorReason): err is IpamError {
  return err instanceof IpamError && (reason === undefined || err.reason === reason);
}
