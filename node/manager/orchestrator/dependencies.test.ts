import { describe, expect, it } from 'vitest';
import type { TaskObject } from '../../store/index.js';
import { mkService, mkSpec, mkTask } from '../test-helpers.js';
import { dependenciesSatisfied, findDependencyCycle } from './index.js';

const db = mkService('db-id', { Name: 'db' });
const checked = mkService('cache-id', { Name: 'cache', TaskTemplate: mkSpec({ ContainerSpec: { Image: 'redis', Healthcheck: { Test: ['CMD', 'ping'] } } }) });
const disabled = mkService('q-id', { Name: 'queue', TaskTemplate: mkSpec({ ContainerSpec: { Image: 'q', Healthcheck: { Test: ['NONE'] } } }) });
const services = [db, checked, disabled];

const on = (name: string, condition: 'service_started' | 'service_healthy') => mkService('app', { Name: 'app', DependsOn: [{ Service: name, Condition: condition }] });
const runningTask = (svc: string, o: Parameters<typeof mkTask>[2] = {}): TaskObject => mkTask(`${svc}-t`, svc, { node: 'a', state: 'running', ...o });

describe('dependenciesSatisfied', () => {
  it.each([
    ['no dependencies', mkService('app'), [], true],
    ['started: a running task', on('db', 'service_started'), [runningTask('db-id')], true],
    ['started: only a starting task', on('db', 'service_started'), [runningTask('db-id', { state: 'starting' })], false],
    ['started: a running task being shut down', on('db', 'service_started'), [runningTask('db-id', { desired: 'shutdown' })], false],
    ['started: no tasks', on('db', 'service_started'), [], false],
    ['started: no such service', on('nope', 'service_started'), [], false],
    ['healthy: running and healthy', on('cache', 'service_healthy'), [runningTask('cache-id', { health: 'healthy' })], true],
    ['healthy: running, health not reported yet', on('cache', 'service_healthy'), [runningTask('cache-id')], false],
    ['healthy: running, unhealthy', on('cache', 'service_healthy'), [runningTask('cache-id', { health: 'unhealthy' })], false],
    ['healthy: no health check declared, running', on('db', 'service_healthy'), [runningTask('db-id')], true],
    ['healthy: the image health check reports starting', on('db', 'service_healthy'), [runningTask('db-id', { health: 'starting' })], false],
    ['healthy: health check disabled, running', on('queue', 'service_healthy'), [runningTask('q-id')], true],
    ['healthy: one healthy task among others', on('cache', 'service_healthy'), [runningTask('cache-id', { state: 'failed' }), { ...runningTask('cache-id', { health: 'healthy' }), ID: 'c2' }], true],
  ])('%s', (_name, service, tasks, ok) => {
    const r = dependenciesSatisfied(service, services, tasks);
    expect(r.ok).toBe(ok);
    expect(r.waitingFor).toEqual(ok ? [] : (service.Spec.DependsOn ?? []).map((d) => d.Service));
  });

  it('takes tasks grouped by service id too', () => {
    const app = mkService('app', { Name: 'app', DependsOn: [{ Service: 'db', Condition: 'service_started' }, { Service: 'cache', Condition: 'service_started' }] });
    const byService = new Map([['db-id', [runningTask('db-id')]]]);
    expect(dependenciesSatisfied(app, services, byService)).toEqual({ ok: false, waitingFor: ['cache'] });
  });
});

describe('findDependencyCycle', () => {
  const svc = (name: string, deps: string[]) => mkService(name, { Name: name, DependsOn: deps.map((d) => ({ Service: d, Condition: 'service_started' as const })) });
  it('finds a cycle', () => {
    expect(findDependencyCycle([svc('a', ['b']), svc('b', ['c']), svc('c', ['a'])])).toEqual(['a', 'b', 'c', 'a']);
    expect(findDependencyCycle([svc('a', ['a'])])).toEqual(['a', 'a']);
  });
  it('accepts a DAG and ignores unknown services', () => {
    expect(findDependencyCycle([svc('a', ['b', 'c']), svc('b', ['c']), svc('c', ['zzz'])])).toBeUndefined();
  });
});
