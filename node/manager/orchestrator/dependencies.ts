import type { ServiceObject, TaskObject } from '../../store/index.js';

export interface DependencyStatus {
  ok: boolean;
  /** Names of the services (from DependsOn) not yet running, or healthy, as asked. */
  waitingFor: string[];
}

export const NO_DEPENDENCIES: DependencyStatus = { ok: true, waitingFor: [] };

/** Whether the service's spec declares a health check (Test ["NONE"] disables the image's). */
function declaresHealthcheck(s: ServiceObject): boolean {
  const test = s.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test;
  return !!test && test.length > 0 && test[0] !== 'NONE';
}

function satisfies(t: TaskObject, healthy: boolean, hasCheck: boolean): boolean {
  if (t.DesiredState !== 'running' || t.Status.State !== 'running') return false;
  if (!healthy) return true;
  // No health reported yet: healthy only if nothing will ever report (no check at all).
  return t.Status.Health === undefined ? !hasCheck : t.Status.Health === 'healthy';
}

/**
 * Compose's depends_on, which Swarm ignores: the service's tasks may start once every service
 * it depends on has a running task (service_healthy: a healthy one). `tasks` may hold any
 * tasks; only those of the dependencies are looked at. A dependency that does not exist is
 * waited for (it may be deployed next).
 */
export function dependenciesSatisfied(service: ServiceObject, services: readonly ServiceObject[], tasks: readonly TaskObject[] | ReadonlyMap<string, readonly TaskObject[]>): DependencyStatus {
  const deps = service.Spec.DependsOn ?? [];
  if (deps.length === 0) return NO_DEPENDENCIES;
  const byName = new Map(services.map((s) => [s.Spec.Name, s]));
  const tasksOf = (id: string): readonly TaskObject[] => (Array.isArray(tasks) ? (tasks as readonly TaskObject[]).filter((t) => t.ServiceID === id) : ((tasks as ReadonlyMap<string, readonly TaskObject[]>).get(id) ?? []));
  const waitingFor: string[] = [];
  for (const d of deps) {
    const dep = byName.get(d.Service);
    const healthy = d.Condition === 'service_healthy';
    const ok = !!dep && tasksOf(dep.ID).some((t) => satisfies(t, healthy, declaresHealthcheck(dep)));
    if (!ok) waitingFor.push(d.Service);
  }
  return { ok: waitingFor.length === 0, waitingFor };
}

/** A cycle of DependsOn among the services (names, first repeated at the end), if any: such services would wait forever. */
export function findDependencyCycle(services: readonly ServiceObject[]): string[] | undefined {
  const byName = new Map(services.map((s) => [s.Spec.Name, s]));
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const st = state.get(name);
    if (st === 2) return undefined;
    if (st === 1) return [...path.slice(path.indexOf(name)), name];
    state.set(name, 1);
    path.push(name);
    for (const d of byName.get(name)?.Spec.DependsOn ?? []) {
      if (!byName.has(d.Service)) continue;
      const c = visit(d.Service);
      if (c) return c;
    }
    path.pop();
    state.set(name, 2);
    return undefined;
  };
  for (const s of [...byName.keys()].sort()) {
    const c = visit(s);
    if (c) return c;
  }
  return undefined;
}
