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
  compareSortValues,
  decodePageToken,
  encodePageToken,
} from './store-query.js';
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
const DATETIME_FIELDS = new Set(['created', 'modified']);

function checkField(field: string, where: string): string[] {
  const path = field.split('.');
  if (!TRIGGER_FIELDS.has(path[0] ?? '')) {
    throw new UsageError(`${where}: "${field}" is not a field of a trigger`, 'E_INVALID_INPUT');
  }
  return path;
}

function forEachField(node: Condition | ConditionGroup, visit: (field: string) => void): void {
  if (isConditionGroup(node)) for (const child of node.conditions) forEachField(child, visit);
  else visit(node.field);
}

/** A dotted path into the record: a missing key, or a non-object on the way, reads as undefined. */
function readPath(record: TriggerRecord, path: readonly string[]): unknown {
  let value: unknown = record;
  for (const part of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, part)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

const readValue = (record: TriggerRecord, path: readonly string[]): unknown => {
  const value = readPath(record, path);
  return path.length === 1 && DATETIME_FIELDS.has(path[0] ?? '') && typeof value === 'string'
    ? new Date(value)
    : value;
};

/**
 * One page of the triggers that match (spec §2.11 semantics), sorted by the query's field (null and
 * missing last in either direction; datetimes by instant) with the name as the tie-breaker in the same
 * direction, so pages never shift; the token is the next page's offset and absent on the last page.
 * Throws a UsageError for an unknown field, comparator, limit or token.
 */
export function pageTriggers(records: readonly TriggerRecord[], query: TriggerQuery): Page<TriggerRecord> {
  const condition =
    query.condition === undefined || query.condition === null ? null : checkConditionTree(query.condition);
  if (condition !== null) forEachField(condition, (field) => checkField(field, 'condition'));
  const sortPath = checkField(query.sortBy ?? 'created', 'sort_by');
  const direction: string = query.sortDirection ?? 'DESC';
  if (direction !== 'ASC' && direction !== 'DESC') {
    throw new UsageError(
      `sort_direction ${JSON.stringify(direction)} is neither ASC nor DESC`,
      'E_INVALID_INPUT',
    );
  }
  const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
    throw new UsageError(
      `limit ${String(limit)} is out of range (an integer from 1 to ${MAX_QUERY_LIMIT})`,
      'E_INVALID_INPUT',
    );
  }
  const offset = query.after === undefined || query.after === null ? 0 : decodePageToken(query.after);
  const sortValue = (record: TriggerRecord): unknown => {
    const value = readValue(record, sortPath);
    return value instanceof Date ? value.getTime() : value;
  };
  const sign = direction === 'ASC' ? 1 : -1;
  const matching = records
    .filter(
      (record) =>
        condition === null || matchesCondition(condition, (field) => readValue(record, field.split('.'))),
    )
    .sort((a, b) => {
      const x = sortValue(a);
      const y = sortValue(b);
      const xMissing = x === undefined || x === null;
      const yMissing = y === undefined || y === null;
      if (xMissing !== yMissing) return xMissing ? 1 : -1;
      const order = xMissing ? 0 : compareSortValues(x, y);
      if (order !== 0) return sign * order;
      return sign * (compareCodePoints(a.org_id, b.org_id) || compareCodePoints(a.name, b.name));
    });
  const next = offset + limit;
  return {
    items: matching.slice(offset, next),
    total: matching.length,
    nextToken: next < matching.length ? encodePageToken(next) : null,
  };
}
