import type { IncomingMessage } from 'node:http';

// Plumbing shared by the routes: an error that carries its HTTP status, the request body reader
// (with the size limit) and Docker's ways of reading query parameters.

/** An error the API itself raises about the request (bad JSON, bad parameter, too large). */
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
  }
}

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

/** The whole body, or HttpError 413 as soon as it is known to exceed `limit`. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, `request body too large: the limit is ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** JSON body, or undefined for an empty one (Docker treats an empty body as all defaults). */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
  }
}

/**
 * Docker's lenient boolean (httputils.BoolValue), used for `force`: anything but
 * "", "0", "no", "false" and "none" is true.
 */
export function boolValue(query: URLSearchParams, name: string): boolean {
  const v = (query.get(name) ?? '').trim().toLowerCase();
  return !['', '0', 'no', 'false', 'none'].includes(v);
}

/** A strict boolean as Go's strconv.ParseBool reads it; absent is false. */
export function strictBool(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null || v === '') return false;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new HttpError(400, `invalid query parameter "${name}": must be true or false, got ${JSON.stringify(v)}`);
}

/** The required `version` of an update: the Version.Index the client last read. */
export function versionParam(query: URLSearchParams): number {
  const v = query.get('version');
  if (v === null || v === '') {
    throw new HttpError(400, 'missing query parameter "version": give the Version.Index of the object as last read');
  }
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new HttpError(400, `invalid query parameter "version": must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/**
 * Docker's `filters` parameter: JSON, either {"key":{"value":true}} (what the docker CLI sends)
 * or the older {"key":["value"]}. Keys outside `accepted` are refused, as Docker does.
 */
export function filtersParam(query: URLSearchParams, accepted: readonly string[]): Record<string, string[]> {
  const raw = query.get('filters');
  if (raw === null || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch (err) {
    throw new HttpError(400, `invalid query parameter "filters": ${(err as Error).message}`);
  }
  const shapeError = (): HttpError =>
    new HttpError(400, 'invalid query parameter "filters": must be a JSON object like {"role":{"manager":true}} or {"role":["manager"]}');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw shapeError();
  const out: Record<string, string[]> = {};
  for (const [key, values] of Object.entries(parsed)) {
    if (!accepted.includes(key)) {
      throw new HttpError(400, `invalid filter '${key}': filter by one of ${accepted.join(', ')}`);
    }
    let list: string[];
    if (Array.isArray(values) && values.every((v) => typeof v === 'string')) {
      list = values as string[];
    } else if (typeof values === 'object' && values !== null && !Array.isArray(values)) {
      list = Object.entries(values)
        .filter(([, on]) => on === true)
        .map(([v]) => v);
    } else {
      throw shapeError();
    }
    if (list.length > 0) out[key] = list;
  }
  return out;
}

/** Docker's `tail`: "all" (or absent) for everything, else a line count. */
export function tailParam(query: URLSearchParams): number | undefined {
  const v = query.get('tail');
  if (v === null || v === '' || v === 'all') return undefined;
  if (!/^\d+$/.test(v)) throw new HttpError(400, `invalid query parameter "tail": must be "all" or a number of lines, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Docker's `since`: unix seconds with optional fraction (what the docker CLI sends); 0 means none. */
export function sinceParam(query: URLSearchParams): Date | undefined {
  const v = query.get('since');
  if (v === null || v === '' || v === '0') return undefined;
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (!m) throw new HttpError(400, `invalid query parameter "since": must be a unix time in seconds such as 1700000000.5, got ${JSON.stringify(v)}`);
  return new Date(Number(m[1]) * 1000 + Math.floor(Number(`0.${m[2] ?? '0'}`) * 1000));
}
