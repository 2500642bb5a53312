// Test helper: a full disk under one directory, as a tmpfs at ENOSPC behaves (test/chaos's
// fillDisk): the first write after filling lands partly (a short write), every later one fails
// with ENOSPC. It patches fs.writeSync, the only call the WAL writes with, for file descriptors
// whose file lies under the directory (found through /proc/self/fd: Linux only, like the project).
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';

export interface DiskFull {
  /** Writes refused so far (the short write included). */
  readonly refused: number;
  /** Frees the space: writes succeed again. */
  free(): void;
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { errno: -28, code: 'ENOSPC', syscall: 'write' });
}

function fileOf(fd: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** Fills the disk under `dir` until free() is called. */
export function fillDisk(dir: string): DiskFull {
  // /proc/self/fd shows resolved paths (a symlinked tmpdir, say).
  const root = fs.realpathSync(path.resolve(dir)) + path.sep;
  const real = fs.writeSync;
  let refused = 0;
  let shortWritten = false;
  // The overloads of writeSync differ only in how offset and length are given; the WAL passes
  // (fd, buffer, offset, length), and the rest goes through unchanged.
  const patched = function (fd: number, buffer: NodeJS.ArrayBufferView, offset?: number, length?: number): number {
    if (!fileOf(fd)?.startsWith(root)) return (real as (...a: unknown[]) => number)(fd, buffer, offset, length);
    refused++;
    const len = length ?? buffer.byteLength - (offset ?? 0);
    if (!shortWritten && len > 1) {
      shortWritten = true;
      return real(fd, buffer, offset ?? 0, Math.floor(len / 2));
    }
    throw enospc();
  };
  fs.writeSync = patched as typeof fs.writeSync;
  // The WAL's `import * as fs` sees the patched function only after this.
  syncBuiltinESMExports();
  return {
    get refused() {
      return refused;
    },
    free() {
      if (fs.writeSync !== patched) return;
      fs.writeSync = real;
      syncBuiltinESMExports();
    },
  };
}

/** Makes the next fs.fdatasync (the async one WAL.flush uses) fail with EIO, as a dying disk does. */
export function failNextFdatasync(): void {
  const real = fs.fdatasync;
  const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { errno: -5, code: 'EIO', syscall: 'fdatasync' });
  fs.fdatasync = ((_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
    fs.fdatasync = real;
    syncBuiltinESMExports();
    cb(eio);
  }) as typeof fs.fdatasync;
  syncBuiltinESMExports();
}
