import { pack, unpack } from 'msgpackr';
import { overlaps, parseCidr, type Cidr } from '../../overlay-net/index.js';
import type { Entry } from '../../raft/index.js';
import type { RaftStateMachine } from '../../raft/driver/index.js';
import { SwarmError, type SwarmErrorCode } from '../errors.js';
import { decodeProposal, isRecord } from './proposal.js';
import {
  TABLE_NAMES,
  type ApplyResult,
  type ObjectInput,
  type Proposal,
  type StoreAction,
  type StoreEvent,
  type StoredObject,
  type TableName,
  type Tables,
} from './types.js';

/** Tables whose objects have a Spec.Name that must be unique (case-insensitively, as SwarmKit). */
const NAMED_TABLES: ReadonlySet<TableName> = new Set<TableName>(['nodes', 'services', 'networks', 'secrets', 'configs']);

/** For messages: "service abc" rather than "services abc". */
const SINGULAR: Record<TableName, string> = {
  cluster: 'cluster',
  nodes: 'node',
  services: 'service',
  tasks: 'task',
  networks: 'network',
  secrets: 'secret',
  configs: 'config',
};

const SNAPSHOT_FORMAT = 1;

export interface ClusterStoreOptions {
  /**
   * Called when a listener throws. The store must finish applying whatever a listener does, so
   * it cannot let the error through; the default rethrows it on a microtask, where it surfaces
   * as an uncaught exception instead of vanishing.
   */
  onListenerError?: (err: unknown) => void;
}

type Listener<A> = (arg: A) => void;

/** A failed action: the transaction stops and nothing of it is kept. */
class TxFailure {
  constructor(
    readonly code: SwarmErrorCode,
    readonly message: string,
  ) {}
}

/**
 * The replicated state machine and this member's read model of the cluster. Pure: no I/O and
 * no clock; every input (index, time) comes from the Raft entry, so every member that applies
 * the same log holds the same objects and returns the same results.
 *
 * Stored objects are deep-frozen and shared with readers: to change one, copy it and commit an
 * update. (Byte arrays inside objects cannot be frozen; do not write to them.)
 */
export class ClusterStore implements RaftStateMachine {
  private tables = emptyTables();
  /** Per named table: lower-cased Spec.Name -> ID. */
  private names = emptyNames();
  private applied = 0;
  private readonly watchers = new Set<Listener<StoreEvent>>();
  private readonly resetListeners = new Set<Listener<number>>();
  private readonly appliedListeners = new Set<Listener<number>>();
  private readonly onListenerError: (err: unknown) => void;

  constructor(opts: ClusterStoreOptions = {}) {
    this.onListenerError =
      opts.onListenerError ??
      ((err) =>
        queueMicrotask(() => {
          throw err;
        }));
  }

  // ---- the state machine ----

  /**
   * Applies one committed entry. Empty entries (a new leader's) and membership changes change
   * nothing and return undefined; a proposal is applied whole or not at all and returns its
   * outcome. Never throws for a bad transaction: every member must reach the same result.
   */
  apply(entry: Entry): ApplyResult | undefined {
    // A store reused across a driver restart sees the log replayed: skip what it already holds.
    if (entry.index <= this.applied) return undefined;
    let result: ApplyResult | undefined;
    if (entry.kind === 'normal' && entry.data.byteLength > 0) result = this.applyProposal(entry.index, entry.data);
    else this.applied = entry.index;
    this.notify(this.appliedListeners, entry.index);
    return result;
  }

  private applyProposal(index: number, data: Uint8Array): ApplyResult {
    let proposal: Proposal;
    try {
      proposal = decodeProposal(data);
    } catch (err) {
      // The proposer validates first; this is a member writing around it, or a bug.
      this.applied = index;
      return { ok: false, index, code: 'INVALID_ARGUMENT', message: err instanceof Error ? err.message : String(err) };
    }
    const tx = new Tx(this.tables, this.names, index, proposal.proposedAt);
    for (const action of proposal.actions) {
      let failure: TxFailure | undefined;
      try {
        failure = tx.run(action);
      } catch (err) {
        // A bug here hits every member alike: refuse the write rather than stop them all.
        failure = new TxFailure('INTERNAL', `applying ${action.op} on ${action.table}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (failure) {
        this.applied = index;
        return { ok: false, index, code: failure.code, message: failure.message };
      }
    }
    this.commit(tx);
    this.applied = index;
    for (const e of tx.events) this.notify(this.watchers, e);
    return { ok: true, index, objects: tx.objects };
  }

  /** Makes a transaction's staged writes the store's state. */
  private commit(tx: Tx): void {
    for (const [table, staged] of tx.writes) {
      const rows = this.tables[table];
      const names = this.names[table];
      for (const [id, obj] of staged) {
        const prev = rows.get(id);
        const prevKey = prev && nameKey(table, prev);
        // Another object of this transaction may already hold the name: only drop our own entry.
        if (prevKey !== undefined && names.get(prevKey) === id) names.delete(prevKey);
        if (obj === null) {
          rows.delete(id);
          continue;
        }
        rows.set(id, obj);
        const key = nameKey(table, obj);
        if (key !== undefined) names.set(key, id);
      }
    }
  }

  snapshot(): Uint8Array {
    const tables: Record<string, StoredObject[]> = {};
    for (const t of TABLE_NAMES) tables[t] = [...this.tables[t].values()];
    return pack({ format: SNAPSHOT_FORMAT, index: this.applied, tables });
  }

  /**
   * Replaces everything with a snapshot's contents. Watchers get no event per object: reset
   * listeners are told instead, so controllers rebuild from list().
   */
  restore(data: Uint8Array): void {
    const tables = emptyTables();
    let index = 0;
    if (data.byteLength > 0) {
      let decoded: unknown;
      try {
        decoded = unpack(data);
      } catch (err) {
        throw corrupt(`not valid msgpack: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!isRecord(decoded) || decoded.format !== SNAPSHOT_FORMAT) throw corrupt(`expected format ${SNAPSHOT_FORMAT}`);
      if (typeof decoded.index !== 'number' || !Number.isSafeInteger(decoded.index) || decoded.index < 0) throw corrupt('bad index');
      if (!isRecord(decoded.tables)) throw corrupt('no tables');
      index = decoded.index;
      for (const t of TABLE_NAMES) {
        const rows = decoded.tables[t] ?? [];
        if (!Array.isArray(rows)) throw corrupt(`table ${t} is not a list`);
        for (const row of rows) {
          if (!isRecord(row) || typeof row.ID !== 'string' || !isRecord(row.Version)) throw corrupt(`a row of ${t} is not an object`);
          tables[t].set(row.ID, deepFreeze(row) as unknown as StoredObject);
        }
      }
    }
    this.tables = tables;
    this.names = emptyNames();
    for (const t of NAMED_TABLES) {
      for (const [id, obj] of tables[t]) {
        const key = nameKey(t, obj);
        if (key !== undefined) this.names[t].set(key, id);
      }
    }
    this.applied = index;
    this.notify(this.resetListeners, index);
    this.notify(this.appliedListeners, index);
  }

  /** The Raft index of the last entry applied (any kind, failed transactions included) or restored. */
  lastIndex(): number {
    return this.applied;
  }

  // ---- reads ----

  get<T extends TableName>(table: T, id: string): Tables[T] | undefined {
    return this.tables[table].get(id) as Tables[T] | undefined;
  }

  /** By Spec.Name, case-insensitively (names are unique that way); only for named tables. */
  getByName<T extends TableName>(table: T, name: string): Tables[T] | undefined {
    const id = this.names[table].get(name.toLowerCase());
    return id === undefined ? undefined : this.get(table, id);
  }

  /** All objects, in the order they were created. */
  list<T extends TableName>(table: T): Tables[T][] {
    return [...this.tables[table].values()] as Tables[T][];
  }

  find<T extends TableName>(table: T, pred: (o: Tables[T]) => boolean): Tables[T][] {
    const out: Tables[T][] = [];
    for (const o of this.tables[table].values()) if (pred(o as Tables[T])) out.push(o as Tables[T]);
    return out;
  }

  count(table: TableName): number {
    return this.tables[table].size;
  }

  // ---- notifications ----

  /**
   * Calls the listener with one event per action of each committed transaction, in commit
   * order, synchronously, after the whole transaction is applied (reads see its end state).
   */
  watch(listener: (e: StoreEvent) => void): () => void {
    return subscribe(this.watchers, listener);
  }

  /** Called after restore() replaced the state (a snapshot from the leader or the WAL), with its index. */
  onReset(listener: (index: number) => void): () => void {
    return subscribe(this.resetListeners, listener);
  }

  /** Called after every entry applied (whatever its kind or outcome) and after restore(). */
  onApplied(listener: (index: number) => void): () => void {
    return subscribe(this.appliedListeners, listener);
  }

  private notify<A>(listeners: Set<Listener<A>>, arg: A): void {
    if (listeners.size === 0) return;
    // A copy: a listener may unsubscribe (itself or another) while we deliver.
    for (const l of [...listeners]) {
      if (!listeners.has(l)) continue;
      try {
        l(arg);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}

/**
 * One transaction's view: staged writes over the store's tables, which stay untouched until
 * every action has succeeded.
 */
class Tx {
  /** table -> ID -> the object after this transaction, or null when deleted. */
  readonly writes = new Map<TableName, Map<string, StoredObject | null>>();
  readonly events: StoreEvent[] = [];
  readonly objects: StoredObject[] = [];

  constructor(
    private readonly tables: Record<TableName, Map<string, StoredObject>>,
    private readonly names: Record<TableName, Map<string, string>>,
    private readonly index: number,
    private readonly at: string,
  ) {}

  run(a: StoreAction): TxFailure | undefined {
    switch (a.op) {
      case 'create':
        return this.create(a.table, a.object);
      case 'update':
        return this.update(a.table, a.object, a.expectVersion);
      case 'delete':
        return this.remove(a.table, a.id, a.expectVersion);
    }
  }

  private create(table: TableName, input: ObjectInput): TxFailure | undefined {
    const id = input.ID;
    if (this.get(table, id)) return new TxFailure('ALREADY_EXISTS', `${SINGULAR[table]} ${id} already exists`);
    if (table === 'cluster') {
      const existing = this.ids('cluster')[0];
      if (existing !== undefined) return new TxFailure('ALREADY_EXISTS', `the cluster object already exists (${existing}); there is exactly one`);
    }
    const obj = this.build(input, this.at);
    const conflict = this.nameConflict(table, obj) ?? this.allocationConflict(table, obj);
    if (conflict) return conflict;
    this.stage(table, id, obj);
    this.record({ table, op: 'create', object: obj, index: this.index });
    return undefined;
  }

  private update(table: TableName, input: ObjectInput, expectVersion: number | undefined): TxFailure | undefined {
    const id = input.ID;
    const prev = this.get(table, id);
    if (!prev) return notFound(table, id);
    if (expectVersion !== undefined && prev.Version.Index !== expectVersion) return outOfSequence();
    const obj = this.build(input, prev.CreatedAt);
    const conflict = this.nameConflict(table, obj) ?? this.allocationConflict(table, obj);
    if (conflict) return conflict;
    this.stage(table, id, obj);
    this.record({ table, op: 'update', object: obj, previous: prev, index: this.index });
    return undefined;
  }

  private remove(table: TableName, id: string, expectVersion: number | undefined): TxFailure | undefined {
    const prev = this.get(table, id);
    if (!prev) return notFound(table, id);
    if (expectVersion !== undefined && prev.Version.Index !== expectVersion) return outOfSequence();
    if (table === 'cluster') return new TxFailure('INVALID_ARGUMENT', 'the cluster object cannot be deleted');
    this.stage(table, id, null);
    this.record({ table, op: 'delete', object: prev, index: this.index });
    return undefined;
  }

  /** The stored form: the store's own fields first, as Docker orders them, then the rest. */
  private build(input: ObjectInput, createdAt: string): StoredObject {
    const { ID, Version: _v, CreatedAt: _c, UpdatedAt: _u, ...rest } = input as ObjectInput & Record<string, unknown>;
    return deepFreeze({ ID, Version: { Index: this.index }, CreatedAt: createdAt, UpdatedAt: this.at, ...rest });
  }

  private nameConflict(table: TableName, obj: StoredObject): TxFailure | undefined {
    const key = nameKey(table, obj);
    if (key === undefined) return undefined;
    const owner = this.nameOwner(table, key);
    if (owner === undefined || owner === obj.ID) return undefined;
    return new TxFailure('ALREADY_EXISTS', `name conflicts with an existing object: ${SINGULAR[table]} ${JSON.stringify(specName(obj))} is ${owner}`);
  }

  /**
   * What two managers may hand out at once must not end up twice in the store: a network's
   * subnet and VNI, a service's published ingress ports. The writer that loses gets CONFLICT
   * and allocates again.
   */
  private allocationConflict(table: TableName, obj: StoredObject): TxFailure | undefined {
    if (table === 'networks') return this.networkConflict(obj);
    if (table === 'services') return this.ingressPortConflict(obj);
    return undefined;
  }

  private networkConflict(obj: StoredObject): TxFailure | undefined {
    const mine = networkClaims(obj);
    if (typeof mine === 'string') return new TxFailure('INVALID_ARGUMENT', `network ${specName(obj) ?? obj.ID}: ${mine}`);
    if (mine.subnets.length === 0 && mine.vni === undefined) return undefined;
    for (const id of this.ids('networks')) {
      if (id === obj.ID) continue;
      const other = this.get('networks', id);
      const theirs = other && networkClaims(other);
      if (!other || theirs === undefined || typeof theirs === 'string') continue;
      const name = specName(other) ?? other.ID;
      if (mine.vni !== undefined && mine.vni === theirs.vni) return new TxFailure('CONFLICT', `VNI ${mine.vni} is already used by network ${name}`);
      for (const a of mine.subnets) {
        const b = theirs.subnets.find((x) => overlaps(a.cidr, x.cidr));
        if (b) return new TxFailure('CONFLICT', `subnet ${a.text} overlaps ${b.text} of network ${name}`);
      }
    }
    return undefined;
  }

  private ingressPortConflict(obj: StoredObject): TxFailure | undefined {
    const mine = ingressPorts(obj);
    if (mine.length === 0) return undefined;
    for (const id of this.ids('services')) {
      if (id === obj.ID) continue;
      const other = this.get('services', id);
      if (!other) continue;
      const theirs = ingressPorts(other);
      const taken = mine.find((p) => theirs.includes(p));
      if (taken !== undefined) return new TxFailure('CONFLICT', `port ${taken} is already in use by service ${specName(other) ?? other.ID} as an ingress port`);
    }
    return undefined;
  }

  /** Who holds a name once this transaction's writes so far are counted. */
  private nameOwner(table: TableName, key: string): string | undefined {
    const staged = this.writes.get(table);
    if (staged) for (const [id, obj] of staged) if (obj && nameKey(table, obj) === key) return id;
    const owner = this.names[table].get(key);
    // An owner this transaction rewrote was checked above, with its new name (or deleted).
    return owner !== undefined && !staged?.has(owner) ? owner : undefined;
  }

  get(table: TableName, id: string): StoredObject | undefined {
    const staged = this.writes.get(table)?.get(id);
    if (staged !== undefined) return staged ?? undefined;
    return this.tables[table].get(id);
  }

  private ids(table: TableName): string[] {
    const staged = this.writes.get(table);
    const out = [...this.tables[table].keys()].filter((id) => !staged?.has(id));
    if (staged) for (const [id, obj] of staged) if (obj) out.push(id);
    return out;
  }

  private stage(table: TableName, id: string, obj: StoredObject | null): void {
    let staged = this.writes.get(table);
    if (!staged) this.writes.set(table, (staged = new Map()));
    staged.set(id, obj);
  }

  private record(e: StoreEvent): void {
    this.events.push(Object.freeze(e));
    this.objects.push(e.object);
  }
}

function specName(obj: StoredObject): string | undefined {
  const spec = (obj as { Spec?: unknown }).Spec;
  return isRecord(spec) && typeof spec.Name === 'string' && spec.Name !== '' ? spec.Name : undefined;
}

const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

/** A network's subnets and VNI as stored, or what is wrong with them. */
function networkClaims(obj: StoredObject): { subnets: { text: string; cidr: Cidr }[]; vni: string | undefined } | string {
  const o = obj as { IPAM?: unknown; DriverState?: unknown };
  const subnets: { text: string; cidr: Cidr }[] = [];
  const configs = isRecord(o.IPAM) ? o.IPAM.Configs : undefined;
  if (Array.isArray(configs)) {
    for (const c of configs as unknown[]) {
      const text = isRecord(c) ? c.Subnet : undefined;
      if (typeof text !== 'string') continue;
      try {
        subnets.push({ text, cidr: parseCidr(text, 'IPAM.Configs.Subnet') });
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    }
  }
  const options = isRecord(o.DriverState) ? o.DriverState.Options : undefined;
  const vni = isRecord(options) && typeof options[VNI_OPTION] === 'string' && options[VNI_OPTION] !== '' ? options[VNI_OPTION] : undefined;
  return { subnets, vni };
}

/** "8080/tcp" for each port a service's allocated endpoint publishes on the routing mesh. */
function ingressPorts(obj: StoredObject): string[] {
  const endpoint = (obj as { Endpoint?: unknown }).Endpoint;
  const ports = isRecord(endpoint) ? endpoint.Ports : undefined;
  if (!Array.isArray(ports)) return [];
  const out: string[] = [];
  for (const p of ports as unknown[]) {
    if (!isRecord(p) || typeof p.PublishedPort !== 'number' || p.PublishedPort <= 0) continue;
    if ((p.PublishMode ?? 'ingress') !== 'ingress') continue;
    out.push(`${p.PublishedPort}/${typeof p.Protocol === 'string' ? p.Protocol : 'tcp'}`);
  }
  return out;
}

function nameKey(table: TableName, obj: StoredObject): string | undefined {
  return NAMED_TABLES.has(table) ? specName(obj)?.toLowerCase() : undefined;
}

function notFound(table: TableName, id: string): TxFailure {
  return new TxFailure('NOT_FOUND', `${SINGULAR[table]} ${id} not found`);
}

function outOfSequence(): TxFailure {
  // Docker's words, which its clients match on.
  return new TxFailure('OUT_OF_SEQUENCE', 'update out of sequence');
}

function corrupt(problem: string): SwarmError {
  return new SwarmError('INTERNAL', `store snapshot is corrupt: ${problem}`);
}

function emptyTables(): Record<TableName, Map<string, StoredObject>> {
  return Object.fromEntries(TABLE_NAMES.map((t) => [t, new Map<string, StoredObject>()])) as Record<TableName, Map<string, StoredObject>>;
}

function emptyNames(): Record<TableName, Map<string, string>> {
  return Object.fromEntries(TABLE_NAMES.map((t) => [t, new Map<string, string>()])) as Record<TableName, Map<string, string>>;
}

function subscribe<A>(set: Set<Listener<A>>, listener: Listener<A>): () => void {
  // A wrapper, so the same function subscribed twice gets two independent subscriptions.
  const entry: Listener<A> = (arg) => listener(arg);
  set.add(entry);
  return () => {
    set.delete(entry);
  };
}

/** Freezes plain objects and arrays all the way down. Byte arrays cannot be frozen and are left. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
