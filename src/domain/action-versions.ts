import { z } from 'zod';
import { ActionConfig, ActionParameter, ActionReference } from './action-config.js';
import { actionDigest, wireTimestamp } from './action-digest.js';
import { type Accessibility, ActionMetadata, type ActionRecord } from './action-record.js';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';
import { UsageError, parseOrThrow } from './errors.js';
import { MetadataChangeset, MetadataPathError, applyChangeset } from './metadata-changeset.js';

/**
 * Registered actions' create and update rules (spec §3.1 A1/A3/A5, §4.1, §4.2) as pure functions: a
 * request and the latest version in, the next version out. The stores only keep what these make.
 */

/** Names that are routes of their own under /v1/actions (spec §1.2), and the path segments `.` and `..`. */
const RESERVED_ACTION_NAMES = new Set(['query', 'invocations', '.', '..']);

/** An action name travels raw in URL paths (spec §1.2): URL-safe characters only. */
export const ActionName = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may hold only letters, digits, "_", "." and "-"')
  .refine((name) => !RESERVED_ACTION_NAMES.has(name), 'is reserved');

const ShortDescription = z.string().max(140, 'must be at most 140 characters');
const Timeout = z.number({ error: 'must be an integer' }).int('must be an integer').positive('must be > 0');

/** Parameters with unique names, each default a string (Python `str()`, spec §5.1): action.json's rule. */
const ActionParameters = ActionConfig.shape.parameters;

/** `POST /v1/actions` (spec A1; the SDK sends all twelve keys, other clients may not). */
export const CreateActionRequest = z.object({
  name: ActionName,
  compute_requirements: ComputeRequirements.nullable().optional(),
  container_parameters: ContainerParameters.nullable().optional(),
  description: z.string().nullable().optional(),
  inherits: ActionReference.nullable().optional(),
  metadata: ActionMetadata.nullable().optional(),
  parameters: ActionParameters.nullable().optional(),
  requires_downloaded_inputs: z.boolean().nullable().optional(),
  short_description: ShortDescription.nullable().optional(),
  tags: z.array(z.string()).nullable().optional(),
  timeout: Timeout.nullable().optional(),
  uri: z.string().trim().min(1, 'must not be empty').nullable().optional(),
});
export type CreateActionRequest = z.output<typeof CreateActionRequest>;

/** `parameter_changeset` of an update (spec §2.12). */
export const ActionParameterChangeset = z.object({
  put_parameters: z.array(ActionParameter).nullable().default([]),
  remove_parameters: z.array(z.string()).nullable().default([]),
});

/** `PUT /v1/actions/{name}` (spec A3): an absent key leaves the field alone, null clears it. */
export const UpdateActionRequest = z.object({
  compute_requirements: ComputeRequirements.nullable().optional(),
  container_parameters: ContainerParameters.nullable().optional(),
  description: z.string().nullable().optional(),
  inherits: ActionReference.nullable().optional(),
  metadata_changeset: MetadataChangeset.nullable().optional(),
  parameter_changeset: ActionParameterChangeset.nullable().optional(),
  uri: z.string().trim().min(1, 'must not be empty').nullable().optional(),
  short_description: ShortDescription.nullable().optional(),
  timeout: Timeout.nullable().optional(),
  // The SDK's model allows only a boolean here (spec §4.2).
  requires_downloaded_inputs: z.boolean().optional(),
});
export type UpdateActionRequest = z.output<typeof UpdateActionRequest>;

/** Who makes a version, and when. `userId`: the caller's token id (we have no users). */
export interface VersionAuthor {
  userId: string;
  now: Date;
}

/** An action of that name already exists in the org (spec A1: 409). */
export class ActionExistsError extends UsageError {
  constructor(
    readonly orgId: string,
    readonly actionName: string,
  ) {
    super(`action ${actionName} already exists in org ${orgId}`);
  }
}

/** No such action (or no such version) in the org. */
export class ActionNotFoundError extends UsageError {
  constructor(
    readonly orgId: string,
    readonly actionName: string,
    readonly digest?: string,
  ) {
    super(
      digest === undefined
        ? `action ${actionName} not found in org ${orgId}`
        : `action ${actionName} has no version ${digest} in org ${orgId}`,
    );
  }
}

/** What is part of a version (and its digest): all but the action-wide accessibility and `published`. */
export function versionDigest(record: Omit<ActionRecord, 'digest'> | ActionRecord): string {
  const content: Record<string, unknown> = { ...record };
  delete content.accessibility;
  delete content.published;
  return actionDigest(content);
}

/** The fields an action with `inherits` takes from the referenced one, and must not set itself. */
function inheritsClashes(record: Omit<ActionRecord, 'digest'>): string[] {
  if (record.inherits === null) return [];
  const clashes: string[] = [];
  if (record.uri !== null) clashes.push('uri');
  if (record.container_parameters !== null) clashes.push('container_parameters');
  if (record.parameters.length > 0) clashes.push('parameters');
  if (record.requires_downloaded_inputs !== null) clashes.push('requires_downloaded_inputs');
  return clashes;
}

function sealed(record: Omit<ActionRecord, 'digest'>, subject: string): ActionRecord {
  const clashes = inheritsClashes(record);
  if (clashes.length > 0) {
    throw new UsageError(
      `${subject}: inherits cannot be combined with ${clashes.join(', ')} (they come from the inherited action)`,
      'E_INVALID_INPUT',
    );
  }
  return { ...record, digest: versionDigest(record) };
}

/**
 * Version 1 of an action in `orgId` (spec A1, §4.2 defaults): accessibility `organization`, unset
 * optionals null, lists and metadata empty, nested defaults filled; created = modified = now. The request
 * is checked here too, so a caller that skipped the schema gets the same UsageError naming the field.
 */
export function newAction(request: unknown, orgId: string, author: VersionAuthor): ActionRecord {
  const body = parseOrThrow(CreateActionRequest, request, 'the action', 'E_INVALID_INPUT');
  const when = wireTimestamp(author.now);
  return sealed(
    {
      name: body.name,
      org_id: orgId,
      created: when,
      created_by: author.userId,
      modified: when,
      modified_by: author.userId,
      accessibility: 'organization',
      published: null,
      description: body.description ?? null,
      short_description: body.short_description ?? null,
      uri: body.uri ?? null,
      inherits: body.inherits ?? null,
      compute_requirements: body.compute_requirements ?? null,
      container_parameters: body.container_parameters ?? null,
      parameters: body.parameters ?? [],
      requires_downloaded_inputs: body.requires_downloaded_inputs ?? null,
      metadata: body.metadata ?? {},
      tags: body.tags ?? [],
      timeout: body.timeout ?? null,
    },
    'the action',
  );
}

/** Parameters after a changeset: removes first, then each put replaces its namesake in place or appends. */
function applyParameterChangeset(
  parameters: readonly ActionParameter[],
  changeset: z.output<typeof ActionParameterChangeset>,
): ActionParameter[] {
  const removed = new Set(changeset.remove_parameters ?? []);
  const result = parameters.filter((parameter) => !removed.has(parameter.name));
  for (const put of changeset.put_parameters ?? []) {
    const at = result.findIndex((parameter) => parameter.name === put.name);
    if (at === -1) result.push(put);
    else result[at] = put;
  }
  return result;
}

/** Metadata and tags after a changeset (runtime doc §4.6); the result must stay flat primitives (§2.1). */
function applyMetadataChangeset(
  latest: ActionRecord,
  changeset: MetadataChangeset,
): { metadata: ActionRecord['metadata']; tags: string[] } {
  let applied: { tags: string[]; metadata: Record<string, unknown> };
  try {
    applied = applyChangeset({ tags: latest.tags, metadata: latest.metadata }, changeset);
  } catch (error) {
    if (error instanceof MetadataPathError) {
      throw new UsageError(`metadata_changeset: ${error.message}`, 'E_INVALID_CHANGESET', error);
    }
    throw error;
  }
  for (const [key, value] of Object.entries(applied.metadata)) {
    if (typeof value !== 'string' && typeof value !== 'boolean' && typeof value !== 'number') {
      throw new UsageError(
        `metadata_changeset: metadata.${key} would be ${value === null ? 'null' : Array.isArray(value) ? 'a list' : 'an object'}; ` +
          'action metadata values must be strings, numbers or booleans (a dotted put_fields key nests)',
        'E_INVALID_CHANGESET',
      );
    }
  }
  return { metadata: applied.metadata as ActionRecord['metadata'], tags: applied.tags };
}

/**
 * The version an update makes from the latest (spec A3, §4.2): only the keys present change, null clears;
 * `metadata_changeset` applies to metadata and tags, `parameter_changeset` to parameters. `created` stays,
 * `modified`/`modified_by` are the update's, and `modified` is always later than the latest's, so every
 * version has a digest of its own even when nothing else changed.
 */
export function nextVersion(latest: ActionRecord, request: unknown, author: VersionAuthor): ActionRecord {
  const update = parseOrThrow(UpdateActionRequest, request, 'the update', 'E_INVALID_INPUT');
  const previous = Date.parse(latest.modified);
  const now = Number.isNaN(previous) || author.now.getTime() > previous ? author.now : new Date(previous + 1);
  const next: Omit<ActionRecord, 'digest'> & { digest?: string } = {
    ...latest,
    modified: wireTimestamp(now),
    modified_by: author.userId,
  };
  delete next.digest;
  if (update.compute_requirements !== undefined) next.compute_requirements = update.compute_requirements;
  if (update.container_parameters !== undefined) next.container_parameters = update.container_parameters;
  if (update.description !== undefined) next.description = update.description;
  if (update.inherits !== undefined) next.inherits = update.inherits;
  if (update.uri !== undefined) next.uri = update.uri;
  if (update.short_description !== undefined) next.short_description = update.short_description;
  if (update.timeout !== undefined) next.timeout = update.timeout;
  if (update.requires_downloaded_inputs !== undefined) {
    next.requires_downloaded_inputs = update.requires_downloaded_inputs;
  }
  if (update.metadata_changeset) {
    Object.assign(next, applyMetadataChangeset(latest, update.metadata_changeset));
  }
  if (update.parameter_changeset) {
    next.parameters = parseOrThrow(
      ActionParameters,
      applyParameterChangeset(latest.parameters, update.parameter_changeset),
      'parameter_changeset: the resulting parameters',
      'E_INVALID_INPUT',
    );
  }
  return sealed(next, 'the update');
}

/** An action's visibility: the same on every version, changed without making one (spec A5, §4.1.2). */
export interface AccessibilityState {
  accessibility: Accessibility;
  published: string | null;
}

/**
 * Spec A5: `published` is set when the action goes to the Action Hub (kept while it stays there) and
 * cleared when it goes back to its organization.
 */
export function changeAccessibility(
  current: AccessibilityState,
  target: Accessibility,
  now: Date,
): AccessibilityState {
  if (target === 'organization') return { accessibility: 'organization', published: null };
  return {
    accessibility: 'action_hub',
    published: current.accessibility === 'action_hub' ? current.published : wireTimestamp(now),
  };
}
