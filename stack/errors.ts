import { SwarmError } from '../node/errors.js';

// Everything wrong with a set of compose files, found in one pass so the user fixes them all at
// once. A path names where ("services.web.deploy.replicas", "compose.yml:3:5" for syntax errors).

export interface ComposeIssue {
  path: string;
  message: string;
}

export class ComposeError extends SwarmError {
  readonly issues: ComposeIssue[];

  constructor(issues: ComposeIssue[]) {
    super('INVALID_ARGUMENT', issues.map((i) => `${i.path}: ${i.message}`).join('\n'), "run 'swarm stack config -c FILE' to check a compose file");
    this.name = 'ComposeError';
    this.issues = issues;
  }
}

/** Collects issues and warnings while a file is read; `throwIfAny` ends the load with all of them. */
export class Report {
  readonly issues: ComposeIssue[] = [];
  private readonly warningSet = new Set<string>();

  issue(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  warn(message: string): void {
    this.warningSet.add(message);
  }

  get warnings(): string[] {
    return [...this.warningSet];
  }

  throwIfAny(): void {
    if (this.issues.length > 0) throw new ComposeError(this.issues);
  }
}

/** `a.b` for keys, `a[0]` for indexes; the root has an empty path. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** Why a file could not be read, in words ("no such file"), not errno's. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}
