import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SwarmError } from '../../errors.js';
import { OciRuntime, lastRuntimeError } from './runtime.js';

const empty = mkdtempSync(join(tmpdir(), 'swarm-noruntime-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

async function detectError(...args: Parameters<typeof OciRuntime.detect>): Promise<SwarmError> {
  const err = await OciRuntime.detect(...args).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwarmError);
  return err as SwarmError;
}

describe('OciRuntime.detect', () => {
  it('prefers crun, finds runc when asked, reports version and path', async () => {
    const crun = await OciRuntime.detect();
    expect(crun.name).toBe('crun');
    expect(crun.path).toMatch(/\/crun$/);
    expect(crun.version).toMatch(/^\d+\.\d+/);
    const runc = await OciRuntime.detect('runc');
    expect(runc.name).toBe('runc');
    expect(runc.path).toMatch(/\/runc$/);
    expect(runc.unsharePath).toBeUndefined();
  });

  it('knows when crun needs the hidden cgroup2 mount (hybrid cgroups with controllers)', async () => {
    let controllers: string;
    try {
      controllers = readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim();
    } catch {
      controllers = '';
    }
    const crun = await OciRuntime.detect('crun');
    expect(crun.unsharePath !== undefined).toBe(controllers !== '');
  });

  it('a PATH without runtimes: UNAVAILABLE naming the packages to install', async () => {
    const err = await detectError(undefined, { PATH: empty });
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe('no OCI runtime found (looked for crun, runc on PATH)');
    expect(err.hint).toBe('install one: apt-get install crun (or runc)');
  });

  it('a chosen runtime that is missing names it, and an unknown name is refused', async () => {
    const err = await detectError('runc', { PATH: empty });
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/runc not found/);
    expect(err.hint).toMatch(/apt-get install runc/);
    const bad = await detectError('kata' as 'crun');
    expect(bad.code).toBe('INVALID_ARGUMENT');
  });

  it('a broken binary is reported, not used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarm-badruntime-'));
    try {
      writeFileSync(join(dir, 'crun'), '#!/bin/sh\necho broken >&2\nexit 1\n');
      chmodSync(join(dir, 'crun'), 0o755);
      const err = await detectError('crun', { PATH: dir });
      expect(err.message).toMatch(/does not work: broken/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('wrappers: list and state over an empty root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'swarm-rtroot-'));
    try {
      for (const name of ['crun', 'runc'] as const) {
        const rt = (await OciRuntime.detect(name)).withRoot(join(root, name));
        expect(await rt.list()).toEqual([]);
        expect(await rt.state('nope')).toBeUndefined();
        await rt.delete('nope', true);
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('extracts the last error from JSON logs and plain stderr', () => {
    expect(lastRuntimeError('{"level":"error","msg":"exec: not found","time":"x"}\n')).toBe('exec: not found');
    expect(lastRuntimeError('{"level":"warning","msg":"meh"}\nplain failure\n')).toBe('plain failure');
  });
});
