import { ActionConfig } from './action-config.js';
import type { ActionRecord } from './action-record.js';
import type { ComputeRequirements } from './compute-requirements.js';
import type { ContainerParameters } from './container-parameters.js';
import { UsageError, parseOrThrow } from './errors.js';
import { InvocationInput } from './input-selectors.js';
import { type InvocationRequest, newInvocationRequest } from './invocation-request.js';
import { ownValue } from './names.js';
import { parseSecretUri, validateParameters } from './parameters.js';
import { pyStr } from './python-str.js';
import { UNSPECIFIED_DATA_SOURCE } from './records.js';

/** How deep `inherits` may chain before invoking gives up (a cycle is refused before that). */
export const MAX_INHERITANCE_DEPTH = 8;

/** Reading action versions (the ActionLookup port has this shape). */
export interface ActionVersions {
  getAction(orgId: string, name: string, digest?: string): Promise<ActionRecord | undefined>;
}

/** An action with its `inherits` chain followed: what an invocation of it runs. */
export interface ResolvedAction {
  /** The invoked version itself. */
  action: ActionRecord;
  image: string | null;
  parameters: ActionRecord['parameters'];
  compute_requirements: ComputeRequirements | null;
  container_parameters: ContainerParameters | null;
  requires_downloaded_inputs: boolean | null;
  timeout: number | null;
}

/**
 * Who may invoke (or inherit from) an action version, seen from `callerOrgId`: the caller's org's own, one
 * on the action hub, or, as a parent, one of the same org as the action inheriting it.
 */
export function visibleTo(callerOrgId: string) {
  return (action: ActionRecord, child?: ActionRecord): boolean =>
    action.org_id === callerOrgId ||
    action.accessibility === 'action_hub' ||
    (child !== undefined && action.org_id === child.org_id);
}

/**
 * Follows `inherits` (spec §4.2: the pinned digest or the latest version; the owner defaults to the
 * inheriting action's org): image, parameters, container parameters and requires_downloaded_inputs come
 * from the action that has them; compute requirements and timeout are the nearest non-null. A missing or
 * invisible parent, a cycle, or a chain deeper than {@link MAX_INHERITANCE_DEPTH} is the caller's error.
 * `visible` says whether a parent may be used (same org as its child, or on the action hub).
 */
export async function resolveInheritance(
  versions: ActionVersions,
  action: ActionRecord,
  visible: (parent: ActionRecord, child: ActionRecord) => boolean,
): Promise<ResolvedAction> {
  const resolved: ResolvedAction = {
    action,
    image: action.uri,
    parameters: action.parameters,
    compute_requirements: action.compute_requirements,
    container_parameters: action.container_parameters,
    requires_downloaded_inputs: action.requires_downloaded_inputs,
    timeout: action.timeout,
  };
  const seen = new Set([`${action.org_id}/${action.name}@${action.digest}`]);
  let current = action;
  for (let depth = 0; current.inherits; depth += 1) {
    const reference = current.inherits;
    if (depth >= MAX_INHERITANCE_DEPTH) {
      throw new UsageError(
        `action "${action.name}" inherits through more than ${MAX_INHERITANCE_DEPTH} actions`,
        'E_INVALID_INPUT',
      );
    }
    const owner = reference.owner ?? current.org_id;
    const parent = await versions.getAction(owner, reference.name, reference.digest ?? undefined);
    if (parent === undefined || !visible(parent, current)) {
      throw new UsageError(
        `action "${current.name}" inherits "${reference.name}"${reference.digest ? `@${reference.digest}` : ''}, which does not exist`,
        'E_INVALID_INPUT',
      );
    }
    const key = `${parent.org_id}/${parent.name}@${parent.digest}`;
    if (seen.has(key)) {
      throw new UsageError(
        `action "${action.name}" inherits from itself (through "${parent.name}")`,
        'E_INVALID_INPUT',
      );
    }
    seen.add(key);
    // The inheriting action may not set these (spec A1), so they are the parent's.
    resolved.image = parent.uri;
    resolved.parameters = parent.parameters;
    resolved.container_parameters = parent.container_parameters;
    resolved.requires_downloaded_inputs = parent.requires_downloaded_inputs;
    resolved.compute_requirements ??= parent.compute_requirements;
    resolved.timeout ??= parent.timeout;
    current = parent;
  }
  return resolved;
}

/** The body of `POST /v1/actions/{name}/invoke` once validated (spec A8, CreateInvocationRequest). */
export interface CreateInvocationFields {
  compute_requirement_overrides: ComputeRequirements | null;
  container_parameter_overrides: ContainerParameters | null;
  data_source_id: string;
  idempotency_id: string | null;
  input_data: string[];
  /** As sent: checked here against the selector rules (spec §2.2). */
  rich_input_data: unknown;
  invocation_source: 'Manual' | 'Trigger';
  invocation_source_id: string | null;
  parameter_values: Record<string, unknown> | null;
  timeout: number | null;
  upload_destination: { destination_type: string; destination_id: string | null } | null;
}

const LOG_LEVELS = new Set(['ERROR', 'WARNING', 'INFO', 'DEBUG']);

/**
 * The InvocationRequest an invocation of a registered action carries (spec §4.3), built with the same
 * schema as `action-worker invoke`'s: parameter names checked against the resolved action's, values
 * turned into strings with Python `str()`, required ones present, inputs as selectors, the timeout
 * resolved (the request's, else the action's, else `defaultTimeoutMinutes`), provenance recorded.
 * UsageError (a 400) for anything the caller got wrong.
 */
export function invocationRequestFromAction(
  resolved: ResolvedAction,
  fields: CreateInvocationFields,
  context: { callerOrgId: string; requesterId: string; defaultTimeoutMinutes: number },
): InvocationRequest {
  const { action } = resolved;
  if (resolved.image === null) {
    throw new UsageError(`action "${action.name}" has no container image (uri) to run`, 'E_INVALID_INPUT');
  }
  const supplied = fields.parameter_values ?? {};
  validateParameters(resolved.parameters, supplied, action.name);
  const parameterValues: Record<string, unknown> = {};
  const secretParameters: string[] = [];
  for (const [name, value] of Object.entries(supplied)) {
    const text = value === null ? null : pyStr(value);
    parameterValues[name] = text;
    // A reference stays one: the worker resolves it from its secret store; the record never holds a value.
    if (text !== null && parseSecretUri(text) !== undefined) secretParameters.push(name);
  }
  const input = inputOf(fields);
  const envOverride = fields.container_parameter_overrides?.env_vars ?? null;
  const logLevel = envOverride === null ? undefined : ownValue(envOverride, 'ROBOTO_LOG_LEVEL');
  const config = parseOrThrow(
    ActionConfig,
    {
      name: action.name,
      description: action.description,
      short_description: action.short_description,
      parameters: resolved.parameters,
      compute_requirements: resolved.compute_requirements,
      container_parameters: resolved.container_parameters,
      requires_downloaded_inputs: resolved.requires_downloaded_inputs,
      timeout: resolved.timeout,
      metadata: action.metadata,
      tags: action.tags,
    },
    `action "${action.name}"`,
    'E_INVALID_INPUT',
  );
  const destination = fields.upload_destination;
  return newInvocationRequest({
    action: { image: resolved.image, config },
    parameter_values: parameterValues,
    secret_parameters: secretParameters,
    input,
    data_source_id: fields.data_source_id,
    upload_destination_id:
      destination?.destination_type === 'Dataset' ? (destination.destination_id ?? null) : null,
    compute_requirement_overrides: fields.compute_requirement_overrides,
    container_parameter_overrides: fields.container_parameter_overrides,
    timeout_minutes: fields.timeout ?? resolved.timeout ?? context.defaultTimeoutMinutes,
    org_id: context.callerOrgId,
    idempotency_id: fields.idempotency_id,
    log_level:
      typeof logLevel === 'string' && LOG_LEVELS.has(logLevel)
        ? (logLevel as InvocationRequest['log_level'])
        : 'INFO',
    provenance: {
      action: { name: action.name, org_id: action.org_id, digest: action.digest },
      source: {
        source_type: fields.invocation_source,
        source_id: fields.invocation_source_id ?? context.requesterId,
      },
    },
    input_data: fields.input_data,
  });
}

/**
 * The selectors of the request: `rich_input_data` as sent (it must follow spec §2.2), else, for a list of
 * patterns, the selector the SDK derives from it (`{"files": {"dataset_id", "paths"}}`, spec §4.3), which
 * needs a data source.
 */
function inputOf(fields: CreateInvocationFields): InvocationInput | null {
  if (fields.rich_input_data !== null && fields.rich_input_data !== undefined) {
    return parseOrThrow(InvocationInput, fields.rich_input_data, 'rich_input_data', 'E_INVALID_INPUT');
  }
  if (fields.input_data.length === 0) return null;
  if (fields.data_source_id === UNSPECIFIED_DATA_SOURCE) {
    throw new UsageError(
      'input_data needs a data_source_id (the dataset the patterns apply to)',
      'E_INVALID_INPUT',
    );
  }
  return InvocationInput.parse({ files: { dataset_id: fields.data_source_id, paths: fields.input_data } });
}

/**
 * The datasets an invocation request names, which must exist in its org: its data source when it has
 * inputs, the datasets its selectors name, its upload destination.
 */
export function datasetsNamed(request: InvocationRequest): string[] {
  const ids = new Set<string>();
  if (request.input !== null && request.data_source_id !== UNSPECIFIED_DATA_SOURCE)
    ids.add(request.data_source_id);
  for (const selector of [...(request.input?.files ?? []), ...(request.input?.topics ?? [])]) {
    if (selector.dataset_id !== null) ids.add(selector.dataset_id);
  }
  if (request.upload_destination_id !== null) ids.add(request.upload_destination_id);
  return [...ids];
}
