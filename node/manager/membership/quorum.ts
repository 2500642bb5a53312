// Pure rules for changing the set of Raft voters without losing quorum.

export interface VoterSet {
  voters: readonly string[];
}

export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * Why removing `target` from the voters would leave the cluster without a working majority,
 * or undefined when it is safe. `reachable` are the voters known to be up.
 */
export function removalBlocker(conf: VoterSet, reachable: ReadonlySet<string>, target: string): string | undefined {
  if (!conf.voters.includes(target)) return undefined;
  const remaining = conf.voters.filter((v) => v !== target);
  if (remaining.length === 0) return 'it is the last manager: the swarm would have no managers left';
  const up = remaining.filter((v) => reachable.has(v)).length;
  const need = quorumOf(remaining.length);
  if (up < need) {
    return `the swarm would keep ${remaining.length} managers of which only ${up} are reachable, fewer than the ${need} needed for a quorum`;
  }
  return undefined;
}
