import { isIP } from 'node:net';
import { isAbsolute, relative, resolve } from 'node:path';
import { Checker, type Tree } from './check.js';
import { parseDotenv } from './dotenv.js';
import { at, fsReason, type Report } from './errors.js';
import type { Lookup } from './interpolate.js';
import * as K from './keys.js';
import { isObject } from './merge.js';
import { parsePortNumber, parsePortShort, PortSyntaxError, PROTOCOLS } from './ports.js';
import { ShellSplitError, shellSplit } from './shell.js';
import type {
  ComposeConfig,
  ConfigConfig,
  DependsOnCondition,
  DependsOnConfig,
  DeployConfig,
  FileReference,
  HealthcheckConfig,
  NetworkConfig,
  PlacementConfig,
  RestartPolicyConfig,
  SecretConfig,
  ServiceConfig,
  ServiceNetwork,
  ServicePort,
  ServiceVolume,
  UpdateConfigConfig,
  VolumeConfig,
} from './types.js';
import { parseBytes } from './units.js';
import { isHostPath, parseVolumeShort, VOLUME_NAME, VolumeSyntaxError } from './volumes.js';

// Validation and normalization of the merged tree into the ComposeConfig model: one pass that
// reports every problem with its path, turns short syntax into long, reads env_file entries,
// resolves host paths, and warns about what a swarm does not honour.

/** The few reads this step does: env_file entries and the existence of secret and config files. */
export interface NormalizeIo {
  readText(path: string): string;
  exists(path: string): boolean;
}

export interface NormalizeOptions {
  workingDir: string;
  /** Variables for `environment` keys without a value and for env_file interpolation. */
  lookup: Lookup;
  io: NormalizeIo;
  onUnset: (name: string) => void;
}

/** Service and resource names as the compose schema allows them. */
const NAME = /^[a-zA-Z0-9._-]+$/;

const CONSTRAINT = /^\s*([^=!\s]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;
const CONSTRAINT_KEYS = ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch'];
const LABEL_PREFIXES = ['node.labels.', 'engine.labels.'];

interface Refs {
  networks: Map<string, string>;
  volumes: Map<string, string>;
  secrets: Map<string, string>;
  configs: Map<string, string>;
}

function addRef(map: Map<string, string>, name: string, path: string): void {
  if (!map.has(name)) map.set(name, path);
}

function setIf<T extends object, Key extends keyof T>(target: T, key: Key, value: T[Key] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function isEmpty(o: object): boolean {
  return Object.keys(o).length === 0;
}

/** Where a path is shown relative to the working directory when it lies inside it. */
function shown(workingDir: string, file: string): string {
  const rel = relative(workingDir, file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

export function normalize(raw: Tree, opts: NormalizeOptions, report: Report): ComposeConfig {
  return new Normalizer(opts, report).run(raw);
}

class Normalizer {
  private readonly c: Checker;
  private readonly unsupportedOptions = new Set<string>();
  private readonly refs: Refs = { networks: new Map(), volumes: new Map(), secrets: new Map(), configs: new Map() };

  constructor(
    private readonly opts: NormalizeOptions,
    private readonly report: Report,
  ) {
    this.c = new Checker(report);
  }

  private warn(message: string): void {
    this.report.warn(message);
  }

  /** A nested option that is valid compose but has no equivalent here. */
  private ignored(path: string, why = 'not supported by swarm, ignored'): void {
    this.warn(`${path}: ${why}`);
  }

  run(raw: Tree): ComposeConfig {
    const c = this.c;
    c.keys(raw, '', K.TOP_LEVEL_KEYS, K.TOP_LEVEL_UNSUPPORTED, (k) => this.ignored(k, 'not supported by swarm stacks, ignored'));
    // Obsolete and ignored; `version: 3.8` unquoted is a number, which compose has long accepted.
    if (raw['version'] !== undefined && typeof raw['version'] !== 'number') c.string(raw['version'], 'version');
    if (raw['name'] !== undefined && c.string(raw['name'], 'name') !== undefined) this.ignored('name', 'ignored: the stack is named on the command line');
    const config: ComposeConfig = { services: {}, networks: {}, volumes: {}, secrets: {}, configs: {} };
    for (const [k, v] of Object.entries(raw)) if (k.startsWith('x-')) config[k as `x-${string}`] = v;

    const services = raw['services'] === undefined ? c.issue('services', 'required: a stack needs at least one service') : c.object(raw['services'], 'services');
    if (services && isEmpty(services)) c.issue('services', 'must define at least one service');
    for (const [name, v] of Object.entries(services ?? {})) {
      const s = this.service(name, v);
      if (s) config.services[name] = s;
    }
    if (this.unsupportedOptions.size > 0) this.warn(`Ignoring unsupported options: ${[...this.unsupportedOptions].sort().join(', ')}`);

    config.networks = this.section(raw, 'networks', (v, p) => this.network(v, p));
    config.volumes = this.section(raw, 'volumes', (v, p) => this.volume(v, p));
    config.secrets = this.section(raw, 'secrets', (v, p) => this.secret(v, p));
    config.configs = this.section(raw, 'configs', (v, p) => this.configObject(v, p));
    if (this.refs.networks.has('default') && !config.networks['default']) config.networks['default'] = {};
    this.checkRefs(config, services ?? {});
    this.checkDependencies(config);
    this.checkPublishedPorts(config);
    return config;
  }

  private section<T>(raw: Tree, key: string, each: (v: unknown, path: string) => T | undefined): Record<string, T> {
    const out: Record<string, T> = {};
    if (raw[key] === undefined || raw[key] === null) return out;
    const m = this.c.object(raw[key], key);
    for (const [name, v] of Object.entries(m ?? {})) {
      const p = at(key, name);
      if (!NAME.test(name)) this.c.issue(p, 'invalid name: use letters, digits, ".", "_" and "-"');
      const item = each(v, p);
      if (item !== undefined) out[name] = item;
    }
    return out;
  }

  // ------------------------------------------------------------------ services

  private service(name: string, v: unknown): ServiceConfig | undefined {
    const c = this.c;
    const p = at('services', name);
    if (!NAME.test(name)) c.issue(p, 'invalid service name: use letters, digits, ".", "_" and "-"');
    const raw = c.object(v, p);
    if (!raw) return undefined;
    c.keys(raw, p, K.SERVICE_KEYS, K.SERVICE_UNSUPPORTED, (k) => this.unsupportedOptions.add(k));

    let image: string | undefined;
    if (raw['image'] === undefined) {
      c.issue(at(p, 'image'), raw['build'] === undefined ? 'required' : 'required: a swarm cannot build images; build and push the image, then name it here');
    } else {
      image = c.nonEmptyString(raw['image'], at(p, 'image'));
      if (image !== undefined && /\s/.test(image)) image = c.issue(at(p, 'image'), `invalid image reference ${JSON.stringify(image)}`);
    }
    const s: ServiceConfig = { image: image ?? '', networks: {} };
    for (const [k, x] of Object.entries(raw)) if (k.startsWith('x-')) s[k as `x-${string}`] = x;

    for (const key of ['command', 'entrypoint'] as const) {
      if (raw[key] === undefined || raw[key] === null) continue;
      setIf(s, key, this.command(raw[key], at(p, key)));
    }
    const env = this.environment(raw, p);
    if (env && !isEmpty(env)) s.environment = env;
    if (raw['labels'] !== undefined) setIf(s, 'labels', c.labels(raw['labels'], at(p, 'labels')));
    if (raw['ports'] !== undefined) setIf(s, 'ports', this.ports(raw['ports'], at(p, 'ports')));
    const volumes = [
      ...(raw['volumes'] === undefined ? [] : (this.volumes(raw['volumes'], at(p, 'volumes')) ?? [])),
      ...(raw['tmpfs'] === undefined ? [] : (this.tmpfs(raw['tmpfs'], at(p, 'tmpfs')) ?? [])),
    ];
    if (volumes.length > 0) s.volumes = volumes;
    for (const key of ['secrets', 'configs'] as const) {
      if (raw[key] !== undefined) setIf(s, key, this.fileReferences(raw[key], at(p, key), this.refs[key]));
    }
    if (raw['healthcheck'] !== undefined) setIf(s, 'healthcheck', this.healthcheck(raw['healthcheck'], at(p, 'healthcheck')));
    if (raw['depends_on'] !== undefined) setIf(s, 'depends_on', this.dependsOn(raw['depends_on'], at(p, 'depends_on'), name));
    s.networks = this.serviceNetworks(raw['networks'], at(p, 'networks')) ?? {};
    if (raw['deploy'] !== undefined && raw['deploy'] !== null) setIf(s, 'deploy', this.deploy(raw['deploy'], at(p, 'deploy')));

    for (const key of ['user', 'working_dir', 'hostname', 'stop_signal'] as const) {
      if (raw[key] !== undefined) setIf(s, key, c.string(raw[key], at(p, key)));
    }
    if (raw['stop_grace_period'] !== undefined) setIf(s, 'stop_grace_period', c.duration(raw['stop_grace_period'], at(p, 'stop_grace_period')));
    for (const key of ['init', 'read_only'] as const) {
      if (raw[key] !== undefined) setIf(s, key, c.boolean(raw[key], at(p, key)));
    }
    for (const key of ['cap_add', 'cap_drop', 'dns_opt'] as const) {
      if (raw[key] !== undefined) setIf(s, key, c.stringList(raw[key], at(p, key)));
    }
    for (const key of ['dns', 'dns_search'] as const) {
      if (raw[key] !== undefined) setIf(s, key, c.stringOrList(raw[key], at(p, key)));
    }
    if (s.dns) s.dns.forEach((ip, i) => isIP(ip) === 0 && c.issue(at(at(p, 'dns'), i), `invalid IP address ${JSON.stringify(ip)}`));
    if (raw['extra_hosts'] !== undefined) setIf(s, 'extra_hosts', this.extraHosts(raw['extra_hosts'], at(p, 'extra_hosts')));
    return s;
  }

  private command(v: unknown, path: string): string[] | undefined {
    if (typeof v === 'string') {
      try {
        return shellSplit(v);
      } catch (err) {
        if (err instanceof ShellSplitError) return this.c.issue(path, err.message);
        throw err;
      }
    }
    if (Array.isArray(v)) return this.c.stringList(v, path);
    return this.c.issue(path, 'must be a string or a list of strings');
  }

  /** env_file entries in order, then `environment` over them. */
  private environment(raw: Tree, p: string): Record<string, string | null> | undefined {
    const c = this.c;
    const out: Record<string, string | null> = {};
    if (raw['env_file'] !== undefined) {
      const ep = at(p, 'env_file');
      const entries = typeof raw['env_file'] === 'string' ? [raw['env_file']] : Array.isArray(raw['env_file']) ? raw['env_file'] : c.issue(ep, 'must be a path or a list of paths');
      (entries ?? []).forEach((e: unknown, i: number) => {
        const ip = typeof raw['env_file'] === 'string' ? ep : at(ep, i);
        let file: string | undefined;
        let required = true;
        let format = '';
        if (isObject(e)) {
          c.keys(e, ip, ['path', 'required', 'format']);
          file = e['path'] === undefined ? c.issue(at(ip, 'path'), 'required') : c.nonEmptyString(e['path'], at(ip, 'path'));
          if (e['required'] !== undefined) required = c.boolean(e['required'], at(ip, 'required')) ?? true;
          if (e['format'] !== undefined) format = c.oneOf(e['format'], at(ip, 'format'), ['raw']) ?? '';
        } else {
          file = c.nonEmptyString(e, ip);
        }
        if (file === undefined) return;
        const abs = resolve(this.opts.workingDir, file);
        let text: string;
        try {
          text = this.opts.io.readText(abs);
        } catch (err) {
          if (required) c.issue(ip, `cannot read ${shown(this.opts.workingDir, abs)}: ${fsReason(err)}`);
          return;
        }
        if (format === 'raw') {
          for (const line of text.split(/\r?\n/)) {
            const eq = line.indexOf('=');
            if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
          }
          return;
        }
        const name = shown(this.opts.workingDir, abs);
        Object.assign(out, parseDotenv(text, this.opts.lookup, (issue) => c.issue(`${name}:${issue.line}`, issue.message), this.opts.onUnset));
      });
    }
    if (raw['environment'] !== undefined) {
      const env = c.dict(raw['environment'], at(p, 'environment'));
      for (const [k, v] of Object.entries(env ?? {})) {
        // Named without a value: the value where the stack is loaded, if any.
        const value = v ?? this.opts.lookup(k) ?? null;
        if (value !== null || !Object.hasOwn(out, k)) out[k] = value;
      }
    }
    return out;
  }

  private ports(v: unknown, path: string): ServicePort[] | undefined {
    const c = this.c;
    if (!Array.isArray(v)) return c.issue(path, 'must be a list');
    const out: ServicePort[] = [];
    v.forEach((item: unknown, i) => {
      const ip = at(path, i);
      if (typeof item === 'string' || typeof item === 'number') {
        try {
          for (const sp of parsePortShort(item)) {
            if (sp.host_ip !== undefined) this.ignored(ip, `host IP ${sp.host_ip} is not supported in swarm mode, ignored (the port is published on all addresses)`);
            out.push({ target: sp.target, ...(sp.published === undefined ? {} : { published: sp.published }), protocol: sp.protocol, mode: 'ingress' });
          }
        } catch (err) {
          if (!(err instanceof PortSyntaxError)) throw err;
          c.issue(ip, err.message);
        }
        return;
      }
      const o = c.object(item, ip);
      if (!o) return;
      c.keys(o, ip, K.PORT_KEYS, K.PORT_UNSUPPORTED, (k) => {
        if (k === 'host_ip') this.ignored(at(ip, k), `host IP ${String(o[k])} is not supported in swarm mode, ignored (the port is published on all addresses)`);
        else this.ignored(at(ip, k));
      });
      const target = o['target'] === undefined ? c.issue(at(ip, 'target'), 'required') : c.integer(o['target'], at(ip, 'target'), 1, 65535);
      let published: number | undefined;
      if (o['published'] !== undefined) {
        const pub = o['published'];
        if (typeof pub === 'string' && pub.includes('-')) c.issue(at(ip, 'published'), `a swarm publishes a fixed port, not one picked from a range (${pub})`);
        else if (typeof pub === 'string') {
          try {
            published = parsePortNumber(pub, 'published');
          } catch (err) {
            if (!(err instanceof PortSyntaxError)) throw err;
            c.issue(at(ip, 'published'), err.message);
          }
        } else published = c.integer(pub, at(ip, 'published'), 1, 65535);
      }
      const protocol = o['protocol'] === undefined ? 'tcp' : c.oneOf(typeof o['protocol'] === 'string' ? o['protocol'].toLowerCase() : o['protocol'], at(ip, 'protocol'), PROTOCOLS);
      const mode = o['mode'] === undefined ? 'ingress' : c.oneOf(o['mode'], at(ip, 'mode'), ['ingress', 'host'] as const);
      const name = o['name'] === undefined ? undefined : c.string(o['name'], at(ip, 'name'));
      if (target === undefined || protocol === undefined || mode === undefined) return;
      const port: ServicePort = { target, protocol, mode };
      setIf(port, 'published', published);
      setIf(port, 'name', name);
      out.push(port);
    });
    return out;
  }

  /** A host path as written → absolute, against the working directory (~ is $HOME). */
  private hostPath(source: string): string {
    if (source === '~' || source.startsWith('~/')) return resolve(this.opts.lookup('HOME') ?? '/', `.${source.slice(1)}`);
    return resolve(this.opts.workingDir, source);
  }

  private volumes(v: unknown, path: string): ServiceVolume[] | undefined {
    const c = this.c;
    if (!Array.isArray(v)) return c.issue(path, 'must be a list');
    const out: ServiceVolume[] = [];
    v.forEach((item: unknown, i) => {
      const ip = at(path, i);
      if (typeof item === 'string') {
        try {
          const sv = parseVolumeShort(item);
          for (const f of sv.flags) this.ignored(ip, `mode ${f} is not supported by swarm, ignored`);
          const vol: ServiceVolume = { type: sv.type, target: sv.target };
          if (sv.source !== undefined) vol.source = sv.type === 'bind' ? this.hostPath(sv.source) : sv.source;
          if (sv.type === 'volume' && sv.source !== undefined) addRef(this.refs.volumes, sv.source, ip);
          if (sv.read_only) vol.read_only = true;
          out.push(vol);
        } catch (err) {
          if (!(err instanceof VolumeSyntaxError)) throw err;
          c.issue(ip, err.message);
        }
        return;
      }
      const o = c.object(item, ip);
      if (!o) return;
      c.keys(o, ip, K.VOLUME_MOUNT_KEYS, K.VOLUME_MOUNT_UNSUPPORTED, (k) => {
        // Options that change nothing here when they hold only defaults are not worth a warning.
        if (k === 'consistency' || (k === 'bind' && isObject(o[k]) && Object.keys(o[k]).every((x) => x === 'create_host_path'))) return;
        this.ignored(at(ip, k));
      });
      const type = o['type'] === undefined ? c.issue(at(ip, 'type'), 'required') : c.oneOf(o['type'], at(ip, 'type'), ['volume', 'bind', 'tmpfs'] as const);
      const target = o['target'] === undefined ? c.issue(at(ip, 'target'), 'required') : c.nonEmptyString(o['target'], at(ip, 'target'));
      if (target !== undefined && !target.startsWith('/')) c.issue(at(ip, 'target'), `the container path ${JSON.stringify(target)} must be absolute`);
      let source = o['source'] === undefined ? undefined : c.nonEmptyString(o['source'], at(ip, 'source'));
      const readOnly = o['read_only'] === undefined ? undefined : c.boolean(o['read_only'], at(ip, 'read_only'));
      if (type === undefined || target === undefined) return;
      const vol: ServiceVolume = { type, target };
      if (type === 'bind') {
        if (source === undefined) return void c.issue(at(ip, 'source'), 'required for a bind mount');
        source = this.hostPath(source);
      } else if (type === 'volume' && source !== undefined) {
        if (!VOLUME_NAME.test(source) || isHostPath(source)) return void c.issue(at(ip, 'source'), `invalid volume name ${JSON.stringify(source)} (a host path needs type: bind)`);
        addRef(this.refs.volumes, source, ip);
      } else if (type === 'tmpfs') {
        if (source !== undefined) return void c.issue(at(ip, 'source'), 'a tmpfs mount has no source');
        if (o['tmpfs'] !== undefined) {
          const t = c.object(o['tmpfs'], at(ip, 'tmpfs'));
          if (t) {
            c.keys(t, at(ip, 'tmpfs'), ['size', 'mode']);
            const opts: { size?: number; mode?: number } = {};
            if (t['size'] !== undefined) {
              const size = c.bytes(t['size'], at(ip, 'tmpfs.size'));
              if (size !== undefined) opts.size = parseBytes(size);
            }
            if (t['mode'] !== undefined) setIf(opts, 'mode', c.fileMode(t['mode'], at(ip, 'tmpfs.mode')));
            if (!isEmpty(opts)) vol.tmpfs = opts;
          }
        }
      }
      if (o['tmpfs'] !== undefined && type !== 'tmpfs') c.issue(at(ip, 'tmpfs'), `only for type tmpfs (this is ${type})`);
      setIf(vol, 'source', source);
      if (readOnly) vol.read_only = true;
      out.push(vol);
    });
    return out;
  }

  /** `tmpfs: /run` or `tmpfs: ["/run:size=64m,mode=1777"]` as tmpfs mounts. */
  private tmpfs(v: unknown, path: string): ServiceVolume[] | undefined {
    const list = this.c.stringOrList(v, path);
    if (!list) return undefined;
    const out: ServiceVolume[] = [];
    list.forEach((entry, i) => {
      const ip = typeof v === 'string' ? path : at(path, i);
      const colon = entry.indexOf(':');
      const target = colon < 0 ? entry : entry.slice(0, colon);
      if (!target.startsWith('/')) return void this.c.issue(ip, `the container path ${JSON.stringify(target)} must be absolute`);
      const vol: ServiceVolume = { type: 'tmpfs', target };
      const opts: { size?: number; mode?: number } = {};
      for (const opt of colon < 0 ? [] : entry.slice(colon + 1).split(',')) {
        const [k = '', val] = opt.split('=', 2);
        if (k === 'size' && val !== undefined) {
          const size = this.c.bytes(val, ip);
          if (size !== undefined) opts.size = parseBytes(size);
        } else if (k === 'mode' && val !== undefined) {
          setIf(opts, 'mode', this.c.fileMode(val, ip));
        } else if (k !== 'rw') {
          this.ignored(ip, `tmpfs option ${opt} is not supported by swarm, ignored`);
        }
      }
      if (!isEmpty(opts)) vol.tmpfs = opts;
      out.push(vol);
    });
    return out;
  }

  private fileReferences(v: unknown, path: string, refs: Map<string, string>): FileReference[] | undefined {
    const c = this.c;
    if (!Array.isArray(v)) return c.issue(path, 'must be a list');
    const out: FileReference[] = [];
    v.forEach((item: unknown, i) => {
      const ip = at(path, i);
      if (typeof item === 'string') {
        if (item === '') return void c.issue(ip, 'must not be empty');
        addRef(refs, item, ip);
        out.push({ source: item });
        return;
      }
      const o = c.object(item, ip);
      if (!o) return;
      c.keys(o, ip, K.FILE_REFERENCE_KEYS);
      const source = o['source'] === undefined ? c.issue(at(ip, 'source'), 'required') : c.nonEmptyString(o['source'], at(ip, 'source'));
      if (source === undefined) return;
      addRef(refs, source, at(ip, 'source'));
      const ref: FileReference = { source };
      if (o['target'] !== undefined) setIf(ref, 'target', c.nonEmptyString(o['target'], at(ip, 'target')));
      for (const key of ['uid', 'gid'] as const) {
        const x = o[key];
        if (x === undefined) continue;
        // The schema wants strings; a bare number is what people write.
        if (typeof x === 'number' && Number.isInteger(x) && x >= 0) ref[key] = String(x);
        else if (typeof x === 'string' && /^\d+$/.test(x)) ref[key] = x;
        else c.issue(at(ip, key), 'must be a numeric user or group id');
      }
      if (o['mode'] !== undefined) setIf(ref, 'mode', c.fileMode(o['mode'], at(ip, 'mode')));
      out.push(ref);
    });
    return out;
  }

  private healthcheck(v: unknown, path: string): HealthcheckConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.HEALTHCHECK_KEYS, K.HEALTHCHECK_UNSUPPORTED, (k) => this.ignored(at(path, k)));
    const disable = o['disable'] === undefined ? false : c.boolean(o['disable'], at(path, 'disable'));
    if (disable) {
      if (o['test'] !== undefined) c.issue(at(path, 'disable'), 'cannot be combined with test');
      return { test: ['NONE'] };
    }
    const h: HealthcheckConfig = {};
    const t = o['test'];
    if (typeof t === 'string') h.test = ['CMD-SHELL', t];
    else if (Array.isArray(t)) {
      const list = c.stringList(t, at(path, 'test'));
      if (list && !['NONE', 'CMD', 'CMD-SHELL'].includes(list[0] ?? '')) c.issue(at(path, 'test'), 'a list must start with CMD, CMD-SHELL or NONE');
      else if (list && list[0] !== 'NONE' && list.length < 2) c.issue(at(path, 'test'), `${list[0] ?? ''} needs a command after it`);
      else setIf(h, 'test', list);
    } else if (t !== undefined) c.issue(at(path, 'test'), 'must be a string or a list of strings');
    for (const key of ['interval', 'timeout', 'start_period'] as const) {
      if (o[key] !== undefined) setIf(h, key, c.duration(o[key], at(path, key)));
    }
    if (o['retries'] !== undefined) setIf(h, 'retries', c.integer(o['retries'], at(path, 'retries'), 0));
    return h;
  }

  private dependsOn(v: unknown, path: string, self: string): Record<string, DependsOnConfig> | undefined {
    const c = this.c;
    const out: Record<string, DependsOnConfig> = {};
    const add = (name: string, p: string, dep: DependsOnConfig): void => {
      if (name === self) c.issue(p, 'a service cannot depend on itself');
      else out[name] = dep;
    };
    if (Array.isArray(v)) {
      v.forEach((x: unknown, i) => {
        const name = c.nonEmptyString(x, at(path, i));
        if (name !== undefined) add(name, at(path, i), { condition: 'service_started', required: true });
      });
      return out;
    }
    if (!isObject(v)) return c.issue(path, 'must be a list of services or a mapping of service to condition');
    const o = v;
    for (const [name, x] of Object.entries(o)) {
      const p = at(path, name);
      const d = c.object(x, p);
      if (!d) continue;
      c.keys(d, p, K.DEPENDS_ON_KEYS);
      const condition =
        d['condition'] === undefined
          ? c.issue(at(p, 'condition'), 'required')
          : c.oneOf<DependsOnCondition>(d['condition'], at(p, 'condition'), ['service_started', 'service_healthy', 'service_completed_successfully']);
      const required = d['required'] === undefined ? true : c.boolean(d['required'], at(p, 'required'));
      if (d['restart'] !== undefined && c.boolean(d['restart'], at(p, 'restart')) === true) this.ignored(at(p, 'restart'), 'not supported by swarm, ignored');
      if (condition === undefined || required === undefined) continue;
      if (condition === 'service_completed_successfully') {
        this.warn(`${at(p, 'condition')}: service_completed_successfully is not supported by swarm (tasks are restarted, never complete); this dependency is ignored`);
      } else if (!required) {
        this.warn(`${at(p, 'required')}: optional dependencies are not supported; the service waits for ${name} all the same`);
      }
      add(name, p, { condition, required });
    }
    return out;
  }

  private serviceNetworks(v: unknown, path: string): Record<string, ServiceNetwork> | undefined {
    const c = this.c;
    const out: Record<string, ServiceNetwork> = {};
    if (v === undefined || v === null) {
      addRef(this.refs.networks, 'default', path);
      return { default: {} };
    }
    if (Array.isArray(v)) {
      v.forEach((x: unknown, i) => {
        const name = c.nonEmptyString(x, at(path, i));
        if (name === undefined) return;
        addRef(this.refs.networks, name, at(path, i));
        out[name] = {};
      });
      return out;
    }
    const o = c.object(v, path);
    if (!o) return undefined;
    for (const [name, x] of Object.entries(o)) {
      const p = at(path, name);
      addRef(this.refs.networks, name, p);
      const n = c.optionalObject(x, p);
      if (!n) continue;
      c.keys(n, p, K.SERVICE_NETWORK_KEYS, K.SERVICE_NETWORK_UNSUPPORTED, (k) => this.ignored(at(p, k)));
      const net: ServiceNetwork = {};
      if (n['aliases'] !== undefined) setIf(net, 'aliases', c.stringList(n['aliases'], at(p, 'aliases')));
      out[name] = net;
    }
    return out;
  }

  private extraHosts(v: unknown, path: string): string[] | undefined {
    const c = this.c;
    const out: string[] = [];
    const add = (host: string, ip: string, p: string): void => {
      const bare = ip.replace(/^\[(.*)\]$/, '$1');
      if (host === '') c.issue(p, 'missing the host name');
      else if (isIP(bare) === 0 && bare !== 'host-gateway') c.issue(p, `invalid IP address ${JSON.stringify(ip)} for ${host}`);
      else out.push(`${host}=${bare}`);
    };
    if (Array.isArray(v)) {
      v.forEach((x: unknown, i) => {
        const s = c.string(x, at(path, i));
        if (s === undefined) return;
        // "host=ip" or the older "host:ip" (an IPv6 address has colons of its own).
        const sep = s.includes('=') ? s.indexOf('=') : s.indexOf(':');
        if (sep < 0) return void c.issue(at(path, i), `expected HOST=IP, got ${JSON.stringify(s)}`);
        add(s.slice(0, sep), s.slice(sep + 1), at(path, i));
      });
      return out;
    }
    const o = c.object(v, path);
    if (!o) return undefined;
    for (const [host, ip] of Object.entries(o)) {
      for (const one of Array.isArray(ip) ? ip : [ip]) {
        const s = c.string(one, at(path, host));
        if (s !== undefined) add(host, s, at(path, host));
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ deploy

  private deploy(v: unknown, path: string): DeployConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.DEPLOY_KEYS);
    const d: DeployConfig = {};
    let job = false;
    if (o['mode'] !== undefined) {
      const mode = c.oneOf(o['mode'], at(path, 'mode'), ['replicated', 'global', 'replicated-job', 'global-job'] as const);
      if (mode === 'replicated-job' || mode === 'global-job') {
        job = true;
        const as = mode === 'replicated-job' ? 'replicated' : 'global';
        this.warn(`${at(path, 'mode')}: ${mode} is not supported by this swarm; deployed as a ${as} service whose tasks restart only on failure`);
        d.mode = as;
      } else setIf(d, 'mode', mode);
    }
    if (o['replicas'] !== undefined) {
      d.replicas = c.integer(o['replicas'], at(path, 'replicas'), 0);
      if (d.mode === 'global') c.issue(at(path, 'replicas'), 'only for mode replicated (a global service runs one task per node)');
    }
    if (o['labels'] !== undefined) setIf(d, 'labels', c.labels(o['labels'], at(path, 'labels')));
    if (o['placement'] !== undefined) setIf(d, 'placement', this.placement(o['placement'], at(path, 'placement'), d.mode === 'global'));
    if (o['resources'] !== undefined) {
      const rp = at(path, 'resources');
      const r = c.object(o['resources'], rp);
      if (r) {
        c.keys(r, rp, K.RESOURCES_KEYS);
        const resources: NonNullable<DeployConfig['resources']> = {};
        if (r['limits'] !== undefined) {
          const lp = at(rp, 'limits');
          const l = c.object(r['limits'], lp);
          if (l) {
            c.keys(l, lp, K.LIMITS_KEYS);
            const limits: NonNullable<NonNullable<DeployConfig['resources']>['limits']> = {};
            if (l['cpus'] !== undefined) setIf(limits, 'cpus', c.cpus(l['cpus'], at(lp, 'cpus')));
            if (l['memory'] !== undefined) setIf(limits, 'memory', c.bytes(l['memory'], at(lp, 'memory')));
            if (l['pids'] !== undefined) setIf(limits, 'pids', c.integer(l['pids'], at(lp, 'pids'), 0));
            resources.limits = limits;
          }
        }
        if (r['reservations'] !== undefined) {
          const rsp = at(rp, 'reservations');
          const rs = c.object(r['reservations'], rsp);
          if (rs) {
            c.keys(rs, rsp, K.RESERVATIONS_KEYS, K.RESERVATIONS_UNSUPPORTED, (k) => this.ignored(at(rsp, k)));
            const reservations: NonNullable<NonNullable<DeployConfig['resources']>['reservations']> = {};
            if (rs['cpus'] !== undefined) setIf(reservations, 'cpus', c.cpus(rs['cpus'], at(rsp, 'cpus')));
            if (rs['memory'] !== undefined) setIf(reservations, 'memory', c.bytes(rs['memory'], at(rsp, 'memory')));
            resources.reservations = reservations;
          }
        }
        d.resources = resources;
      }
    }
    if (o['restart_policy'] !== undefined) setIf(d, 'restart_policy', this.restartPolicy(o['restart_policy'], at(path, 'restart_policy')));
    if (job && d.restart_policy?.condition === undefined) d.restart_policy = { ...d.restart_policy, condition: 'on-failure' };
    for (const key of ['update_config', 'rollback_config'] as const) {
      if (o[key] !== undefined) setIf(d, key, this.updateConfig(o[key], at(path, key), key === 'rollback_config'));
    }
    if (o['endpoint_mode'] !== undefined) setIf(d, 'endpoint_mode', c.oneOf(o['endpoint_mode'], at(path, 'endpoint_mode'), ['vip', 'dnsrr'] as const));
    return d;
  }

  private placement(v: unknown, path: string, global: boolean): PlacementConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.PLACEMENT_KEYS);
    const pl: PlacementConfig = {};
    if (o['constraints'] !== undefined) {
      const list = c.stringList(o['constraints'], at(path, 'constraints'));
      if (list) {
        list.forEach((s, i) => this.constraint(s, at(at(path, 'constraints'), i)));
        pl.constraints = list;
      }
    }
    if (o['preferences'] !== undefined) {
      const pp = at(path, 'preferences');
      if (!Array.isArray(o['preferences'])) c.issue(pp, 'must be a list');
      else {
        const prefs: { spread: string }[] = [];
        o['preferences'].forEach((x: unknown, i) => {
          const ip = at(pp, i);
          const p = c.object(x, ip);
          if (!p) return;
          c.keys(p, ip, ['spread']);
          const spread = p['spread'] === undefined ? c.issue(at(ip, 'spread'), 'required') : c.string(p['spread'], at(ip, 'spread'));
          if (spread === undefined) return;
          const label = LABEL_PREFIXES.find((pre) => spread.startsWith(pre) && spread.length > pre.length);
          if (!label) c.issue(at(ip, 'spread'), `cannot spread over ${JSON.stringify(spread)}: use node.labels.<label> or engine.labels.<label>`);
          else prefs.push({ spread });
        });
        pl.preferences = prefs;
      }
    }
    if (o['max_replicas_per_node'] !== undefined) {
      setIf(pl, 'max_replicas_per_node', c.integer(o['max_replicas_per_node'], at(path, 'max_replicas_per_node'), 0));
      if (global) c.issue(at(path, 'max_replicas_per_node'), 'only for mode replicated (a global service runs one task per node)');
    }
    return pl;
  }

  private constraint(s: string, path: string): void {
    const m = CONSTRAINT.exec(s);
    if (!m) return void this.c.issue(path, `invalid constraint ${JSON.stringify(s)}: expected KEY==VALUE or KEY!=VALUE, e.g. node.role==manager`);
    const key = m[1] ?? '';
    const value = m[3] ?? '';
    const isLabel = LABEL_PREFIXES.some((pre) => key.startsWith(pre) && key.length > pre.length);
    if (!isLabel && !CONSTRAINT_KEYS.includes(key)) {
      return void this.c.issue(path, `unknown constraint key ${JSON.stringify(key)}: use ${CONSTRAINT_KEYS.join(', ')}, node.labels.<label> or engine.labels.<label>`);
    }
    if (key === 'node.role' && !['manager', 'worker'].includes(value.toLowerCase())) this.c.issue(path, `node.role is manager or worker, not ${JSON.stringify(value)}`);
  }

  private restartPolicy(v: unknown, path: string): RestartPolicyConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.RESTART_POLICY_KEYS);
    const r: RestartPolicyConfig = {};
    if (o['condition'] !== undefined) setIf(r, 'condition', c.oneOf(o['condition'], at(path, 'condition'), ['none', 'on-failure', 'any'] as const));
    for (const key of ['delay', 'window'] as const) {
      if (o[key] !== undefined) setIf(r, key, c.duration(o[key], at(path, key)));
    }
    if (o['max_attempts'] !== undefined) setIf(r, 'max_attempts', c.integer(o['max_attempts'], at(path, 'max_attempts'), 0));
    return r;
  }

  private updateConfig(v: unknown, path: string, rollback: boolean): UpdateConfigConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.UPDATE_CONFIG_KEYS);
    const u: UpdateConfigConfig = {};
    if (o['parallelism'] !== undefined) setIf(u, 'parallelism', c.integer(o['parallelism'], at(path, 'parallelism'), 0));
    for (const key of ['delay', 'monitor'] as const) {
      if (o[key] !== undefined) setIf(u, key, c.duration(o[key], at(path, key)));
    }
    if (o['failure_action'] !== undefined) {
      const actions = rollback ? (['continue', 'pause'] as const) : (['continue', 'pause', 'rollback'] as const);
      setIf(u, 'failure_action', c.oneOf(o['failure_action'], at(path, 'failure_action'), actions));
    }
    if (o['max_failure_ratio'] !== undefined) setIf(u, 'max_failure_ratio', c.number(o['max_failure_ratio'], at(path, 'max_failure_ratio'), 0, 1));
    if (o['order'] !== undefined) setIf(u, 'order', c.oneOf(o['order'], at(path, 'order'), ['stop-first', 'start-first'] as const));
    return u;
  }

  // ------------------------------------------------------------------ top-level resources

  /** external: true | false | {name} (the old way to name it); conflicts with settings that create. */
  private external(o: Tree, path: string, creating: readonly string[]): { external?: boolean; name?: string } {
    const c = this.c;
    const out: { external?: boolean; name?: string } = {};
    if (o['name'] !== undefined) setIf(out, 'name', c.nonEmptyString(o['name'], at(path, 'name')));
    const e = o['external'];
    if (e === undefined) return out;
    if (isObject(e)) {
      c.keys(e, at(path, 'external'), ['name']);
      const name = e['name'] === undefined ? undefined : c.nonEmptyString(e['name'], at(path, 'external.name'));
      if (name !== undefined) {
        if (out.name !== undefined && out.name !== name) c.issue(at(path, 'external.name'), `conflicts with name ${JSON.stringify(out.name)}`);
        this.warn(`${at(path, 'external.name')}: deprecated, use name: ${name} beside external: true`);
        out.name = name;
      }
      out.external = true;
    } else {
      setIf(out, 'external', c.boolean(e, at(path, 'external')));
    }
    if (out.external) {
      for (const k of creating) if (o[k] !== undefined) c.issue(at(path, k), 'conflicts with external: true (an external resource is not created by the stack)');
    }
    return out;
  }

  private network(v: unknown, path: string): NetworkConfig | undefined {
    const c = this.c;
    const o = c.optionalObject(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.NETWORK_KEYS, K.NETWORK_UNSUPPORTED, (k) => this.ignored(at(path, k)));
    const n: NetworkConfig = { ...this.external(o, path, ['driver', 'attachable', 'internal', 'ipam', 'labels']) };
    if (o['driver'] !== undefined) {
      const driver = c.string(o['driver'], at(path, 'driver'));
      if (driver !== undefined && driver !== 'overlay') c.issue(at(path, 'driver'), `must be overlay, the network driver of a swarm (got ${JSON.stringify(driver)})`);
      else setIf(n, 'driver', driver);
    }
    for (const key of ['attachable', 'internal'] as const) {
      if (o[key] !== undefined) setIf(n, key, c.boolean(o[key], at(path, key)));
    }
    if (o['labels'] !== undefined) setIf(n, 'labels', c.labels(o['labels'], at(path, 'labels')));
    if (o['ipam'] !== undefined) {
      const ip = at(path, 'ipam');
      const ipam = c.object(o['ipam'], ip);
      if (ipam) {
        c.keys(ipam, ip, K.IPAM_KEYS, K.IPAM_UNSUPPORTED, (k) => this.ignored(at(ip, k)));
        const configs: { subnet: string }[] = [];
        if (ipam['config'] !== undefined) {
          if (!Array.isArray(ipam['config'])) c.issue(at(ip, 'config'), 'must be a list');
          else {
            ipam['config'].forEach((x: unknown, i) => {
              const cp = at(at(ip, 'config'), i);
              const cfg = c.object(x, cp);
              if (!cfg) return;
              c.keys(cfg, cp, K.IPAM_CONFIG_KEYS, K.IPAM_CONFIG_UNSUPPORTED, (k) => this.ignored(at(cp, k)));
              if (i > 0) return void this.ignored(cp, 'a swarm network has one subnet: only the first is used');
              if (cfg['subnet'] === undefined) return;
              const subnet = c.string(cfg['subnet'], at(cp, 'subnet'));
              if (subnet === undefined) return;
              if (!isCidr(subnet)) return void c.issue(at(cp, 'subnet'), `invalid subnet ${JSON.stringify(subnet)}: expected CIDR notation such as 10.0.9.0/24`);
              configs.push({ subnet });
            });
          }
        }
        if (configs.length > 0) n.ipam = { config: configs };
      }
    }
    return n;
  }

  private volume(v: unknown, path: string): VolumeConfig | undefined {
    const o = this.c.optionalObject(v, path);
    if (!o) return undefined;
    this.c.keys(o, path, K.VOLUME_KEYS, K.VOLUME_UNSUPPORTED, (k) => this.ignored(at(path, k), 'not supported by swarm (volumes are created by each node with the local driver), ignored'));
    return { ...this.external(o, path, []) };
  }

  private fileSource(o: Tree, path: string, kind: 'secret' | 'config', ext: { external?: boolean }): string | undefined {
    const c = this.c;
    if (o['file'] === undefined) return undefined;
    const file = c.nonEmptyString(o['file'], at(path, 'file'));
    if (file === undefined) return undefined;
    const abs = resolve(this.opts.workingDir, file);
    if (!ext.external && !this.opts.io.exists(abs)) c.issue(at(path, 'file'), `${kind} file ${shown(this.opts.workingDir, abs)} does not exist`);
    return abs;
  }

  private secret(v: unknown, path: string): SecretConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.SECRET_KEYS, K.SECRET_UNSUPPORTED, (k) => this.ignored(at(path, k)));
    const ext = this.external(o, path, ['file', 'environment']);
    const s: SecretConfig = { ...ext };
    setIf(s, 'file', this.fileSource(o, path, 'secret', ext));
    if (o['environment'] !== undefined && !ext.external) c.issue(at(path, 'environment'), 'secrets from environment variables are not supported by swarm stacks: use file or external');
    if (o['labels'] !== undefined) setIf(s, 'labels', c.labels(o['labels'], at(path, 'labels')));
    if (!ext.external && o['file'] === undefined && o['environment'] === undefined) c.issue(path, 'must set file or external: true');
    return s;
  }

  private configObject(v: unknown, path: string): ConfigConfig | undefined {
    const c = this.c;
    const o = c.object(v, path);
    if (!o) return undefined;
    c.keys(o, path, K.CONFIG_KEYS, K.CONFIG_UNSUPPORTED, (k) => this.ignored(at(path, k)));
    const ext = this.external(o, path, ['file', 'content', 'environment']);
    const cfg: ConfigConfig = { ...ext };
    setIf(cfg, 'file', this.fileSource(o, path, 'config', ext));
    if (o['content'] !== undefined) setIf(cfg, 'content', c.string(o['content'], at(path, 'content')));
    if (o['environment'] !== undefined) {
      // Not secret: read now, so the stack carries the value the variable had when it was loaded.
      const name = c.nonEmptyString(o['environment'], at(path, 'environment'));
      const value = name === undefined ? undefined : this.opts.lookup(name);
      if (name !== undefined && value === undefined) c.issue(at(path, 'environment'), `variable ${name} is not set`);
      setIf(cfg, 'content', value);
    }
    const sources = ['file', 'content', 'environment'].filter((k) => o[k] !== undefined);
    if (sources.length > 1) c.issue(path, `set one of ${sources.join(', ')}, not several`);
    if (o['labels'] !== undefined) setIf(cfg, 'labels', c.labels(o['labels'], at(path, 'labels')));
    if (!ext.external && sources.length === 0) c.issue(path, 'must set file, content or external: true');
    return cfg;
  }

  // ------------------------------------------------------------------ across services

  private checkRefs(config: ComposeConfig, services: Tree): void {
    const kinds = [
      ['networks', 'network', config.networks],
      ['volumes', 'volume', config.volumes],
      ['secrets', 'secret', config.secrets],
      ['configs', 'config', config.configs],
    ] as const;
    for (const [key, kind, defined] of kinds) {
      for (const [name, path] of this.refs[key]) {
        if (name === 'default' && key === 'networks') continue;
        if (!Object.hasOwn(defined, name)) this.c.issue(path, `undefined ${kind} ${JSON.stringify(name)}: declare it under the top-level ${key} key`);
      }
    }
    for (const [name, s] of Object.entries(config.services)) {
      for (const dep of Object.keys(s.depends_on ?? {})) {
        if (!Object.hasOwn(services, dep)) this.c.issue(at(at(at('services', name), 'depends_on'), dep), `undefined service ${JSON.stringify(dep)}`);
      }
      if (s.deploy?.endpoint_mode === 'dnsrr' && s.ports?.some((p) => p.mode === 'ingress')) {
        this.c.issue(at(at('services', name), 'deploy.endpoint_mode'), 'dnsrr cannot be used with ports published in ingress mode (use mode: host, or endpoint_mode: vip)');
      }
    }
  }

  private checkDependencies(config: ComposeConfig): void {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, chain: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') {
        const cycle = [...chain.slice(chain.indexOf(name)), name];
        this.c.issue(at(at('services', cycle[0] ?? name), 'depends_on'), `dependency cycle: ${cycle.join(' -> ')}`);
        return;
      }
      state.set(name, 'visiting');
      for (const dep of Object.keys(config.services[name]?.depends_on ?? {})) if (config.services[dep]) visit(dep, [...chain, name]);
      state.set(name, 'done');
    };
    for (const name of Object.keys(config.services)) visit(name, []);
  }

  /** Ingress ports are cluster-wide: two services cannot publish the same one. */
  private checkPublishedPorts(config: ComposeConfig): void {
    const seen = new Map<string, string>();
    for (const [name, s] of Object.entries(config.services)) {
      (s.ports ?? []).forEach((p, i) => {
        if (p.published === undefined || p.mode !== 'ingress') return;
        const key = `${p.published}/${p.protocol}`;
        const here = at(at(at('services', name), 'ports'), i);
        const first = seen.get(key);
        if (first !== undefined) this.c.issue(here, `port ${key} is already published by ${first}`);
        else seen.set(key, here);
      });
    }
  }
}

function isCidr(s: string): boolean {
  const m = /^(.+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const family = isIP(m[1] ?? '');
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}
