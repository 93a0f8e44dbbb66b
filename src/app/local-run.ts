import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { FolderOutputTarget, type OutputSummary } from '../adapters/local/folder-output-target.js';
import { LocalFolderDataset } from '../adapters/local/local-folder-dataset.js';
import { StaticSecretStore } from '../adapters/local/static-secret-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { type ActionConfig, ActionConfig as ActionConfigSchema } from '../domain/action-config.js';
import { assertFitsCapacity, effectiveComputeRequirements } from '../domain/compute-requirements.js';
import { mergeContainerParameters } from '../domain/container-parameters.js';
import { parseDurationMs } from '../domain/duration.js';
import { CancelledError, UsageError } from '../domain/errors.js';
import { randomId } from '../domain/ids.js';
import type { InvocationInput } from '../domain/input-selectors.js';
import { InvocationStatus, statusName } from '../domain/invocation-status.js';
import { validateParameters } from '../domain/parameters.js';
import { UNSPECIFIED_DATA_SOURCE } from '../domain/records.js';
import type { RobotoLogLevel } from '../domain/runtime-environment.js';
import type { ContainerRuntime, OutputStream } from '../ports/container-runtime.js';
import type { InputResolver } from '../ports/input-resolver.js';
import { type InvocationOutcome, executeInvocation } from '../stages/execute-invocation.js';
import type { ImageSource, InvocationPlan } from '../stages/invocation-plan.js';
import {
  type LocalRunRequest,
  collectParameterValues,
  collectSecrets,
  imageTagFor,
  isDirectory,
  isFile,
  loadActionDir,
} from './local-run-options.js';

export interface LocalRunIo {
  /** The action's stdout and stderr, as they come. */
  writeOutput: (stream: OutputStream, chunk: Buffer) => Promise<void>;
  /** A status transition, as it happens. */
  onStatus: (status: InvocationStatus, detail: string | null) => void;
  /** Aborted by a second Ctrl-C: skip the rest of the stop's grace period. */
  forceSignal?: AbortSignal;
}

/** The full action log, beside the outputs (output/.metadata/ is never collected, so it never collides). */
export const ACTION_LOG_FILE = '.metadata/action.log';

export interface LocalRunResult {
  invocationId: string;
  outcome: InvocationOutcome;
  outputDir: string;
  summaryFile?: string;
  summary?: OutputSummary;
}

const LOG_LEVELS: Record<string, RobotoLogLevel> = {
  error: 'ERROR',
  warn: 'WARNING',
  warning: 'WARNING',
  info: 'INFO',
  debug: 'DEBUG',
};

export function robotoLogLevel(level: string): RobotoLogLevel {
  const mapped = LOG_LEVELS[level.toLowerCase()];
  if (mapped === undefined)
    throw new UsageError(`--log-level "${level}" must be one of error, warning, info, debug`);
  return mapped;
}

/**
 * `action-worker run`: one action against a local folder, on the same pipeline as the daemon. Every
 * check of the request happens before the pipeline starts, so bad input never starts a container.
 */
export async function runLocal(
  request: LocalRunRequest,
  deps: {
    runtime: ContainerRuntime;
    settings: WorkerSettings;
    logger: Logger;
    env: NodeJS.ProcessEnv;
    cwd: string;
  },
  io: LocalRunIo,
  signal: AbortSignal,
): Promise<LocalRunResult> {
  const logLevel = robotoLogLevel(request.logLevel);
  const { action, image } = await resolveActionAndImage(request);
  const parameterValues = await collectParameterValues(request.params, request.paramsFile);
  const secrets = await collectSecrets(request.secrets, parameterValues, deps.env);
  if (request.actionDir === undefined) {
    // No action.json: nothing is declared, so every supplied parameter is taken as declared.
    action.parameters = Object.keys(parameterValues).map((name) => ({
      name,
      required: false,
      description: null,
      default: null,
    }));
  }
  validateParameters(action.parameters, parameterValues, action.name);
  const timeoutMs = request.timeout
    ? parseDurationMs(request.timeout, '--timeout')
    : (action.timeout ?? deps.settings.defaultTimeoutMinutes) * 60_000;

  const orgId = request.orgId ?? nonEmpty(deps.env.ROBOTO_ORG_ID) ?? 'og_local';
  let inputs: InputResolver = { resolve: () => Promise.reject(new Error('no input folder')) };
  let input: InvocationInput | null = null;
  let dataSourceId = request.datasetId ?? UNSPECIFIED_DATA_SOURCE;
  if (request.inputDir !== undefined) {
    if (!(await isDirectory(request.inputDir))) {
      throw new UsageError(
        `input folder "${request.inputDir}" does not exist or is not a directory`,
        'E_INVALID_INPUT',
      );
    }
    const datasetId = request.datasetId ?? (await LocalFolderDataset.datasetIdFor(request.inputDir));
    inputs = new LocalFolderDataset({ folder: request.inputDir, datasetId, orgId });
    dataSourceId = datasetId;
    const paths = request.files.length > 0 ? request.files : ['**/*'];
    input = { files: [{ dataset_id: datasetId, paths, query: null, ids: null, names: null }], topics: null };
  } else if (request.files.length > 0) {
    throw new UsageError('--files needs --input');
  }

  const invocationId = randomId('iv');
  const outputDir = path.resolve(
    deps.cwd,
    request.outputDir ?? path.join('action-worker-output', invocationId),
  );
  await assertEmptyOrMissing(outputDir);

  const computeRequirements = effectiveComputeRequirements(action.compute_requirements, null);
  assertFitsCapacity(computeRequirements, deps.settings.capacity);

  await deps.runtime.ping();
  if (image.kind === 'reference') await preflightImage(image.reference, deps, signal);

  const plan: InvocationPlan = {
    invocationId,
    attempt: 1,
    orgId,
    action,
    image,
    parameterValues,
    input,
    dataSourceId,
    uploadDestinationId: null,
    computeRequirements,
    containerParameters: mergeContainerParameters(action.container_parameters, null),
    timeoutMs,
    isDryRun: request.dryRun,
    logLevel,
  };
  const target = new FolderOutputTarget(outputDir, orgId);
  const outcome = await executeInvocation(
    plan,
    {
      runtime: deps.runtime,
      inputs,
      outputs: target,
      secrets: new StaticSecretStore(secrets),
      status: {
        record: (status, detail) => {
          io.onStatus(status, detail);
          return Promise.resolve();
        },
      },
      logger: deps.logger,
      settings: {
        workerId: `local-${os.hostname()}`,
        owner: { host: os.hostname(), pid: process.pid, workerId: `local-${os.hostname()}` },
        workspaceParentDir: deps.settings.workspaceDir,
        keepWorkspace: request.keepWorkspace,
        apiKey: deps.settings.roboto.apiKey,
        serviceEndpoint: deps.settings.roboto.serviceEndpoint,
        environmentLabel: `LOCAL (${os.hostname()})`,
        container: deps.settings.container,
        images: deps.settings.images,
        logs: deps.settings.logs,
        logFile: path.join(outputDir, ...ACTION_LOG_FILE.split('/')),
      },
      onOutput: io.writeOutput,
      ...(io.forceSignal ? { forceSignal: io.forceSignal } : {}),
    },
    signal,
  );
  const result: LocalRunResult = { invocationId, outcome, outputDir };
  if (outcome.status === InvocationStatus.Completed && !request.dryRun) {
    result.summary = target.summary(invocationId, {
      status: statusName(outcome.status),
      detail: outcome.detail,
      image: outcome.image ?? null,
      refused: outcome.refused,
    });
    result.summaryFile = await target.writeSummary(result.summary);
  }
  return result;
}

async function resolveActionAndImage(
  request: LocalRunRequest,
): Promise<{ action: ActionConfig; image: ImageSource }> {
  if (request.actionDir === undefined) {
    if (request.image === undefined) throw new UsageError('give an action directory, --image, or both');
    return {
      action: ActionConfigSchema.parse({ name: 'image-action' }),
      image: { kind: 'reference', reference: request.image },
    };
  }
  const action = await loadActionDir(request.actionDir);
  if (request.image !== undefined) return { action, image: { kind: 'reference', reference: request.image } };
  if (await isFile(path.join(request.actionDir, 'Dockerfile'))) {
    return {
      action,
      image: {
        kind: 'build',
        contextDir: path.resolve(request.actionDir),
        dockerfile: 'Dockerfile',
        tag: imageTagFor(action.name),
      },
    };
  }
  if (action.image_uri) return { action, image: { kind: 'reference', reference: action.image_uri } };
  throw new UsageError(
    `"${request.actionDir}" has no Dockerfile and action.json has no image_uri: give --image REF`,
    'E_IMAGE_NOT_FOUND',
  );
}

async function assertEmptyOrMissing(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new UsageError(`--output "${dir}" is not a directory`);
    throw error;
  });
  if (entries.length > 0) {
    throw new UsageError(`--output "${dir}" is not empty; outputs are never written over existing files`);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A missing image is found out before anything starts: with pull policy `never` it must be present;
 * otherwise it is pulled now, so "not found" or "unauthorized" ends the run before its workspace exists.
 */
async function preflightImage(
  reference: string,
  deps: { runtime: ContainerRuntime; settings: WorkerSettings; logger: Logger },
  signal: AbortSignal,
): Promise<void> {
  const { images } = deps.settings;
  if (images.pullPolicy !== 'always' && (await deps.runtime.inspectImage(reference)) !== undefined) return;
  if (images.pullPolicy === 'never') {
    throw new UsageError(
      `image "${reference}" is not present on this Docker engine (pull policy: never)`,
      'E_IMAGE_NOT_FOUND',
    );
  }
  deps.logger.info({ reference }, 'image.pull.started');
  try {
    await deps.runtime.pullImage({
      reference,
      signal,
      timeoutMs: images.pullTimeoutMs,
      noProgressTimeoutMs: images.pullNoProgressTimeoutMs,
    });
  } catch (error) {
    if (signal.aborted) throw new CancelledError('cancelled while pulling the image', error);
    throw error;
  }
}
