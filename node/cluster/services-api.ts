import type { LogLine } from '../api/index.js';
import type { ConfigCreate, ConfigUpdate, Filters, NetworkCreate, SecretCreate, ServicesBackend, ServiceStatus } from '../api/index.js';
import { isSwarmError, SwarmError } from '../errors.js';
import {
  AddressPlanner,
  allocateEndpoint,
  downNodeIds,
  holdsAddresses,
  ingressNetworkSpec,
  isIngressPort,
  newNetworkObject,
  type AddressPool,
  type AllocatorView,
} from '../manager/allocator/index.js';
import { updateStatusForWrite } from '../manager/orchestrator/index.js';
import { decryptSecret, deriveDataKey, encryptSecret } from '../manager/secrets/index.js';
import { newObjectId, type StoreAction } from '../store/index.js';
import type { ConfigObject, NetworkObject, NetworkSpec, SecretObject, ServiceObject, ServiceSpec, StoredObject, TaskObject } from '../store/index.js';
import type { ManagerRole } from './manager-role.js';

type Named = StoredObject & { Spec: { Name: string; Labels?: Record<string, string> } };

/** Labels filter values: "key" (present) or "key=value". */
function labelsMatch(labels: Record<string, string> | undefined, wanted: string[] | undefined): boolean {
  if (!wanted || wanted.length === 0) return true;
  return wanted.every((w) => {
    const at = w.indexOf('=');
    return at < 0 ? labels?.[w] !== undefined : labels?.[w.slice(0, at)] === w.slice(at + 1);
  });
}

function anyOf(values: string[] | undefined, pred: (v: string) => boolean): boolean {
  return !values || values.length === 0 || values.some(pred);
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Writes that allocate (addresses, subnets, ports) are tried again this often when another manager's write won the race. */
const ALLOCATION_ATTEMPTS = 3;

/** A lost allocation race: the network's LastAllocated moved (OUT_OF_SEQUENCE), or the store found the subnet, VNI or port taken (CONFLICT). */
function lostRace(err: unknown): boolean {
  return isSwarmError(err, 'OUT_OF_SEQUENCE') || isSwarmError(err, 'CONFLICT');
}

/**
 * Services, tasks, secrets and configs as the API sees them, over the replicated store of
 * this manager. Writes go through Raft; reads are linearizable.
 */
export class ServicesApi implements ServicesBackend {
  constructor(
    private readonly manager: () => ManagerRole,
    private readonly fresh: () => Promise<void>,
    private readonly commit: (m: ManagerRole, actions: StoreAction[]) => Promise<void>,
    /** A container's log lines from the node that runs it. */
    private readonly fetchLogs: (nodeId: string, containerId: string, opts: { tail: number | undefined; since: Date | undefined }) => Promise<LogLine[]> = async () => [],
  ) {}

  private resolve<T extends Named>(table: 'services' | 'secrets' | 'configs' | 'networks', ref: string, what: string): T {
    const store = this.manager().store;
    const all = store.list(table) as unknown as T[];
    const hit = all.find((o) => o.ID === ref) ?? all.find((o) => o.Spec.Name === ref) ?? (ref.length >= 3 ? all.filter((o) => o.ID.startsWith(ref)) : []).at(0);
    if (!hit) throw new SwarmError('NOT_FOUND', `${what} ${ref} not found`);
    return hit;
  }

  // ---------------------------------------------------------------- services

  private status(s: ServiceObject, tasks: TaskObject[]): ServiceStatus {
    const mine = tasks.filter((t) => t.ServiceID === s.ID);
    const running = mine.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running').length;
    const desired = s.Spec.Mode.Replicated ? s.Spec.Mode.Replicated.Replicas : mine.filter((t) => t.DesiredState === 'running').length;
    return { RunningTasks: running, DesiredTasks: desired, CompletedTasks: mine.filter((t) => t.Status.State === 'complete').length };
  }

  async listServices(filters: Filters, status: boolean): Promise<(ServiceObject & { ServiceStatus?: ServiceStatus })[]> {
    await this.fresh();
    const store = this.manager().store;
    const tasks = status ? store.list('tasks') : [];
    return store
      .list('services')
      .filter(
        (s) =>
          anyOf(filters['id'], (v) => s.ID.startsWith(v)) &&
          anyOf(filters['name'], (v) => s.Spec.Name === v || s.Spec.Name.startsWith(v)) &&
          labelsMatch(s.Spec.Labels, filters['label']) &&
          anyOf(filters['mode'], (v) => (v === 'global' ? s.Spec.Mode.Global !== undefined : s.Spec.Mode.Replicated !== undefined)),
      )
      .map((s) => (status ? { ...s, ServiceStatus: this.status(s, tasks) } : s));
  }

  async inspectService(ref: string): Promise<ServiceObject> {
    await this.fresh();
    return this.resolve<ServiceObject>('services', ref, 'service');
  }

  private check(spec: ServiceSpec): void {
    if (!spec.TaskTemplate?.ContainerSpec?.Image) throw new SwarmError('INVALID_ARGUMENT', 'TaskTemplate.ContainerSpec.Image: an image is required');
    if (spec.Name && !NAME.test(spec.Name)) throw new SwarmError('INVALID_ARGUMENT', `Name: "${spec.Name}" is not a valid service name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63)`);
    const m = spec.Mode ?? {};
    if ((m.Replicated === undefined) === (m.Global === undefined)) throw new SwarmError('INVALID_ARGUMENT', 'Mode: exactly one of Replicated, Global');
    if (m.Replicated && !(Number.isInteger(m.Replicated.Replicas) && m.Replicated.Replicas >= 0)) {
      throw new SwarmError('INVALID_ARGUMENT', 'Mode.Replicated.Replicas: must be a non-negative integer');
    }
    for (const ref of spec.TaskTemplate.ContainerSpec.Secrets ?? []) this.resolve('secrets', ref.SecretID || ref.SecretName, 'secret');
    for (const ref of spec.TaskTemplate.ContainerSpec.Configs ?? []) this.resolve('configs', ref.ConfigID || ref.ConfigName, 'config');
  }

  /** Secret and config references carry both the ID and the name, as Docker fills them in. */
  private withReferences(spec: ServiceSpec): ServiceSpec {
    const cs = spec.TaskTemplate.ContainerSpec;
    return {
      ...spec,
      Labels: spec.Labels ?? {},
      TaskTemplate: {
        ...spec.TaskTemplate,
        ContainerSpec: {
          ...cs,
          ...(cs.Secrets ? { Secrets: cs.Secrets.map((r) => { const s = this.resolve<SecretObject>('secrets', r.SecretID || r.SecretName, 'secret'); return { ...r, SecretID: s.ID, SecretName: s.Spec.Name }; }) } : {}),
          ...(cs.Configs ? { Configs: cs.Configs.map((r) => { const c = this.resolve<ConfigObject>('configs', r.ConfigID || r.ConfigName, 'config'); return { ...r, ConfigID: c.ID, ConfigName: c.Spec.Name }; }) } : {}),
        },
      },
    };
  }

  /** What the allocator reads. */
  private allocatorView(): AllocatorView {
    const store = this.manager().store;
    return { networks: store.list('networks'), services: store.list('services'), tasks: store.list('tasks'), nodes: store.list('nodes') };
  }

  /**
   * Runs an allocating write; when another manager's write took what it allocated, reads again
   * and allocates anew (a conflict that remains is the answer).
   */
  private async allocating<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (attempt >= ALLOCATION_ATTEMPTS || !lostRace(err)) throw err;
        await this.fresh();
      }
    }
  }

  async createService(spec: ServiceSpec): Promise<{ ID: string; Warnings: string[] }> {
    const m = this.manager();
    await this.fresh();
    this.check(spec);
    const id = newObjectId();
    const now = new Date().toISOString();
    return this.allocating(async () => {
      const full = this.withReferences({ ...spec, Name: spec.Name || `service-${id.slice(0, 8)}` });
      const planner = new AddressPlanner(this.allocatorView());
      const allocated = allocateEndpoint({ serviceId: id, spec: full, services: this.manager().store.list('services'), planner });
      const object = { ID: id, CreatedAt: now, UpdatedAt: now, Spec: allocated.spec, Endpoint: allocated.endpoint };
      await this.commit(m, [{ op: 'create', table: 'services', object }, ...planner.networkUpdates()]);
      return { ID: id, Warnings: allocated.warnings };
    });
  }

  async updateService(ref: string, version: number, spec: ServiceSpec, opts: { rollback: boolean }): Promise<{ Warnings: string[] }> {
    const m = this.manager();
    await this.fresh();
    return this.allocating(async () => {
      const current = this.resolve<ServiceObject>('services', ref, 'service');
      // Docker's words, which its clients match on; checked here so that only a lost allocation race is retried.
      if (current.Version.Index !== version) throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the service changed since it was read: read it again and retry');
      let next: ServiceSpec;
      if (opts.rollback) {
        if (!current.PreviousSpec) throw new SwarmError('CONFLICT', `service ${current.Spec.Name} has no previous spec to roll back to`);
        next = current.PreviousSpec;
      } else {
        this.check(spec);
        next = this.withReferences(spec);
      }
      if (next.Name !== current.Spec.Name) throw new SwarmError('INVALID_ARGUMENT', 'Name: a service cannot be renamed');
      const planner = new AddressPlanner(this.allocatorView());
      const allocated = allocateEndpoint({ serviceId: current.ID, spec: next, current, services: this.manager().store.list('services'), planner });
      const now = new Date().toISOString();
      const UpdateStatus = updateStatusForWrite(current, { spec: allocated.spec, ports: allocated.endpoint?.Ports }, { rollback: opts.rollback, now });
      const { Deployment: _previous, ...rest } = current;
      // A new update starts its canary or blue/green deployment from the beginning.
      const starts = UpdateStatus !== current.UpdateStatus && UpdateStatus?.State === 'updating';
      const updated: ServiceObject = {
        ...(starts || opts.rollback ? rest : current),
        Spec: allocated.spec,
        PreviousSpec: current.Spec,
        Endpoint: allocated.endpoint,
        ...(UpdateStatus ? { UpdateStatus } : {}),
        ...(starts ? { Deployment: { Step: 0, StepStartedAt: now } } : {}),
      };
      await this.commit(m, [{ op: 'update', table: 'services', object: updated, expectVersion: version }, ...planner.networkUpdates()]);
      return { Warnings: allocated.warnings };
    });
  }

  async promoteService(ref: string): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const s = this.resolve<ServiceObject>('services', ref, 'service');
    const type = s.Spec.Strategy?.Type ?? 'rolling';
    if (s.UpdateStatus?.State !== 'updating' || type === 'rolling') {
      throw new SwarmError('CONFLICT', `service ${s.Spec.Name} has no canary or blue/green deployment in progress`, 'promote applies while `service update` of a service with --strategy canary or blue-green runs');
    }
    const Deployment = { ...(s.Deployment ?? { Step: 0, StepStartedAt: new Date().toISOString() }), Promoted: true };
    await this.commit(m, [{ op: 'update', table: 'services', object: { ...s, Deployment }, expectVersion: s.Version.Index }]);
  }

  async removeService(ref: string): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const s = this.resolve<ServiceObject>('services', ref, 'service');
    await this.commit(m, [{ op: 'delete', table: 'services', id: s.ID }]);
  }

  /**
   * The logs of every task of the service that has a container, fetched from the nodes that
   * ran them and merged by time; with follow, new lines are asked for every half second.
   */
  async *serviceLogs(ref: string, opts: { follow: boolean; tail: number | undefined; since: Date | undefined }, signal: AbortSignal): AsyncIterable<{ stream: 'stdout' | 'stderr'; time: string; line: string; taskId: string; nodeId: string }> {
    await this.fresh();
    const service = this.resolve<ServiceObject>('services', ref, 'service');
    const since = new Map<string, Date | undefined>();
    let first = true;
    while (!signal.aborted) {
      const tasks = this.manager().store.find('tasks', (t) => t.ServiceID === service.ID && !!t.NodeID && !!t.Status.ContainerStatus?.ContainerID);
      const batches = await Promise.all(
        tasks.map(async (t) => {
          const cid = t.Status.ContainerStatus!.ContainerID;
          try {
            const lines = await this.fetchLogs(t.NodeID!, cid, { tail: first ? opts.tail : undefined, since: since.get(t.ID) ?? opts.since });
            return lines.map((l) => ({ ...l, taskId: t.ID, nodeId: t.NodeID! }));
          } catch {
            return []; // the node is down or the container is gone: its lines are not available
          }
        }),
      );
      const merged = batches.flat().sort((a, b) => a.time.localeCompare(b.time));
      for (const l of merged) {
        const seen = since.get(l.taskId);
        const t = new Date(Date.parse(l.time) + 1);
        if (!seen || t > seen) since.set(l.taskId, t);
        yield l;
      }
      first = false;
      if (!opts.follow) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // ---------------------------------------------------------------- tasks

  async listTasks(filters: Filters): Promise<TaskObject[]> {
    await this.fresh();
    const store = this.manager().store;
    const services = store.list('services');
    const serviceIds = (vals: string[] | undefined) =>
      vals?.flatMap((v) => services.filter((s) => s.ID === v || s.Spec.Name === v || s.ID.startsWith(v)).map((s) => s.ID));
    const wantedServices = serviceIds(filters['service']);
    const nodes = store.list('nodes');
    const wantedNodes = filters['node']?.flatMap((v) => nodes.filter((n) => n.ID === v || n.Description.Hostname === v || n.ID.startsWith(v)).map((n) => n.ID));
    return store
      .list('tasks')
      .filter(
        (t) =>
          anyOf(filters['id'], (v) => t.ID.startsWith(v)) &&
          (!wantedServices || wantedServices.includes(t.ServiceID)) &&
          (!wantedNodes || (t.NodeID !== undefined && wantedNodes.includes(t.NodeID))) &&
          labelsMatch(t.Labels, filters['label']) &&
          anyOf(filters['desired-state'], (v) => t.DesiredState === v),
      );
  }

  async inspectTask(id: string): Promise<TaskObject> {
    await this.fresh();
    const t = this.manager().store.get('tasks', id) ?? this.manager().store.find('tasks', (x) => x.ID.startsWith(id))[0];
    if (!t) throw new SwarmError('NOT_FOUND', `task ${id} not found`);
    return t;
  }

  // ---------------------------------------------------------------- networks

  async listNetworks(filters: Filters): Promise<NetworkObject[]> {
    await this.fresh();
    return this.manager()
      .store.list('networks')
      .filter(
        (n) =>
          anyOf(filters['id'], (v) => n.ID.startsWith(v)) &&
          anyOf(filters['name'], (v) => n.Spec.Name === v || n.Spec.Name.startsWith(v)) &&
          labelsMatch(n.Spec.Labels, filters['label']) &&
          anyOf(filters['driver'], (v) => v === 'overlay') &&
          anyOf(filters['scope'], (v) => v === 'swarm'),
      );
  }

  async inspectNetwork(ref: string): Promise<NetworkObject> {
    await this.fresh();
    return this.resolve<NetworkObject>('networks', ref, 'network');
  }

  /** The cluster's address pool. */
  private pool(): AddressPool {
    const cluster = this.manager().store.list('cluster')[0];
    return { DefaultAddrPool: cluster?.DefaultAddrPool ?? [], SubnetSize: cluster?.SubnetSize ?? 0 };
  }

  async createNetwork(req: NetworkCreate): Promise<{ ID: string; Warning: string }> {
    const m = this.manager();
    await this.fresh();
    const spec: NetworkSpec = {
      Name: req.Name,
      Labels: req.Labels,
      DriverConfiguration: { Name: 'overlay' },
      ...(req.IPAMConfig.length > 0 ? { IPAMOptions: { Driver: { Name: 'default' }, Configs: req.IPAMConfig } } : {}),
      ...(req.Attachable ? { Attachable: true } : {}),
      ...(req.Internal ? { Internal: true } : {}),
      ...(req.Ingress ? { Ingress: true } : {}),
    };
    const id = newObjectId();
    const now = new Date().toISOString();
    return this.allocating(async () => {
      const store = this.manager().store;
      const same = store.getByName('networks', req.Name);
      if (same) throw new SwarmError('ALREADY_EXISTS', `network with name ${req.Name} already exists`, 'choose another name, or use the existing network');
      const object = { ...newNetworkObject(id, spec, store.list('networks'), this.pool()), CreatedAt: now, UpdatedAt: now };
      await this.commit(m, [{ op: 'create', table: 'networks', object }]);
      return { ID: id, Warning: '' };
    });
  }

  /**
   * The ingress network as `swarm init` creates it, in the same transaction as the cluster object
   * (the pool is that of the cluster being created): the first subnet of the pool, VNI 4096.
   */
  ingressNetworkAction(cluster: AddressPool): StoreAction {
    const now = new Date().toISOString();
    return { op: 'create', table: 'networks', object: { ...newNetworkObject(newObjectId(), ingressNetworkSpec(), [], cluster), CreatedAt: now, UpdatedAt: now } };
  }

  async removeNetwork(ref: string): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const store = m.store;
    const n = this.resolve<NetworkObject>('networks', ref, 'network');
    const services = store.list('services');
    const user = services.find((s) => s.Spec.TaskTemplate.Networks?.some((t) => t.Target === n.ID || t.Target === n.Spec.Name));
    if (user) throw new SwarmError('CONFLICT', `network ${n.Spec.Name} is in use by service ${user.Spec.Name}`, 'remove the service, or update it to leave the network, first');
    if (n.Spec.Ingress) {
      const publisher = services.find((s) => (s.Endpoint?.Ports ?? []).some(isIngressPort));
      if (publisher) throw new SwarmError('CONFLICT', `ingress network cannot be removed because service ${publisher.Spec.Name} depends on it`);
    }
    const down = downNodeIds(store.list('nodes'));
    const task = store.find('tasks', (t) => holdsAddresses(t, down) && (t.NetworksAttachments ?? []).some((a) => a.Network.ID === n.ID))[0];
    if (task) throw new SwarmError('CONFLICT', `network ${n.Spec.Name} is in use by task ${task.ID}`, 'wait until the tasks of the services that used it are gone');
    // Conditional: an address handed out on it meanwhile makes this fail rather than strand its holder.
    await this.commit(m, [{ op: 'delete', table: 'networks', id: n.ID, expectVersion: n.Version.Index }]);
  }

  // ---------------------------------------------------------------- secrets and configs

  /** The cluster's key for secrets at rest. */
  dataKey(): Buffer {
    const cluster = this.manager().store.list('cluster')[0];
    if (!cluster) throw new SwarmError('UNAVAILABLE', 'the cluster object is not replicated here yet');
    const ca = JSON.parse(cluster.CAKey) as { privateKey: string };
    return deriveDataKey(Buffer.from(ca.privateKey, 'base64'));
  }

  /** Decrypted secret data, for the dispatcher to hand to the node that runs a task using it. */
  secretData(id: string): Buffer {
    const s = this.manager().store.get('secrets', id);
    if (!s) throw new SwarmError('NOT_FOUND', `secret ${id} not found`);
    return decryptSecret(this.dataKey(), s.EncryptedData);
  }

  private validateCreate(kind: 'secret' | 'config', spec: SecretCreate | ConfigCreate): Buffer {
    if (typeof spec.Name !== 'string' || !NAME.test(spec.Name)) throw new SwarmError('INVALID_ARGUMENT', `Name: "${String(spec.Name)}" is not a valid ${kind} name`);
    if (typeof spec.Data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(spec.Data)) throw new SwarmError('INVALID_ARGUMENT', 'Data: must be base64');
    const data = Buffer.from(spec.Data, 'base64');
    if (data.length > 500 * 1024) throw new SwarmError('INVALID_ARGUMENT', `Data: a ${kind} is at most 500 KiB, got ${data.length} bytes`);
    return data;
  }

  private inUseBy(field: 'Secrets' | 'Configs', id: string): string[] {
    return this.manager()
      .store.list('services')
      .filter((s) => (field === 'Secrets' ? s.Spec.TaskTemplate.ContainerSpec.Secrets?.some((r) => r.SecretID === id) : s.Spec.TaskTemplate.ContainerSpec.Configs?.some((r) => r.ConfigID === id)))
      .map((s) => s.Spec.Name);
  }

  async listSecrets(filters: Filters): Promise<SecretObject[]> {
    await this.fresh();
    return this.manager()
      .store.list('secrets')
      .filter((s) => anyOf(filters['id'], (v) => s.ID.startsWith(v)) && anyOf(filters['name'], (v) => s.Spec.Name === v) && labelsMatch(s.Spec.Labels, filters['label']));
  }

  async inspectSecret(ref: string): Promise<SecretObject> {
    await this.fresh();
    return this.resolve<SecretObject>('secrets', ref, 'secret');
  }

  async createSecret(spec: SecretCreate): Promise<{ ID: string }> {
    const m = this.manager();
    await this.fresh();
    const data = this.validateCreate('secret', spec);
    const id = newObjectId();
    const now = new Date().toISOString();
    const object: Omit<SecretObject, 'Version'> = { ID: id, CreatedAt: now, UpdatedAt: now, Spec: { Name: spec.Name, Labels: spec.Labels ?? {} }, EncryptedData: encryptSecret(this.dataKey(), data) };
    await this.commit(m, [{ op: 'create', table: 'secrets', object }]);
    return { ID: id };
  }

  async removeSecret(ref: string): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const s = this.resolve<SecretObject>('secrets', ref, 'secret');
    const users = this.inUseBy('Secrets', s.ID);
    if (users.length > 0) throw new SwarmError('CONFLICT', `secret '${s.Spec.Name}' is in use by the following service: ${users.join(', ')}`);
    await this.commit(m, [{ op: 'delete', table: 'secrets', id: s.ID }]);
  }

  async listConfigs(filters: Filters): Promise<ConfigObject[]> {
    await this.fresh();
    return this.manager()
      .store.list('configs')
      .filter((c) => anyOf(filters['id'], (v) => c.ID.startsWith(v)) && anyOf(filters['name'], (v) => c.Spec.Name === v) && labelsMatch(c.Spec.Labels, filters['label']));
  }

  async inspectConfig(ref: string): Promise<ConfigObject> {
    await this.fresh();
    return this.resolve<ConfigObject>('configs', ref, 'config');
  }

  async createConfig(spec: ConfigCreate): Promise<{ ID: string }> {
    const m = this.manager();
    await this.fresh();
    this.validateCreate('config', spec);
    const id = newObjectId();
    const now = new Date().toISOString();
    const object: Omit<ConfigObject, 'Version'> = { ID: id, CreatedAt: now, UpdatedAt: now, Spec: { Name: spec.Name, Labels: spec.Labels ?? {}, Data: spec.Data } };
    await this.commit(m, [{ op: 'create', table: 'configs', object }]);
    return { ID: id };
  }

  /** As swarmkit's UpdateConfig: only the labels change; conditional on the version read. */
  async updateConfig(ref: string, version: number, spec: ConfigUpdate): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const c = this.resolve<ConfigObject>('configs', ref, 'config');
    // Docker's words, as for services; the store checks the version again when it applies the write.
    if (c.Version.Index !== version) throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the config changed since it was read: read it again and retry');
    if (spec.Name !== c.Spec.Name) throw new SwarmError('INVALID_ARGUMENT', 'Name: a config cannot be renamed');
    if (spec.Data !== undefined && !Buffer.from(spec.Data, 'base64').equals(Buffer.from(c.Spec.Data, 'base64'))) {
      throw new SwarmError('INVALID_ARGUMENT', 'Data: only the labels of a config can be updated');
    }
    const updated: ConfigObject = { ...c, Spec: { ...c.Spec, Labels: { ...spec.Labels } } };
    await this.commit(m, [{ op: 'update', table: 'configs', object: updated, expectVersion: version }]);
  }

  async removeConfig(ref: string): Promise<void> {
    const m = this.manager();
    await this.fresh();
    const c = this.resolve<ConfigObject>('configs', ref, 'config');
    const users = this.inUseBy('Configs', c.ID);
    if (users.length > 0) throw new SwarmError('CONFLICT', `config '${c.Spec.Name}' is in use by the following service: ${users.join(', ')}`);
    await this.commit(m, [{ op: 'delete', table: 'configs', id: c.ID }]);
  }
}
