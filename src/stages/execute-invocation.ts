import { PLACEHOLDER_API_KEY } from '../config/worker-settings.js';
import { formatDuration } from '../domain/duration.js';
import {
  ActionWorkerError,
  CancelledError,
  ERROR_CODES,
  type ErrorCode,
  InfrastructureError,
} from '../domain/errors.js';
import { type FailureReason, failureReasonFor } from '../domain/failure.js';
import { InvocationStatus, type StatusRecord } from '../domain/invocation-status.js';
import type { FileRecord } from '../domain/records.js';
import { buildRuntimeEnvironment, toDockerEnv } from '../domain/runtime-environment.js';
import { maskedError, textMasker } from '../domain/secret-masker.js';
import { containerWorkspaceLayout, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ContainerExit } from '../ports/container-runtime.js';
import type { InvocationCredential } from '../ports/invocation-credentials.js';
import type { ResolvedInput } from '../ports/input-resolver.js';
import { ActionLog } from './action-log.js';
import type { InvocationPlan, PipelineDeps } from './invocation-plan.js';
import { applyOutputs, type RefusedOutput } from './output.js';
import {
  buildContainerSpec,
  handOverWorkspace,
  inputStagingFor,
  prepareImage,
  resolveActionUser,
  runContainer,
} from './run.js';
import { placeInputs, prepareParameters } from './setup.js';
import { FileCache } from './file-cache.js';
import { deleteSecretsFile } from './secrets-file.js';
import { StatusTracker } from './status-tracker.js';
import { createWorkspace, removeWorkspace } from './workspace.js';

export interface InvocationFailure {
  reason: FailureReason;
  code: ErrorCode;
  /** Whether another attempt may succeed: what the daemon's retry policy reads. */
  retryable: boolean;
}

export interface InvocationOutcome {
  status:
    typeof InvocationStatus.Completed | typeof InvocationStatus.Failed | typeof InvocationStatus.Cancelled;
  detail: string | null;
  failure?: InvocationFailure;
  exit?: ContainerExit;
  /** The image that ran: its id and, when it came from a registry, its digest. */
  image?: { reference: string; id: string; digest: string | null };
  uploaded: FileRecord[];
  refused: RefusedOutput[];
  uploadDatasetId: string | null;
  /** The action's log, capped (head and tail) as configured, secrets masked. */
  log: string;
  /** Set when the workspace was kept. */
  workspaceDir?: string;
  history: readonly StatusRecord[];
}

type Stage = 'setup' | 'image' | 'action' | 'output';

const STAGE_PREFIX: Record<Stage, string> = {
  setup: 'setup failed',
  image: 'image unavailable',
  action: 'action failed',
  output: 'output failed',
};

/**
 * Runs one attempt of an invocation through setup, run and output, recording every status transition.
 * Never throws for a failure of the invocation itself: the outcome says what happened, and whether it is
 * worth retrying. The container is always removed, secrets.json always deleted and the workspace removed
 * unless it is to be kept.
 */
export async function executeInvocation(
  plan: InvocationPlan,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<InvocationOutcome> {
  const logger = deps.logger.child({ invocationId: plan.invocationId, attempt: plan.attempt });
  // One child logger per stage: every line says which invocation, attempt and stage it is about.
  const loggers = {
    setup: logger.child({ stage: 'setup' }),
    image: logger.child({ stage: 'image' }),
    run: logger.child({ stage: 'run' }),
    output: logger.child({ stage: 'output' }),
  };
  const imageDeps = { ...deps, logger: loggers.image };
  const runDeps = { ...deps, logger: loggers.run };
  const tracker = new StatusTracker(deps.status);
  const outcome: InvocationOutcome = {
    status: InvocationStatus.Failed,
    detail: null,
    uploaded: [],
    refused: [],
    uploadDatasetId: null,
    log: '',
    history: tracker.records,
  };
  let layout: WorkspaceLayout | undefined;
  // This attempt's own API token (when the worker issues them): revoked as soon as the container is gone.
  let credential: InvocationCredential | undefined;
  let stage: Stage = 'setup';
  // Masks what the action wrote (paths, changeset keys) on its way to a log or the record.
  let mask = (text: string): string => text;
  try {
    await tracker.transition(InvocationStatus.Scheduled);
    signal.throwIfAborted();

    await tracker.transition(InvocationStatus.Downloading);
    layout = await createWorkspace(
      deps.settings.workspaceParentDir,
      plan.invocationId,
      plan.attempt,
      deps.settings.owner,
    );
    const containerLayout = containerWorkspaceLayout();
    const parameters = await prepareParameters(plan, layout, deps.secrets, {
      tmpfsDir: deps.settings.secretsTmpfsDir,
      owner: deps.settings.owner,
    });
    signal.throwIfAborted();
    const resolved: ResolvedInput = plan.input
      ? await deps.inputs.resolve(plan.input, plan.orgId, signal)
      : { files: [], topics: [] };

    stage = 'image';
    const image = await prepareImage(plan, imageDeps, signal);
    const reference = plan.image.kind === 'build' ? plan.image.tag : plan.image.reference;
    outcome.image = { reference, id: image.id, digest: image.repoDigests[0] ?? null };
    // Who runs the action decides how its inputs are staged, so it is known before they are.
    const user = await resolveActionUser(runDeps, image, plan);

    stage = 'setup';
    const staging = inputStagingFor(user, process.getuid?.(), deps.settings.container.capAdd);
    const downloadInputs = plan.action.requires_downloaded_inputs !== false;
    const cache = new FileCache(deps.settings.cache.dir, deps.settings.cache.budgetBytes);
    await placeInputs(
      resolved,
      layout,
      containerLayout,
      downloadInputs,
      cache,
      staging,
      signal,
      deps.transfers,
    );
    loggers.setup.info(
      {
        files: resolved.files.length,
        topics: resolved.topics.length,
        downloadInputs,
        staging,
        cache: cache.stats,
        user: user === null ? null : `${user.uid}:${user.gid}`,
      },
      'setup.inputs_placed',
    );
    await handOverWorkspace(runDeps, user, layout, parameters.secretsFile !== null);
    credential = await issueCredential(plan, deps);
    const apiKey = apiKeyFor(deps, credential);
    const environment = buildRuntimeEnvironment({
      datasetId: plan.dataSourceId,
      invocationId: plan.invocationId,
      orgId: plan.orgId,
      layout: containerLayout,
      apiKey,
      serviceEndpoint: credential?.serviceEndpoint ?? deps.settings.serviceEndpoint,
      isDryRun: plan.isDryRun,
      logLevel: plan.logLevel,
      environmentLabel: deps.settings.environmentLabel,
      timeoutMinutes: Math.max(1, Math.ceil(plan.timeoutMs / 60_000)),
      parameters: parameters.merged,
      containerEnv: plan.containerParameters.env_vars,
    });
    if (environment.droppedEmpty.length > 0) {
      loggers.run.warn({ names: environment.droppedEmpty }, 'run.env.empty_dropped');
    }
    const spec = buildContainerSpec(
      plan,
      runDeps,
      layout,
      toDockerEnv(environment.env),
      image,
      user,
      parameters.secretsFile,
    );
    signal.throwIfAborted();

    stage = 'action';
    await tracker.transition(InvocationStatus.Processing, `running ${reference}`);
    // The API key is a credential too: an action printing its environment must not leak it.
    const secrets = [...parameters.secretValues, ...(apiKey === PLACEHOLDER_API_KEY ? [] : [apiKey])];
    mask = textMasker(secrets);
    const log = new ActionLog({
      secrets,
      live: deps.onOutput,
      storedBytes: deps.settings.logs.storedBytes,
      maxLineBytes: deps.settings.logs.maxLineBytes,
      file: deps.settings.logFile,
      fileBytes: deps.settings.logs.fileBytes,
    });
    await log.open();
    let exit: ContainerExit;
    try {
      exit = await runContainer(spec, runDeps, layout, log, signal);
    } finally {
      // The action is done with its secrets whatever happened to it; each clean-up runs whatever the other did.
      await deleteSecretsFile(deps.settings.secretsTmpfsDir, layout).catch((error: unknown) => {
        logger.error({ err: error }, 'cleanup.secrets_failed');
      });
      await log.close().catch((error: unknown) => {
        logger.error({ err: error }, 'run.log_close_failed');
      });
      outcome.log = log.text;
      await revokeCredential(credential, logger);
      credential = undefined;
    }
    outcome.exit = exit;
    loggers.run.info(
      { exit: { ...exit, ...('reason' in exit ? { reason: String(exit.reason) } : {}) } },
      'container.exited',
    );
    if (exit.kind === 'stopped') {
      // Stopped on purpose: for using too much storage (the guard's reason), or cancelled.
      throw exit.reason instanceof ActionWorkerError ? exit.reason : new CancelledError();
    }
    if (exit.kind !== 'exited' || exit.exitCode !== 0) {
      const { code, detail } = describeFailedExit(exit);
      return await finish(tracker, outcome, InvocationStatus.Failed, detail, code);
    }

    stage = 'output';
    await tracker.transition(InvocationStatus.Uploading);
    if (plan.isDryRun) {
      loggers.output.info('output.skipped_dry_run');
      return await finish(tracker, outcome, InvocationStatus.Completed, 'dry run: outputs not uploaded');
    }
    const result = await applyOutputs(plan, layout, resolved, deps.outputs, loggers.output, signal, {
      mask,
      storageLimitBytes:
        deps.settings.container.storageQuota === 'auto' ? plan.computeRequirements.storage * 1024 ** 3 : null,
      transfers: deps.transfers,
    });
    outcome.uploaded = result.uploaded;
    outcome.refused = result.refused;
    outcome.uploadDatasetId = result.uploadDatasetId;
    return await finish(
      tracker,
      outcome,
      InvocationStatus.Completed,
      result.isNewDataset
        ? `${result.uploaded.length} output file(s) uploaded to a new dataset, ${result.uploadDatasetId}`
        : `${result.uploaded.length} output file(s) uploaded`,
    );
  } catch (error) {
    // Aborted on purpose: a cancel, or (daemon) the worker shutting down or losing its lease, whose reason
    // is kept so the attempt is handed back or fenced instead of being reported as cancelled.
    const abortReason =
      signal.aborted && signal.reason instanceof ActionWorkerError ? signal.reason : undefined;
    if (
      error instanceof CancelledError ||
      abortReason instanceof CancelledError ||
      (signal.aborted && abortReason === undefined && !(error instanceof ActionWorkerError))
    ) {
      return await finish(tracker, outcome, InvocationStatus.Cancelled, 'cancelled', 'E_CANCELLED');
    }
    const known = abortReason ?? classify(error);
    logger.error(
      { err: maskedError(error, mask), code: known.code, retryable: known.retryable },
      'invocation.failed',
    );
    return await finish(
      tracker,
      outcome,
      InvocationStatus.Failed,
      `${STAGE_PREFIX[stage]}: ${mask(known.message)}`,
      known.code,
      known.retryable,
    );
  } finally {
    await revokeCredential(credential, logger);
    if (layout !== undefined) await cleanUp(layout, deps, outcome, logger);
  }
}

/** One attempt's token, when the worker issues them, living at most the timeout and an hour of setup. */
async function issueCredential(
  plan: InvocationPlan,
  deps: PipelineDeps,
): Promise<InvocationCredential | undefined> {
  if (deps.credentials === undefined) return undefined;
  const credential = await deps.credentials.issue({
    invocationId: plan.invocationId,
    orgId: plan.orgId,
    attempt: plan.attempt,
    expires: new Date(Date.now() + plan.timeoutMs + CREDENTIAL_SLACK_MS),
  });
  if (credential === undefined) {
    deps.logger.warn({ invocationId: plan.invocationId, orgId: plan.orgId }, 'run.credentials_unknown_org');
  }
  return credential;
}

/** Beyond the timeout (which starts with the container), what setup and the image may take. */
const CREDENTIAL_SLACK_MS = 60 * 60_000;

/**
 * `ROBOTO_API_KEY`: the attempt's own token; with per-invocation tokens on but none issued, no usable key
 * (never the static `roboto.apiKey`); with them off, the static key (or the placeholder).
 */
function apiKeyFor(deps: PipelineDeps, credential: InvocationCredential | undefined): string {
  if (credential !== undefined) return credential.token;
  return deps.credentials === undefined ? deps.settings.apiKey : PLACEHOLDER_API_KEY;
}

async function revokeCredential(
  credential: InvocationCredential | undefined,
  logger: PipelineDeps['logger'],
): Promise<void> {
  await credential?.revoke().catch((error: unknown) => {
    logger.error({ err: error }, 'cleanup.credential_revoke_failed');
  });
}

async function finish(
  tracker: StatusTracker,
  outcome: InvocationOutcome,
  status: InvocationOutcome['status'],
  detail: string,
  code?: ErrorCode,
  /** The retryability of the error that ended the attempt, when one did; else the code's. */
  retryable?: boolean,
): Promise<InvocationOutcome> {
  if (code !== undefined) {
    outcome.failure = {
      reason: failureReasonFor(code),
      code,
      retryable: retryable ?? ERROR_CODES[code].retryable,
    };
  }
  await tracker.storeResult({
    log: outcome.log,
    ...(outcome.image === undefined ? {} : { image: outcome.image }),
  });
  // Whether a Failed may be retried is recorded with it, in the same write.
  await tracker.transition(
    status,
    detail,
    outcome.failure === undefined ? undefined : { retryable: outcome.failure.retryable },
  );
  outcome.status = status;
  outcome.detail = detail;
  return outcome;
}

async function cleanUp(
  layout: WorkspaceLayout,
  deps: PipelineDeps,
  outcome: InvocationOutcome,
  logger: PipelineDeps['logger'],
): Promise<void> {
  await deleteSecretsFile(deps.settings.secretsTmpfsDir, layout).catch((error: unknown) => {
    logger.error({ err: error }, 'cleanup.secrets_failed');
  });
  if (deps.settings.keepWorkspace) {
    outcome.workspaceDir = layout.root;
    return;
  }
  await removeWorkspace(layout).catch((error: unknown) => {
    logger.error({ err: error }, 'cleanup.workspace_failed');
  });
}

function describeFailedExit(exit: Exclude<ContainerExit, { kind: 'stopped' }>): {
  code: ErrorCode;
  detail: string;
} {
  switch (exit.kind) {
    case 'exited':
      return { code: 'E_ACTION_EXIT', detail: `action exited with code ${exit.exitCode}` };
    case 'oom':
      return {
        code: 'E_OOM',
        detail: `out of memory (limit ${Math.round(exit.memoryLimitBytes / 1024 / 1024)} MiB)`,
      };
    case 'timed-out':
      return { code: 'E_TIMEOUT', detail: `timed out after ${formatDuration(exit.timeoutMs)}` };
  }
}

/** I/O errors that another attempt (on this host later, or another host) may not meet again. */
const TRANSIENT_IO = new Set([
  'ENOSPC',
  'EIO',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EDQUOT',
]);

/** Our own errors keep their code; transient I/O errors are retryable infrastructure; anything else internal. */
function classify(error: unknown): ActionWorkerError {
  if (error instanceof ActionWorkerError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && TRANSIENT_IO.has(code)) {
    return new InfrastructureError((error as Error).message, 'E_IO', error);
  }
  return new ActionWorkerError(error instanceof Error ? error.message : String(error), {
    code: 'E_INTERNAL',
    cause: error,
  });
}
