import { SwarmError } from '../errors.js';
import type { ConfigObject, NetworkObject, SecretObject, ServiceObject, ServiceSpec, TaskObject, TaskState } from '../store/index.js';
import type { ConfigCreate, ConfigUpdate, Filters, NetworkCreate, SecretCreate, ServicesBackend, ServiceStatus } from './services-backend.js';

// An in-memory ServicesBackend for tests of API clients (the API's own tests, the CLI's). Tasks
// are created for every slot (or node, for global services) and move along `startPath` one step
// per listTasks call, so a client polling for convergence sees them start. Records every call.
// Not for production use: no scheduling, no restarts, no rolling-update pacing.

export interface FakeLogLine {
  serviceId: string;
  taskId: string;
  nodeId: string;
  stream: 'stdout' | 'stderr';
  line: string;
  time: string;
}

const clone = <T>(v: T): T => structuredClone(v);

/** 25 characters as swarm IDs, told apart in their first 12: "task0003abcdefghijklmnopq". */
function fakeId(prefix: string, n: number): string {
  const head = `${prefix}${String(n).padStart(4, '0')}`;
  return `${head}${'abcdefghijklmnopqrstuvwxyz'.slice(0, 25 - head.length)}`;
}

function labelMatch(labels: Record<string, string> | undefined, want: string[]): boolean {
  return want.every((w) => {
    const i = w.indexOf('=');
    return i < 0 ? w in (labels ?? {}) : (labels ?? {})[w.slice(0, i)] === w.slice(i + 1);
  });
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export class FakeServicesBackend implements ServicesBackend {
  readonly calls: { method: keyof ServicesBackend; args: unknown[] }[] = [];
  /** The next error any call throws (then cleared). */
  failNext: Error | undefined;
  /** Where tasks go: replicated tasks round-robin, global services one task per node. */
  nodeIds: string[];
  /** The states a new task goes through, one step per listTasks call; it stays in the last. */
  startPath: TaskState[] = ['running'];
  /** Tasks of services running these images fail (with the given Err) instead of reaching running. */
  readonly failingImages = new Map<string, string>();
  /** What serviceLogs returns (then, with follow, it waits until the client goes away). */
  readonly logs: FakeLogLine[] = [];
  /** The clock for CreatedAt, UpdatedAt and task timestamps. */
  now: () => Date = () => new Date();

  private readonly services = new Map<string, ServiceObject>();
  private readonly tasks = new Map<string, TaskObject & { step: number }>();
  private readonly secrets = new Map<string, SecretObject & { data: string }>();
  private readonly configs = new Map<string, ConfigObject>();
  private readonly networks = new Map<string, NetworkObject>();
  private index = 100;
  private ids = 0;
  private networkIds = 0;
  private placed = 0;

  /** As after `swarm init`: the ingress network exists (10.0.0.0/24, VNI 4096, ID net0000...). */
  constructor(options: { nodeIds?: string[] } = {}) {
    this.nodeIds = options.nodeIds ?? ['fakenode00000000000000001'];
    this.addNetwork({ Name: 'ingress', Labels: {}, Attachable: false, Internal: false, Ingress: true, IPAMConfig: [] });
  }

  /** Networks get 10.0.N.0/24 and VNI 4096+N in creation order, or the subnet asked for. */
  private addNetwork(spec: NetworkCreate): NetworkObject {
    const n = this.networkIds++;
    const id = fakeId('net', n);
    const subnet = spec.IPAMConfig[0]?.Subnet ?? `10.0.${n}.0/24`;
    const network: NetworkObject = {
      ID: id,
      ...this.stamp(),
      Spec: {
        Name: spec.Name,
        Labels: clone(spec.Labels),
        DriverConfiguration: { Name: 'overlay' },
        ...(spec.IPAMConfig.length > 0 ? { IPAMOptions: { Driver: { Name: 'default' }, Configs: clone(spec.IPAMConfig) } } : {}),
        ...(spec.Attachable ? { Attachable: true } : {}),
        ...(spec.Internal ? { Internal: true } : {}),
        ...(spec.Ingress ? { Ingress: true } : {}),
      },
      DriverState: { Name: 'overlay', Options: { 'com.docker.network.driver.overlay.vxlanid_list': String(4096 + n) } },
      IPAM: { Driver: { Name: 'default' }, Configs: [{ Subnet: subnet, Gateway: spec.IPAMConfig[0]?.Gateway ?? subnet.replace(/\.0\/\d+$/, '.1') }] },
    };
    this.networks.set(id, network);
    return network;
  }

  private record(method: keyof ServicesBackend, ...args: unknown[]): void {
    this.calls.push({ method, args: clone(args) });
    const err = this.failNext;
    if (err !== undefined) {
      this.failNext = undefined;
      throw err;
    }
  }

  /** The base64 data a secret was created with (tests check it arrived; the API never returns it). */
  secretData(name: string): string | undefined {
    return [...this.secrets.values()].find((s) => s.Spec.Name === name)?.data;
  }

  /** Put a task in a state directly (as if the node reported it). */
  setTaskState(taskId: string, state: TaskState, err?: string): void {
    const t = this.tasks.get(taskId);
    if (!t) throw new Error(`no task ${taskId}`);
    t.Status = { ...t.Status, State: state, Timestamp: this.now().toISOString(), ...(err === undefined ? {} : { Err: err }) };
    t.step = this.startPath.length;
  }

  private stamp(): { Version: { Index: number }; CreatedAt: string; UpdatedAt: string } {
    const t = this.now().toISOString();
    return { Version: { Index: this.index++ }, CreatedAt: t, UpdatedAt: t };
  }

  private resolve<T extends { ID: string; Spec: { Name: string } }>(table: Map<string, T>, kind: string, ref: string): T {
    const exact = table.get(ref) ?? [...table.values()].find((o) => o.Spec.Name === ref);
    if (exact) return exact;
    const prefixed = [...table.values()].filter((o) => o.ID.startsWith(ref));
    if (prefixed.length > 1) throw new SwarmError('INVALID_ARGUMENT', `${kind} ${ref} is ambiguous (${prefixed.length} matches found)`);
    if (prefixed[0] && ref !== '') return prefixed[0];
    throw new SwarmError('NOT_FOUND', `${kind} ${ref} not found`);
  }

  private newTask(service: ServiceObject, slot: number | undefined, nodeId: string): void {
    const id = fakeId('task', ++this.ids);
    const stamp = this.stamp();
    const failing = this.failingImages.has(service.Spec.TaskTemplate.ContainerSpec.Image);
    this.tasks.set(id, {
      ID: id,
      ...stamp,
      Labels: {},
      Spec: clone(service.Spec.TaskTemplate),
      ServiceID: service.ID,
      ...(slot === undefined ? {} : { Slot: slot }),
      NodeID: nodeId,
      Status: { Timestamp: stamp.CreatedAt, State: this.startPath[0] ?? 'running', Message: failing ? 'preparing' : 'started' },
      DesiredState: 'running',
      SpecVersion: { Index: service.Version.Index },
      step: 1,
    });
    this.settle(this.tasks.get(id));
  }

  /** A task that reached the end of its path fails if its image is in failingImages. */
  private settle(t: (TaskObject & { step: number }) | undefined): void {
    if (!t || t.step < this.startPath.length) return;
    const err = this.failingImages.get(t.Spec.ContainerSpec.Image);
    if (err !== undefined && t.Status.State !== 'failed') {
      t.Status = { ...t.Status, State: 'failed', Err: err, Message: 'started', Timestamp: this.now().toISOString() };
      t.DesiredState = 'shutdown';
    }
  }

  private shutdown(t: TaskObject): void {
    t.DesiredState = 'shutdown';
    if (t.Status.State !== 'failed') t.Status = { ...t.Status, State: 'shutdown', Message: 'shutdown', Timestamp: this.now().toISOString() };
  }

  private liveTasks(serviceId: string): (TaskObject & { step: number })[] {
    return [...this.tasks.values()].filter((t) => t.ServiceID === serviceId && t.DesiredState === 'running');
  }

  /** Bring the service's tasks in line with its spec: replace outdated ones, add or remove slots. */
  private reconcile(service: ServiceObject, replaceAll: boolean): void {
    if (replaceAll) for (const t of this.liveTasks(service.ID)) this.shutdown(t);
    const live = this.liveTasks(service.ID);
    if (service.Spec.Mode.Global) {
      for (const node of this.nodeIds) if (!live.some((t) => t.NodeID === node)) this.newTask(service, undefined, node);
      return;
    }
    const replicas = service.Spec.Mode.Replicated?.Replicas ?? 1;
    for (const t of live) if ((t.Slot ?? 0) > replicas) this.shutdown(t);
    for (let slot = 1; slot <= replicas; slot++) {
      if (live.some((t) => t.Slot === slot)) continue;
      const node = this.nodeIds[this.placed++ % Math.max(1, this.nodeIds.length)] ?? '';
      this.newTask(service, slot, node);
    }
  }

  private status(s: ServiceObject): ServiceStatus {
    const live = this.liveTasks(s.ID);
    return {
      RunningTasks: live.filter((t) => t.Status.State === 'running').length,
      DesiredTasks: s.Spec.Mode.Global ? this.nodeIds.length : (s.Spec.Mode.Replicated?.Replicas ?? 1),
      CompletedTasks: 0,
    };
  }

  private checkRefs(spec: ServiceSpec): void {
    for (const r of spec.TaskTemplate.ContainerSpec.Secrets ?? []) {
      if (!this.secrets.has(r.SecretID)) throw new SwarmError('NOT_FOUND', `secret not found: ${r.SecretName} (${r.SecretID})`);
    }
    for (const r of spec.TaskTemplate.ContainerSpec.Configs ?? []) {
      if (!this.configs.has(r.ConfigID)) throw new SwarmError('NOT_FOUND', `config not found: ${r.ConfigName} (${r.ConfigID})`);
    }
  }

  async listServices(filters: Filters, status: boolean): Promise<(ServiceObject & { ServiceStatus?: ServiceStatus })[]> {
    this.record('listServices', filters, status);
    return [...this.services.values()]
      .filter((s) => {
        const mode = s.Spec.Mode.Global ? 'global' : 'replicated';
        return (
          (!filters['id'] || filters['id'].some((p) => s.ID.startsWith(p))) &&
          (!filters['name'] || filters['name'].some((p) => s.Spec.Name.startsWith(p))) &&
          (!filters['label'] || labelMatch(s.Spec.Labels, filters['label'])) &&
          (!filters['mode'] || filters['mode'].includes(mode))
        );
      })
      .map((s) => (status ? { ...clone(s), ServiceStatus: this.status(s) } : clone(s)));
  }

  async inspectService(ref: string): Promise<ServiceObject> {
    this.record('inspectService', ref);
    return clone(this.resolve(this.services, 'service', ref));
  }

  async createService(spec: ServiceSpec): Promise<{ ID: string; Warnings: string[] }> {
    this.record('createService', spec);
    if ([...this.services.values()].some((s) => s.Spec.Name === spec.Name)) {
      throw new SwarmError('ALREADY_EXISTS', `service ${spec.Name} already exists`, 'choose another --name, or update the existing service');
    }
    this.checkRefs(spec);
    const id = fakeId('svc', ++this.ids);
    const service: ServiceObject = { ID: id, ...this.stamp(), Spec: clone(spec), Endpoint: { Spec: clone(spec.EndpointSpec ?? {}), Ports: clone(spec.EndpointSpec?.Ports ?? []) } };
    this.services.set(id, service);
    this.reconcile(service, false);
    return { ID: id, Warnings: [] };
  }

  async updateService(ref: string, version: number, spec: ServiceSpec, opts: { rollback: boolean }): Promise<{ Warnings: string[] }> {
    this.record('updateService', ref, version, spec, opts);
    const service = this.resolve(this.services, 'service', ref);
    if (version !== service.Version.Index) {
      throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the service changed since it was read: read it again and retry');
    }
    let next = spec;
    if (opts.rollback) {
      if (!service.PreviousSpec) throw new SwarmError('INVALID_ARGUMENT', `service ${service.Spec.Name} does not have a previous spec`);
      next = service.PreviousSpec;
    }
    this.checkRefs(next);
    const replace = !sameJson(next.TaskTemplate, service.Spec.TaskTemplate) || !sameJson(next.Mode.Global, service.Spec.Mode.Global);
    service.PreviousSpec = service.Spec;
    service.Spec = clone(next);
    service.Endpoint = { Spec: clone(next.EndpointSpec ?? {}), Ports: clone(next.EndpointSpec?.Ports ?? []) };
    const stamp = this.stamp();
    service.Version = stamp.Version;
    service.UpdatedAt = stamp.UpdatedAt;
    if (replace) service.UpdateStatus = { State: opts.rollback ? 'rollback_completed' : 'completed', StartedAt: stamp.UpdatedAt, CompletedAt: stamp.UpdatedAt, Message: opts.rollback ? 'rollback completed' : 'update completed' };
    this.reconcile(service, replace);
    return { Warnings: [] };
  }

  async promoteService(ref: string): Promise<void> {
    this.record('promoteService', ref);
    const s = this.resolve(this.services, 'service', ref);
    if (s.UpdateStatus?.State !== 'updating' || !s.Spec.Strategy || s.Spec.Strategy.Type === 'rolling') {
      throw new SwarmError('CONFLICT', `service ${s.Spec.Name} has no canary or blue/green deployment in progress`);
    }
    s.Deployment = { ...(s.Deployment ?? { Step: 0, StepStartedAt: new Date().toISOString() }), Promoted: true };
  }

  async removeService(ref: string): Promise<void> {
    this.record('removeService', ref);
    const service = this.resolve(this.services, 'service', ref);
    this.services.delete(service.ID);
    for (const [id, t] of this.tasks) if (t.ServiceID === service.ID) this.tasks.delete(id);
  }

  serviceLogs(
    ref: string,
    opts: { follow: boolean; tail: number | undefined; since: Date | undefined },
    signal: AbortSignal,
  ): AsyncIterable<{ stream: 'stdout' | 'stderr'; time: string; line: string; taskId: string; nodeId: string }> {
    this.record('serviceLogs', ref, opts);
    const service = this.resolve(this.services, 'service', ref);
    let lines = this.logs.filter((l) => l.serviceId === service.ID && (opts.since === undefined || new Date(l.time) >= opts.since));
    if (opts.tail !== undefined) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
    return (async function* () {
      for (const l of lines) yield { stream: l.stream, time: l.time, line: l.line, taskId: l.taskId, nodeId: l.nodeId };
      if (opts.follow && !signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    })();
  }

  async listTasks(filters: Filters): Promise<TaskObject[]> {
    this.record('listTasks', filters);
    // Time passes for the tasks: each live one takes the next step of its start.
    for (const t of this.tasks.values()) {
      if (t.DesiredState !== 'running' || t.step >= this.startPath.length) continue;
      t.Status = { ...t.Status, State: this.startPath[t.step] ?? 'running', Timestamp: this.now().toISOString() };
      t.step++;
      this.settle(t);
    }
    const serviceIds = filters['service']?.map((ref) => {
      try {
        return this.resolve(this.services, 'service', ref).ID;
      } catch {
        return ref;
      }
    });
    return [...this.tasks.values()]
      .filter((t) => {
        const name = `${this.services.get(t.ServiceID)?.Spec.Name ?? ''}.${t.Slot ?? t.NodeID ?? ''}`;
        return (
          (!filters['id'] || filters['id'].some((p) => t.ID.startsWith(p))) &&
          (!serviceIds || serviceIds.includes(t.ServiceID)) &&
          (!filters['node'] || filters['node'].includes(t.NodeID ?? '')) &&
          (!filters['name'] || filters['name'].some((p) => name.startsWith(p))) &&
          (!filters['label'] || labelMatch(t.Labels, filters['label'])) &&
          (!filters['desired-state'] || filters['desired-state'].includes(t.DesiredState))
        );
      })
      .map(({ step: _step, ...t }) => clone(t));
  }

  async inspectTask(id: string): Promise<TaskObject> {
    this.record('inspectTask', id);
    const t = this.tasks.get(id) ?? [...this.tasks.values()].find((x) => id !== '' && x.ID.startsWith(id));
    if (!t) throw new SwarmError('NOT_FOUND', `task ${id} not found`);
    const { step: _step, ...task } = t;
    return clone(task);
  }

  async listSecrets(filters: Filters): Promise<SecretObject[]> {
    this.record('listSecrets', filters);
    return [...this.secrets.values()]
      .filter(
        (s) =>
          (!filters['id'] || filters['id'].some((p) => s.ID.startsWith(p))) &&
          (!filters['name'] || filters['name'].some((p) => s.Spec.Name.startsWith(p))) &&
          (!filters['label'] || labelMatch(s.Spec.Labels, filters['label'])),
      )
      .map(({ data: _data, ...s }) => clone(s));
  }

  async inspectSecret(ref: string): Promise<SecretObject> {
    this.record('inspectSecret', ref);
    const { data: _data, ...s } = this.resolve(this.secrets, 'secret', ref);
    return clone(s);
  }

  async createSecret(spec: SecretCreate): Promise<{ ID: string }> {
    this.record('createSecret', { ...spec, Data: '<redacted>' });
    if ([...this.secrets.values()].some((s) => s.Spec.Name === spec.Name)) throw new SwarmError('ALREADY_EXISTS', `secret ${spec.Name} already exists`);
    const id = fakeId('sec', ++this.ids);
    this.secrets.set(id, { ID: id, ...this.stamp(), Spec: { Name: spec.Name, Labels: clone(spec.Labels ?? {}) }, EncryptedData: `sealed:${spec.Data}`, data: spec.Data });
    return { ID: id };
  }

  async removeSecret(ref: string): Promise<void> {
    this.record('removeSecret', ref);
    const s = this.resolve(this.secrets, 'secret', ref);
    const users = [...this.services.values()].filter((svc) => svc.Spec.TaskTemplate.ContainerSpec.Secrets?.some((r) => r.SecretID === s.ID));
    if (users.length > 0) {
      throw new SwarmError('CONFLICT', `secret '${s.Spec.Name}' is in use by the following service: ${users.map((u) => u.Spec.Name).join(', ')}`);
    }
    this.secrets.delete(s.ID);
  }

  async listNetworks(filters: Filters): Promise<NetworkObject[]> {
    this.record('listNetworks', filters);
    return [...this.networks.values()]
      .filter(
        (n) =>
          (!filters['id'] || filters['id'].some((p) => n.ID.startsWith(p))) &&
          (!filters['name'] || filters['name'].some((p) => n.Spec.Name.startsWith(p))) &&
          (!filters['label'] || labelMatch(n.Spec.Labels, filters['label'])) &&
          (!filters['driver'] || filters['driver'].includes('overlay')) &&
          (!filters['scope'] || filters['scope'].includes('swarm')),
      )
      .map(clone);
  }

  async inspectNetwork(ref: string): Promise<NetworkObject> {
    this.record('inspectNetwork', ref);
    return clone(this.resolve(this.networks, 'network', ref));
  }

  async createNetwork(spec: NetworkCreate): Promise<{ ID: string; Warning: string }> {
    this.record('createNetwork', spec);
    const all = [...this.networks.values()];
    if (all.some((n) => n.Spec.Name === spec.Name)) throw new SwarmError('ALREADY_EXISTS', `network with name ${spec.Name} already exists`);
    const subnet = spec.IPAMConfig[0]?.Subnet;
    const clash = subnet === undefined ? undefined : all.find((n) => n.IPAM.Configs[0]?.Subnet === subnet);
    if (clash) throw new SwarmError('CONFLICT', `IPAM.Config[0].Subnet: ${subnet} overlaps ${subnet} of network ${clash.Spec.Name}`);
    if (spec.Ingress && all.some((n) => n.Spec.Ingress)) throw new SwarmError('CONFLICT', 'ingress network ingress is already present');
    return { ID: this.addNetwork(clone(spec)).ID, Warning: '' };
  }

  async removeNetwork(ref: string): Promise<void> {
    this.record('removeNetwork', ref);
    const n = this.resolve(this.networks, 'network', ref);
    const services = [...this.services.values()];
    const user = services.find((s) => s.Spec.TaskTemplate.Networks?.some((t) => t.Target === n.ID || t.Target === n.Spec.Name));
    if (user) throw new SwarmError('CONFLICT', `network ${n.Spec.Name} is in use by service ${user.Spec.Name}`);
    const publisher = n.Spec.Ingress ? services.find((s) => (s.Endpoint?.Ports ?? []).some((p) => (p.PublishMode ?? 'ingress') === 'ingress' && (p.PublishedPort ?? 0) > 0)) : undefined;
    if (publisher) throw new SwarmError('CONFLICT', `ingress network cannot be removed because service ${publisher.Spec.Name} depends on it`);
    this.networks.delete(n.ID);
  }

  async listConfigs(filters: Filters): Promise<ConfigObject[]> {
    this.record('listConfigs', filters);
    return [...this.configs.values()]
      .filter(
        (c) =>
          (!filters['id'] || filters['id'].some((p) => c.ID.startsWith(p))) &&
          (!filters['name'] || filters['name'].some((p) => c.Spec.Name.startsWith(p))) &&
          (!filters['label'] || labelMatch(c.Spec.Labels, filters['label'])),
      )
      .map(clone);
  }

  async inspectConfig(ref: string): Promise<ConfigObject> {
    this.record('inspectConfig', ref);
    return clone(this.resolve(this.configs, 'config', ref));
  }

  async createConfig(spec: ConfigCreate): Promise<{ ID: string }> {
    this.record('createConfig', spec);
    if ([...this.configs.values()].some((c) => c.Spec.Name === spec.Name)) throw new SwarmError('ALREADY_EXISTS', `config ${spec.Name} already exists`);
    const id = fakeId('cfg', ++this.ids);
    this.configs.set(id, { ID: id, ...this.stamp(), Spec: { Name: spec.Name, Labels: clone(spec.Labels ?? {}), Data: spec.Data } });
    return { ID: id };
  }

  async updateConfig(ref: string, version: number, spec: ConfigUpdate): Promise<void> {
    this.record('updateConfig', ref, version, spec);
    const c = this.resolve(this.configs, 'config', ref);
    if (version !== c.Version.Index) throw new SwarmError('OUT_OF_SEQUENCE', 'update out of sequence', 'the config changed since it was read: read it again and retry');
    if (spec.Name !== c.Spec.Name) throw new SwarmError('INVALID_ARGUMENT', 'Name: a config cannot be renamed');
    if (spec.Data !== undefined && !Buffer.from(spec.Data, 'base64').equals(Buffer.from(c.Spec.Data, 'base64'))) {
      throw new SwarmError('INVALID_ARGUMENT', 'Data: only the labels of a config can be updated');
    }
    const stamp = this.stamp();
    c.Spec.Labels = clone(spec.Labels);
    c.Version = stamp.Version;
    c.UpdatedAt = stamp.UpdatedAt;
  }

  async removeConfig(ref: string): Promise<void> {
    this.record('removeConfig', ref);
    const c = this.resolve(this.configs, 'config', ref);
    const users = [...this.services.values()].filter((svc) => svc.Spec.TaskTemplate.ContainerSpec.Configs?.some((r) => r.ConfigID === c.ID));
    if (users.length > 0) {
      throw new SwarmError('CONFLICT', `config '${c.Spec.Name}' is in use by the following service: ${users.map((u) => u.Spec.Name).join(', ')}`);
    }
    this.configs.delete(c.ID);
  }
}
