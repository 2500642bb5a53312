import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pack, type Pack } from 'tar-stream';
import { CliError } from './errors.js';

// The build context as `docker build` sends it: a tar of the directory, minus what .dockerignore
// excludes, streamed while it is read. The Dockerfile and .dockerignore always go (the daemon
// needs the one and honours the other); a Dockerfile from outside the directory is added under a
// generated name, as the docker CLI does.

/** One .dockerignore rule. */
interface Rule {
  regex: RegExp;
  negate: boolean;
}

/** Docker's pattern syntax (Go's filepath.Match plus "**"), anchored at the context root. */
export function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
      re += `[${body.startsWith('!') || body.startsWith('^') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      re += (pattern[i] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    // Go's filepath.Clean, and the root is the context: "/a/./b/" is "a/b".
    line = line
      .split('/')
      .filter((p) => p !== '' && p !== '.')
      .join('/');
    if (line === '') continue;
    rules.push({ regex: patternRegex(line), negate });
  }
  return rules;
}

/** Whether `path` (relative, "/"-separated) is excluded: the last rule matching it or a parent decides. */
export function isExcluded(rules: readonly Rule[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negate;
  }
  return excluded;
}

export interface BuildContext {
  body: Readable;
  /** The Dockerfile's path inside the context, for the `dockerfile` parameter. */
  dockerfile: string;
}

async function fileKind(path: string): Promise<'file' | 'directory' | 'missing' | 'other'> {
  try {
    const s = await stat(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

/** Packs `dir` for a build; `dockerfile` is the -f value (relative to `cwd`, as docker reads it). */
export async function buildContext(dir: string, dockerfile: string | undefined, cwd = process.cwd()): Promise<BuildContext> {
  const root = resolve(cwd, dir);
  const kind = await fileKind(root);
  if (kind !== 'directory') throw new CliError(`unable to prepare context: ${kind === 'missing' ? `path ${JSON.stringify(dir)} not found` : `${JSON.stringify(dir)} is not a directory`}`);
  const dockerfilePath = dockerfile === undefined ? join(root, 'Dockerfile') : resolve(cwd, dockerfile);
  if ((await fileKind(dockerfilePath)) !== 'file') {
    throw new CliError(`cannot read the Dockerfile ${dockerfilePath}: no such file`, dockerfile === undefined ? `give its path with -f, or create ${join(dir, 'Dockerfile')}` : undefined);
  }
  const rel = relative(root, dockerfilePath);
  const inside = rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  const name = inside ? rel.split(sep).join('/') : `.dockerfile.${randomBytes(10).toString('hex')}`;
  const ignore = await readFile(join(root, '.dockerignore'), 'utf8').catch(() => '');
  const rules = parseDockerignore(ignore);
  const negations = rules.some((r) => r.negate);
  const always = new Set([name, '.dockerignore']);

  const p = pack();
  const addFile = async (abs: string, entryName: string, mode: number, mtime: Date, size: number): Promise<void> => {
    const done = new Promise<void>((res, rej) => {
      const entry = p.entry({ name: entryName, type: 'file', size, mode, mtime, uid: 0, gid: 0 }, (err) => (err ? rej(err) : res()));
      void (async () => {
        try {
          for await (const chunk of createReadStream(abs) as AsyncIterable<Buffer>) {
            if (!entry.write(chunk)) await once(entry, 'drain');
          }
          entry.end(undefined); // streamx types demand an argument
        } catch (err) {
          rej(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    });
    await done;
  };
  const walk = async (absDir: string, relDir: string): Promise<void> => {
    const names = (await readdir(absDir)).sort();
    for (const entryName of names) {
      const abs = join(absDir, entryName);
      const relPath = relDir === '' ? entryName : `${relDir}/${entryName}`;
      const st = await lstat(abs);
      const excluded = isExcluded(rules, relPath) && !always.has(relPath);
      if (st.isDirectory()) {
        // An excluded directory is still walked when a "!" rule might bring part of it back.
        if (!excluded) p.entry({ name: `${relPath}/`, type: 'directory', mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 });
        if (!excluded || negations) await walk(abs, relPath);
      } else if (excluded) {
        continue;
      } else if (st.isSymbolicLink()) {
        p.entry({ name: relPath, type: 'symlink', linkname: await readlink(abs), mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 });
      } else if (st.isFile()) {
        await addFile(abs, relPath, st.mode & 0o7777, st.mtime, st.size);
      }
    }
  };
  const produce = async (target: Pack): Promise<void> => {
    await walk(root, '');
    if (!inside) {
      const st = await stat(dockerfilePath);
      await addFile(dockerfilePath, name, 0o644, st.mtime, st.size);
    }
    target.finalize();
  };
  produce(p).catch((err: unknown) => p.destroy(err instanceof Error ? err : new Error(String(err))));
  return { body: Readable.from(p as AsyncIterable<Buffer>), dockerfile: name };
}
