// Container output: FIFOs the container writes (opened read-write on its side, so it never meets
// SIGPIPE and outlives a daemon restart), read here without blocking, split into timestamped lines,
// appended as JSON lines to a size-rotated file, and streamed to followers.
import { EventEmitter } from 'node:events';
import { closeSync, constants as fsConstants, existsSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import type { LogEntry } from './types.js';

export const STREAMS = ['stdout', 'stderr'] as const;
export type StreamName = (typeof STREAMS)[number];
/** Longer lines are cut (as Docker's 16 KiB partial messages), so one line cannot grow without bound. */
export const MAX_LINE_BYTES = 16 * 1024;
export const LOG_FILE = 'container.log';

export function fifoPath(dir: string, stream: StreamName): string {
  return join(dir, `${stream}.fifo`);
}

/** Appends JSON lines to <dir>/container.log, rotating to .1 … .(maxFiles-1) past maxBytes. Sync: tiny writes, no interleaving. */
export class RotatingLog {
  private fd: number | undefined;
  private size = 0;
  private readonly path: string;

  constructor(
    dir: string,
    private readonly maxBytes: number,
    private readonly maxFiles: number,
  ) {
    this.path = join(dir, LOG_FILE);
  }

  private open(): number {
    if (this.fd === undefined) {
      this.fd = openSync(this.path, 'a');
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  write(entries: LogEntry[]): void {
    this.open();
    let batch = '';
    let batchBytes = 0;
    for (const e of entries) {
      const line = JSON.stringify(e) + '\n';
      const len = Buffer.byteLength(line);
      if (this.size + batchBytes + len > this.maxBytes && this.size + batchBytes > 0) {
        if (batch) this.flush(batch);
        batch = '';
        batchBytes = 0;
        this.rotate();
        this.open();
      }
      batch += line;
      batchBytes += len;
    }
    if (batch) this.flush(batch);
  }

  private flush(text: string): void {
    const fd = this.open();
    const buf = Buffer.from(text);
    writeSync(fd, buf);
    this.size += buf.length;
  }

  private rotate(): void {
    this.close();
    if (this.maxFiles <= 1) {
      rmSync(this.path, { force: true });
      return;
    }
    rmSync(`${this.path}.${this.maxFiles - 1}`, { force: true });
    for (let i = this.maxFiles - 2; i >= 1; i--) {
      if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    }
    if (existsSync(this.path)) renameSync(this.path, `${this.path}.1`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.size = 0;
  }
}

/** The log files of `dir`, oldest first. */
function logFiles(dir: string, maxFiles: number): string[] {
  const files: string[] = [];
  for (let i = Math.max(maxFiles, 1) + 4; i >= 1; i--) {
    const p = join(dir, `${LOG_FILE}.${i}`);
    if (existsSync(p)) files.push(p);
  }
  if (existsSync(join(dir, LOG_FILE))) files.push(join(dir, LOG_FILE));
  return files;
}

function parseLines(text: string, since: Date | undefined): LogEntry[] {
  const out: LogEntry[] = [];
  const sinceMs = since?.getTime();
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    try {
      const e = JSON.parse(raw) as LogEntry;
      if (sinceMs !== undefined && Date.parse(e.time) < sinceMs) continue;
      out.push(e);
    } catch {
      // a torn last line after a crash: skip it
    }
  }
  return out;
}

/** Reads what is on disk (synchronously: together with a subscription in the same tick, nothing is missed). */
export function readLogs(dir: string, maxFiles: number, opts: { tail?: number; since?: Date }): LogEntry[] {
  const files = logFiles(dir, maxFiles);
  if (opts.tail !== undefined && opts.tail >= 0) {
    // Newest first, stop once there are enough lines.
    let out: LogEntry[] = [];
    for (let i = files.length - 1; i >= 0 && out.length < opts.tail; i--) {
      out = [...parseLines(safeRead(files[i]!), opts.since), ...out];
    }
    return opts.tail === 0 ? [] : out.slice(-opts.tail);
  }
  return files.flatMap((f) => parseLines(safeRead(f), opts.since));
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return ''; // rotated away meanwhile
  }
}

interface StreamReader {
  keepalive: number | undefined;
  socket: Socket;
  partial: Buffer[];
  partialLen: number;
  ended: boolean;
}

export interface CollectorEvents {
  line: [LogEntry];
  data: [StreamName, Buffer];
  drained: [];
}

/**
 * Reads both FIFOs of a container. While `keepalive` write ends are held, a reader never sees EOF
 * (a container that exits before we read keeps its output in the pipe); release() drops them once
 * the container is gone, and the readers then drain what is left and end: 'drained'.
 */
export class LogCollector extends EventEmitter<CollectorEvents> {
  private readonly readers = new Map<StreamName, StreamReader>();
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly log: RotatingLog,
    private readonly logger: Logger,
  ) {
    super();
  }

  /** Opens both FIFOs (they exist); call before the container can write, or after adoption. */
  attach(): void {
    for (const stream of STREAMS) {
      const path = fifoPath(this.dir, stream);
      // O_RDWR first: a FIFO opened for reading with no writer would report EOF at once.
      const keepalive = openSync(path, fsConstants.O_RDWR | fsConstants.O_NONBLOCK);
      const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      // A net.Socket over a FIFO reads through epoll; fs streams would block a threadpool thread each.
      const socket = new Socket({ fd, readable: true, writable: false });
      const r: StreamReader = { keepalive, socket, partial: [], partialLen: 0, ended: false };
      this.readers.set(stream, r);
      socket.on('data', (chunk: Buffer) => this.onData(stream, r, chunk));
      socket.on('end', () => this.onEnd(stream, r));
      socket.on('error', (err) => {
        this.logger.warn({ err, stream }, 'container log pipe failed');
        this.onEnd(stream, r);
      });
    }
  }

  private onData(stream: StreamName, r: StreamReader, chunk: Buffer): void {
    this.emit('data', stream, chunk);
    const time = new Date().toISOString();
    const entries: LogEntry[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const line = r.partialLen > 0 ? Buffer.concat([...r.partial, piece]) : piece;
      r.partial = [];
      r.partialLen = 0;
      for (let off = 0; off < line.length || off === 0; off += MAX_LINE_BYTES) {
        entries.push({ stream, time, line: line.subarray(off, off + MAX_LINE_BYTES).toString('utf8') });
        if (line.length === 0) break;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      r.partial.push(chunk.subarray(start));
      r.partialLen += chunk.length - start;
      while (r.partialLen >= MAX_LINE_BYTES) {
        const all = Buffer.concat(r.partial);
        entries.push({ stream, time, line: all.subarray(0, MAX_LINE_BYTES).toString('utf8') });
        const rest = all.subarray(MAX_LINE_BYTES);
        r.partial = rest.length ? [rest] : [];
        r.partialLen = rest.length;
      }
    }
    this.publish(entries);
  }

  private flushPartial(stream: StreamName, r: StreamReader): void {
    if (r.partialLen === 0) return;
    const line = Buffer.concat(r.partial).toString('utf8');
    r.partial = [];
    r.partialLen = 0;
    this.publish([{ stream, time: new Date().toISOString(), line }]);
  }

  private publish(entries: LogEntry[]): void {
    if (entries.length === 0) return;
    try {
      this.log.write(entries);
    } catch (err) {
      this.logger.warn({ err }, 'cannot write container log');
    }
    for (const e of entries) this.emit('line', e);
  }

  private onEnd(stream: StreamName, r: StreamReader): void {
    if (r.ended) return;
    r.ended = true;
    this.flushPartial(stream, r);
    r.socket.destroy();
    if ([...this.readers.values()].every((x) => x.ended)) {
      this.log.close();
      this.emit('drained');
    }
  }

  /** The container is gone: let the readers reach EOF after the last buffered bytes; resolves when drained (or after timeoutMs). */
  release(timeoutMs = 2000): Promise<void> {
    if (this.readers.size === 0 || [...this.readers.values()].every((r) => r.ended)) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn('container output did not reach EOF after exit; closing');
        this.close();
        resolve();
      }, timeoutMs);
      this.once('drained', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    for (const r of this.readers.values()) {
      if (r.keepalive !== undefined) closeSync(r.keepalive);
      r.keepalive = undefined;
    }
    return done;
  }

  /** Stops reading without waiting (daemon shutdown): the container keeps its pipe; partial lines are flushed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [stream, r] of this.readers) {
      if (r.keepalive !== undefined) closeSync(r.keepalive);
      r.keepalive = undefined;
      if (!r.ended) {
        r.ended = true;
        this.flushPartial(stream, r);
        r.socket.destroy();
      }
    }
    this.log.close();
    this.emit('drained');
  }
}
