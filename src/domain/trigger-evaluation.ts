import { gitignoreMatcher, isHiddenSystemPath } from './gitignore.js';
import {
  type Condition,
  type ConditionGroup,
  isConditionGroup,
  matchesCondition,
} from './query-condition.js';
import { type FieldRef, type QueryRow, readField, resolveField } from './query-fields.js';
import type { DatasetRecord, FileRecord } from './records.js';
import type { TriggerEvent } from './trigger-event.js';
import type { TriggerRecord } from './trigger-record.js';

/**
 * The trigger evaluator's decision (spec §4.5 "Recommended evaluator", issue 13): pure, from the trigger,
 * the event, the dataset and its files. What runs it (app/trigger-evaluator.ts) records the outcome and
 * submits the units.
 */

/** How many triggered invocations may chain (an output of one firing the next) before the chain is cut. */
export const MAX_TRIGGER_CHAIN_DEPTH = 8;

/** Where the event's files came from: the invocation that uploaded them, when a worker did. */
export interface EventSource {
  /** The trigger whose invocation produced the files (its provenance source), or null (a manual one). */
  trigger_id: string | null;
  /** How many triggered invocations lead to that invocation, itself included (0 for a manual one). */
  trigger_depth: number;
}

/** One invocation the trigger asks for: the dataset, or one file version. */
export interface EvaluationUnit {
  idempotency_id: string;
  input_data: string[];
  /** The file the unit is about (file triggers). */
  file: FileRecord | null;
}

export type EvaluationDecision =
  | {
      kind: 'skipped';
      reason: 'condition_not_met' | 'no_matching_files' | 'trigger_disabled' | null;
      /** Why, when the reason alone does not say (a loop, a chain too deep). */
      detail: string | null;
    }
  | { kind: 'invoke'; units: EvaluationUnit[]; trigger_depth: number };

export interface EvaluationInput {
  trigger: TriggerRecord;
  event: TriggerEvent;
  dataset: DatasetRecord;
  /** The dataset's files (every version the store lists: their latest). */
  files: readonly FileRecord[];
  /** The invocation that produced the event's files, or null. */
  source: EventSource | null;
}

/** A condition's field, read from the dataset (`dataset.` or unqualified) or the file (`file.`). */
function conditionField(field: string): FieldRef {
  return field.startsWith('file.') ? resolveField('files', field) : resolveField('datasets', field);
}

function readsFile(node: Condition | ConditionGroup): boolean {
  if (isConditionGroup(node)) return node.conditions.some(readsFile);
  return conditionField(node.field).entity === 'file';
}

/** The condition on one row, by the reference evaluator (datetimes as Date, spec §2.11 rule 4). */
export function conditionHolds(node: Condition | ConditionGroup, row: QueryRow): boolean {
  return matchesCondition(node, (name) => {
    const ref = conditionField(name);
    const value = readField(row, ref);
    return ref.definition.kind === 'datetime' && ref.path.length === 0 && typeof value === 'string'
      ? new Date(value)
      : value;
  });
}

const skipped = (
  reason: 'condition_not_met' | 'no_matching_files' | 'trigger_disabled' | null,
  detail: string | null = null,
): EvaluationDecision => ({ kind: 'skipped', reason, detail });

/** Decides what one trigger does about one event. */
export function decideEvaluation(input: EvaluationInput): EvaluationDecision {
  const { trigger, event, dataset, source } = input;
  if (!trigger.enabled) return skipped('trigger_disabled');
  if (source !== null && source.trigger_id === trigger.trigger_id) {
    return skipped(
      null,
      `the files were produced by an invocation of this trigger (${event.source_invocation_id ?? '?'}); a trigger never fires on its own outputs`,
    );
  }
  const depth = (source?.trigger_depth ?? 0) + 1;
  if (depth > MAX_TRIGGER_CHAIN_DEPTH) {
    return skipped(
      null,
      `the files come from a chain of ${depth - 1} triggered invocations; chains deeper than ${MAX_TRIGGER_CHAIN_DEPTH} are cut`,
    );
  }
  const available = input.files.filter(
    (file) =>
      file.status === 'available' && file.fs_type === 'file' && !isHiddenSystemPath(file.relative_path),
  );
  const condition = trigger.condition;
  const fileCondition = condition !== null && readsFile(condition);
  if (condition !== null && !fileCondition && !conditionHolds(condition, { dataset })) {
    return skipped('condition_not_met');
  }
  const additional = trigger.additional_inputs ?? [];
  if (trigger.for_each === 'dataset') {
    const matchers = trigger.required_inputs.map((pattern) => gitignoreMatcher([pattern]));
    const everyMatched = matchers.every((matches) => available.some((file) => matches(file.relative_path)));
    if (!everyMatched) return skipped('no_matching_files');
    if (fileCondition) {
      const any = gitignoreMatcher(trigger.required_inputs);
      const holds = available
        .filter((file) => any(file.relative_path))
        .some((file) => conditionHolds(condition, { dataset, file }));
      if (!holds) return skipped('condition_not_met');
    }
    return {
      kind: 'invoke',
      trigger_depth: depth,
      units: [
        {
          idempotency_id: `${trigger.trigger_id}:${dataset.dataset_id}`,
          input_data: [...trigger.required_inputs, ...additional],
          file: null,
        },
      ],
    };
  }
  // A file trigger: the event's files (its data constraint) that match any pattern.
  const constraint = new Set(event.file_ids);
  const any = gitignoreMatcher(trigger.required_inputs);
  const candidates = available.filter((file) => constraint.has(file.file_id) && any(file.relative_path));
  if (candidates.length === 0) return skipped('no_matching_files');
  const chosen = fileCondition
    ? candidates.filter((file) => conditionHolds(condition, { dataset, file }))
    : candidates;
  if (chosen.length === 0) return skipped('condition_not_met');
  return {
    kind: 'invoke',
    trigger_depth: depth,
    units: chosen.map((file) => ({
      idempotency_id: `${trigger.trigger_id}:${file.file_id}:${file.version}`,
      // Anchored at the root: a bare name would match that name at any depth.
      input_data: [`/${file.relative_path}`, ...additional],
      file,
    })),
  };
}
