import { describe, expect, it } from 'vitest';
import { isSwarmError } from '../../errors.js';
import { familiarName, formatReference, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  // input → [domain, path, tag, digest], then the full and familiar forms.
  const good: [string, string, string, string | undefined, string | undefined, string, string][] = [
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['user/app:v2', 'docker.io', 'user/app', 'v2', undefined, 'docker.io/user/app:v2', 'user/app:v2'],
    ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/x', 'localhost:5000', 'x', 'latest', undefined, 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/team/app:1.2', '127.0.0.1:5000', 'team/app', '1.2', undefined, '127.0.0.1:5000/team/app:1.2', '127.0.0.1:5000/team/app:1.2'],
    ['ghcr.io/a/b/c:x_y-z', 'ghcr.io', 'a/b/c', 'x_y-z', undefined, 'ghcr.io/a/b/c:x_y-z', 'ghcr.io/a/b/c:x_y-z'],
    ['Registry.Example.com/app', 'Registry.Example.com', 'app', 'latest', undefined, 'Registry.Example.com/app:latest', 'Registry.Example.com/app:latest'],
    ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined, '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`busybox:1@${D}`, 'docker.io', 'library/busybox', '1', D, `docker.io/library/busybox:1@${D}`, `busybox:1@${D}`],
    [`localhost:5000/x@${D}`, 'localhost:5000', 'x', undefined, D, `localhost:5000/x@${D}`, `localhost:5000/x@${D}`],
    ['a__b/c--d.e_f:T', 'docker.io', 'a__b/c--d.e_f', 'T', undefined, 'docker.io/a__b/c--d.e_f:T', 'a__b/c--d.e_f:T'],
    ['foo:5000', 'docker.io', 'library/foo', '5000', undefined, 'docker.io/library/foo:5000', 'foo:5000'],
  ];
  it.each(good)('%s', (input, domain, path, tag, digest, full, familiar) => {
    const r = parseReference(input);
    expect(r).toEqual({ domain, path, tag, digest });
    expect(formatReference(r)).toBe(full);
    expect(familiarName(r)).toBe(familiar);
    // The normalized form parses to itself.
    expect(parseReference(full)).toEqual(r);
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['user/App', /must be lowercase/],
    ['busybox:', /tag "" is invalid/],
    ['busybox:-x', /tag "-x" is invalid/],
    ['busybox:' + 'a'.repeat(129), /is invalid/],
    ['a//b', /empty path component/],
    ['a/b_/c', /path component "b_" is invalid/],
    ['-a', /path component "-a" is invalid/],
    ['busybox@sha256:abc', /64 lowercase hex/],
    [`busybox@md5:${'a'.repeat(32)}`, /algorithm "md5" is not supported/],
    ['busybox@', /is not a digest/],
    ['a'.repeat(64), /image id, not a name/],
    ['exa_mple.com:5000/x', /not a valid registry/],
    ['localhost:5000/', /repository name is empty/],
    [`r.io/${'a'.repeat(260)}`, /longer than 255/],
  ];
  it.each(bad)('rejects %j', (input, why) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(isSwarmError(caught, 'INVALID_ARGUMENT')).toBe(true);
    const err = caught as Error & { hint?: string };
    expect(err.message).toContain(`invalid reference "${input.slice(0, 300)}"`);
    expect(err.message).toMatch(why);
    expect(err.hint).toBeTruthy();
  });
});
