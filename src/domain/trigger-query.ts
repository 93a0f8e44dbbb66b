import type { Condition, ConditionGroup } from './query-condition.js';
import { type RecordFields, pageRecords, prepareRecordQuery } from './record-query.js';
import type { Page } from './store-query.js';
import type { TriggerRecord } from './trigger-record.js';

/** A QuerySpecification over triggers (spec §2.11, T3), as the store takes it. */
export interface TriggerQuery {
  condition?: Condition | ConditionGroup | null;
  /** A TriggerRecord field, dotted paths allowed (`action.name`); by default `created`. */
  sortBy?: string | null;
  /** By default `DESC`. */
  sortDirection?: 'ASC' | 'DESC' | null;
  /** 1 to 1000, by default 1000. */
  limit?: number | null;
  /** The `next_token` of the page before. */
  after?: string | null;
}

/** The fields a condition or a sort may name: TriggerRecord's (the roboto CLI sends `action.name`, …). */
const TRIGGER_FIELDS = new Set([
  'trigger_id',
  'name',
  'org_id',
  'created',
  'created_by',
  'modified',
  'modified_by',
  'action',
  'required_inputs',
  'service_user_id',
  'for_each',
  'enabled',
  'parameter_values',
  'additional_inputs',
  'causes',
  'compute_requirement_overrides',
  'container_parameter_overrides',
  'condition',
  'timeout',
]);
const TRIGGERS: RecordFields = {
  kind: 'a trigger',
  fields: TRIGGER_FIELDS,
  datetimeFields: new Set(['created', 'modified']),
};

/**
 * One page of the triggers that match (spec §2.11 semantics), sorted by the query's field (null and
 * missing last in either direction; datetimes by instant) with org and name as the tie-breaker in the same
 * direction, so pages never shift; the token is the next page's offset and absent on the last page.
 * Throws a UsageError for an unknown field, comparator, limit or token.
 */
export function pageTriggers(records: readonly TriggerRecord[], query: TriggerQuery): Page<TriggerRecord> {
  const prepared = prepareRecordQuery(
    {
      condition: query.condition ?? null,
      sort_by: query.sortBy ?? null,
      sort_direction: query.sortDirection ?? null,
      limit: query.limit ?? null,
      after: query.after ?? null,
    },
    TRIGGERS,
  );
  return pageRecords(
    prepared,
    records,
    (record) => record,
    (view) => {
      const { org_id, name } = view as TriggerRecord;
      // NUL sorts first: the same order as comparing the org, then the name.
      return `${org_id}\u0000${name}`;
    },
  );
}
