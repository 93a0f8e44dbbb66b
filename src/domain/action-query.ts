import type { ActionRecord } from './action-record.js';
import { type NamedRecordQuery, type RecordFields, pageNamedRecords } from './record-query.js';
import type { Page } from './store-query.js';

/** A QuerySpecification over actions (spec §2.11, A6/A7), as the store takes it. */
export type ActionQuery = NamedRecordQuery;

/** The fields a condition or a sort may name: ActionRecord's (the SDK checks the same client-side). */
const ACTION_FIELDS = new Set([
  'name',
  'org_id',
  'digest',
  'created',
  'created_by',
  'modified',
  'modified_by',
  'accessibility',
  'published',
  'description',
  'short_description',
  'uri',
  'inherits',
  'compute_requirements',
  'container_parameters',
  'parameters',
  'requires_downloaded_inputs',
  'metadata',
  'tags',
  'timeout',
]);
const ACTIONS: RecordFields = {
  kind: 'an action',
  fields: ACTION_FIELDS,
  datetimeFields: new Set(['created', 'modified', 'published']),
};

/**
 * One page of the actions that match (spec §2.11 semantics, the reference evaluator), sorted by the
 * query's field (null and missing last in either direction; datetimes by instant) with org and name as
 * the tie-breaker in the same direction, so pages never shift; the token is the next page's offset and
 * absent on the last page. Throws a UsageError for an unknown field, comparator, limit or token.
 */
export function pageActions(records: readonly ActionRecord[], query: ActionQuery): Page<ActionRecord> {
  return pageNamedRecords(records, query, ACTIONS);
}
