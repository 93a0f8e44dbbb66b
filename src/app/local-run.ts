import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { StaticSecretStore } from '../adapters/local/static-secret-store.js';
import type { DataStore } from '../ports/data-store.js';
import type { TransferObserver } from '../ports/transfer-observer.js';
import { StoreInputResolver } from '../stages/store-input-resolver.js';
import { StoreOutputTarget } from '../stages/store-output-target.js';
import { parseQuery } from '../domain/roboql.js';
import type { FileSelector } from '../domain/input-selectors.js';
import { assertEmptyOrMissing, exportFiles, importFolder } from './dataset-transfer.js';
import { PLACEHOLDER_SERVICE_ENDPOINT, type WorkerSettings } from '../config/worker-settings.js';
import { LocalRunCredentials } from './invocation-credentials.js';
import { type LocalApi, LocalInvocationView, localApiHost, startLocalApi } from './local-api.js';
import { type ActionConfig, ActionConfig as ActionConfigSchema } from '../domain/action-config.js';
import { assertFitsCapacity } from '../domain/compute-requirements.js';
import { parseDurationMs } from '../domain/duration.js';
import { CancelledError, UsageError } from '../domain/errors.js';
import { newInvocationRequest, requestTimeout } from '../domain/invocation-request.js';
import { randomId } from '../domain/ids.js';
import { assertImageReference } from '../domain/image-reference.js';
import type { InvocationInput } from '../domain/input-selectors.js';
import { InvocationStatus, isTerminal, statusName } from '../domain/invocation-status.js';
import { validateParameters } from '../domain/parameters.js';
import { UNSPECIFIED_DATA_SOURCE } from '../domain/records.js';
import type { RobotoLogLevel } from '../domain/runtime-environment.js';
import type { ContainerRuntime, OutputStream } from '../ports/container-runtime.js';
import { currentPidNamespace } from './garbage-collector.js';
import { type InvocationOutcome, executeInvocation } from '../stages/execute-invocation.js';
import { type ImageSource, pipelineSettings } from '../stages/invocation-plan.js';
import { planFromRequest } from '../stages/plan-from-request.js';
import { ensureImage } from '../stages/run.js';
import {
  type LocalRunRequest,
  collectParameterValues,
  collectSecrets,
  declareSuppliedParameters,
  imageTagFor,
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
  /** Told about the input folder's import into the store (an `upload`). */
  importTransfers?: TransferObserver;
  /** Told about the inputs staged for the action (`download`) and the outputs stored (`upload`). */
  transfers?: TransferObserver;
}

/** The full action log, beside the outputs (output/.metadata/ is never collected, so it never collides). */
export const ACTION_LOG_FILE = '.metadata/action.log';

/** How a run ended, as the pipeline reports it (the CLI maps it to an exit code). */
export type { InvocationOutcome };

export interface LocalRunResult {
  invocationId: string;
  outcome: InvocationOutcome;
  /** Where the outputs were exported (--output). */
  outputDir?: string;
  /** The export's `.metadata/action-worker.json`. */
  summaryFile?: string;
  /** The full action log. */
  logFile: string;
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
    store: DataStore;
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
  declareSuppliedParameters(action, parameterValues, request.actionDir !== undefined);
  validateParameters(action.parameters, parameterValues, action.name);
  const timeoutMs = request.timeout === undefined ? undefined : parseDurationMs(request.timeout, '--timeout');

  const orgId = request.orgId ?? nonEmpty(deps.env.ROBOTO_ORG_ID) ?? 'og_local';
  const invocationId = randomId('iv');
  const outputDir = request.outputDir === undefined ? undefined : path.resolve(deps.cwd, request.outputDir);
  if (outputDir !== undefined) await assertEmptyOrMissing(outputDir, '--output');
  const logFile =
    outputDir === undefined
      ? path.join(deps.settings.logs.dir, `${invocationId}-1.log`)
      : path.join(outputDir, ...ACTION_LOG_FILE.split('/'));
  if (request.query !== undefined) parseQuery(request.query);
  const datasetIds = [...request.datasets];
  for (const datasetId of [...datasetIds, ...(request.uploadTo === undefined ? [] : [request.uploadTo])]) {
    if ((await deps.store.getDataset(datasetId)) === undefined) {
      throw new UsageError(`unknown dataset "${datasetId}"`, 'E_INVALID_INPUT');
    }
  }
  if (request.inputDir !== undefined) {
    const imported = await importFolder(deps.store, request.inputDir, {
      ...(request.datasetId === undefined ? {} : { datasetId: request.datasetId }),
      orgId,
      signal,
      transfers: io.importTransfers,
    });
    deps.logger.info(
      { datasetId: imported.dataset.dataset_id, files: imported.files.length, isNew: imported.isNew },
      'input.folder_imported',
    );
    datasetIds.unshift(imported.dataset.dataset_id);
  }
  const input = buildInput(request, datasetIds);
  const dataSourceId = datasetIds[0] ?? request.datasetId ?? UNSPECIFIED_DATA_SOURCE;
  let uploadDestinationId = request.uploadTo ?? null;
  if (uploadDestinationId === null && !hasSingleInputDataset(request, datasetIds)) {
    // The platform would skip the upload; on a laptop that silently loses the outputs. A fresh dataset
    // keeps them.
    const outputs = await deps.store.createDataset({
      orgId,
      name: `${action.name} outputs`,
      description: `outputs of ${action.name}, invocation ${invocationId}`,
    });
    uploadDestinationId = outputs.dataset_id;
  }

  // The same request `invoke` queues, so the plan is made the one way the daemon makes it too.
  const invocation = newInvocationRequest({
    action: { image: image.kind === 'build' ? image.tag : image.reference, config: action },
    parameter_values: parameterValues,
    secret_parameters: [...secrets.keys()],
    input,
    data_source_id: dataSourceId,
    upload_destination_id: uploadDestinationId,
    ...requestTimeout(timeoutMs),
    org_id: orgId,
    dry_run: request.dryRun,
    log_level: logLevel,
  });
  const plan = planFromRequest(invocation, {
    invocationId,
    attempt: 1,
    defaultTimeoutMinutes: deps.settings.defaultTimeoutMinutes,
    ...(image.kind === 'build'
      ? { build: { contextDir: image.contextDir, dockerfile: image.dockerfile } }
      : {}),
  });
  assertFitsCapacity(plan.computeRequirements, deps.settings.capacity);

  await deps.runtime.ping();
  if (image.kind === 'reference' && deps.settings.images.pullPolicy !== 'always') {
    // A missing image is found out before anything starts: "not found" or "unauthorized" ends the run
    // before its workspace exists. With `always` the pipeline pulls it, once.
    try {
      await ensureImage(image.reference, { ...deps, images: deps.settings.images }, signal);
    } catch (error) {
      if (signal.aborted) throw new CancelledError('cancelled while pulling the image', error);
      throw error;
    }
  }

  // The action's API for the length of the run, when no other is configured; its one token is the run's.
  const view = new LocalInvocationView(invocationId, invocation);
  const local = await startRunApi(deps, orgId, view);
  const outcome = await executeInvocation(
    plan,
    {
      runtime: deps.runtime,
      inputs: new StoreInputResolver(deps.store, deps.logger),
      outputs: new StoreOutputTarget(
        deps.store,
        { invocationId, attempt: 1 },
        `action-worker run of ${action.name}`,
      ),
      secrets: new StaticSecretStore(secrets),
      status: {
        record: (status, detail) => {
          // From its terminal status on, the invocation's token is refused.
          if (isTerminal(status)) local?.credentials.finish();
          view.record(status, detail);
          io.onStatus(status, detail);
          return Promise.resolve();
        },
      },
      logger: deps.logger,
      settings: pipelineSettings(deps.settings, {
        workerId: `local-${os.hostname()}`,
        owner: {
          host: os.hostname(),
          pid: process.pid,
          workerId: `local-${os.hostname()}`,
          pidNamespace: currentPidNamespace(),
        },
        environmentLabel: `LOCAL (${os.hostname()})`,
        keepWorkspace: request.keepWorkspace,
        logFile,
      }),
      onOutput: io.writeOutput,
      ...(io.forceSignal ? { forceSignal: io.forceSignal } : {}),
      transfers: io.transfers,
      ...(local === undefined ? {} : { credentials: local.credentials }),
    },
    signal,
  ).finally(async () => {
    // The API, and the token with it, end with the run.
    local?.credentials.finish();
    await local?.api.close();
  });
  const result: LocalRunResult = {
    invocationId,
    outcome,
    logFile,
    ...(outputDir === undefined ? {} : { outputDir }),
  };
  if (outcome.status === InvocationStatus.Completed && outputDir !== undefined && !request.dryRun) {
    result.summaryFile = await exportFiles(
      deps.store,
      outcome.uploaded.map((record) => record.file_id),
      outcome.uploadDatasetId,
      outputDir,
      {
        invocation_id: invocationId,
        status: statusName(outcome.status),
        detail: outcome.detail,
        image: outcome.image ?? null,
        refused: outcome.refused.map((entry) => ({
          relative_path: entry.relativePath,
          reason: entry.reason,
        })),
      },
    );
  }
  return result;
}

/**
 * `run`'s own API (setting `roboto.localApi`): only with invocation tokens on and no endpoint configured,
 * and only where the action can reach it (see {@link localApiHost}); undefined otherwise.
 */
async function startRunApi(
  deps: { runtime: ContainerRuntime; store: DataStore; settings: WorkerSettings; logger: Logger },
  orgId: string,
  invocation: LocalInvocationView,
): Promise<{ api: LocalApi; credentials: LocalRunCredentials } | undefined> {
  const { roboto, container } = deps.settings;
  if (
    !roboto.invocationTokens ||
    !roboto.localApi ||
    roboto.serviceEndpoint !== PLACEHOLDER_SERVICE_ENDPOINT
  ) {
    return undefined;
  }
  const host = await localApiHost(container.networkMode, deps.runtime);
  if (host === undefined) {
    deps.logger.info({ networkMode: container.networkMode }, 'run.api_unreachable');
    return undefined;
  }
  const credentials = new LocalRunCredentials();
  try {
    const api = await startLocalApi({
      store: deps.store,
      orgId,
      host,
      authenticator: credentials,
      settings: deps.settings,
      logger: deps.logger,
      invocation,
    });
    credentials.serviceEndpoint = api.url;
    return { api, credentials };
  } catch (error) {
    // A gateway that is not an address of this host (an engine in a VM, rootless Docker): the action runs
    // without an API, as it would with none configured.
    deps.logger.warn({ err: error, host }, 'run.api_unavailable');
    return undefined;
  }
}

/** File selectors from the flags: paths per dataset (all files by default), a query, ids; topics by name. */
export function buildInput(
  request: Pick<LocalRunRequest, 'files' | 'query' | 'fileIds' | 'topics'>,
  datasetIds: readonly string[],
): InvocationInput | null {
  const files: FileSelector[] = [];
  const none = { query: null, ids: null, names: null, dataset_id: null, paths: null };
  const bySelectorFlags =
    request.query !== undefined || request.fileIds.length > 0 || request.topics.length > 0;
  if (request.files.length > 0 || !bySelectorFlags) {
    const paths = request.files.length > 0 ? request.files : ['**/*'];
    for (const datasetId of datasetIds) files.push({ ...none, dataset_id: datasetId, paths });
  }
  if (request.query !== undefined) files.push({ ...none, query: request.query });
  if (request.fileIds.length > 0) files.push({ ...none, ids: request.fileIds });
  const topics =
    request.topics.length > 0 ? [{ query: null, ids: null, names: request.topics, dataset_id: null }] : null;
  if (files.length === 0 && topics === null) return null;
  return { files: files.length > 0 ? files : null, topics };
}

/** Whether every input file can only come from one dataset, which then receives the outputs. */
function hasSingleInputDataset(request: LocalRunRequest, datasetIds: readonly string[]): boolean {
  return datasetIds.length === 1 && request.query === undefined && request.fileIds.length === 0;
}

async function resolveActionAndImage(
  request: LocalRunRequest,
): Promise<{ action: ActionConfig; image: ImageSource }> {
  if (request.image !== undefined) assertImageReference(request.image, '--image');
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

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
