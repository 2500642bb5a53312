// The short syntax of service volumes: [SOURCE:]TARGET[:MODE]. A source starting with /, . or ~
// is a host path (bind mount); any other source names a volume; no source: an anonymous volume.
// MODE is a comma list of ro, rw, nocopy, z, Z and the bind propagations.

export class VolumeSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VolumeSyntaxError';
  }
}

export interface ShortVolume {
  type: 'volume' | 'bind';
  /** As written (the caller resolves host paths). */
  source?: string;
  target: string;
  read_only: boolean;
  /** Mode flags other than ro/rw, for the caller to warn about. */
  flags: string[];
}

const FLAGS = new Set(['ro', 'rw', 'nocopy', 'z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'consistent', 'cached', 'delegated']);

export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isHostPath(source: string): boolean {
  return source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
}

export function parseVolumeShort(spec: string): ShortVolume {
  const parts = spec.split(':');
  if (parts.length > 3) throw new VolumeSyntaxError(`invalid volume ${JSON.stringify(spec)}: expected [SOURCE:]TARGET[:MODE]`);
  const [a = '', b, c] = parts;
  const source = parts.length === 1 ? undefined : a;
  const target = parts.length === 1 ? a : (b ?? '');
  if (source === '') throw new VolumeSyntaxError(`invalid volume ${JSON.stringify(spec)}: empty source`);
  if (!target.startsWith('/')) throw new VolumeSyntaxError(`invalid volume ${JSON.stringify(spec)}: the container path ${JSON.stringify(target)} must be absolute`);
  let readOnly = false;
  const flags: string[] = [];
  for (const f of c === undefined ? [] : c.split(',')) {
    if (!FLAGS.has(f)) throw new VolumeSyntaxError(`invalid volume ${JSON.stringify(spec)}: unknown mode ${JSON.stringify(f)} (use ro or rw)`);
    if (f === 'ro') readOnly = true;
    else if (f !== 'rw') flags.push(f);
  }
  if (source === undefined) return { type: 'volume', target, read_only: readOnly, flags };
  if (isHostPath(source)) return { type: 'bind', source, target, read_only: readOnly, flags };
  if (!VOLUME_NAME.test(source)) throw new VolumeSyntaxError(`invalid volume ${JSON.stringify(spec)}: ${JSON.stringify(source)} is neither a volume name nor a host path (start those with /, ./ or ~)`);
  return { type: 'volume', source, target, read_only: readOnly, flags };
}
