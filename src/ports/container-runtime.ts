/**
 * The role the Docker engine plays: build, pull or find images, and the primitives of one container's life
 * (create, attach, start, wait, kill, inspect, watch its events, remove). What to do with them — the
 * timeout, the stop ladder, how an exit is classified — is policy: see stages/container-supervisor.ts.
 */

export interface ImageInfo {
  /** The image id (`sha256:…`). */
  id: string;
  /** The reference it was asked for. */
  reference: string;
  /** Repo digests (`name@sha256:…`) where the image came from a registry. */
  repoDigests: string[];
  /** The image's own default user ("" = root). */
  user: string;
  /** The image's STOPSIGNAL, if it sets one. */
  stopSignal: string | null;
}

export interface BuildImageRequest {
  contextDir: string;
  /** Path of the Dockerfile relative to contextDir. */
  dockerfile: string;
  tag: string;
  signal: AbortSignal;
  /** Build output, line by line. */
  onProgress?: (line: string) => void;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

export interface PullImageRequest {
  reference: string;
  auth?: RegistryAuth;
  signal: AbortSignal;
  /** The whole pull. */
  timeoutMs: number;
  /** Abandon the pull when it reports no progress for this long. */
  noProgressTimeoutMs: number;
  onProgress?: (status: string) => void;
}

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerSecurity {
  /** Capabilities kept after dropping all. */
  capAdd: string[];
  readOnlyRootfs: boolean;
  /** tmpfs mounts (path → options), e.g. /tmp with a read-only root filesystem. */
  tmpfs: Record<string, string>;
  networkMode: string;
}

export interface ContainerSpec {
  name: string;
  image: string;
  env: string[];
  /** null: the image's ENTRYPOINT. [""] clears it. */
  entrypoint: string[] | null;
  /** null: the image's CMD (unless an entrypoint is set, which clears it, as in Docker). */
  command: string[] | null;
  /** null: the image's WORKDIR. */
  workdir: string | null;
  /** `uid:gid`, or null for the image's user. */
  user: string | null;
  labels: Record<string, string>;
  mounts: Mount[];
  limits: {
    nanoCpus: number;
    memoryBytes: number;
    pidsLimit: number;
    /** Size of the container's writable layer where the storage driver can enforce it; null = not enforced. */
    storageBytes: number | null;
  };
  security: ContainerSecurity;
  /** Run time allowed before the stop ladder runs. */
  timeoutMs: number;
  /** STOPSIGNAL (default SIGTERM) → this long → SIGKILL. */
  stopGraceMs: number;
  stopSignal: string;
}

export type OutputStream = 'stdout' | 'stderr';

/** What the engine says about a container. */
export interface ContainerState {
  id: string;
  /** Running or restarting. */
  running: boolean;
  /** Meaningful once it is not running. */
  exitCode: number;
  /** The engine says the kernel's OOM killer ended it (may miss a child process on cgroup v2: see events). */
  oomKilled: boolean;
}

/** An attachment to a container's stdout and stderr. */
export interface ContainerAttachment {
  /**
   * Resolves once the output has ended (the container exited) and every chunk was consumed; rejects with an
   * InfrastructureError when reading it fails, or with the consumer's own error.
   */
  readonly done: Promise<void>;
  /** Stops reading. */
  close(): void;
}

/** Called for every chunk a container writes; awaited, so a slow consumer slows the reader. */
export type OutputConsumer = (stream: OutputStream, chunk: Buffer) => Promise<void>;

/**
 * What the engine tells about one container while it runs (follow it from before start), and whether the
 * engine itself is still there.
 */
export interface ContainerEventWatch {
  /** An OOM kill was reported, of the container's main process or of any of its children. */
  readonly hasSeenOom: boolean;
  /** A kill request the worker did not send (watch only while sending none). */
  readonly hasSeenOutsideKill: boolean;
  /** The engine went away (shut down, crashed, restarted). */
  readonly isEngineGone: boolean;
  /** Aborted when the engine goes away. */
  readonly gone: AbortSignal;
  /** Resolves once the container's end has been reported (or the engine went away), or after `ms`. */
  dieSeen(ms: number): Promise<void>;
  /** Whether the engine goes away (or stops answering) within `ms`. */
  engineGoneWithin(ms: number): Promise<boolean>;
  stop(): void;
}

/** How the container ended. */
export type ContainerExit =
  | { kind: 'exited'; exitCode: number }
  | { kind: 'oom'; exitCode: number; memoryLimitBytes: number }
  | { kind: 'timed-out'; timeoutMs: number; exitCode: number | null }
  /** Stopped because `signal` was aborted; `reason` is the abort reason. */
  | { kind: 'stopped'; exitCode: number | null; reason: unknown };

/** A container carrying our labels, for the leftover sweep. */
export interface LabelledContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  isRunning: boolean;
}

export interface ContainerRuntime {
  /** Fails with an InfrastructureError when the engine does not answer. */
  ping(): Promise<void>;
  /**
   * The IPv4 gateway address of a network (`bridge` or a named one): the host as its containers reach it.
   * Undefined when there is no such network or it has no IPv4 gateway.
   */
  networkGateway(network: string): Promise<string | undefined>;
  /** The local image, or undefined when it is not present. */
  inspectImage(reference: string): Promise<ImageInfo | undefined>;
  buildImage(request: BuildImageRequest): Promise<ImageInfo>;
  pullImage(request: PullImageRequest): Promise<ImageInfo>;
  /**
   * The numeric uid:gid a user of the image (a name, a uid, or "" for its default) resolves to. Any
   * container it creates to read the image carries `labels` (see helperLabels), so a leftover is swept.
   */
  resolveImageUser(
    imageId: string,
    user: string,
    labels: Record<string, string>,
  ): Promise<{ uid: number; gid: number }>;
  /**
   * Creates (does not start) the container; its id. A dead leftover of the same name is replaced, a live
   * one refused (InfrastructureError); an image that is not present is a UsageError E_IMAGE_NOT_FOUND, a
   * configuration the engine refuses a UsageError E_INVALID_INPUT.
   */
  createContainer(spec: ContainerSpec): Promise<string>;
  /** Attaches to its output; attach before start, so nothing is lost. Resolves once attached. */
  attachContainer(id: string, onOutput: OutputConsumer): Promise<ContainerAttachment>;
  startContainer(id: string): Promise<void>;
  /**
   * Its exit code once it has exited (at once when it already has). Rejects when the connection to the
   * engine breaks, or `signal` aborts: that does not mean the container ended (inspect it).
   */
  waitContainer(id: string, signal?: AbortSignal): Promise<number>;
  /** Sends a signal (`SIGTERM`, `SIGKILL`…); a container that is not running or missing is not an error. */
  killContainer(id: string, signal: string): Promise<void>;
  /** Its state, or undefined when there is no such container. */
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  /**
   * What the container has written so far, per stream, from the engine's own copy (which may keep only
   * the tail of a large output); for a container that has exited, all of it. Not to be combined with an
   * attachment that delivered anything: the same bytes would come twice. Rejects once `signal` is
   * aborted, whatever the engine does: a stream it never ends must not hold the attempt.
   */
  readContainerLogs(id: string, onOutput: OutputConsumer, signal: AbortSignal): Promise<void>;
  /** Starts following the container's events (and its engine's life). */
  watchContainer(id: string): Promise<ContainerEventWatch>;
  listLabelledContainers(label: string): Promise<LabelledContainer[]>;
  /** Stops (SIGKILL) and removes a container; a missing one is not an error. */
  removeContainer(id: string): Promise<void>;
}
