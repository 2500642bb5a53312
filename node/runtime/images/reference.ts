import { SwarmError } from '../../errors.js';

// Image references with Docker's normalization (distribution/reference's ParseNormalizedNamed):
// `busybox` is docker.io/library/busybox:latest, a first component with a dot, a colon or
// `localhost` is a registry domain, and a digest may stand with or without a tag.

export interface ImageReference {
  domain: string;
  path: string;
  tag: string | undefined;
  digest: string | undefined;
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const NAME_TOTAL_LENGTH_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX64_RE = /^[a-f0-9]{64}$/;

const HINT = 'references look like NAME[:TAG][@DIGEST], e.g. busybox:latest or registry.example.com:5000/team/app:1.2';

export function parseReference(ref: string): ImageReference {
  const bad = (why: string, hint = HINT): SwarmError =>
    new SwarmError('INVALID_ARGUMENT', `invalid reference "${String(ref).slice(0, 300)}": ${why}`, hint);
  if (typeof ref !== 'string' || ref.length === 0) throw bad('it is empty');
  if (HEX64_RE.test(ref)) throw bad('a 64-character hex string is an image id, not a name', 'use the id with image inspect/rm/tag, or give a name');

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`"${digest}" is not a digest`);
    const [algorithm, hex] = digest.split(':') as [string, string];
    if (algorithm !== 'sha256') throw bad(`digest algorithm "${algorithm}" is not supported`, 'use a sha256 digest');
    if (!HEX64_RE.test(hex)) throw bad('a sha256 digest has 64 lowercase hex digits');
  }

  // The first component is a registry only if it looks like a host; otherwise it is Docker Hub.
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  let domain: string;
  let remainder: string;
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = rest;
  } else {
    domain = first;
    remainder = rest.slice(slash + 1);
  }

  // What follows the last colon of the remainder is the tag (paths hold no colons).
  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon >= 0) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag "${tag}" is invalid`, 'tags are up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
  }

  if (!DOMAIN_RE.test(domain)) throw bad(`"${domain}" is not a valid registry host[:port]`);
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (remainder.length === 0) throw bad('the repository name is empty');
  if (remainder.toLowerCase() !== remainder) throw bad(`repository name "${remainder}" must be lowercase`);
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  for (const component of remainder.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      throw bad(
        component === '' ? 'the repository name has an empty path component' : `path component "${component}" is invalid`,
        'path components are lowercase letters and digits, separated by ".", "_", "__" or dashes',
      );
    }
  }
  if (domain.length + 1 + remainder.length > NAME_TOTAL_LENGTH_MAX) throw bad(`the name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path: remainder, tag, digest };
}

/** The repository without tag or digest: `docker.io/library/busybox`. */
export function repositoryName(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

/** The full normalized form: `docker.io/library/busybox:latest`, `localhost:5000/x@sha256:...`. */
export function formatReference(r: ImageReference): string {
  return repositoryName(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** The short form people type: `busybox:latest`, `team/app:1`, `localhost:5000/x:1`. */
export function familiarName(r: ImageReference): string {
  let name = repositoryName(r);
  if (r.domain === DEFAULT_DOMAIN) {
    name = r.path;
    if (name.startsWith(OFFICIAL_REPO_PREFIX) && name.split('/').length === 2) name = name.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return name + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** parseReference then formatReference. */
export function normalizeReference(ref: string): string {
  return formatReference(parseReference(ref));
}
