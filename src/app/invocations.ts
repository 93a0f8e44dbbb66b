import type { InvocationQueue } from '../adapters/bullmq/invocation-queue.js';
import { ActionConfig } from '../domain/action-config.js';
import { parseDurationMs } from '../domain/duration.js';
import { InvalidTransitionError, UsageError } from '../domain/errors.js';
import { assertImageReference } from '../domain/image-reference.js';
import {
  type InvocationRequest,
  newInvocationRequest,
  requestTimeout,
} from '../domain/invocation-request.js';
import { InvocationStatus, statusName } from '../domain/invocation-status.js';
import {
  type ActionVersions,
  invocationRequestFromAction,
  resolveInheritance,
  visibleTo,
} from '../domain/invoke-action.js';
import { ownValue } from '../domain/names.js';
import { parseSecretUri, secretUri, validateParameters } from '../domain/parameters.js';
import { UNSPECIFIED_DATA_SOURCE } from '../domain/records.js';
import { parseQuery } from '../domain/roboql.js';
import type { CancelResult, InvocationControl } from '../ports/invocation-control.js';
import type { InvocationRecord, InvocationStore } from '../ports/invocation-store.js';
import { pollInvocation } from './invocation-wait.js';
import { buildInput } from './local-run.js';
import {
  assertParameterName,
  collectParameterValues,
  declareSuppliedParameters,
  loadActionDir,
  splitAssignment,
} from './local-run-options.js';

/** What `invoke` was given. */
export interface InvokeOptions {
  actionDir?: string;
  image?: string;
  datasets: string[];
  files: string[];
  query?: string;
  fileIds: string[];
  params: string[];
  paramsFile?: string;
  secrets: string[];
  uploadTo?: string;
  timeout?: string;
  idempotencyId?: string;
  orgId?: string;
  dryRun: boolean;
  logLevel: 'ERROR' | 'WARNING' | 'INFO' | 'DEBUG';
}

/**
 * The request `invoke` submits, checked in full before anything is stored. Secrets are references to the
 * workers' secret store (`--secret NAME=KEY` or `NAME=roboto-secret://KEY`): a value never enters Redis.
 */
export async function buildInvocationRequest(
  options: InvokeOptions,
  env: NodeJS.ProcessEnv,
): Promise<InvocationRequest> {
  if (options.image !== undefined) assertImageReference(options.image, '--image');
  const action =
    options.actionDir === undefined
      ? ActionConfig.parse({ name: 'image-action' })
      : await loadActionDir(options.actionDir);
  const image = options.image ?? action.image_uri ?? undefined;
  if (image === undefined) {
    throw new UsageError(
      options.actionDir === undefined
        ? 'give an action directory, --image, or both'
        : `"${options.actionDir}" has no image_uri in action.json: give --image REF (invoke does not build images; workers pull or find them)`,
      'E_IMAGE_NOT_FOUND',
    );
  }
  const parameterValues = await collectParameterValues(options.params, options.paramsFile);
  const secretParameters: string[] = [];
  for (const spec of options.secrets) {
    const [name, source] = splitAssignment(spec, '--secret');
    const reference = secretReference(name, source);
    if (ownValue(parameterValues, name) !== undefined || secretParameters.includes(name)) {
      throw new UsageError(`parameter "${name}" is given twice`, 'E_INVALID_PARAMETER');
    }
    parameterValues[name] = reference;
    secretParameters.push(name);
  }
  declareSuppliedParameters(action, parameterValues, options.actionDir !== undefined);
  validateParameters(action.parameters, parameterValues, action.name);
  if (options.query !== undefined) parseQuery(options.query);
  const input = buildInput({ ...options, topics: [] }, options.datasets);
  const timeoutMs = options.timeout === undefined ? undefined : parseDurationMs(options.timeout, '--timeout');
  return newInvocationRequest({
    action: { image, config: action },
    parameter_values: parameterValues,
    secret_parameters: secretParameters,
    input,
    data_source_id: options.datasets[0] ?? UNSPECIFIED_DATA_SOURCE,
    upload_destination_id: options.uploadTo ?? null,
    ...requestTimeout(timeoutMs),
    org_id: options.orgId ?? (env.ROBOTO_ORG_ID || 'og_local'),
    idempotency_id: options.idempotencyId ?? null,
    dry_run: options.dryRun,
    log_level: options.logLevel,
  });
}

/** Who invocations made by the CLI are requested by (their provenance's source id): it has no token. */
export const CLI_REQUESTER = 'action-worker-cli';

/** `NAME` or `NAME@DIGEST` (the digest after the last `@`). */
export function parseActionReference(text: string): { name: string; digest?: string } {
  const at = text.lastIndexOf('@');
  if (at <= 0) return { name: text };
  const digest = text.slice(at + 1);
  if (digest === '') throw new UsageError(`"${text}" has an empty digest after @`);
  return { name: text.slice(0, at), digest };
}

/**
 * The request `invoke NAME[@DIGEST]` submits for a registered action of the org: the same inheritance
 * and the same request building as `POST /v1/actions/{name}/invoke` (spec A8), from the command's
 * options. A name the org does not have is one error naming both things the argument could have been.
 */
export async function buildRegisteredInvocationRequest(
  actions: ActionVersions,
  reference: string,
  options: Omit<InvokeOptions, 'actionDir'>,
  context: { env: NodeJS.ProcessEnv; defaultTimeoutMinutes: number },
): Promise<InvocationRequest> {
  if (options.image !== undefined) {
    throw new UsageError(
      `--image cannot be given with the registered action "${reference}": it runs the image it was registered with (register a new version with \`actions update --image\`)`,
    );
  }
  const orgId = options.orgId ?? (context.env.ROBOTO_ORG_ID || 'og_local');
  const { name, digest } = parseActionReference(reference);
  const visible = visibleTo(orgId);
  const action = await actions.getAction(orgId, name, digest);
  if (action === undefined || !visible(action)) {
    throw new UsageError(
      `"${reference}" is neither an action directory (no such directory) nor an action registered in org ${orgId}${digest === undefined ? '' : ' with that digest'} (see \`actions list --org ${orgId}\`)`,
    );
  }
  const resolved = await resolveInheritance(actions, action, visible);
  const parameterValues: Record<string, unknown> = await collectParameterValues(
    options.params,
    options.paramsFile,
  );
  for (const spec of options.secrets) {
    const [secretName, source] = splitAssignment(spec, '--secret');
    const uri = secretReference(secretName, source);
    if (ownValue(parameterValues, secretName) !== undefined) {
      throw new UsageError(`parameter "${secretName}" is given twice`, 'E_INVALID_PARAMETER');
    }
    parameterValues[secretName] = uri;
  }
  if (options.query !== undefined) parseQuery(options.query);
  const input = buildInput({ ...options, topics: [] }, options.datasets);
  const timeoutMs = options.timeout === undefined ? undefined : parseDurationMs(options.timeout, '--timeout');
  const request = invocationRequestFromAction(
    resolved,
    {
      compute_requirement_overrides: null,
      container_parameter_overrides: null,
      data_source_id: options.datasets[0] ?? UNSPECIFIED_DATA_SOURCE,
      idempotency_id: options.idempotencyId ?? null,
      input_data: [],
      rich_input_data: input,
      invocation_source: 'Manual',
      invocation_source_id: null,
      parameter_values: parameterValues,
      timeout: null,
      upload_destination:
        options.uploadTo === undefined
          ? null
          : { destination_type: 'Dataset', destination_id: options.uploadTo },
    },
    { callerOrgId: orgId, requesterId: CLI_REQUESTER, defaultTimeoutMinutes: context.defaultTimeoutMinutes },
  );
  return {
    ...request,
    ...(timeoutMs === undefined ? {} : requestTimeout(timeoutMs)),
    dry_run: options.dryRun,
    log_level: options.logLevel,
  };
}

/** `--secret NAME=KEY` (or `NAME=roboto-secret://KEY`) as the reference the request carries. */
function secretReference(name: string, source: string): string {
  if (/^(env|file|literal):/.test(source)) {
    throw new UsageError(
      `--secret ${name}: invoke sends references, never values; give the name of a secret in the workers' secret store (NAME=KEY or NAME=roboto-secret://KEY)`,
      'E_INVALID_PARAMETER',
    );
  }
  assertParameterName(name, '--secret');
  const reference = source.startsWith('roboto-secret://') ? source : secretUri(source);
  if (source === '' || parseSecretUri(reference) === undefined) {
    throw new UsageError(`--secret ${name}: "${source}" is not a secret name`, 'E_INVALID_PARAMETER');
  }
  return reference;
}

/**
 * Stores the invocation (Queued) and queues its job. The same idempotency id returns the first invocation;
 * its job is queued again if it never was (a crash between the two writes), which is a no-op otherwise.
 */
export async function submitInvocation(
  store: InvocationStore,
  queue: InvocationQueue,
  request: InvocationRequest,
): Promise<{ record: InvocationRecord; isNew: boolean }> {
  const created = await store.create(request);
  if (created.record.last_status === InvocationStatus.Queued && !created.record.is_finished) {
    await queue.enqueue(created.record.invocation_id);
  }
  return created;
}

export type { CancelResult };

/** The store and queue as an InvocationControl: what the API is given to invoke and cancel. */
export function invocationControl(store: InvocationStore, queue: InvocationQueue): InvocationControl {
  return {
    submit: (request) => submitInvocation(store, queue, request),
    cancel: (invocationId) => cancelInvocation(store, queue, invocationId),
  };
}

/**
 * Cancels from any host: a queued invocation is taken out of the queue and Cancelled here; a running one
 * is told through the store (pub/sub, and the flag its worker polls), and its worker stops it.
 */
export async function cancelInvocation(
  store: InvocationStore,
  queue: InvocationQueue,
  invocationId: string,
): Promise<CancelResult> {
  const record = await store.get(invocationId);
  if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
  if (record.is_finished) return 'already-finished';
  await store.requestCancel(invocationId);
  const removed = await queue.removeIfWaiting(invocationId);
  if (removed === 'removed' || removed === 'missing') {
    try {
      await store.transition(invocationId, InvocationStatus.Cancelled, 'cancelled while queued');
      return 'cancelled';
    } catch (error) {
      // It moved on meanwhile (a worker took it, or it finished): its worker sees the request.
      if (!(error instanceof InvalidTransitionError)) throw error;
    }
  }
  return 'requested';
}

/** Invocations not finished yet, created before `createdBefore` when given. */
export async function activeInvocations(
  store: InvocationStore,
  createdBefore: Date | undefined,
): Promise<InvocationRecord[]> {
  const records = await store.list({ limit: 100_000 });
  return records.filter(
    (record) =>
      !record.is_finished &&
      (createdBefore === undefined || Date.parse(record.created) < createdBefore.getTime()),
  );
}

export { WaitTimeoutError } from './invocation-wait.js';

/** Follows the record until it is finished; calls back on each new status. */
export async function waitForInvocation(
  store: InvocationStore,
  invocationId: string,
  options: { timeoutMs?: number; pollMs?: number; onStatus?: (record: InvocationRecord) => void },
): Promise<InvocationRecord> {
  return pollInvocation(
    invocationId,
    () => store.get(invocationId),
    (record) => record.is_finished,
    (record) => statusName(record.last_status),
    options,
  );
}
