import type { Readable, Writable } from 'node:stream';

// What the HTTP API asks of the node for images and local containers, in Docker's shapes.
// The daemon implements it over node/runtime; the API only routes, streams and validates.
// Methods throw SwarmError (node/errors.ts); its status becomes the HTTP status.
// A method that streams (progress, logs, an archive) and fails before its first output answers as
// an ordinary HTTP error; after it, the error becomes the stream's last message. `signal`s fire when
// the client goes away: stop the work.

/** Docker's JSON progress message, one per line in streamed answers. */
export interface ProgressEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  stream?: string;
  aux?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message: string };
}

export type Progress = (e: ProgressEvent) => void;

/** From Docker's X-Registry-Auth header (base64 JSON) or POST /auth. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress?: string;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number; // unix seconds
  Size: number;
  SharedSize: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Size: number;
  Architecture: string;
  Os: string;
  Author: string;
  Config: {
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, object>;
    Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
    StopSignal?: string;
  };
  RootFS: { Type: 'layers'; Layers: string[] };
}

export interface ImageDeleteItem {
  Untagged?: string;
  Deleted?: string;
}

/** The subset of Docker's POST /containers/create body `swarm run` uses. */
export interface ContainerCreateBody {
  Image: string;
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  Hostname?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number } | null;
  HostConfig?: {
    Binds?: string[] | null;
    Mounts?: { Type: 'bind' | 'volume' | 'tmpfs'; Source?: string; Target: string; ReadOnly?: boolean; TmpfsOptions?: { SizeBytes?: number; Mode?: number } }[] | null;
    Tmpfs?: Record<string, string> | null;
    Memory?: number;
    NanoCpus?: number;
    PidsLimit?: number | null;
    CapAdd?: string[] | null;
    CapDrop?: string[] | null;
    ReadonlyRootfs?: boolean;
    Init?: boolean | null;
    AutoRemove?: boolean;
    Dns?: string[] | null;
    DnsOptions?: string[] | null;
    DnsSearch?: string[] | null;
    /** "name:ip" lines for /etc/hosts. */
    ExtraHosts?: string[] | null;
  };
}

/** Not in Docker's API: what the node itself decides for the containers of its tasks. */
export interface ContainerPlacement {
  /** A network namespace prepared by the overlay (the container joins it instead of a fresh one). */
  netnsPath?: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: 'created' | 'running' | 'exited' | 'removing' | 'dead';
  Status: string;
  Labels: Record<string, string>;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  Config: ContainerCreateBody;
  State: { Status: ContainerSummary['State']; Running: boolean; Pid: number; ExitCode: number; OOMKilled: boolean; StartedAt: string; FinishedAt: string; Health?: { Status: string } };
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as Docker's timestamps=1 prints it. */
  time: string;
  /** The line; the API adds a "\n" when it does not end with one. */
  line: string;
}

/** Docker's wait conditions: `docker run` waits for next-exit (removed with --rm) before it starts the container. */
export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface RuntimeBackend {
  listImages(all: boolean): Promise<ImageSummary[]>;
  inspectImage(ref: string): Promise<ImageInspect>;
  pullImage(ref: string, auth: RegistryAuth | undefined, progress: Progress, signal?: AbortSignal): Promise<void>;
  pushImage(ref: string, auth: RegistryAuth | undefined, progress: Progress, signal?: AbortSignal): Promise<void>;
  tagImage(source: string, repo: string, tag: string): Promise<void>;
  removeImage(ref: string, force: boolean): Promise<ImageDeleteItem[]>;
  /** Loads a docker-save or OCI archive; returns the names (or ids) loaded. */
  loadImages(archive: Readable, progress: Progress, signal?: AbortSignal): Promise<string[]>;
  /** Writes the archive to `out` (ending it or not); the API sends it as application/x-tar. */
  saveImages(refs: string[], format: 'docker' | 'oci', out: Writable, signal?: AbortSignal): Promise<void>;
  pruneImages(all: boolean): Promise<{ ImagesDeleted: ImageDeleteItem[]; SpaceReclaimed: number }>;
  /**
   * Builds from a tar of the build context; returns the image id. The API adds the final
   * {"aux":{"ID":...}} and "Successfully built/tagged" lines: do not emit them.
   */
  buildImage(
    context: Readable,
    opts: { tags: string[]; dockerfile: string; buildArgs: Record<string, string>; noCache: boolean },
    progress: Progress,
    signal?: AbortSignal,
  ): Promise<string>;
  login(auth: RegistryAuth): Promise<{ Status: string }>;

  createContainer(name: string | undefined, body: ContainerCreateBody, placement?: ContainerPlacement): Promise<{ Id: string; Warnings: string[] }>;
  startContainer(ref: string): Promise<void>;
  /** Condition defaults to not-running. Throws NOT_FOUND at once for an unknown container. */
  waitContainer(ref: string, opts?: { condition?: WaitCondition; signal?: AbortSignal }): Promise<{ StatusCode: number; Error?: { Message: string } }>;
  containerLogs(ref: string, opts: { follow: boolean; tail: number | undefined; since: Date | undefined }, signal: AbortSignal): AsyncIterable<LogLine>;
  stopContainer(ref: string, timeoutSeconds: number | undefined): Promise<void>;
  killContainer(ref: string, signal: string): Promise<void>;
  removeContainer(ref: string, force: boolean): Promise<void>;
  listContainers(all: boolean): Promise<ContainerSummary[]>;
  inspectContainer(ref: string): Promise<ContainerInspect>;
}
