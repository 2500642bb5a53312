import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../durable-file.js';
import { SwarmError } from '../errors.js';

export type LocalRole = 'manager' | 'worker';

/** A manager as this node last knew it: enough to find the cluster again after a restart. */
export interface KnownManager {
  nodeId: string;
  peerId: string;
  addrs: string[];
}

/** What a node keeps on its own disk about its membership (state.json in the data dir). */
export interface LocalState {
  nodeId: string;
  clusterId: string;
  role: LocalRole;
  /** The cluster CA's public key, base64. */
  caPublicKey: string;
  /** This node's certificate, encoded, base64. */
  certificate: string;
  listenAddr: string;
  advertiseAddr: string;
  managers: KnownManager[];
}

const FILE = 'state.json';

export function loadLocalState(dataDir: string): LocalState | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = JSON.parse(text) as LocalState;
    for (const field of ['nodeId', 'clusterId', 'role', 'caPublicKey', 'certificate', 'listenAddr', 'advertiseAddr'] as const) {
      if (typeof s[field] !== 'string' || s[field] === '') throw new Error(`field ${field} is missing`);
    }
    if (!Array.isArray(s.managers)) throw new Error('field managers is missing');
    return s;
  } catch (err) {
    throw new SwarmError(
      'INTERNAL',
      `${join(dataDir, FILE)} is unreadable: ${(err as Error).message}`,
      'restore it from a backup, or remove the data dir and join the swarm again',
    );
  }
}

/** Written to a temp file, fsync'd and renamed: a crash leaves the old or the new state, never half. */
export function saveLocalState(dataDir: string, state: LocalState): void {
  writeFileDurably(join(dataDir, FILE), JSON.stringify(state, null, 2), 0o600);
}

export function removeLocalState(dataDir: string): void {
  rmSync(join(dataDir, FILE), { force: true });
}
