// overlayfs mounts through mount(8)/umount(8): Node has no mount syscall.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SwarmError } from '../../errors.js';

/** mount(2) takes the options as one page; the kernel stacks at most 500 lower layers. */
export const MAX_MOUNT_DATA = 4095;

function run(cmd: string, args: string[], cwd?: string): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      const e = err as { code?: unknown } | null; // code: the exit status, or an errno name if it never ran
      if (e !== null && e.code === 'ENOENT') {
        reject(new SwarmError('UNAVAILABLE', `${cmd} not found`, 'install util-linux (mount, umount)'));
        return;
      }
      resolve({ ok: e === null, stderr: String(stderr).trim() });
    });
  });
}

/** Mount points in this mount namespace (from /proc/self/mountinfo, octal escapes decoded). */
export function mountPoints(): string[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined) out.push(field.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export function isMountPoint(path: string): boolean {
  return mountPoints().includes(path);
}

/**
 * Mounts an overlay at target. Paths in options may be relative to cwd: the kernel resolves them
 * against the calling process's directory, which keeps long layer stacks within one page.
 */
export async function mountOverlay(target: string, options: string, cwd: string): Promise<void> {
  if (options.length > MAX_MOUNT_DATA) {
    throw new SwarmError('INVALID_ARGUMENT', `overlay options are ${options.length} bytes, over the ${MAX_MOUNT_DATA}-byte limit`);
  }
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], cwd);
  if (!r.ok) throw new SwarmError('INTERNAL', `mounting overlay at ${target} failed: ${r.stderr}`);
}

/** Unmounts target (every mount stacked on it); a busy mount is detached lazily (MNT_DETACH). */
export async function unmount(target: string): Promise<'unmounted' | 'detached' | 'not-mounted'> {
  let result: 'unmounted' | 'detached' | 'not-mounted' = 'not-mounted';
  for (let i = 0; i < 16 && isMountPoint(target); i++) {
    const r = await run('umount', [target]);
    if (r.ok) {
      if (result === 'not-mounted') result = 'unmounted';
      continue;
    }
    const lazy = await run('umount', ['-l', target]);
    if (!lazy.ok) throw new SwarmError('INTERNAL', `unmounting ${target} failed: ${r.stderr}; lazily: ${lazy.stderr}`);
    result = 'detached';
  }
  if (isMountPoint(target)) throw new SwarmError('INTERNAL', `${target} is still mounted`);
  return result;
}
