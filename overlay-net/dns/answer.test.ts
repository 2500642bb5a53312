import { describe, expect, it } from 'vitest';
import { prng, stamped, taskEndpoint } from '../peers/test-helpers.js';
import type { EndpointRecord, EndpointService } from '../types.js';
import { answer, normalizeName, shuffle } from './answer.js';

function task(id: string, ip: string, service: Partial<EndpointService>, opts: { net?: string; ready?: boolean; version?: number; deleted?: boolean } = {}): EndpointRecord {
  return stamped(taskEndpoint(id, ip, { service, ...opts }), opts.version ?? 1, 'n1', opts.deleted ?? false);
}

const web: Partial<EndpointService> = { id: 'web', name: 'shop_web', aliases: ['web'], vip: '10.0.1.100', mode: 'vip' };
const webOnNet2: Partial<EndpointService> = { ...web, vip: '10.0.2.100' };
const cache: Partial<EndpointService> = { id: 'cache', name: 'shop_cache', aliases: ['cache', 'redis'], mode: 'dnsrr', vip: undefined };

const records: EndpointRecord[] = [
  task('w1', '10.0.1.3', web),
  task('w2', '10.0.1.4', web, { ready: false }),
  task('w3', '10.0.2.3', webOnNet2, { net: 'net2' }),
  task('c1', '10.0.1.10', cache),
  task('c2', '10.0.1.11', cache),
  task('c3', '10.0.1.12', cache),
  task('c4', '10.0.1.13', cache, { ready: false }),
  task('c5', '10.0.1.14', cache, { deleted: true }),
  { ...stamped(taskEndpoint('n', '10.0.1.2'), 1), owner: 'node:n1', service: undefined },
];

describe('answer', () => {
  const cases: [string, string, { kind: 'answer'; ips: string[] } | { kind: 'forward' }][] = [
    ['shop_web', 'A', { kind: 'answer', ips: ['10.0.1.100', '10.0.2.100'] }],
    ['SHOP_Web.', 'A', { kind: 'answer', ips: ['10.0.1.100', '10.0.2.100'] }],
    ['web', 'A', { kind: 'answer', ips: ['10.0.1.100', '10.0.2.100'] }],
    ['tasks.shop_web', 'A', { kind: 'answer', ips: ['10.0.1.3', '10.0.2.3'] }],
    ['tasks.web.', 'A', { kind: 'answer', ips: ['10.0.1.3', '10.0.2.3'] }],
    ['shop_web', 'AAAA', { kind: 'answer', ips: [] }],
    ['tasks.web', 'AAAA', { kind: 'answer', ips: [] }],
    ['shop_web', 'MX', { kind: 'forward' }],
    ['example.com', 'A', { kind: 'forward' }],
    ['example.com', 'AAAA', { kind: 'forward' }],
    ['tasks.nothing', 'A', { kind: 'forward' }],
    ['tasks.', 'A', { kind: 'forward' }],
    ['', 'A', { kind: 'forward' }],
    ['.', 'A', { kind: 'forward' }],
    ['w1', 'A', { kind: 'forward' }],
  ];
  it.each(cases)('%s %s', (name, type, expected) => {
    const result = answer({ name, type }, records, prng(1));
    if (result.kind === 'answer' && expected.kind === 'answer' && name.startsWith('tasks.')) {
      expect([...result.ips].sort()).toEqual(expected.ips);
    } else {
      expect(result).toEqual(expected);
    }
  });

  it('gives dnsrr services their ready tasks, shuffled by the injected source', () => {
    const ready = ['10.0.1.10', '10.0.1.11', '10.0.1.12'];
    const orders = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      for (const name of ['shop_cache', 'redis', 'tasks.cache']) {
        const result = answer({ name, type: 'A' }, records, prng(seed));
        expect(result.kind).toBe('answer');
        if (result.kind !== 'answer') continue;
        expect([...result.ips].sort()).toEqual(ready);
        orders.add(result.ips.join(','));
      }
    }
    expect(orders.size).toBeGreaterThan(3);
    // The same seed gives the same order.
    expect(answer({ name: 'redis', type: 'A' }, records, prng(7))).toEqual(answer({ name: 'redis', type: 'A' }, records, prng(7)));
  });

  it('only sees the networks it is given', () => {
    const net1Only = records.filter((r) => r.networkId === 'net1');
    expect(answer({ name: 'web', type: 'A' }, net1Only, prng(1))).toEqual({ kind: 'answer', ips: ['10.0.1.100'] });
    expect(answer({ name: 'web', type: 'A' }, [], prng(1))).toEqual({ kind: 'forward' });
  });

  it('answers a known name with no ready task with no address', () => {
    const down = [task('c1', '10.0.1.10', cache, { ready: false })];
    expect(answer({ name: 'cache', type: 'A' }, down, prng(1))).toEqual({ kind: 'answer', ips: [] });
    expect(answer({ name: 'tasks.cache', type: 'A' }, down, prng(1))).toEqual({ kind: 'answer', ips: [] });
    // A VIP is answered without ready tasks: its balancing rejects at once.
    expect(answer({ name: 'web', type: 'A' }, [task('w2', '10.0.1.4', web, { ready: false })], prng(1))).toEqual({ kind: 'answer', ips: ['10.0.1.100'] });
  });

  it("takes a service's mode from its newest record", () => {
    const switched = [task('w1', '10.0.1.3', web, { version: 1 }), task('w2', '10.0.1.4', { ...web, mode: 'dnsrr', vip: undefined }, { version: 2 })];
    const result = answer({ name: 'web', type: 'A' }, switched, prng(1));
    expect(result.kind === 'answer' && [...result.ips].sort()).toEqual(['10.0.1.3', '10.0.1.4']);
  });

  it('gives a name two services share both their addresses', () => {
    const other = task('o1', '10.0.2.9', { id: 'other', name: 'other_db', aliases: ['web'], mode: 'dnsrr', vip: undefined }, { net: 'net2' });
    const result = answer({ name: 'web', type: 'A' }, [task('w1', '10.0.1.3', web), other], prng(1));
    expect(result).toEqual({ kind: 'answer', ips: ['10.0.1.100', '10.0.2.9'] });
  });

  it('prefers a service literally named tasks.x over the tasks. prefix', () => {
    const odd = task('t1', '10.0.1.50', { id: 'odd', name: 'tasks.web', aliases: [], vip: '10.0.1.200', mode: 'vip' });
    expect(answer({ name: 'tasks.web', type: 'A' }, [...records, odd], prng(1))).toEqual({ kind: 'answer', ips: ['10.0.1.200'] });
  });

  it('normalizes names and shuffles without losing anything', () => {
    expect(normalizeName('Web.Example.')).toBe('web.example');
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffle(items, prng(3)).sort((a, b) => a - b)).toEqual(items);
    expect(shuffle(items, () => 0.999999999)).toHaveLength(20);
  });
});

describe('answer: blue/green previews and canary weights', () => {
  const green = { ...web, preview: true };
  const greenCache = { ...cache, preview: true };
  const bg: EndpointRecord[] = [
    task('b1', '10.0.1.3', web),
    task('g1', '10.0.1.20', green),
    task('g2', '10.0.1.21', green),
    task('g3', '10.0.1.22', green, { ready: false }),
    task('c1', '10.0.1.10', cache),
    task('c2', '10.0.1.11', { ...cache, weight: 0 }),
    task('c3', '10.0.1.12', { ...cache, weight: 3 }),
    task('cg', '10.0.1.30', greenCache),
  ];
  const ips = (name: string, records = bg, seed = 1): string[] | 'forward' => {
    const result = answer({ name, type: 'A' }, records, prng(seed));
    return result.kind === 'forward' ? 'forward' : [...result.ips].sort();
  };

  it('answers preview.<name or alias> with the ready previews, shuffled', () => {
    expect(ips('preview.shop_web')).toEqual(['10.0.1.20', '10.0.1.21']);
    expect(ips('PREVIEW.Web.')).toEqual(['10.0.1.20', '10.0.1.21']);
    expect(ips('preview.redis')).toEqual(['10.0.1.30']);
    const orders = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const result = answer({ name: 'preview.web', type: 'A' }, bg, prng(seed));
      if (result.kind === 'answer') orders.add(result.ips.join(','));
    }
    expect(orders.size).toBe(2);
    expect(answer({ name: 'preview.web', type: 'AAAA' }, bg, prng(1))).toEqual({ kind: 'answer', ips: [] });
  });

  it('keeps previews out of the plain name and tasks.<name>', () => {
    expect(ips('web')).toEqual(['10.0.1.100']);
    expect(ips('tasks.web')).toEqual(['10.0.1.3']);
    expect(ips('tasks.cache')).toEqual(['10.0.1.10', '10.0.1.11', '10.0.1.12']);
  });

  it('gives a dnsrr name only tasks with a share: no previews, no weight 0', () => {
    expect(ips('cache')).toEqual(['10.0.1.10', '10.0.1.12']);
    // Every task at weight 0: known, but nothing to give.
    expect(ips('cache', [task('c2', '10.0.1.11', { ...cache, weight: 0 })])).toEqual([]);
  });

  it('answers a preview name with no ready preview with no address, not a forward', () => {
    const onlyDown = [task('g3', '10.0.1.22', green, { ready: false })];
    expect(answer({ name: 'preview.web', type: 'A' }, onlyDown, prng(1))).toEqual({ kind: 'answer', ips: [] });
    // A service without previews: preview.<name> is still one of its names.
    expect(answer({ name: 'preview.web', type: 'A' }, [task('b1', '10.0.1.3', web)], prng(1))).toEqual({ kind: 'answer', ips: [] });
    // The plain name of a service whose only tasks are previews: its VIP, or (dnsrr) no address.
    expect(ips('web', onlyDown)).toEqual(['10.0.1.100']);
    expect(ips('redis', [task('cg', '10.0.1.30', greenCache)])).toEqual([]);
    expect(ips('preview.nothing')).toBe('forward');
    expect(ips('preview.')).toBe('forward');
    expect(ips('preview.g1')).toBe('forward');
  });

  it('prefers a service literally named preview.x over the prefix', () => {
    const odd = task('p1', '10.0.1.50', { id: 'odd', name: 'preview.web', aliases: [], vip: '10.0.1.201', mode: 'vip' });
    expect(ips('preview.web', [...bg, odd])).toEqual(['10.0.1.201']);
  });
});
