/** The role the Docker engine plays: build, pull or find images and run one action container to its end. */

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

export interface RunContainerOptions {
  /** Aborting stops the container with the ladder; the abort reason comes back in the result. */
  signal: AbortSignal;
  /** Aborting skips what is left of the grace period: SIGKILL now. */
  forceSignal?: AbortSignal;
  /** Called for every chunk the container writes; awaited, so a slow consumer slows the reader. */
  onOutput: (stream: OutputStream, chunk: Buffer) => Promise<void>;
  /** Called once the container has started. */
  onStarted?: (containerId: string) => void;
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
  /** Creates, starts, streams, waits for and always removes one container. */
  runContainer(spec: ContainerSpec, options: RunContainerOptions): Promise<ContainerExit>;
  listLabelledContainers(label: string): Promise<LabelledContainer[]>;
  /** Stops (SIGKILL) and removes a container; a missing one is not an error. */
  removeContainer(id: string): Promise<void>;
}
