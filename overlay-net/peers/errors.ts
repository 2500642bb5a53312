// The one error a peer message or endpoint record can fail with: the field path and why.

export class PeerMessageError extends Error {
  readonly code = 'BAD_MESSAGE' as const;
  /** Where in the message, e.g. `records[3].ip`; empty for the message as a whole. */
  readonly path: string;
  readonly reason: string;

  constructor(path: string, reason: string) {
    super(path === '' ? reason : `${path}: ${reason}`);
    this.name = 'PeerMessageError';
    this.path = path;
    this.reason = reason;
  }
}

export function isPeerMessageError(err: unknown): err is PeerMessageError {
  return err instanceof PeerMessageError;
}
