import { UsageError } from './errors.js';
import {
  type Condition,
  type ConditionGroup,
  checkConditionTree,
  compareCodePoints,
  isConditionGroup,
  matchesCondition,
} from './query-condition.js';
import {
  type Page,
  checkQueryLimit,
  compareSortValues,
  decodePageToken,
  encodePageToken,
} from './store-query.js';

/**
 * A QuerySpecification (spec §2.11) over records kept whole as JSON objects and filtered in memory
 * (registered actions, invocations): the fields are the record's, dotted paths allowed.
 */
export interface RecordQuery {
  condition?: Condition | ConditionGroup | null;
  /** By default `created`. */
  sort_by?: string | null;
  /** By default DESC. */
  sort_direction?: 'ASC' | 'DESC' | null;
  /** 1 to 1000, by default 1000. */
  limit?: number | null;
  /** The `next_token` of the page before. */
  after?: string | null;
}

/** What a kind of record offers a query. */
export interface RecordFields {
  /** For messages: "an action", "an invocation record". */
  kind: string;
  /** The top-level fields a condition or a sort may name (the SDK checks the same client-side). */
  fields: ReadonlySet<string>;
  /** Top-level fields holding datetimes: compared as instants (spec §2.11 rule 4). */
  datetimeFields: ReadonlySet<string>;
}

export interface PreparedRecordQuery {
  fields: RecordFields;
  condition: Condition | ConditionGroup | null;
  sortBy: string;
  direction: 'ASC' | 'DESC';
  limit: number;
  offset: number;
}

function checkField(fields: RecordFields, field: string, where: string): void {
  if (!fields.fields.has(field.split('.')[0] ?? '')) {
    throw new UsageError(`${where} "${field}" is not a field of ${fields.kind}`, 'E_INVALID_INPUT');
  }
}

function forEachField(node: Condition | ConditionGroup, visit: (field: string) => void): void {
  if (isConditionGroup(node)) for (const child of node.conditions) forEachField(child, visit);
  else visit(node.field);
}

/** Checks a query (fields, limit, direction, token) or throws a UsageError naming what is wrong. */
export function prepareRecordQuery(query: RecordQuery, fields: RecordFields): PreparedRecordQuery {
  const condition =
    query.condition === undefined || query.condition === null ? null : checkConditionTree(query.condition);
  if (condition !== null)
    forEachField(condition, (field) => {
      checkField(fields, field, 'condition field');
    });
  const sortBy = query.sort_by ?? 'created';
  checkField(fields, sortBy, 'sort_by');
  const limit = checkQueryLimit(query.limit);
  const direction: string = query.sort_direction ?? 'DESC';
  if (direction !== 'ASC' && direction !== 'DESC') {
    throw new UsageError(
      `sort_direction ${JSON.stringify(direction)} is neither ASC nor DESC`,
      'E_INVALID_INPUT',
    );
  }
  const offset = query.after === undefined || query.after === null ? 0 : decodePageToken(query.after);
  return { fields, condition, sortBy, direction, limit, offset };
}

/** The value at a dotted path: undefined when a step is missing (own keys only) or not an object. */
function readPath(record: unknown, path: string): unknown {
  let value: unknown = record;
  for (const step of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, step)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

/** A field's value as a condition compares it: a datetime field as a Date. */
function conditionValue(query: PreparedRecordQuery, view: object, field: string): unknown {
  const value = readPath(view, field);
  return query.fields.datetimeFields.has(field) && typeof value === 'string' ? new Date(value) : value;
}

/** A field's value as a sort orders it: a datetime field as its instant (fraction digits may differ). */
function sortValue(query: PreparedRecordQuery, view: object): unknown {
  const value = readPath(view, query.sortBy);
  if (query.fields.datetimeFields.has(query.sortBy) && typeof value === 'string') {
    const instant = Date.parse(value);
    if (!Number.isNaN(instant)) return instant;
  }
  return value;
}

/** Whether a record (its queryable view) matches the query's condition, by the reference evaluator. */
export function matchesRecord(query: PreparedRecordQuery, view: object): boolean {
  if (query.condition === null) return true;
  return matchesCondition(query.condition, (field) => conditionValue(query, view, field));
}

/**
 * One page of the matching records, sorted by the query's field (null and missing last in either
 * direction), ties broken by `identity` in the same direction so pages never shift; the token is the next
 * page's offset, absent on the last page (spec §1.9).
 */
export function pageRecords<T>(
  query: PreparedRecordQuery,
  records: readonly T[],
  viewOf: (record: T) => object,
  identity: (view: object) => string,
): Page<T> {
  const matching = records
    .map((record) => {
      const view = viewOf(record);
      return { record, view, sort: sortValue(query, view) };
    })
    .filter(({ view }) => matchesRecord(query, view));
  const sign = query.direction === 'ASC' ? 1 : -1;
  matching.sort((a, b) => {
    const xMissing = a.sort === undefined || a.sort === null;
    const yMissing = b.sort === undefined || b.sort === null;
    if (xMissing !== yMissing) return xMissing ? 1 : -1;
    const order = xMissing ? 0 : compareSortValues(a.sort, b.sort);
    return sign * (order || compareCodePoints(identity(a.view), identity(b.view)));
  });
  const next = query.offset + query.limit;
  return {
    items: matching.slice(query.offset, next).map(({ record }) => record),
    total: matching.length,
    nextToken: next < matching.length ? encodePageToken(next) : null,
  };
}

/** A QuerySpecification as the action and trigger stores take it (camel-cased sort keys). */
export interface NamedRecordQuery {
  condition?: Condition | ConditionGroup | null;
  /** A field of the record, dotted paths allowed; by default `created`. */
  sortBy?: string | null;
  /** By default `DESC`. */
  sortDirection?: 'ASC' | 'DESC' | null;
  /** 1 to 1000, by default 1000. */
  limit?: number | null;
  /** The `next_token` of the page before. */
  after?: string | null;
}

/**
 * One page of records named within their org (registered actions, triggers), with org and name as the
 * tie-breaker; otherwise as {@link pageRecords}. Throws a UsageError for an unknown field, comparator,
 * limit or token.
 */
export function pageNamedRecords<T extends { org_id: string; name: string }>(
  records: readonly T[],
  query: NamedRecordQuery,
  fields: RecordFields,
): Page<T> {
  const prepared = prepareRecordQuery(
    {
      condition: query.condition ?? null,
      sort_by: query.sortBy ?? null,
      sort_direction: query.sortDirection ?? null,
      limit: query.limit ?? null,
      after: query.after ?? null,
    },
    fields,
  );
  return pageRecords(
    prepared,
    records,
    (record) => record,
    (view) => {
      const { org_id, name } = view as T;
      // NUL sorts first: the same order as comparing the org, then the name.
      return `${org_id}\u0000${name}`;
    },
  );
}
