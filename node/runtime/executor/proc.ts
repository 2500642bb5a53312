// Small host facts read from /proc and /sys: process liveness (pid reuse aware), the kernel's OOM
// kill counter, swap accounting, and removal of a dead container's leftover cgroups.
import { existsSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** State letter and start time (clock ticks since boot) of a process, or undefined when it is gone. */
export function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: fields restart after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, startTime: rest[19]! };
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (not a zombie) and, if given, is still the process that started at `startTime`. */
export function isAlive(pid: number, startTime?: string): boolean {
  const st = procStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** The kernel's count of OOM kills since boot (/proc/vmstat oom_kill); 0 when unknown. */
export function oomKillCount(): number {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Names of the capabilities in this process's bounding set (CAP_*), or undefined when unreadable. */
export function boundingCapabilities(all: readonly string[]): string[] | undefined {
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (!m) return undefined;
    const mask = BigInt('0x' + m[1]);
    return all.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  } catch {
    return undefined;
  }
}

/** Whether memory limits can cover swap: cgroup v1 memsw files, or cgroup v2 (memory.swap.max). */
export function swapAccounting(): boolean {
  if (existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))) return true;
  return existsSync(join(CGROUP_ROOT, 'memory', 'memory.memsw.limit_in_bytes'));
}

/** Every directory that is `cgroupsPath` in some hierarchy (v1 controllers, v2, the hybrid unified mount). */
export function cgroupDirs(cgroupsPath: string): string[] {
  const dirs: string[] = [];
  const direct = join(CGROUP_ROOT, cgroupsPath);
  if (isDir(direct)) dirs.push(direct);
  let entries: string[];
  try {
    entries = readdirSync(CGROUP_ROOT);
  } catch {
    return dirs;
  }
  for (const e of entries) {
    const d = join(CGROUP_ROOT, e, cgroupsPath);
    if (isDir(d) && !dirs.includes(d)) dirs.push(d);
  }
  return dirs;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Kills whatever is left in the cgroup (and below) and removes the directories; polls until done or the deadline. */
export async function removeCgroups(cgroupsPath: string, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = cgroupDirs(cgroupsPath);
  let delay = 5;
  while (left.length > 0) {
    for (const d of left) removeTree(d);
    left = cgroupDirs(cgroupsPath);
    if (left.length === 0 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
  return left;
}

function removeTree(dir: string): void {
  let subs: string[];
  try {
    subs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    return;
  }
  for (const s of subs) removeTree(s);
  try {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no procs file (gone)
  }
  try {
    rmdirSync(dir);
  } catch {
    // busy until its processes are reaped: the caller polls
  }
}
