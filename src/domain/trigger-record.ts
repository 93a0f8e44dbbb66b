import { z } from 'zod';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';
import { UsageError } from './errors.js';
import { gitignoreMatcher } from './gitignore.js';
import {
  type Condition,
  type ConditionGroup,
  checkConditionTree,
  isConditionGroup,
} from './query-condition.js';

/**
 * Triggers (spec §2.3, §2.4, §4.5): the records. What decides when a trigger fires (events, evaluation) is
 * built on these by the evaluation slice.
 */

/** What can cause an evaluation (spec §2.3). `recurring_schedule` is reserved for scheduled triggers. */
export const TriggerCause = z.enum([
  'dataset_metadata_update',
  'file_upload',
  'file_ingest',
  'file_metadata_update',
  'recurring_schedule',
]);
export type TriggerCause = z.output<typeof TriggerCause>;

/** The causes an event trigger may have: every one but `recurring_schedule` (spec §2.3 [DOC]). */
export const EventTriggerCause = z
  .string({ error: 'must be a string' })
  .refine((cause) => cause !== 'recurring_schedule', 'recurring_schedule is for scheduled triggers only')
  .pipe(TriggerCause);

export const TriggerForEach = z.enum(['dataset', 'dataset_file']);
export type TriggerForEach = z.output<typeof TriggerForEach>;

/**
 * The causes of a trigger created with none (spec §4.5 [REC]): a dataset trigger looks again when files
 * arrive and when the dataset's metadata changes (a condition on it may have become true); a file trigger
 * only when files arrive. The record carries the effective list, so clients read it back.
 */
export function defaultCauses(forEach: TriggerForEach): TriggerCause[] {
  return forEach === 'dataset' ? ['file_upload', 'dataset_metadata_update'] : ['file_upload'];
}

/** The action a trigger invokes: `digest` null tracks its latest version; `owner` is always set. */
export const TriggerActionReference = z.object({
  name: z.string(),
  digest: z.string().nullable(),
  owner: z.string(),
});
export type TriggerActionReference = z.output<typeof TriggerActionReference>;

/** Paths that match everything: refused for a `dataset_file` trigger (it would run once per file). */
const CATCH_ALL_PROBES = ['a', 'b/c.d', 'e.f', 'g/h/i'];

/**
 * The problem with one gitignore-style include pattern (spec §4.5, domain/gitignore.ts), or undefined.
 * Negations (`!`) and comments (`#`) are gitignore syntax that means nothing in an include list.
 */
export function inputPatternProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return 'must not be blank';
  if (pattern.includes('\0')) return 'must not contain NUL';
  if (pattern.startsWith('!')) return 'negations ("!…") are not supported in an include pattern';
  if (pattern.startsWith('#')) return 'a pattern starting with "#" is a gitignore comment';
  try {
    gitignoreMatcher([pattern])('probe');
  } catch (error) {
    return `is not a valid pattern (${(error as Error).message})`;
  }
  return undefined;
}

/** Whether a pattern selects every file (`**`, `*`, `**\/*`, …). */
export function isCatchAllPattern(pattern: string): boolean {
  const matches = gitignoreMatcher([pattern]);
  return CATCH_ALL_PROBES.every((path) => matches(path));
}

/** A non-empty list of valid patterns (spec §2.3: an empty list or a blank entry fails the SDK's parse). */
export const InputPatterns = z
  .array(z.string({ error: 'must be a string' }), { error: 'must be a list of patterns' })
  .min(1, 'must hold at least one pattern')
  .superRefine((patterns, ctx) => {
    patterns.forEach((pattern, index) => {
      const problem = inputPatternProblem(pattern);
      if (problem !== undefined) {
        ctx.addIssue({ code: 'custom', path: [index], message: `${JSON.stringify(pattern)} ${problem}` });
      }
    });
  });

/** The tree with only its own keys (a condition's absent value as null): nothing else is stored. */
function canonicalTree(node: Condition | ConditionGroup): Condition | ConditionGroup {
  if (isConditionGroup(node))
    return { operator: node.operator, conditions: node.conditions.map(canonicalTree) };
  return { field: node.field, comparator: node.comparator, value: node.value ?? null };
}

/** A Condition or ConditionGroup (spec §2.11), checked by the query module's own rules. */
export const TriggerCondition = z.unknown().transform((value, ctx): Condition | ConditionGroup => {
  try {
    return canonicalTree(checkConditionTree(value, 'condition'));
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: error instanceof UsageError ? error.message.replace(/^condition(\.|: )/, '') : 'invalid',
    });
    return z.NEVER;
  }
});

/** Parameter values: JSON values by parameter name (the SDK sends numbers, strings, booleans as given). */
export const TriggerParameterValues = z.record(z.string(), z.unknown());

/**
 * A trigger as stored and as the API answers it (spec §2.3): every key present, the effective causes and
 * a service user always set.
 */
export const TriggerRecord = z.object({
  trigger_id: z.string(),
  name: z.string(),
  org_id: z.string(),
  created: z.string(),
  created_by: z.string(),
  modified: z.string(),
  modified_by: z.string(),
  action: TriggerActionReference,
  required_inputs: z.array(z.string()).min(1),
  service_user_id: z.string().min(1),
  for_each: TriggerForEach,
  enabled: z.boolean(),
  parameter_values: TriggerParameterValues,
  additional_inputs: z.array(z.string()).nullable(),
  causes: z.array(TriggerCause),
  compute_requirement_overrides: ComputeRequirements.nullable(),
  container_parameter_overrides: ContainerParameters.nullable(),
  condition: z.unknown().nullable() as z.ZodType<Condition | ConditionGroup | null>,
  /** Minutes; null: the action's. */
  timeout: z.number().int().nullable(),
});
export type TriggerRecord = z.output<typeof TriggerRecord>;

/** What an evaluation considers (spec §2.4): one upload transaction, or one file. */
export const TriggerEvaluationDataConstraint = z.object({
  transaction_id: z.string().nullable(),
  file_id: z.string().nullable(),
});

/** The data an evaluation is about (spec §2.2 InvocationDataSource): usually a dataset. */
export const TriggerEvaluationDataSource = z.object({
  data_source_type: z.string(),
  data_source_id: z.string(),
});

export const TriggerEvaluationStatus = z.enum(['pending', 'evaluated', 'failed']);
export const TriggerEvaluationOutcome = z.enum(['invoked_action', 'skipped']);
export const TriggerEvaluationOutcomeReason = z.enum([
  'already_run',
  'condition_not_met',
  'no_matching_files',
  'trigger_disabled',
]);

/**
 * One evaluation of a trigger (spec §2.4), as listed by T6/T7: the schema the evaluation slice writes.
 * `trigger_evaluation_id` is an integer (the SDK refuses `"ev_1"`).
 */
export const TriggerEvaluationRecord = z.object({
  trigger_evaluation_id: z.number().int().nonnegative(),
  trigger_id: z.string(),
  data_source: TriggerEvaluationDataSource,
  data_constraint: TriggerEvaluationDataConstraint.nullable(),
  evaluation_start: z.string(),
  evaluation_end: z.string().nullable(),
  status: TriggerEvaluationStatus,
  status_detail: z.string().nullable(),
  outcome: TriggerEvaluationOutcome.nullable(),
  outcome_reason: TriggerEvaluationOutcomeReason.nullable(),
  cause: TriggerCause.nullable(),
});
export type TriggerEvaluationRecord = z.output<typeof TriggerEvaluationRecord>;
