import { pack, unpack } from 'msgpackr';

/** The topic on which the leader spreads who is up, so every node knows its peers' state. */
export const LIVENESS_TOPIC = 'swarm/liveness/1';

export interface PeerEntry {
  nodeId: string;
  peerId: string;
  role: 'manager' | 'worker';
  state: 'unknown' | 'down' | 'ready' | 'disconnected';
}

/**
 * A full picture of node liveness. `version` is the store index it was read at: it only grows,
 * across leaders too, so a receiver keeps the newest and a lost message costs nothing.
 */
export interface LivenessDigest {
  version: number;
  nodes: PeerEntry[];
}

export function encodeDigest(d: LivenessDigest): Uint8Array {
  return pack(d);
}

/** Decodes and checks a digest from the wire; undefined when malformed (it is dropped). */
export function decodeDigest(bytes: Uint8Array): LivenessDigest | undefined {
  let d: unknown;
  try {
    d = unpack(bytes);
  } catch {
    return undefined;
  }
  if (typeof d !== 'object' || d === null) return undefined;
  const { version, nodes } = d as Partial<LivenessDigest>;
  if (typeof version !== 'number' || !Array.isArray(nodes)) return undefined;
  for (const n of nodes) {
    if (typeof n !== 'object' || n === null || typeof n.nodeId !== 'string' || typeof n.peerId !== 'string' || typeof n.state !== 'string') return undefined;
  }
  return { version, nodes };
}

/** What this node knows of its peers' liveness: the newest digest wins. */
export class PeerLiveness {
  private digest: LivenessDigest = { version: 0, nodes: [] };

  /** True when the digest was newer and replaced what we knew. */
  update(d: LivenessDigest): boolean {
    if (d.version <= this.digest.version) return false;
    this.digest = d;
    return true;
  }

  current(): LivenessDigest {
    return this.digest;
  }

  state(nodeId: string): PeerEntry['state'] | undefined {
    return this.digest.nodes.find((n) => n.nodeId === nodeId)?.state;
  }
}
