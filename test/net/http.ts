// HTTP from inside network namespaces (a host's, or a task's) with busybox nc: Debian 12's static
// busybox wget crashes. Shared by the namespace-host tests, the demo and the update bench.
import { spawn, type ChildProcess } from 'node:child_process';

/** A shell pipeline that sends `GET /` to host:port and prints the whole response (nc's errors too). */
export function httpGetCommand(host: string, port: number, timeoutSeconds = 2): string {
  return `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w ${timeoutSeconds} ${host} ${port} 2>&1`;
}

/** The page (the response's last line) when the output is a 200 response; undefined otherwise. */
export function pageOf(output: string): string | undefined {
  if (!/^HTTP\/1\.\d 200/.test(output)) return undefined;
  const last = output.trimEnd().split('\n').pop()?.trim();
  return last && !last.startsWith('HTTP/') ? last : undefined;
}

/**
 * Requests without pause, in a loop run by busybox sh under nsenter (`nsenterArgs` pick the
 * namespaces), until stopped. Each answered request counts under the first word of its page
 * (the version, in the tests' web servers); each failed one keeps nc's reason.
 */
export class RequestLoad {
  private readonly proc: ChildProcess;
  private partial = '';
  /** Each finished request: when its line arrived (ms since the epoch), and its line. */
  private readonly lines: { at: number; line: string }[] = [];

  /** How long one request may take before it fails (nc's timeout). */
  readonly requestTimeoutMs = 3_000;

  constructor(
    readonly name: string,
    nsenterArgs: string[],
    target: string,
    port: number,
  ) {
    const once = `r=$(${httpGetCommand(target, port, this.requestTimeoutMs / 1000)})`;
    const script = `set -f; while true; do ${once}; case "$r" in *"200 OK"*) echo "+ $(echo "$r" | tail -n 1)";; *) echo "-" $r;; esac; done`;
    this.proc = spawn('nsenter', [...nsenterArgs, '--', 'busybox', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.proc.stdout!.on('data', (b: Buffer) => {
      const parts = (this.partial + b.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      const at = Date.now();
      for (const line of parts) this.lines.push({ at, line });
    });
  }

  /** Answered and failed requests so far; answers by version; the first failures' reasons. */
  counts(): { ok: number; failed: number; byVersion: Map<string, number>; samples: string[] } {
    const fails = this.lines.filter((l) => l.line.startsWith('-')).map((l) => l.line);
    const byVersion = new Map<string, number>();
    for (const { line } of this.lines) {
      if (!line.startsWith('+')) continue;
      const v = line.slice(2).split(' ')[0] ?? '';
      byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
    }
    return { ok: this.lines.length - fails.length, failed: fails.length, byVersion, samples: fails.slice(0, 5) };
  }

  /** When each failed request ended (ms since the epoch), with nc's reason. */
  failures(): { at: number; reason: string }[] {
    return this.lines.filter((l) => l.line.startsWith('-')).map((l) => ({ at: l.at, reason: l.line.slice(2) }));
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
