import { UsageError } from './errors.js';
import {
  type Condition,
  type ConditionGroup,
  checkConditionTree,
  compareCodePoints,
  isConditionGroup,
  matchesCondition,
} from './query-condition.js';
import { type FieldRef, type QueryRow, type QueryTarget, readField, resolveField } from './query-fields.js';
import { type QueryNode, evaluateQuery, parseQuery } from './roboql.js';

/** The page size when a query names none, and the largest it may name (spec §1.9, §2.11). */
export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 1000;

/**
 * A query of datasets, files or topics. At most one of `roboql` and `condition`; neither matches everything.
 * Adapters push it down to their database where they can (the SQL store compiles it to SQL); whatever they
 * do, the result is what the reference evaluators (`evaluateQuery`, `matchesCondition`) would select.
 */
export interface StoreQuery {
  /** A RoboQL query (spec §6.2), e.g. `path LIKE "%.bag" AND metadata.robot = "r2"`. */
  roboql?: string;
  /** A QuerySpecification's condition tree (spec §2.11), fields qualified or not. */
  condition?: Condition | ConditionGroup | null;
  /** Only records of this org. */
  orgId?: string;
  /** Only files or topics of this dataset. */
  datasetId?: string;
  /**
   * A field of the record, dotted paths allowed (`metadata.k`); by default `created`. Ties are broken by
   * the record's id (in the same direction); null and missing values come last in either direction.
   */
  sortBy?: string;
  /** By default `DESC`. */
  sortDirection?: 'ASC' | 'DESC';
  /** The page size: 1 to 1000, by default 1000. */
  limit?: number;
  /**
   * The `nextToken` of the page before; absent for the first page. Tokens are opaque (an offset into the
   * sorted matches: a record added between two requests shifts the later pages).
   */
  after?: string | null;
}

/** One page of a query's results, with how many records match in all. */
export interface Page<T> {
  items: T[];
  total: number;
  /** The token of the next page; null when this is the last (never a token for an empty tail). */
  nextToken: string | null;
}

export type QueryPredicate =
  | { kind: 'all' }
  | { kind: 'roboql'; node: QueryNode }
  | { kind: 'condition'; node: Condition | ConditionGroup };

/** A query checked and resolved against its target: what both the scanning and the SQL stores run. */
export interface PreparedQuery {
  target: QueryTarget;
  predicate: QueryPredicate;
  /** Every field the predicate reads, resolved. */
  fields: Map<string, FieldRef>;
  orgId: string | undefined;
  datasetId: string | undefined;
  sort: FieldRef;
  direction: 'ASC' | 'DESC';
  limit: number;
  /** How many matching records earlier pages held. */
  offset: number;
}

/**
 * Checks a query and resolves its fields, or throws a UsageError naming what is wrong: a syntax error, an
 * unknown comparator, a field the target has not, a limit out of range, a malformed `after` token.
 */
export function prepareQuery(target: QueryTarget, query: StoreQuery): PreparedQuery {
  const fields = new Map<string, FieldRef>();
  const resolve = (name: string): FieldRef => {
    const known = fields.get(name);
    if (known) return known;
    const ref = resolveField(target, name);
    fields.set(name, ref);
    return ref;
  };
  let predicate: QueryPredicate = { kind: 'all' };
  const hasCondition = query.condition !== undefined && query.condition !== null;
  if (query.roboql !== undefined && hasCondition) {
    throw new UsageError('a query takes a RoboQL string or a condition, not both', 'E_INVALID_INPUT');
  }
  if (query.roboql !== undefined && query.roboql.trim() !== '') {
    const node = parseQuery(query.roboql);
    forEachRoboqlField(node, resolve);
    predicate = { kind: 'roboql', node };
  } else if (hasCondition) {
    const node = checkConditionTree(query.condition);
    forEachConditionField(node, resolve);
    predicate = { kind: 'condition', node };
  }
  const limit = checkQueryLimit(query.limit);
  // From outside (a request body), whatever the type says.
  const direction: string = query.sortDirection ?? 'DESC';
  if (direction !== 'ASC' && direction !== 'DESC') {
    throw new UsageError(
      `query sort direction ${JSON.stringify(direction)} is neither ASC nor DESC`,
      'E_INVALID_INPUT',
    );
  }
  const sort = resolveField(target, query.sortBy ?? 'created');
  return {
    target,
    predicate,
    fields,
    orgId: query.orgId,
    datasetId: query.datasetId,
    sort,
    direction,
    limit,
    offset: query.after === undefined || query.after === null ? 0 : decodePageToken(query.after),
  };
}

function forEachRoboqlField(node: QueryNode, visit: (field: string) => void): void {
  switch (node.kind) {
    case 'and':
    case 'or':
      forEachRoboqlField(node.left, visit);
      forEachRoboqlField(node.right, visit);
      return;
    case 'not':
      forEachRoboqlField(node.operand, visit);
      return;
    default:
      visit(node.field);
  }
}

function forEachConditionField(node: Condition | ConditionGroup, visit: (field: string) => void): void {
  if (isConditionGroup(node)) for (const child of node.conditions) forEachConditionField(child, visit);
  else visit(node.field);
}

/** Whether a row matches the query's predicate and scope, by the reference evaluators. */
export function matchesQuery(query: PreparedQuery, row: QueryRow): boolean {
  const own = rowId(query.target, row);
  if (own === undefined) return false;
  if (query.orgId !== undefined && readField(row, resolveField(query.target, 'org_id')) !== query.orgId)
    return false;
  if (
    query.datasetId !== undefined &&
    readField(row, resolveField(query.target, 'dataset_id')) !== query.datasetId
  )
    return false;
  const { predicate } = query;
  const fieldOf = (name: string): FieldRef => query.fields.get(name) ?? resolveField(query.target, name);
  switch (predicate.kind) {
    case 'all':
      return true;
    case 'roboql':
      return evaluateQuery(predicate.node, (name) => readField(row, fieldOf(name)));
    case 'condition':
      return matchesCondition(predicate.node, (name) => {
        const ref = fieldOf(name);
        const value = readField(row, ref);
        // Datetime fields are datetimes to a condition (spec §2.11 rule 4), strings to RoboQL.
        return ref.definition.kind === 'datetime' && ref.path.length === 0 && typeof value === 'string'
          ? new Date(value)
          : value;
      });
  }
}

/** The id of a row of the target (the sort's tie-breaker). */
export function rowId(target: QueryTarget, row: QueryRow): string | undefined {
  switch (target) {
    case 'datasets':
      return row.dataset?.dataset_id;
    case 'files':
      return row.file?.file_id;
    case 'topics':
      return row.topic?.topic_id;
  }
}

/**
 * The order of results: by the sort field (numbers numerically, strings by code point, numbers before
 * strings before booleans before anything else; null and missing values last in either direction), then
 * by id in the same direction, so that pages never shift between requests.
 */
export function compareRows(query: PreparedQuery, a: QueryRow, b: QueryRow): number {
  const sign = query.direction === 'ASC' ? 1 : -1;
  const x = readField(a, query.sort);
  const y = readField(b, query.sort);
  const xMissing = x === undefined || x === null;
  const yMissing = y === undefined || y === null;
  if (xMissing !== yMissing) return xMissing ? 1 : -1;
  if (!xMissing) {
    const order = compareSortValues(x, y);
    if (order !== 0) return sign * order;
  }
  return sign * compareCodePoints(rowId(query.target, a) ?? '', rowId(query.target, b) ?? '');
}

function sortRank(value: unknown): number {
  if (typeof value === 'number') return 0;
  if (typeof value === 'string') return 1;
  if (typeof value === 'boolean') return 2;
  return 3;
}

/** Numbers, then strings (by code point), then booleans, then anything else: the order of sorted results. */
export function compareSortValues(x: unknown, y: unknown): number {
  const rank = sortRank(x) - sortRank(y);
  if (rank !== 0) return rank;
  if (typeof x === 'number' && typeof y === 'number') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'string' && typeof y === 'string') return compareCodePoints(x, y);
  if (typeof x === 'boolean' && typeof y === 'boolean') return Number(x) - Number(y);
  return compareCodePoints(JSON.stringify(x), JSON.stringify(y));
}

/** One page of matching rows: sorts them, then takes `limit` from the token's offset. */
export function pageRows<T>(
  query: PreparedQuery,
  matching: readonly T[],
  rowOf: (item: T) => QueryRow,
): { items: T[]; total: number; nextToken: string | null } {
  const sorted = [...matching].sort((a, b) => compareRows(query, rowOf(a), rowOf(b)));
  return {
    items: sorted.slice(query.offset, query.offset + query.limit),
    total: sorted.length,
    nextToken: nextPageToken(query, sorted.length),
  };
}

/** The token of the page after the one at the query's offset, or null when nothing follows it. */
export function nextPageToken(query: PreparedQuery, total: number): string | null {
  const next = query.offset + query.limit;
  return next < total ? encodePageToken(next) : null;
}

/**
 * Page tokens are opaque: base64url (no padding) of `v1:json:{"offset":N}`, the number of matching
 * records before the page (the format of the SDK's PaginationToken). An offset rather than a keyset: both
 * stores page the same way, and a record added between two requests shifts later pages by one.
 */
export function encodePageToken(offset: number): string {
  return encodeJsonPageToken({ offset });
}

/**
 * A page token's JSON (`v1:json:<json>`, base64url, the SDK's PaginationToken form), or a UsageError (400)
 * for anything but a token this server made.
 */
export function encodeJsonPageToken(content: object): string {
  return Buffer.from(`v1:json:${JSON.stringify(content)}`).toString('base64url');
}

/** The non-negative integer under `key` in a token made by {@link encodeJsonPageToken}, or a UsageError. */
export function decodeJsonPageToken(token: string, key: string, minimum: number): number {
  const fail = (): never => {
    throw new UsageError(
      `malformed page token ${JSON.stringify(token)} (pass a next_token unchanged)`,
      'E_INVALID_INPUT',
    );
  };
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(token)) return fail();
  const text = Buffer.from(token, 'base64url').toString('utf8');
  if (!text.startsWith('v1:json:')) return fail();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.slice('v1:json:'.length));
  } catch {
    return fail();
  }
  const value = (parsed as Record<string, unknown> | null)?.[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) return fail();
  return value;
}

export function decodePageToken(token: string): number {
  return decodeJsonPageToken(token, 'offset', 0);
}

/** A query's page size, checked: 1 to 1000, by default 1000 (spec §1.9). */
export function checkQueryLimit(limit: number | null | undefined): number {
  const value = limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_QUERY_LIMIT) {
    throw new UsageError(
      `query limit ${String(value)} is out of range (an integer from 1 to ${MAX_QUERY_LIMIT})`,
      'E_INVALID_INPUT',
    );
  }
  return value;
}
