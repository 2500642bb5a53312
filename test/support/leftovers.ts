import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// What killed daemons leave behind: their containers keep running (a restarted daemon would
// re-adopt them) and their mounts (overlays, secret tmpfs) stay. Test harnesses clear both.

/** Kills and deletes the containers of daemons whose data dirs are given. */
export function killLeftoverContainers(dataDirs: Iterable<string>): void {
  for (const dataDir of dataDirs) {
    for (const rt of ['crun', 'runc']) {
      const root = join(dataDir, 'runtime', 'containers', 'runtime', rt);
      if (!existsSync(root)) continue;
      const list = spawnSync(rt, ['--root', root, 'list', '-q'], { encoding: 'utf8' });
      for (const id of (list.stdout ?? '').split('\n').filter((x) => x !== '')) {
        spawnSync(rt, ['--root', root, 'kill', id, 'KILL']);
        spawnSync(rt, ['--root', root, 'delete', '-f', id]);
      }
    }
  }
}

/** Lazily unmounts every mount below dir, deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync('umount', ['-l', m]);
}
