import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileDurably } from '../../durable-file.js';
import { SwarmError } from '../../errors.js';

// Registry credentials for `swarm login`, kept like Docker's config.json (`auths` → base64
// "user:password"), in a file only root can read.

export interface Credentials {
  username: string;
  password: string;
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The key a registry's credentials are filed under: host[:port], Docker Hub under `docker.io`. */
export function registryKey(registry: string): string {
  let r = registry.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = r.indexOf('/');
  if (slash >= 0) r = r.slice(0, slash);
  r = r.toLowerCase();
  return DOCKER_HUB_ALIASES.has(r) ? 'docker.io' : r;
}

interface AuthFile {
  auths: Record<string, { auth: string }>;
}

export class CredentialStore {
  private readonly auths = new Map<string, Credentials>();

  private constructor(private readonly file: string) {}

  static open(file: string): CredentialStore {
    const store = new CredentialStore(file);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      try {
        const doc = JSON.parse(text) as Partial<AuthFile>;
        for (const [registry, entry] of Object.entries(doc.auths ?? {})) {
          const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          if (colon < 0) throw new Error(`entry for ${registry} is not user:password`);
          store.auths.set(registryKey(registry), { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
        }
      } catch (err) {
        throw new SwarmError('INTERNAL', `credentials file ${file} is unreadable: ${(err as Error).message}`, 'remove it and run swarm login again');
      }
    }
    return store;
  }

  login(registry: string, username: string, password: string): void {
    if (username === '' || username.includes(':')) {
      throw new SwarmError('INVALID_ARGUMENT', 'login: the username must be non-empty and contain no ":"', 'give the registry account name');
    }
    this.auths.set(registryKey(registry), { username, password });
    this.persist();
  }

  get(registry: string): Credentials | undefined {
    return this.auths.get(registryKey(registry));
  }

  logout(registry: string): void {
    if (this.auths.delete(registryKey(registry))) this.persist();
  }

  /** Temp file (0600), fsync, rename: never a half-written file, never readable by others. */
  private persist(): void {
    const doc: AuthFile = { auths: {} };
    for (const [registry, c] of [...this.auths].sort((a, b) => a[0].localeCompare(b[0]))) {
      doc.auths[registry] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
    }
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileDurably(this.file, JSON.stringify(doc, null, 2) + '\n', 0o600);
  }
}
