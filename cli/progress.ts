import { CliError, type Output } from './errors.js';
import { humanSize } from './format.js';

// Docker's JSON message streams (pull, push, load, build) read and shown as the docker CLI shows
// them (its pkg/jsonmessage): on a terminal each layer keeps its own line, redrawn in place; elsewhere
// only lines worth keeping are printed, one per layer when it is done.

export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  stream?: string;
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message?: string };
}

/** The messages of a response body, one JSON object per line. */
export async function* jsonMessages(body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): AsyncGenerator<JsonMessage> {
  let pending = '';
  const parse = (line: string): JsonMessage | undefined => {
    const text = line.trim();
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as JsonMessage;
    } catch {
      throw new CliError(`the daemon sent a malformed progress message: ${text.slice(0, 80)}`);
    }
  };
  for await (const chunk of body) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const m = parse(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      if (m) yield m;
    }
  }
  const last = parse(pending);
  if (last) yield last;
}

/** Docker's JSONProgress.String(): "[=====>    ]  3.146MB/4.26MB", the bar only on wide terminals. */
export function progressText(detail: JsonMessage['progressDetail'], columns = 80): string {
  const current = detail?.current ?? 0;
  const total = detail?.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  let bar = '';
  if (columns > 110) {
    const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
    bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  }
  if (current > total) return bar;
  return `${bar}${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** Per-layer states worth a line of their own only on a terminal (off one, the final state says it all). */
const TRANSIENT = new Set(['Pulling fs layer', 'Waiting', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Preparing', 'Pushing', 'Loading layer']);

export class MessagePrinter {
  /** Line index of each layer id on a terminal; the cursor sits on the line after the last. */
  private slots = new Map<string, number>();

  constructor(
    private readonly out: Output,
    private readonly tty: boolean,
    private readonly columns = 80,
  ) {}

  print(m: JsonMessage): void {
    if (m.stream !== undefined) {
      this.slots.clear();
      this.out.write(m.stream);
      return;
    }
    if (m.status === undefined) return;
    const progress = m.progress ?? progressText(m.progressDetail, this.columns);
    if (m.id === undefined || m.id === '') {
      this.slots.clear();
      this.out.write(`${m.status}\n`);
    } else if (this.tty) {
      let line = this.slots.get(m.id);
      if (line === undefined) {
        line = this.slots.size;
        this.slots.set(m.id, line);
        this.out.write('\n');
      }
      const up = this.slots.size - line;
      // Up to the layer's line, clear it, write, and back down to where the cursor lives.
      this.out.write(`\x1b[${up}A\x1b[2K\r${m.id}: ${`${m.status} ${progress}`.trimEnd()}\r\x1b[${up}B`);
    } else if (progress === '' && !TRANSIENT.has(m.status)) {
      this.out.write(`${m.id}: ${m.status}\n`);
    }
  }
}

/**
 * Shows a message stream to its end; returns the aux values it carried (an image ID, a push
 * digest). A message with an error ends it as a CliError with the daemon's message.
 */
export async function showMessages(body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, out: Output): Promise<Record<string, unknown>[]> {
  const printer = new MessagePrinter(out, out.isTTY === true, out.columns);
  const aux: Record<string, unknown>[] = [];
  for await (const m of jsonMessages(body)) {
    if (m.error !== undefined || m.errorDetail?.message !== undefined) throw new CliError(m.errorDetail?.message ?? m.error ?? 'unknown error');
    if (m.aux !== undefined) aux.push(m.aux);
    printer.print(m);
  }
  return aux;
}
