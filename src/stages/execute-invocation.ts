import { ActionWorkerError, CancelledError, type ErrorCode, InfrastructureError } from '../domain/errors.js';
import { formatDuration } from '../domain/duration.js';
import { InvocationStatus } from '../domain/invocation-status.js';
import type { FileRecord } from '../domain/records.js';
import { buildRuntimeEnvironment, toDockerEnv } from '../domain/runtime-environment.js';
import { containerWorkspaceLayout, type WorkspaceLayout } from '../domain/workspace-layout.js';
import type { ContainerExit } from '../ports/container-runtime.js';
import type { ResolvedInput } from '../ports/input-resolver.js';
import type { InvocationPlan, PipelineDeps } from './invocation-plan.js';
import { applyOutputs, type RefusedOutput } from './output.js';
import { buildContainerSpec, prepareImage, runContainer } from './run.js';
import { placeInputs, prepareParameters } from './setup.js';
import { StatusTracker } from './status-tracker.js';
import { createWorkspace, deleteSecretsFile, removeWorkspace } from './workspace.js';

export type FailureKind = 'setup' | 'image' | 'action' | 'output' | 'infrastructure';

export interface InvocationOutcome {
  status:
    typeof InvocationStatus.Completed | typeof InvocationStatus.Failed | typeof InvocationStatus.Cancelled;
  detail: string | null;
  failure?: { kind: FailureKind; code: ErrorCode; retryable: boolean };
  exit?: ContainerExit;
  imageId?: string;
  uploaded: FileRecord[];
  refused: RefusedOutput[];
  uploadDatasetId: string | null;
  /** Set when the workspace was kept. */
  workspaceDir?: string;
  history: readonly { status: InvocationStatus; detail: string | null; timestamp: string }[];
}

/**
 * Runs one attempt of an invocation through setup, run and output, recording every status transition.
 * Never throws for a failure of the invocation itself: the outcome says what happened. The container is
 * always removed, secrets.json always deleted and the workspace removed unless it is to be kept.
 */
export async function executeInvocation(
  plan: InvocationPlan,
  deps: PipelineDeps,
  signal: AbortSignal,
): Promise<InvocationOutcome> {
  const logger = deps.logger.child({ invocationId: plan.invocationId, attempt: plan.attempt });
  const stageDeps = { ...deps, logger };
  const tracker = new StatusTracker(deps.status);
  const outcome: InvocationOutcome = {
    status: InvocationStatus.Failed,
    detail: null,
    uploaded: [],
    refused: [],
    uploadDatasetId: null,
    history: tracker.records,
  };
  let layout: WorkspaceLayout | undefined;
  let stage: FailureKind = 'setup';
  try {
    await tracker.transition(InvocationStatus.Scheduled);
    signal.throwIfAborted();

    await tracker.transition(InvocationStatus.Downloading);
    layout = await createWorkspace(deps.settings.workspaceParentDir, plan.invocationId, plan.attempt);
    const containerLayout = containerWorkspaceLayout();
    const parameters = await prepareParameters(plan, layout, deps.secrets);
    signal.throwIfAborted();
    const resolved: ResolvedInput = plan.input
      ? await deps.inputs.resolve(plan.input, signal)
      : { files: [], topics: [] };
    const downloadInputs = plan.action.requires_downloaded_inputs !== false;
    await placeInputs(resolved, layout, containerLayout, downloadInputs, signal);
    logger.info(
      { files: resolved.files.length, topics: resolved.topics.length, downloadInputs },
      'setup.inputs_placed',
    );

    stage = 'image';
    const image = await prepareImage(plan, stageDeps, signal);
    outcome.imageId = image.id;
    const environment = buildRuntimeEnvironment({
      datasetId: plan.dataSourceId,
      invocationId: plan.invocationId,
      orgId: plan.orgId,
      layout: containerLayout,
      apiKey: deps.settings.apiKey,
      serviceEndpoint: deps.settings.serviceEndpoint,
      isDryRun: plan.isDryRun,
      logLevel: plan.logLevel,
      environmentLabel: deps.settings.environmentLabel,
      timeoutMinutes: Math.max(1, Math.ceil(plan.timeoutMs / 60_000)),
      parameters: parameters.merged,
      containerEnv: plan.containerParameters.env_vars,
    });
    if (environment.droppedEmpty.length > 0)
      logger.warn({ names: environment.droppedEmpty }, 'run.env.empty_dropped');
    const spec = buildContainerSpec(plan, stageDeps, layout, toDockerEnv(environment.env), image);
    signal.throwIfAborted();

    stage = 'action';
    await tracker.transition(
      InvocationStatus.Processing,
      `running ${plan.image.kind === 'build' ? plan.image.tag : plan.image.reference}`,
    );
    let exit: ContainerExit;
    try {
      exit = await runContainer(spec, stageDeps, parameters.secretValues, signal);
    } finally {
      // The action is done with its secrets whatever happened to it.
      await deleteSecretsFile(layout);
    }
    outcome.exit = exit;
    logger.info({ exit }, 'container.exited');
    if (exit.kind === 'cancelled') throw new CancelledError();
    if (exit.kind !== 'exited' || exit.exitCode !== 0) {
      const { code, detail } = describeFailedExit(exit);
      await tracker.transition(InvocationStatus.Failed, detail);
      outcome.status = InvocationStatus.Failed;
      outcome.detail = detail;
      outcome.failure = { kind: 'action', code, retryable: false };
      return outcome;
    }

    stage = 'output';
    await tracker.transition(InvocationStatus.Uploading);
    if (plan.isDryRun) {
      logger.info('output.skipped_dry_run');
    } else {
      const result = await applyOutputs(plan, layout, resolved, deps.outputs, logger, signal);
      outcome.uploaded = result.uploaded;
      outcome.refused = result.refused;
      outcome.uploadDatasetId = result.uploadDatasetId;
    }
    const detail = plan.isDryRun
      ? 'dry run: outputs not uploaded'
      : `${outcome.uploaded.length} output file(s) uploaded`;
    await tracker.transition(InvocationStatus.Completed, detail);
    outcome.status = InvocationStatus.Completed;
    outcome.detail = detail;
    return outcome;
  } catch (error) {
    return await fail(error, stage, signal, tracker, outcome, logger);
  } finally {
    if (layout !== undefined) {
      await deleteSecretsFile(layout).catch((error: unknown) => {
        logger.error({ err: error }, 'cleanup.secrets_failed');
      });
      if (deps.settings.keepWorkspace) outcome.workspaceDir = layout.root;
      else {
        await removeWorkspace(layout).catch((error: unknown) => {
          logger.error({ err: error }, 'cleanup.workspace_failed');
        });
      }
    }
  }
}

function describeFailedExit(exit: Exclude<ContainerExit, { kind: 'cancelled' }>): {
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

async function fail(
  error: unknown,
  stage: FailureKind,
  signal: AbortSignal,
  tracker: StatusTracker,
  outcome: InvocationOutcome,
  logger: PipelineDeps['logger'],
): Promise<InvocationOutcome> {
  if (error instanceof CancelledError || (signal.aborted && !(error instanceof ActionWorkerError))) {
    outcome.status = InvocationStatus.Cancelled;
    outcome.detail = 'cancelled';
    outcome.failure = { kind: stage, code: 'E_CANCELLED', retryable: false };
    await tracker.transition(InvocationStatus.Cancelled, 'cancelled');
    return outcome;
  }
  const known = classify(error);
  const prefix = {
    setup: 'setup failed',
    image: 'image unavailable',
    action: 'action failed',
    output: 'output failed',
    infrastructure: 'infrastructure failure',
  }[stage];
  const detail = `${prefix}: ${known.message}`;
  logger.error({ err: error, code: known.code, retryable: known.retryable }, 'invocation.failed');
  outcome.status = InvocationStatus.Failed;
  outcome.detail = detail;
  outcome.failure = {
    kind: known.retryable ? 'infrastructure' : stage,
    code: known.code,
    retryable: known.retryable,
  };
  await tracker.transition(InvocationStatus.Failed, detail);
  return outcome;
}

/** Our own errors keep their code; Node I/O errors are retryable infrastructure; anything else internal. */
function classify(error: unknown): ActionWorkerError {
  if (error instanceof ActionWorkerError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return new InfrastructureError((error as Error).message, 'E_IO', error);
  }
  return new ActionWorkerError(error instanceof Error ? error.message : String(error), {
    code: 'E_INTERNAL',
    retryable: false,
    cause: error,
  });
}
