import { describe, expect, it } from 'vitest';
import { bindMount, capability, imageName, parseImageRef, tmpfsMount } from './runtime-flags.js';

describe('image references', () => {
  it('split into name, tag and digest as docker reads them', () => {
    expect(parseImageRef('alpine')).toEqual({ name: 'alpine' });
    expect(parseImageRef('alpine:3.20')).toEqual({ name: 'alpine', tag: '3.20' });
    expect(parseImageRef('localhost:5000/team/app:1')).toEqual({ name: 'localhost:5000/team/app', tag: '1' });
    expect(parseImageRef('localhost:5000/app')).toEqual({ name: 'localhost:5000/app' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageRef(`r.example.com/x@${digest}`)).toEqual({ name: 'r.example.com/x', digest });
    expect(parseImageRef(`x:1@${digest}`)).toEqual({ name: 'x', tag: '1', digest });
  });

  it('refuse what docker refuses, saying why', () => {
    expect(() => parseImageRef('Alpine')).toThrow('repository name must be lowercase');
    expect(() => parseImageRef('a b')).toThrow('invalid reference format');
    expect(() => parseImageRef('alpine:')).toThrow('invalid tag ""');
    expect(() => parseImageRef('x@sha256:zz')).toThrow('invalid digest "sha256:zz"');
    expect(() => parseImageRef('bad_host:5000x/a')).toThrow('invalid registry');
    expect(() => parseImageRef('')).toThrow('the image reference is empty');
    expect(() => imageName(`x@sha256:${'a'.repeat(64)}`)).toThrow('a digest cannot be given as a name');
  });
});

describe('run flag values', () => {
  it('bind mounts, tmpfs and capabilities', () => {
    expect(bindMount('/srv:/data:ro')).toBe('/srv:/data:ro');
    expect(bindMount('vol:/data')).toBe('vol:/data');
    expect(() => bindMount('~/x:/data')).toThrow('"~" is not expanded');
    expect(() => bindMount('rel/x:/data')).toThrow('is neither an absolute path nor a volume name');
    expect(tmpfsMount('/tmp:size=64m,noexec')).toEqual(['/tmp', 'size=64m,noexec']);
    expect(() => tmpfsMount('/tmp:colour=red')).toThrow('unknown tmpfs option "colour"');
    expect(() => tmpfsMount('/tmp:mode=999')).toThrow('invalid mode "999"');
    expect(capability('sys_admin')).toBe('CAP_SYS_ADMIN');
    expect(capability('CAP_CHOWN')).toBe('CAP_CHOWN');
  });
});
