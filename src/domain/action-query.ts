import type { ActionRecord } from './action-record.js';
import { type RecordFields, pageRecords, prepareRecordQuery } from './record-query.js';
import type { Page } from './store-query.js';
import type { Condition, ConditionGroup } from './query-condition.js';

/** A QuerySpecification over actions (spec §2.11, A6/A7), as the store takes it. */
export interface ActionQuery {
  condition?: Condition | ConditionGroup | null;
  /** An ActionRecord field, dotted paths allowed (`metadata.k`); by default `created`. */
  sortBy?: string | null;
  /** By default `DESC`. */
  sortDirection?: 'ASC' | 'DESC' | null;
  /** 1 to 1000, by default 1000. */
  limit?: number | null;
  /** The `next_token` of the page before. */
  after?: string | null;
}

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
  const prepared = prepareRecordQuery(
    {
      condition: query.condition ?? null,
      sort_by: query.sortBy ?? null,
      sort_direction: query.sortDirection ?? null,
      limit: query.limit ?? null,
      after: query.after ?? null,
    },
    ACTIONS,
  );
  return pageRecords(
    prepared,
    records,
    (record) => record,
    (view) => {
      const { org_id, name } = view as ActionRecord;
      // NUL sorts first: the same order as comparing the org, then the name.
      return `${org_id}\u0000${name}`;
    },
  );
}
