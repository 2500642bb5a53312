// User resolution against the container's own /etc/passwd and /etc/group, as runc's libcontainer/user
// does it: names looked up, numbers taken as they are, supplementary groups only when no group is given.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { SwarmError } from '../../errors.js';

/**
 * The host path of `p` inside `root`, following symlinks as if `root` were `/` (an image may ship
 * /etc/passwd as a symlink to an absolute path: it must not lead us to the host's files).
 */
export function resolveInRoot(root: string, p: string): string {
  const pending = posix.normalize('/' + p).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(root, ...done, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // Missing: the rest cannot be links either.
      return posix.join(root, ...done, part, ...pending);
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > 40) throw new SwarmError('INVALID_ARGUMENT', `too many levels of symbolic links resolving ${p} in ${root}`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter(Boolean));
  }
  return posix.join(root, ...done);
}

function readRootFile(root: string, p: string): string {
  try {
    return readFileSync(resolveInRoot(root, p), 'utf8');
  } catch {
    return '';
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 4 || f[0]!.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || '/' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length < 3 || f[0]!.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean) });
  }
  return out;
}

const NUMERIC = /^\d+$/;

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/** Resolves `user` ('' = root) against the files in `rootfs`; unknown names are INVALID_ARGUMENT. */
export function resolveUser(rootfs: string, user: string | undefined): ResolvedUser {
  const spec = (user ?? '').trim();
  if (spec === '') return { uid: 0, gid: 0, additionalGids: [], home: homeOf(parsePasswd(readRootFile(rootfs, '/etc/passwd')), 0) };
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? '' : spec.slice(colon + 1);
  const passwd = parsePasswd(readRootFile(rootfs, '/etc/passwd'));

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  let home = '/';
  const byName = passwd.find((p) => p.name === userPart);
  if (byName) {
    ({ uid, gid, name, home } = byName);
  } else if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    const byUid = passwd.find((p) => p.uid === uid);
    if (byUid) ({ gid, name, home } = byUid);
  } else {
    throw new SwarmError('INVALID_ARGUMENT', `unable to find user ${userPart}: no matching entries in the image's /etc/passwd`, 'use a numeric uid[:gid], or a user the image defines');
  }

  const groups = groupPart !== '' || name !== undefined ? parseGroup(readRootFile(rootfs, '/etc/group')) : [];
  const additionalGids: number[] = [];
  if (groupPart !== '') {
    const g = groups.find((x) => x.name === groupPart);
    if (g) gid = g.gid;
    else if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else throw new SwarmError('INVALID_ARGUMENT', `unable to find group ${groupPart}: no matching entries in the image's /etc/group`, 'use a numeric gid, or a group the image defines');
  } else if (name !== undefined) {
    for (const g of groups) if (g.members.includes(name) && g.gid !== gid && !additionalGids.includes(g.gid)) additionalGids.push(g.gid);
  }
  return { uid, gid, additionalGids, home };
}

function homeOf(passwd: PasswdEntry[], uid: number): string {
  return passwd.find((p) => p.uid === uid)?.home ?? '/root';
}
