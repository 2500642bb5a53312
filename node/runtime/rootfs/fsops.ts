// File system operations Node has no API for: mknod (overlay whiteouts, device nodes, fifos) and
// extended attributes (overlay's opaque-directory marker). They run in batches in one python3
// process (its standard library has os.mknod and os.{get,set}xattr): python3 is on every Debian
// host we run on, unlike setfattr/getfattr (the optional `attr` package), and one process per
// layer costs ~25 ms instead of one process per node.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SwarmError } from '../../errors.js';

export type NodeKind = 'char' | 'block' | 'fifo';

export type FsOp =
  | {
      op: 'mknod';
      path: string;
      kind: NodeKind;
      major: number;
      minor: number;
      mode: number;
      uid: number;
      gid: number;
      /** Milliseconds since the epoch; atime and mtime both. */
      mtimeMs: number;
    }
  | { op: 'setxattr'; path: string; name: string; value: Buffer }
  | { op: 'getxattr'; path: string; name: string };

const SCRIPT = `
import base64, errno, json, os, stat, sys
kinds = {'char': stat.S_IFCHR, 'block': stat.S_IFBLK, 'fifo': stat.S_IFIFO}
out = []
for o in json.load(sys.stdin):
    p = o['path']
    try:
        if o['op'] == 'mknod':
            os.mknod(p, kinds[o['kind']] | 0o600, os.makedev(o['major'], o['minor']))
            os.chown(p, o['uid'], o['gid'], follow_symlinks=False)
            os.chmod(p, o['mode'])  # after chown, which clears setuid/setgid
            ns = o['mtimeMs'] * 1000000
            os.utime(p, ns=(ns, ns), follow_symlinks=False)
            out.append(None)
        elif o['op'] == 'setxattr':
            os.setxattr(p, o['name'], base64.b64decode(o['value']), follow_symlinks=False)
            out.append(None)
        else:
            try:
                out.append(base64.b64encode(os.getxattr(p, o['name'], follow_symlinks=False)).decode())
            except OSError as e:
                if e.errno not in (errno.ENODATA, errno.ENOTSUP):
                    raise
                out.append(None)
    except OSError as e:
        sys.stderr.write(json.dumps({'op': o['op'], 'path': p, 'error': e.strerror}))
        sys.exit(3)
json.dump(out, sys.stdout)
`;

let python: string | undefined;

/** The system python3 first: a version-manager shim on PATH (pyenv) costs ~150 ms per start. */
function pythonPath(): string {
  python ??= ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';
  return python;
}

/** Runs the operations in order; returns one result per op (getxattr: the value or null). */
export async function runFsOps(ops: FsOp[]): Promise<(Buffer | null)[]> {
  if (ops.length === 0) return [];
  const input = JSON.stringify(
    ops.map((o) => (o.op === 'setxattr' ? { ...o, value: o.value.toString('base64') } : o)),
  );
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(pythonPath(), ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'ENOENT'
            ? new SwarmError(
                'UNAVAILABLE',
                'python3 not found: it is needed to create overlay whiteouts, device nodes and xattrs',
                'install python3 (apt-get install python3-minimal)',
                { cause: e },
              )
            : e,
        );
      });
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
      child.stdin.on('error', () => {}); // a failed start is reported through 'error' above
      child.stdin.end(input);
    },
  );
  if (code !== 0) {
    let detail = stderr.trim();
    try {
      const e = JSON.parse(detail) as { op: string; path: string; error: string };
      detail = `${e.op} ${e.path}: ${e.error}`;
    } catch {
      // not our JSON (python itself failed): keep the raw text
    }
    throw new SwarmError('INTERNAL', `file system helper failed: ${detail}`);
  }
  const results = JSON.parse(stdout) as (string | null)[];
  return results.map((r) => (r === null ? null : Buffer.from(r, 'base64')));
}

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** Which of these directories overlayfs marks opaque (trusted.overlay.opaque = "y"). */
export async function opaqueDirs(paths: string[]): Promise<Set<string>> {
  const values = await runFsOps(paths.map((path) => ({ op: 'getxattr', path, name: OPAQUE_XATTR })));
  const opaque = new Set<string>();
  values.forEach((v, i) => {
    if (v !== null && v.toString() === 'y') opaque.add(paths[i]!);
  });
  return opaque;
}
