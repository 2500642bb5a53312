// The endpoint table every host keeps and gossips (as Docker's networkdb): a last-writer-wins map
// per (networkId, owner) under a Lamport clock, so hosts that saw the same writes in any order and
// any number of times hold the same table. Pure: time comes in as `now`, only to age tombstones.
import type { EndpointRecord } from '../types.js';
import { PeerMessageError } from './errors.js';
import { checkRecord, compareStamps, compareWrites, fingerprint, frozenCopy, samePayload } from './record.js';

/** What a host writes about one of its own endpoints. */
export type LocalEndpoint = Omit<EndpointRecord, 'version' | 'origin' | 'deleted'>;

/** One key of a digest: [owner, version, origin, fingerprint of the whole record]. */
export type DigestEntry = [owner: string, version: number, origin: string, fingerprint: number];
/** A network's table in brief, sorted by owner: what anti-entropy exchanges first. */
export type PeerDigest = DigestEntry[];

export interface MergeResult {
  /** For each key whose held record was replaced, the record now held: reprogram for these. */
  changed: EndpointRecord[];
  /** This host's own new writes caused by the merge: publish these. */
  answers: EndpointRecord[];
}

interface Entry {
  rec: EndpointRecord;
  /** Computed on first use by a digest. */
  fp: number | undefined;
  /** When this host learned the tombstone (the caller's `now`); undefined for live records. */
  deletedAt: number | undefined;
}

function byOwner(a: EndpointRecord, b: EndpointRecord): number {
  return a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0;
}

export class PeerTable {
  readonly selfNodeId: string;
  #clock: number;
  readonly #nets = new Map<string, Map<string, Entry>>();
  /** Keys this host wrote with setLocal in this life and has not deleted: it is their authority. */
  readonly #local = new Map<string, Set<string>>();

  /**
   * `opts.clock` restores a clock saved before a restart; without it a restarted host's first
   * writes are ignored by peers until its clock passes its old writes (see merge).
   */
  constructor(selfNodeId: string, opts: { clock?: number } = {}) {
    if (typeof selfNodeId !== 'string' || selfNodeId === '') throw new TypeError('selfNodeId must be a non-empty string');
    const clock = opts.clock ?? 0;
    if (!Number.isSafeInteger(clock) || clock < 0) throw new RangeError(`clock must be a non-negative safe integer, got ${clock}`);
    this.selfNodeId = selfNodeId;
    this.#clock = clock;
  }

  /** The Lamport clock: at least every version this table has seen. */
  get clock(): number {
    return this.#clock;
  }

  /**
   * Writes one of this host's own endpoints and returns the stored record to publish, or
   * undefined when the table already holds a live record with the same payload (nothing to send).
   * Throws TypeError for a malformed record (a bug: peers would refuse it).
   */
  setLocal(endpoint: LocalEndpoint): EndpointRecord | undefined {
    let checked: EndpointRecord;
    try {
      checked = checkRecord({ ...endpoint, version: 0, origin: this.selfNodeId, deleted: false }, 'endpoint');
    } catch (err) {
      if (err instanceof PeerMessageError) throw new TypeError(`setLocal: ${err.message}`, { cause: err });
      throw err;
    }
    const { networkId, owner } = checked;
    this.#markLocal(networkId, owner, true);
    const held = this.#entry(networkId, owner);
    if (held !== undefined && !held.rec.deleted && samePayload(held.rec, checked)) return undefined;
    return this.#store({ ...checked, version: this.#tick() }, undefined);
  }

  /** Tombstones one of this host's endpoints; undefined when the table holds no live record for it. */
  deleteLocal(networkId: string, owner: string, now: number): EndpointRecord | undefined {
    this.#markLocal(networkId, owner, false);
    const held = this.#entry(networkId, owner);
    if (held === undefined || held.rec.deleted) return undefined;
    return this.#store({ ...held.rec, deleted: true, version: this.#tick(), origin: this.selfNodeId }, now);
  }

  /**
   * Merges records from peers: per key the greater (version, origin) wins (see compareWrites), and
   * the clock moves past every version seen. This host is the authority on its own endpoints:
   *  - a newer write (any origin: a stale one of ours from before a restart, or another host's
   *    dropNode tombstone) about an endpoint it holds from setLocal is refuted: the local record is
   *    written again with a version past it, and that goes in `answers`;
   *  - a newer live write with origin === self about an endpoint it does not hold from setLocal is
   *    ours from before a restart: kept as is if its owner is in `localOwners` (the endpoint still
   *    runs here; the coming setLocal corrects it if it changed), else answered with a fresh
   *    tombstone.
   * `localOwners`: the owners (`task:<id>`, `node:<id>`) running on this host, whether or not
   * setLocal has been called for them yet. `now` dates the tombstones learned, for `prune`.
   */
  merge(records: readonly EndpointRecord[], localOwners: ReadonlySet<string>, now: number): MergeResult {
    const changed = new Map<string, EndpointRecord>();
    const answers = new Map<string, EndpointRecord>();
    for (const rec of records) {
      if (rec.version > this.#clock) this.#clock = rec.version;
      const key = `${rec.networkId}\n${rec.owner}`;
      const held = this.#entry(rec.networkId, rec.owner);
      if (held !== undefined && compareWrites(rec, held.rec) <= 0) continue;

      if (held !== undefined && this.#isMarkedLocal(rec.networkId, rec.owner)) {
        answers.set(key, this.#store({ ...held.rec, version: this.#tick(), origin: this.selfNodeId }, undefined));
        continue;
      }
      if (rec.origin === this.selfNodeId && !rec.deleted && !localOwners.has(rec.owner)) {
        const tombstone = this.#store({ ...rec, deleted: true, version: this.#tick() }, now);
        changed.set(key, tombstone);
        answers.set(key, tombstone);
        continue;
      }
      changed.set(key, this.#store(rec, rec.deleted ? now : undefined));
    }
    return { changed: [...changed.values()], answers: [...answers.values()] };
  }

  /** The record held for a key, live or tombstone. */
  get(networkId: string, owner: string): EndpointRecord | undefined {
    return this.#entry(networkId, owner)?.rec;
  }

  /** Live records of a network, sorted by owner. */
  records(networkId: string): EndpointRecord[] {
    return this.all(networkId).filter((r) => !r.deleted);
  }

  /** Every record of a network including tombstones, sorted by owner. */
  all(networkId: string): EndpointRecord[] {
    const net = this.#nets.get(networkId);
    return net === undefined ? [] : [...net.values()].map((e) => e.rec).sort(byOwner);
  }

  /** Networks the table holds anything for, sorted. */
  networks(): string[] {
    return [...this.#nets.keys()].sort();
  }

  digest(networkId: string): PeerDigest {
    const net = this.#nets.get(networkId);
    if (net === undefined) return [];
    const out: PeerDigest = [];
    for (const e of net.values()) {
      e.fp ??= fingerprint(e.rec);
      out.push([e.rec.owner, e.rec.version, e.rec.origin, e.fp]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /**
   * What the holder of `theirs` should be sent: our records that beat theirs, or that differ with
   * the same stamp (the receiver's merge settles which wins), and our live records for keys they
   * lack. Tombstones for keys they lack are not sent: there is nothing for them to delete, and a
   * host that pruned a tombstone would otherwise be handed it back forever.
   */
  missingFrom(networkId: string, theirs: PeerDigest): EndpointRecord[] {
    const net = this.#nets.get(networkId);
    if (net === undefined) return [];
    const known = new Map<string, DigestEntry>();
    for (const entry of theirs) known.set(entry[0], entry);
    const out: EndpointRecord[] = [];
    for (const e of net.values()) {
      const their = known.get(e.rec.owner);
      if (their === undefined) {
        if (!e.rec.deleted) out.push(e.rec);
        continue;
      }
      const order = compareStamps(e.rec.version, e.rec.origin, their[1], their[2]);
      if (order > 0) out.push(e.rec);
      else if (order === 0 && (e.fp ??= fingerprint(e.rec)) !== their[3]) out.push(e.rec);
    }
    return out.sort(byOwner);
  }

  /**
   * Drops tombstones learned at least `keepTombstonesFor` before `now` (in one network, or all).
   * Keep them longer than any host may stay out of touch: a host that missed the delete can bring
   * the old live record back once the tombstone is gone. Returns how many were dropped.
   */
  prune(networkId: string | undefined, keepTombstonesFor: number, now: number): number {
    let dropped = 0;
    for (const id of networkId === undefined ? [...this.#nets.keys()] : [networkId]) {
      const net = this.#nets.get(id);
      if (net === undefined) continue;
      for (const [owner, e] of net) {
        if (e.deletedAt !== undefined && now - e.deletedAt >= keepTombstonesFor) {
          net.delete(owner);
          dropped++;
        }
      }
      if (net.size === 0) this.#nets.delete(id);
    }
    return dropped;
  }

  /** Forgets a network entirely (this host left it), its local endpoints included. */
  forgetNetwork(networkId: string): void {
    this.#nets.delete(networkId);
    this.#local.delete(networkId);
  }

  /**
   * Tombstones every live record on `nodeId` in every network, for a host declared dead; returns
   * them to publish. Never this host's own: if the host is in fact alive it refutes (see merge).
   */
  dropNode(nodeId: string, now: number): EndpointRecord[] {
    if (nodeId === this.selfNodeId) return [];
    const out: EndpointRecord[] = [];
    for (const [networkId, net] of this.#nets) {
      for (const e of [...net.values()].sort((a, b) => byOwner(a.rec, b.rec))) {
        if (e.rec.deleted || e.rec.nodeId !== nodeId || this.#isMarkedLocal(networkId, e.rec.owner)) continue;
        out.push(this.#store({ ...e.rec, deleted: true, version: this.#tick(), origin: this.selfNodeId }, now));
      }
    }
    return out;
  }

  #tick(): number {
    return ++this.#clock;
  }

  #entry(networkId: string, owner: string): Entry | undefined {
    return this.#nets.get(networkId)?.get(owner);
  }

  #store(rec: EndpointRecord, deletedAt: number | undefined): EndpointRecord {
    const frozen = frozenCopy(rec);
    let net = this.#nets.get(rec.networkId);
    if (net === undefined) {
      net = new Map();
      this.#nets.set(rec.networkId, net);
    }
    net.set(rec.owner, { rec: frozen, fp: undefined, deletedAt: frozen.deleted ? deletedAt : undefined });
    return frozen;
  }

  #markLocal(networkId: string, owner: string, local: boolean): void {
    let owners = this.#local.get(networkId);
    if (local) {
      if (owners === undefined) {
        owners = new Set();
        this.#local.set(networkId, owners);
      }
      owners.add(owner);
    } else if (owners !== undefined) {
      owners.delete(owner);
      if (owners.size === 0) this.#local.delete(networkId);
    }
  }

  #isMarkedLocal(networkId: string, owner: string): boolean {
    return this.#local.get(networkId)?.has(owner) === true;
  }
}
