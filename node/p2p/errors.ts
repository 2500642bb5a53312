export type P2PErrorCode =
  | 'BAD_MESSAGE'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NO_HANDLER'
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'INVALID_TOKEN'
  | 'REMOTE'
  | 'CLOSED';

/**
 * Every error this module throws. A failure reported by the remote side of a request has code
 * 'REMOTE' and carries the remote's own code in `remoteCode`, so SwarmError codes (NO_QUORUM, ...)
 * survive the hop; the local codes describe what went wrong on this side of the wire.
 */
export class P2PError extends Error {
  readonly code: P2PErrorCode;
  readonly remoteCode?: string;

  constructor(code: P2PErrorCode, message: string, options?: { remoteCode?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'P2PError';
    this.code = code;
    if (options?.remoteCode !== undefined) this.remoteCode = options.remoteCode;
  }
}

export function isP2PError(err: unknown, code?: P2PErrorCode): err is P2PError {
  return err instanceof P2PError && (code === undefined || err.code === code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
