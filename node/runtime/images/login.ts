import type { Logger } from '../../log.js';
import { type Credentials, registryKey } from './credentials.js';
import { RegistryClient } from './registry-client.js';

export interface VerifyLoginOptions {
  logger: Logger;
  insecureRegistries?: string[];
  certsDir?: string;
}

/**
 * Checks `creds` against `registry` as `swarm login` does: GET /v2/ and, when the registry asks for
 * a bearer token, a token request with them. Resolves when accepted (or when the registry needs no
 * login); PERMISSION_DENIED when refused, UNAVAILABLE when unreachable.
 */
export async function verifyLogin(registry: string, creds: Credentials, opts: VerifyLoginOptions): Promise<void> {
  // `https://registry.example.com/` and Docker Hub's aliases name the same registries as references do.
  const client = new RegistryClient(registryKey(registry), { logger: opts.logger, insecureRegistries: opts.insecureRegistries, certsDir: opts.certsDir }, creds);
  try {
    await client.checkLogin();
  } finally {
    await client.close();
  }
}
