import { z } from 'zod';
import { wireTimestamp } from './action-digest.js';
import { ActionNotFoundError, type VersionAuthor } from './action-versions.js';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';
import { UsageError, parseOrThrow } from './errors.js';
import { randomId } from './ids.js';
import { type ActionVersions, resolveInheritance, visibleTo } from './invoke-action.js';
import { validateParameters } from './parameters.js';
import {
  EventTriggerCause,
  InputPatterns,
  TriggerCondition,
  TriggerForEach,
  TriggerParameterValues,
  type TriggerRecord,
  defaultCauses,
  isCatchAllPattern,
} from './trigger-record.js';

/**
 * Triggers' create and update rules (spec §3.3 T1/T4, §4.5) as functions: a request (and the current
 * record) in, the record to store out. The action a trigger targets is checked against an ActionVersions
 * reader (the ActionLookup port has its shape).
 */

/** Names that are routes of their own under /v1/triggers (spec T3, T7), and the segments `.` and `..`. */
const RESERVED_TRIGGER_NAMES = new Set(['query', 'dataset', '.', '..']);

/** A trigger name travels raw in URL paths (spec §1.2): URL-safe characters only, like action names. */
export const TriggerName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-"')
  .refine((name) => !RESERVED_TRIGGER_NAMES.has(name), 'is reserved');

const Timeout = z.number({ error: 'must be an integer' }).int('must be an integer').positive('must be > 0');
const Causes = z.array(EventTriggerCause, { error: 'must be a list of causes' });
const OptionalId = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty');

/**
 * `POST /v1/triggers` (spec T1): the SDK sends all fifteen keys; other clients may leave the nullable ones
 * out. `name`, `action_name` and `required_inputs` are required.
 */
export const CreateTriggerRequest = z.object({
  name: TriggerName,
  action_name: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
  action_digest: OptionalId.nullable().optional(),
  action_owner_id: OptionalId.nullable().optional(),
  required_inputs: InputPatterns,
  additional_inputs: InputPatterns.nullable().optional(),
  causes: Causes.nullable().optional(),
  compute_requirement_overrides: ComputeRequirements.nullable().optional(),
  container_parameter_overrides: ContainerParameters.nullable().optional(),
  condition: TriggerCondition.nullable().optional(),
  enabled: z.boolean({ error: 'must be a boolean' }).nullable().optional(),
  for_each: TriggerForEach.nullable().optional(),
  parameter_values: TriggerParameterValues.nullable().optional(),
  service_user_id: OptionalId.nullable().optional(),
  timeout: Timeout.nullable().optional(),
});
export type CreateTriggerRequest = z.output<typeof CreateTriggerRequest>;

/**
 * `PUT /v1/triggers/{name}` (spec T4): an absent key leaves the field alone, null clears it (to the
 * create default for those that have one). The name is not changeable.
 */
export const UpdateTriggerRequest = z.object({
  action_name: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
  action_owner_id: OptionalId.nullable().optional(),
  action_digest: OptionalId.nullable().optional(),
  additional_inputs: InputPatterns.nullable().optional(),
  causes: Causes.nullable().optional(),
  compute_requirement_overrides: ComputeRequirements.nullable().optional(),
  container_parameter_overrides: ContainerParameters.nullable().optional(),
  condition: TriggerCondition.nullable().optional(),
  enabled: z.boolean({ error: 'must be a boolean' }).optional(),
  for_each: TriggerForEach.optional(),
  parameter_values: TriggerParameterValues.nullable().optional(),
  required_inputs: InputPatterns.optional(),
  timeout: Timeout.nullable().optional(),
});
export type UpdateTriggerRequest = z.output<typeof UpdateTriggerRequest>;

/** Who makes or changes a trigger, and when: as for an action's version. */
export type TriggerAuthor = VersionAuthor;

/** A trigger of that name already exists in the org (spec T1: 409). */
export class TriggerExistsError extends UsageError {
  constructor(
    readonly orgId: string,
    readonly triggerName: string,
  ) {
    super(`trigger ${triggerName} already exists in org ${orgId}`);
  }
}

/** No such trigger in the org. */
export class TriggerNotFoundError extends UsageError {
  constructor(
    readonly orgId: string,
    readonly triggerName: string,
  ) {
    super(`trigger ${triggerName} not found in org ${orgId}`);
  }
}

/** The refusals that hold whatever the action: a catch-all pattern on a per-file trigger (spec T1 [DOC]). */
function checkShape(record: TriggerRecord, subject: string): TriggerRecord {
  if (record.for_each === 'dataset_file') {
    const catchAll = record.required_inputs.find(isCatchAllPattern);
    if (catchAll !== undefined) {
      throw new UsageError(
        `${subject}: required_inputs ${JSON.stringify(catchAll)} matches every file; a dataset_file trigger ` +
          'would run once per file of every upload: name the files it is for (e.g. "**/*.bag")',
        'E_INVALID_INPUT',
      );
    }
  }
  return record;
}

/**
 * A new trigger in `orgId` (spec T1, §2.3 defaults): enabled unless told otherwise, `for_each` dataset,
 * the action's owner the caller org, the default causes of its `for_each` (§4.5), a service user of its
 * own when none is given. The request is checked here too, so a caller that skipped the schema gets the
 * same UsageError naming the field. The action is not looked at: {@link checkTriggerAction} does that.
 */
export function newTrigger(request: unknown, orgId: string, author: TriggerAuthor): TriggerRecord {
  const body = parseOrThrow(CreateTriggerRequest, request, 'the trigger', 'E_INVALID_INPUT');
  const when = wireTimestamp(author.now);
  const forEach = body.for_each ?? 'dataset';
  return checkShape(
    {
      trigger_id: randomId('tr'),
      name: body.name,
      org_id: orgId,
      created: when,
      created_by: author.userId,
      modified: when,
      modified_by: author.userId,
      action: {
        name: body.action_name,
        digest: body.action_digest ?? null,
        owner: body.action_owner_id ?? orgId,
      },
      required_inputs: body.required_inputs,
      service_user_id: body.service_user_id ?? randomId('su'),
      for_each: forEach,
      enabled: body.enabled ?? true,
      parameter_values: body.parameter_values ?? {},
      additional_inputs: body.additional_inputs ?? null,
      causes: body.causes ?? defaultCauses(forEach),
      compute_requirement_overrides: body.compute_requirement_overrides ?? null,
      container_parameter_overrides: body.container_parameter_overrides ?? null,
      condition: body.condition ?? null,
      timeout: body.timeout ?? null,
    },
    'the trigger',
  );
}

/**
 * The trigger after an update (spec T4): only the keys present change; null clears (`causes` back to the
 * default of the trigger's `for_each`, `parameter_values` to `{}`). A new action name or owner without a
 * digest clears the digest (spec T4 [REC]): a pinned version of another action means nothing.
 * `modified` is the update's, never earlier than the current one.
 */
export function updatedTrigger(
  current: TriggerRecord,
  request: unknown,
  author: TriggerAuthor,
): TriggerRecord {
  const update = parseOrThrow(UpdateTriggerRequest, request, 'the update', 'E_INVALID_INPUT');
  const previous = Date.parse(current.modified);
  const now = Number.isNaN(previous) || author.now.getTime() > previous ? author.now : new Date(previous + 1);
  const next: TriggerRecord = {
    ...current,
    action: { ...current.action },
    modified: wireTimestamp(now),
    modified_by: author.userId,
  };
  const retargeted =
    (update.action_name !== undefined && update.action_name !== current.action.name) ||
    (update.action_owner_id !== undefined &&
      (update.action_owner_id ?? current.org_id) !== current.action.owner);
  if (update.action_name !== undefined) next.action.name = update.action_name;
  if (update.action_owner_id !== undefined) next.action.owner = update.action_owner_id ?? current.org_id;
  if (update.action_digest !== undefined) next.action.digest = update.action_digest;
  else if (retargeted) next.action.digest = null;
  if (update.for_each !== undefined) next.for_each = update.for_each;
  if (update.required_inputs !== undefined) next.required_inputs = update.required_inputs;
  if (update.additional_inputs !== undefined) next.additional_inputs = update.additional_inputs;
  if (update.causes !== undefined) next.causes = update.causes ?? defaultCauses(next.for_each);
  if (update.compute_requirement_overrides !== undefined) {
    next.compute_requirement_overrides = update.compute_requirement_overrides;
  }
  if (update.container_parameter_overrides !== undefined) {
    next.container_parameter_overrides = update.container_parameter_overrides;
  }
  if (update.condition !== undefined) next.condition = update.condition;
  if (update.enabled !== undefined) next.enabled = update.enabled;
  if (update.parameter_values !== undefined) next.parameter_values = update.parameter_values ?? {};
  if (update.timeout !== undefined) next.timeout = update.timeout;
  return checkShape(next, 'the update');
}

/** Whether an update touches what {@link checkTriggerAction} checks (enable/disable alone does not). */
export function updateRetargets(request: unknown): boolean {
  if (typeof request !== 'object' || request === null) return false;
  return ['action_name', 'action_owner_id', 'action_digest', 'parameter_values'].some((key) =>
    Object.hasOwn(request, key),
  );
}

/**
 * The trigger's action must exist (its pinned digest too) and be visible to the trigger's org (its own, or
 * on the action hub: spec §1.12, the rule invoking by name uses), and the parameter values must be the
 * action's parameters, the required ones given (spec T1 [REC]: an unknown action or parameter is a clear
 * error at creation, not a failed invocation later). A missing action and an invisible one read alike.
 */
export async function checkTriggerAction(actions: ActionVersions, trigger: TriggerRecord): Promise<void> {
  const { name, digest, owner } = trigger.action;
  const visible = visibleTo(trigger.org_id);
  const action = await actions.getAction(owner, name, digest ?? undefined);
  if (action === undefined || !visible(action)) {
    const missing = new ActionNotFoundError(owner, name, digest ?? undefined);
    throw new UsageError(
      `the trigger's action: ${missing.message}${owner === trigger.org_id ? '' : ' (or not on the action hub)'}`,
      'E_INVALID_INPUT',
      missing,
    );
  }
  const resolved = await resolveInheritance(actions, action, visible);
  validateParameters(resolved.parameters, trigger.parameter_values, name);
}
