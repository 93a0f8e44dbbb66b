import { InvocationRecordWire } from './invocation-wire.js';
import {
  type PreparedRecordQuery,
  type RecordFields,
  type RecordQuery,
  matchesRecord,
  pageRecords,
  prepareRecordQuery,
} from './record-query.js';
import type { Page } from './store-query.js';

/**
 * A QuerySpecification over invocations (spec §2.11, I2): conditions and sorting on the wire record's
 * fields, dotted paths allowed (`provenance.action.name`, `provenance.source.source_id`).
 */
export type InvocationQuery = RecordQuery;

const INVOCATIONS: RecordFields = {
  kind: 'an invocation record',
  fields: new Set(Object.keys(InvocationRecordWire.shape)),
  datetimeFields: new Set(['created', 'last_heartbeat']),
};

export type PreparedInvocationQuery = PreparedRecordQuery;

/** Checks a query (fields, limit, direction, token) or throws a UsageError naming what is wrong. */
export function prepareInvocationQuery(query: InvocationQuery): PreparedInvocationQuery {
  return prepareRecordQuery(query, INVOCATIONS);
}

/** Whether a wire record matches the query's condition, by the reference evaluator (spec §2.11). */
export function matchesInvocation(query: PreparedInvocationQuery, wire: InvocationRecordWire): boolean {
  return matchesRecord(query, wire);
}

/**
 * One page of the matching records, sorted (null and missing sort values last in either direction, ties
 * by invocation id), with the total and the next page's token (none for an empty tail; spec §1.9).
 */
export function pageInvocations<T>(
  query: PreparedInvocationQuery,
  records: readonly T[],
  wireOf: (record: T) => InvocationRecordWire,
): Page<T> {
  return pageRecords(query, records, wireOf, (view) => (view as InvocationRecordWire).invocation_id);
}
