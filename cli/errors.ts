// How the CLI reports failure: one "Error: <message>" line on stderr, a "Hint: <hint>" line when
// there is advice, and an exit code: 1 for a failed operation, 2 for a usage error.

export interface Output {
  /** Bytes only for binary output (an image archive on stdout). */
  write(text: string | Uint8Array): unknown;
  /** Whether it is a terminal (progress redraws in place; archives are refused). */
  isTTY?: boolean;
  /** The terminal's width, when it is one. */
  columns?: number;
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The command line itself is wrong (a flag, an argument): exit code 2. */
export class UsageError extends Error {
  /** The command whose --help explains it, e.g. "swarm node update"; filled in by the program. */
  command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/**
 * Ends the command with this exit code (`swarm run` passes the container's on). With a cause, the
 * cause is reported first; without one, nothing is printed.
 */
export class ExitStatus extends Error {
  readonly code: number;
  override readonly cause: unknown;

  constructor(code: number, cause?: unknown) {
    super(`exit status ${code}`);
    this.name = 'ExitStatus';
    this.code = code;
    this.cause = cause;
  }
}

/** An error the CLI raises itself, with advice for the user. */
export class CliError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'CliError';
    this.hint = hint;
  }
}

function hintOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'hint' in err && typeof err.hint === 'string' && err.hint !== '') return err.hint;
  return undefined;
}

export function printError(stderr: Output, message: string, hint?: string): void {
  stderr.write(`Error: ${message}\n`);
  if (hint !== undefined) stderr.write(`Hint: ${hint}\n`);
}

/**
 * Print any error the way the CLI reports errors and return the exit code. An AggregateError (one
 * failure per argument of `node rm a b c`) prints each of its errors.
 */
export function reportError(stderr: Output, err: unknown): number {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return Math.max(...err.errors.map((e: unknown) => reportError(stderr, e)));
  }
  if (err instanceof ExitStatus) {
    if (err.cause !== undefined) reportError(stderr, err.cause);
    return err.code;
  }
  if (err instanceof UsageError) {
    printError(stderr, err.message, err.command === undefined ? undefined : `run '${err.command} --help' for usage`);
    return EXIT_USAGE;
  }
  printError(stderr, err instanceof Error ? err.message : String(err), hintOf(err));
  return EXIT_FAILURE;
}

/** Run `each` for every item; collect failures so one bad argument does not stop the others. */
export async function forEachArg<T>(items: readonly T[], each: (item: T) => Promise<void>): Promise<void> {
  const errors: unknown[] = [];
  for (const item of items) {
    try {
      await each(item);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} operations failed`);
}
