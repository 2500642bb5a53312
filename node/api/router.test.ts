import { describe, expect, it } from 'vitest';
import { matchRoute, route, stripVersion } from './router.js';

const noop = async () => ({});
const routes = [route('GET', '/nodes', noop), route('GET', '/nodes/{id}', noop), route('DELETE', '/nodes/{id}', noop), route('POST', '/nodes/{id}/update', noop)];

describe('matchRoute', () => {
  it('matches templates, decodes parameters and tells 404 from 405', () => {
    const m = matchRoute(routes, 'POST', '/nodes/a%20b/update');
    expect(m.kind === 'found' && m.route.template).toBe('/nodes/{id}/update');
    expect(m.kind === 'found' && m.params).toEqual({ id: 'a b' });
    expect(matchRoute(routes, 'GET', '/nodes/')).toEqual({ kind: 'not-found' });
    expect(matchRoute(routes, 'GET', '/nodes/%E0%A4%A')).toEqual({ kind: 'not-found' });
    expect(matchRoute(routes, 'PUT', '/nodes/x')).toEqual({ kind: 'method-not-allowed', allow: ['GET', 'DELETE'] });
  });
});

describe('greedy parameters', () => {
  const images = [
    route('GET', '/images/json', noop),
    route('GET', '/images/{name...}/json', noop),
    route('POST', '/images/{name...}/tag', noop),
    route('DELETE', '/images/{name...}', noop),
  ];
  const params = (method: string, path: string): unknown => {
    const m = matchRoute(images, method, path);
    return m.kind === 'found' ? m.params : m.kind;
  };

  it('take one or more segments, leaving the literal suffix to the template', () => {
    expect(params('GET', '/images/localhost:5000/a/b:1/json')).toEqual({ name: 'localhost:5000/a/b:1' });
    expect(params('GET', '/images/alpine/json')).toEqual({ name: 'alpine' });
    expect(params('GET', '/images/a/json/json')).toEqual({ name: 'a/json' });
    expect(params('GET', '/images/localhost%3A5000%2Fa%2Fb%3A1/json')).toEqual({ name: 'localhost:5000/a/b:1' });
    expect(params('POST', '/images/r.io/x/tag/tag')).toEqual({ name: 'r.io/x/tag' });
    expect(params('DELETE', '/images/r.io:443/team/app@sha256:abc')).toEqual({ name: 'r.io:443/team/app@sha256:abc' });
    expect(matchRoute(images, 'GET', '/images/json').kind === 'found' && (matchRoute(images, 'GET', '/images/json') as { route: { template: string } }).route.template).toBe('/images/json');
    expect(params('GET', '/images//json')).toBe('not-found');
    expect(params('GET', '/images/a//b/json')).toBe('not-found');
  });
});

describe('stripVersion', () => {
  it('strips an optional /vX.Y prefix within the supported range', () => {
    expect(stripVersion('/nodes')).toEqual({ path: '/nodes' });
    expect(stripVersion('/v1.47/nodes')).toEqual({ path: '/nodes', version: '1.47' });
    expect(stripVersion('/v1.30/_ping')).toEqual({ path: '/_ping', version: '1.30' });
    expect(stripVersion('/v1.47')).toEqual({ path: '/', version: '1.47' });
    expect(stripVersion('/volumes')).toEqual({ path: '/volumes' });
    expect(() => stripVersion('/v2.0/nodes')).toThrow('client version 2.0 is too new');
    expect(() => stripVersion('/v1.9/nodes')).toThrow('client version 1.9 is too old');
  });
});
