// The one error type that crosses module lines inside a node and reaches users: a code for
// programs, an HTTP status for the API, a message naming the cause, and a hint for people.

export type SwarmErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_ARGUMENT'
  | 'OUT_OF_SEQUENCE'
  | 'ALREADY_IN_SWARM'
  | 'NOT_IN_SWARM'
  | 'NOT_A_MANAGER'
  | 'NO_QUORUM'
  | 'NO_LEADER'
  | 'UNAVAILABLE'
  | 'PERMISSION_DENIED'
  | 'INVALID_TOKEN'
  | 'TIMEOUT'
  | 'CONFLICT'
  | 'INTERNAL';

const STATUS: Record<SwarmErrorCode, number> = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  INVALID_ARGUMENT: 400,
  OUT_OF_SEQUENCE: 409,
  ALREADY_IN_SWARM: 503,
  NOT_IN_SWARM: 503,
  NOT_A_MANAGER: 503,
  NO_QUORUM: 503,
  NO_LEADER: 503,
  UNAVAILABLE: 503,
  PERMISSION_DENIED: 403,
  INVALID_TOKEN: 400,
  TIMEOUT: 504,
  CONFLICT: 409,
  INTERNAL: 500,
};

export class SwarmError extends Error {
  readonly code: SwarmErrorCode;
  readonly status: number;
  /** What the user can do about it, for the CLI's one-line hint. */
  readonly hint: string | undefined;

  constructor(code: SwarmErrorCode, message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SwarmError';
    this.code = code;
    this.status = STATUS[code];
    this.hint = hint;
  }
}

export function isSwarmError(err: unknown, code?: SwarmErrorCode): err is SwarmError {
  return err instanceof SwarmError && (code === undefined || err.code === code);
}
