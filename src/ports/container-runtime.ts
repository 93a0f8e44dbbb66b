/** The role the Docker engine plays: build or find images and run one action container to its end. */

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

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  name: string;
  image: string;
  env: string[];
  /** null: the image's ENTRYPOINT. [] clears it. */
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
  };
  /** Run time allowed before the stop ladder runs. */
  timeoutMs: number;
  /** SIGTERM (or STOPSIGNAL) → this long → SIGKILL. */
  stopGraceMs: number;
}

export type OutputStream = 'stdout' | 'stderr';

export interface RunContainerOptions {
  signal: AbortSignal;
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
  | { kind: 'cancelled'; exitCode: number | null };

export interface ContainerRuntime {
  /** Fails with an InfrastructureError when the engine does not answer. */
  ping(): Promise<void>;
  /** The local image, or undefined when it is not present. */
  inspectImage(reference: string): Promise<ImageInfo | undefined>;
  buildImage(request: BuildImageRequest): Promise<ImageInfo>;
  /** Creates, starts, streams, waits for and always removes one container. */
  runContainer(spec: ContainerSpec, options: RunContainerOptions): Promise<ContainerExit>;
}
