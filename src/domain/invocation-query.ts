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
  DEFAULT_QUERY_LIMIT,
  MAX_QUERY_LIMIT,
  type Page,
  decodePageToken,
  encodePageToken,
} from './store-query.js';
import { InvocationRecordWire } from './invocation-wire.js';

/**
 * A QuerySpecification over invocations (spec §2.11, I2): conditions and sorting on the wire record's
 * fields, dotted paths allowed (`provenance.action.name`, `provenance.source.source_id`).
 */
export interface InvocationQuery {
  condition?: Condition | ConditionGroup | null;
  /** By default `created`. Ties are broken by invocation id, in the same direction. */
  sort_by?: string | null;
  /** By default DESC. */
  sort_direction?: 'ASC' | 'DESC' | null;
  /** 1 to 1000, by default 1000. */
  limit?: number | null;
  /** The `next_token` of the page before. */
  after?: string | null;
}

const WIRE_FIELDS = new Set(Object.keys(InvocationRecordWire.shape));
/** Fields holding datetimes: a condition compares them as instants (spec §2.11 rule 4). */
const DATETIME_FIELDS = new Set(['created', 'last_heartbeat']);

/** The value at a dotted path of a record; undefined when a step is missing or not an object. */
export function readPath(record: unknown, path: string): unknown {
  let value: unknown = record;
  for (const step of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

function checkField(field: string, what: string): void {
  const head = field.split('.')[0] ?? '';
  if (!WIRE_FIELDS.has(head)) {
    throw new UsageError(`${what} "${field}" is not a field of an invocation record`, 'E_INVALID_INPUT');
  }
}

function forEachField(node: Condition | ConditionGroup, visit: (field: string) => void): void {
  if (isConditionGroup(node)) for (const child of node.conditions) forEachField(child, visit);
  else visit(node.field);
}

export interface PreparedInvocationQuery {
  condition: Condition | ConditionGroup | null;
  sortBy: string;
  direction: 'ASC' | 'DESC';
  limit: number;
  offset: number;
}

/** Checks a query (fields, limit, direction, token) or throws a UsageError naming what is wrong. */
export function prepareInvocationQuery(query: InvocationQuery): PreparedInvocationQuery {
  const condition =
    query.condition === undefined || query.condition === null ? null : checkConditionTree(query.condition);
  if (condition !== null)
    forEachField(condition, (field) => {
      checkField(field, 'condition field');
    });
  const sortBy = query.sort_by ?? 'created';
  checkField(sortBy, 'sort_by');
  const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new UsageError(
      `query limit ${String(limit)} is out of range (an integer from 1 to ${MAX_QUERY_LIMIT})`,
      'E_INVALID_INPUT',
    );
  }
  const direction: string = query.sort_direction ?? 'DESC';
  if (direction !== 'ASC' && direction !== 'DESC') {
    throw new UsageError(
      `sort_direction ${JSON.stringify(direction)} is neither ASC nor DESC`,
      'E_INVALID_INPUT',
    );
  }
  const offset = query.after === undefined || query.after === null ? 0 : decodePageToken(query.after);
  return { condition, sortBy, direction, limit, offset };
}

/** Whether a wire record matches the query's condition, by the reference evaluator (spec §2.11). */
export function matchesInvocation(query: PreparedInvocationQuery, wire: InvocationRecordWire): boolean {
  if (query.condition === null) return true;
  return matchesCondition(query.condition, (field) => {
    const value = readPath(wire, field);
    return DATETIME_FIELDS.has(field) && typeof value === 'string' ? new Date(value) : value;
  });
}

function rank(value: unknown): number {
  if (typeof value === 'number') return 0;
  if (typeof value === 'string') return 1;
  if (typeof value === 'boolean') return 2;
  return 3;
}

function compareValues(x: unknown, y: unknown): number {
  const order = rank(x) - rank(y);
  if (order !== 0) return order;
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string') {
    // Datetimes as instants: stored strings may differ in their fraction digits.
    const [a, b] = [Date.parse(x), Date.parse(y)];
    if (/^\d{4}-\d\d-\d\dT/.test(x) && /^\d{4}-\d\d-\d\dT/.test(y) && !Number.isNaN(a) && !Number.isNaN(b))
      return a - b;
    return compareCodePoints(x, y);
  }
  if (typeof x === 'boolean' && typeof y === 'boolean') return Number(x) - Number(y);
  return compareCodePoints(JSON.stringify(x), JSON.stringify(y));
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
  const matching = records
    .map((record) => ({ record, wire: wireOf(record) }))
    .filter(({ wire }) => matchesInvocation(query, wire));
  const sign = query.direction === 'ASC' ? 1 : -1;
  matching.sort((a, b) => {
    const x = readPath(a.wire, query.sortBy);
    const y = readPath(b.wire, query.sortBy);
    const xMissing = x === undefined || x === null;
    const yMissing = y === undefined || y === null;
    if (xMissing !== yMissing) return xMissing ? 1 : -1;
    const order = xMissing ? 0 : compareValues(x, y);
    return sign * (order || compareCodePoints(a.wire.invocation_id, b.wire.invocation_id));
  });
  const next = query.offset + query.limit;
  return {
    items: matching.slice(query.offset, next).map(({ record }) => record),
    total: matching.length,
    nextToken: next < matching.length ? encodePageToken(next) : null,
  };
}
