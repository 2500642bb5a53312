import { renameSync, rmSync } from 'node:fs';
import { MemoryStorage } from '../core/storage.js';
import type { MemberId } from '../core/types.js';
import { Wal, restoreMemoryStorage } from '../storage/index.js';
import type { RaftStateMachine } from './raft-node.js';

/**
 * Rewrites a member's Raft state as a one-voter cluster holding everything it had committed:
 * for a surviving manager after quorum is lost (`swarm init --force-new-cluster`). The state
 * machine must be empty; it is left holding the committed state.
 */
export async function rewriteAsSingleMember(dataDir: string, id: MemberId, machine: RaftStateMachine): Promise<{ index: number; term: number }> {
  const { wal, state } = await Wal.open(dataDir);
  wal.close();
  const storage = new MemoryStorage();
  restoreMemoryStorage(state, storage);
  if (state.snapshot) machine.restore(state.snapshot.data);
  const commit = state.hardState.commit;
  const from = storage.firstIndex();
  if (commit >= from) {
    for (const e of storage.entries(from, commit + 1)) machine.apply(e);
  }
  const index = Math.max(commit, state.snapshot?.metadata.index ?? 0);
  const term = index === 0 ? 0 : storage.term(index);
  // A term past anything the old members used, so none of their messages can win.
  const newTerm = state.hardState.term + 1;
  const tmp = `${dataDir}.new`;
  rmSync(tmp, { recursive: true, force: true });
  const fresh = await Wal.open(tmp);
  fresh.wal.save({ term: newTerm, vote: '', commit: index }, [], {
    metadata: { index, term, conf: { voters: [id], learners: [] } },
    data: machine.snapshot(),
  });
  fresh.wal.close();
  rmSync(`${dataDir}.old`, { recursive: true, force: true });
  renameSync(dataDir, `${dataDir}.old`);
  renameSync(tmp, dataDir);
  rmSync(`${dataDir}.old`, { recursive: true, force: true });
  return { index, term: newTerm };
}
