import type { Logger } from 'pino';
import { PLACEHOLDER_API_KEY, type WorkerSettings } from '../config/worker-settings.js';
import type { ActionConfig } from '../domain/action-config.js';
import type { ComputeRequirements } from '../domain/compute-requirements.js';
import type { ContainerParameters } from '../domain/container-parameters.js';
import type { InvocationInput } from '../domain/input-selectors.js';
import type { RobotoLogLevel } from '../domain/runtime-environment.js';
import type { ContainerRuntime, OutputStream } from '../ports/container-runtime.js';
import type { InputResolver } from '../ports/input-resolver.js';
import type { InvocationCredentials } from '../ports/invocation-credentials.js';
import type { OutputTarget } from '../ports/output-target.js';
import type { SecretStore } from '../ports/secret-store.js';
import type { StatusRecorder } from '../ports/status-recorder.js';
import type { TransferObserver } from '../ports/transfer-observer.js';
import type { WorkspaceOwner } from './workspace.js';

/** Where the image comes from: an existing reference, or a build of an action directory. */
export type ImageSource =
  | { kind: 'reference'; reference: string }
  | { kind: 'build'; contextDir: string; dockerfile: string; tag: string };

/** One attempt of one invocation, fully resolved: everything the pipeline needs to run it. */
export interface InvocationPlan {
  invocationId: string;
  attempt: number;
  orgId: string;
  action: ActionConfig;
  image: ImageSource;
  /** Values supplied by the caller, before the merge with defaults. Secrets as `roboto-secret://` URIs. */
  parameterValues: Record<string, unknown>;
  input: InvocationInput | null;
  /** `ROBOTO_DATASET_ID`: a dataset id or UNSPECIFIED_DATA_SOURCE. */
  dataSourceId: string;
  uploadDestinationId: string | null;
  computeRequirements: ComputeRequirements;
  containerParameters: ContainerParameters;
  timeoutMs: number;
  isDryRun: boolean;
  logLevel: RobotoLogLevel;
}

export interface PipelineSettings {
  workerId: string;
  /** Who holds the invocation: written on its containers and workspace so leftovers can be told apart. */
  owner: WorkspaceOwner;
  /** Workspaces are created below this host directory. */
  workspaceParentDir: string;
  keepWorkspace: boolean;
  apiKey: string;
  serviceEndpoint: string;
  /** `ROBOTO_ENV`. */
  environmentLabel: string;
  container: WorkerSettings['container'];
  images: WorkerSettings['images'];
  logs: WorkerSettings['logs'];
  /** The full action log file of this attempt, or null for none. */
  logFile: string | null;
  cache: WorkerSettings['cache'];
  /** Where secrets.json is kept while the container runs: a directory on a tmpfs. */
  secretsTmpfsDir: string;
}

/** Who runs an attempt and where its log goes: what the pipeline settings add to the worker's settings. */
export interface AttemptRunner {
  workerId: string;
  owner: WorkspaceOwner;
  /** `ROBOTO_ENV`. */
  environmentLabel: string;
  keepWorkspace: boolean;
  logFile: string | null;
}

/** The pipeline's settings: the worker's, as the daemon and the local run both pass them on. */
export function pipelineSettings(settings: WorkerSettings, runner: AttemptRunner): PipelineSettings {
  return {
    ...runner,
    workspaceParentDir: settings.workspaceDir,
    // With per-invocation tokens on, the static key never reaches a container, even where none is issued.
    apiKey: settings.roboto.invocationTokens ? PLACEHOLDER_API_KEY : settings.roboto.apiKey,
    serviceEndpoint: settings.roboto.serviceEndpoint,
    container: settings.container,
    images: settings.images,
    logs: settings.logs,
    cache: settings.cache,
    secretsTmpfsDir: settings.secretsTmpfsDir,
  };
}

export interface PipelineDeps {
  runtime: ContainerRuntime;
  inputs: InputResolver;
  outputs: OutputTarget;
  secrets: SecretStore;
  status: StatusRecorder;
  logger: Logger;
  settings: PipelineSettings;
  /** The action's output, after secrets are masked. */
  onOutput: (stream: OutputStream, chunk: Buffer) => Promise<void>;
  /** Aborting skips what is left of a stop's grace period (a second Ctrl-C). */
  forceSignal?: AbortSignal;
  /** Told about the bytes of inputs staged (`download`) and of outputs stored (`upload`). */
  transfers?: TransferObserver;
  /**
   * Issues each attempt its own API token (`ROBOTO_API_KEY`); without it the action gets the static
   * `roboto.apiKey` setting.
   */
  credentials?: InvocationCredentials;
}
