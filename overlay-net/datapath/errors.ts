// The data path's one error type: a code for programs and a message naming the command or field.
// Not a SwarmError: its codes describe the host's plumbing, the daemon maps them when they surface.

export type DatapathErrorCode = 'COMMAND_FAILED' | 'INVALID_ARGUMENT';

export class DatapathError extends Error {
  readonly code: DatapathErrorCode;

  constructor(code: DatapathErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatapathError';
    this.code = code;
  }
}

export function isDatapathError(err: unknown, code?: DatapathErrorCode): err is DatapathError {
  return err instanceof DatapathError && (code === undefined || err.code === code);
}

export function invalidArgument(field: string, reason: string): DatapathError {
  return new DatapathError('INVALID_ARGUMENT', `${field}: ${reason}`);
}
