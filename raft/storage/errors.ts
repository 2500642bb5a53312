export type WalErrorCode =
  | 'WAL_CORRUPT' // a record or snapshot file fails its checksum, or data the log needs is missing
  | 'WAL_CLOSED' // the WAL was used after close()
  | 'WAL_FAILED' // an earlier write or fsync failed: what reached the disk is unknown, so the WAL refuses further writes
  | 'WAL_INVALID'; // the caller broke an invariant (a gap in the log, an out-of-date snapshot)

/** An error of the durable storage, typed by code. */
export class WalError extends Error {
  readonly code: WalErrorCode;

  constructor(code: WalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WalError';
    this.code = code;
  }
}

/** Durable data is damaged. Names the file and the byte offset where the damage starts. */
export class WalCorruptError extends WalError {
  declare readonly code: 'WAL_CORRUPT';
  readonly file: string;
  readonly offset: number;
  /** What is wrong, without the location. */
  readonly reason: string;

  constructor(file: string, offset: number, reason: string, options?: { cause?: unknown }) {
    super('WAL_CORRUPT', `${file} at byte ${offset}: ${reason}`, options);
    this.name = 'WalCorruptError';
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/** The system error code (ENOSPC, EIO, ...) of a failed fs call, if it was one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A write, fsync, rename or delete of the WAL's files failed (ENOSPC, EIO, ...). What reached the
 * disk is unknown, so the WAL refuses every later write. Names the file, since calls on a file
 * descriptor report none, and an operator must know which disk to look at.
 */
export class WalIoError extends WalError {
  declare readonly code: 'WAL_FAILED';
  /** The file or directory the failed call was on. */
  readonly path: string;
  /** The system error code, e.g. ENOSPC; undefined when the cause was not a system error. */
  readonly errno: string | undefined;

  constructor(path: string, cause: unknown) {
    super('WAL_FAILED', `WAL write to ${path} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'WalIoError';
    this.path = path;
    this.errno = errnoOf(cause);
  }
}
