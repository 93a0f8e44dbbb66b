import { type NamedRecordQuery, type RecordFields, pageNamedRecords } from './record-query.js';
import type { Page } from './store-query.js';
import type { TriggerRecord } from './trigger-record.js';

/** A QuerySpecification over triggers (spec §2.11, T3), as the store takes it. */
export type TriggerQuery = NamedRecordQuery;

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
  return pageNamedRecords(records, query, TRIGGERS);
}
