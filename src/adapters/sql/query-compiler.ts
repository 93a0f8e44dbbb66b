import { type RawBuilder, sql } from 'kysely';
import type { Comparator, Condition, ConditionGroup } from '../../domain/query-condition.js';
import { isConditionGroup, parseAwareInstant } from '../../domain/query-condition.js';
import type { FieldRef, QueryEntity } from '../../domain/query-fields.js';
import type { QueryNode, Value } from '../../domain/roboql.js';
import type { PreparedQuery } from '../../domain/store-query.js';
import type { Dialect } from './database.js';

/**
 * Compiles a prepared query (RoboQL or a condition tree) to a SQL predicate of either dialect.
 *
 * The reference evaluators (`evaluateQuery`, `matchesCondition`) define the result. Each part of a query
 * compiles to a predicate that is either *exact* (it selects precisely the rows the evaluator keeps) or a
 * *superset* (it never drops a row the evaluator keeps: JavaScript's odd coercions, such as a RoboQL
 * number against a text field, ISO dates compared as instants, JSON keys a path cannot spell). A query
 * with any superset part is re-checked row by row by the reference evaluator, and paged in JavaScript.
 * The negation of a superset is not a superset: it becomes TRUE.
 *
 * Every predicate is two-valued (NULL folded into false), so NOT, AND and OR mean what they mean to the
 * evaluators. Values are always bound parameters; identifiers come from the field table only; JSON paths
 * are inlined as literals only when every key is a plain identifier (else the part is a superset).
 */

type Sql = RawBuilder<unknown>;

export interface Predicate {
  sql: Sql;
  exact: boolean;
  /**
   * When the predicate is one lookup in a SQLite side table (scope included), a count of the matching
   * files read from that table's index alone, without probing each file's row.
   */
  count?: Sql;
}

/** The table alias of each entity in the compiled query. */
export const ENTITY_ALIAS: Record<QueryEntity, string> = { dataset: 'd', file: 'f', topic: 't' };

const TRUE: Sql = sql`(1=1)`;
const FALSE: Sql = sql`(1=0)`;
const exactly = (text: Sql): Predicate => ({ sql: text, exact: true });
const ALWAYS: Predicate = exactly(TRUE);
const NEVER: Predicate = exactly(FALSE);
const SUPERSET: Predicate = { sql: TRUE, exact: false };

function and(...parts: Predicate[]): Predicate {
  if (parts.some((part) => part.sql === FALSE && part.exact)) return NEVER;
  const kept = parts.filter((part) => part.sql !== TRUE);
  const exact = parts.every((part) => part.exact);
  if (kept.length === 0) return { sql: TRUE, exact };
  if (kept.length === 1 && kept[0]?.exact === exact) return kept[0];
  return {
    sql: sql`(${sql.join(
      kept.map((part) => part.sql),
      sql` AND `,
    )})`,
    exact,
  };
}

function or(...parts: Predicate[]): Predicate {
  const exact = parts.every((part) => part.exact);
  if (parts.some((part) => part.sql === TRUE)) return { sql: TRUE, exact };
  const kept = parts.filter((part) => part.sql !== FALSE);
  if (kept.length === 0) return { sql: FALSE, exact };
  if (kept.length === 1 && kept[0]?.exact === exact) return kept[0];
  return {
    sql: sql`(${sql.join(
      kept.map((part) => part.sql),
      sql` OR `,
    )})`,
    exact,
  };
}

function not(part: Predicate): Predicate {
  if (!part.exact) return SUPERSET;
  if (part.sql === TRUE) return NEVER;
  if (part.sql === FALSE) return ALWAYS;
  return exactly(sql`(NOT ${part.sql})`);
}

/** A leaf: its SQL may be NULL (a NULL column): folded into false. */
function leaf(text: Sql, isNullable = true): Predicate {
  if (!isNullable) return exactly(text);
  return exactly(sql`COALESCE(${text}, ${FALSE})`);
}

/** What a field is to SQL. */
type Operand =
  | {
      kind: 'column';
      column: Sql;
      fieldKind: 'text' | 'nullable-text' | 'number' | 'nullable-number' | 'datetime';
    }
  | { kind: 'tags'; column: Sql; entity: QueryEntity }
  /** A JSON object that is always there (`metadata` itself). */
  | { kind: 'object' }
  | { kind: 'json'; column: Sql; path: string[]; entity: QueryEntity }
  /** A key below a scalar or a list: always missing. */
  | { kind: 'missing' }
  /** A JSON path SQL cannot spell safely: the part is a superset. */
  | { kind: 'opaque' };

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function operand(ref: FieldRef): Operand {
  const column = sql.ref(`${ENTITY_ALIAS[ref.entity]}.${ref.definition.column}`);
  const kind = ref.definition.kind;
  if (kind === 'metadata') {
    if (ref.path.length === 0) return { kind: 'object' };
    return ref.path.every((key) => PLAIN_KEY.test(key))
      ? { kind: 'json', column, path: ref.path, entity: ref.entity }
      : { kind: 'opaque' };
  }
  if (ref.path.length > 0) return { kind: 'missing' };
  if (kind === 'tags') return { kind: 'tags', column, entity: ref.entity };
  return { kind: 'column', column, fieldKind: kind };
}

/** Whether a column may be NULL (else its comparisons with a bound value never are, and need no COALESCE). */
function isNullable(o: Extract<Operand, { kind: 'column' }>): boolean {
  return o.fieldKind === 'nullable-text' || o.fieldKind === 'nullable-number';
}

type OrderOp = '<' | '<=' | '>' | '>=';
const ORDER_OPS: Record<string, OrderOp> = {
  GREATER_THAN: '>',
  GREATER_THAN_OR_EQUAL: '>=',
  LESS_THAN: '<',
  LESS_THAN_OR_EQUAL: '<=',
};

const DATE_LIKE = /^\d{4}-\d{2}-\d{2}/;

/** A canonical instant (`toISOString`), when it orders as text (years 0000–9999). */
function canonicalInstant(instant: number): string | undefined {
  if (Number.isNaN(instant)) return undefined;
  const text = new Date(instant).toISOString();
  return /^\d{4}-/.test(text) ? text : undefined;
}

/**
 * `expression op n` for a number `n` that may be NaN (nothing compares) or infinite (everything or nothing
 * that is a number).
 */
function numberComparison(
  d: DialectSql,
  expression: Sql,
  op: OrderOp | '=',
  n: number,
  isNullable = true,
): Predicate {
  if (Number.isNaN(n)) return NEVER;
  if (!Number.isFinite(n)) {
    const holds = op !== '=' && (op === '<' || op === '<=') === n > 0;
    return holds ? leaf(sql`(${expression} IS NOT NULL)`, isNullable) : NEVER;
  }
  return leaf(sql`(${expression} ${sql.raw(op)} ${d.number(n)})`, isNullable);
}

/** The dialect-specific pieces of SQL. */
class DialectSql {
  constructor(
    readonly dialect: Dialect,
    /** The query's scope, repeated in the SQLite side-table lookups of a files query. */
    private readonly fileScope: { orgId?: string; datasetId?: string } | undefined,
  ) {}

  private scopeOfSideTable(): Sql {
    const parts: Sql[] = [];
    if (this.fileScope?.orgId !== undefined) parts.push(sql` AND org_id = ${this.fileScope.orgId}`);
    if (this.fileScope?.datasetId !== undefined)
      parts.push(sql` AND dataset_id = ${this.fileScope.datasetId}`);
    return sql.join(parts, sql``);
  }

  private get pg(): boolean {
    return this.dialect === 'postgres';
  }

  text(value: string): Sql {
    return this.pg ? sql`${value}::text` : sql`${value}`;
  }

  number(value: number): Sql {
    if (!this.pg) return sql`${value}`;
    return Number.isSafeInteger(value) ? sql`${value}::bigint` : sql`${String(value)}::numeric`;
  }

  /** Compares texts by code point. */
  textCompare(left: Sql, op: string, right: string): Sql {
    return this.pg
      ? sql`(${left} COLLATE "C" ${sql.raw(op)} ${this.text(right)})`
      : sql`(${left} ${sql.raw(op)} ${right})`;
  }

  like(left: Sql, pattern: string): Sql {
    return this.pg
      ? sql`(${left} LIKE ${this.text(pattern)} ESCAPE '')`
      : sql`(${left} GLOB ${likeToGlob(pattern)})`;
  }

  contains(left: Sql, needle: string): Sql {
    return this.pg ? sql`(strpos(${left}, ${this.text(needle)}) > 0)` : sql`(instr(${left}, ${needle}) > 0)`;
  }

  beginsWith(left: Sql, prefix: string): Sql {
    return this.pg
      ? sql`(left(${left}, length(${this.text(prefix)})) = ${this.text(prefix)})`
      : sql`(substr(${left}, 1, length(${prefix})) = ${prefix})`;
  }

  /**
   * A list of strings holds `value`. Never NULL (tags are never null), so no COALESCE hides it from an
   * index: PostgreSQL's GIN serves `?`, SQLite's side table the IN.
   */
  tagsHave(o: Extract<Operand, { kind: 'tags' }>, value: string): Predicate {
    if (this.pg) return exactly(sql`(${o.column} ? ${this.text(value)})`);
    if (o.entity === 'file') {
      // The side table the triggers keep (migrations/0001-initial.ts): an index range, not every file's JSON.
      const match = sql`FROM file_tag_index WHERE tag = ${value}${this.scopeOfSideTable()}`;
      return this.sideTableLookup(match);
    }
    return exactly(
      sql`EXISTS (SELECT 1 FROM json_each(${o.column}) WHERE json_each.type = 'text' AND json_each.value = ${value})`,
    );
  }

  /**
   * The files a side-table lookup finds. The count shortcut holds only for a files query, whose scope the
   * lookup repeats (the triggers keep the side tables' org and dataset those of their files).
   */
  private sideTableLookup(match: Sql): Predicate {
    const lookup = exactly(sql`(${sql.ref(`${ENTITY_ALIAS.file}.file_id`)} IN (SELECT file_id ${match}))`);
    return this.fileScope === undefined
      ? lookup
      : { ...lookup, count: sql`SELECT COUNT(DISTINCT file_id) AS total ${match}` };
  }

  /** The value at the path is the string `value` (an index lookup where there is one). */
  textEquals(o: JsonOperand, value: string): Predicate {
    if (!this.pg && o.entity === 'file') {
      const key = `$${o.path.map((part) => `.${part}`).join('')}`;
      const match = sql`FROM file_metadata_index WHERE key = ${key} AND value = ${value}${this.scopeOfSideTable()}`;
      return this.sideTableLookup(match);
    }
    const containment = this.containsString(o, value);
    const exact = leaf(sql`(${this.isText(o)} AND ${this.textAt(o)} = ${this.text(value)})`);
    // The containment is never NULL and implied by the exact test: a top-level conjunct GIN can serve.
    return containment === undefined ? exact : exactly(sql`(${containment} AND ${exact.sql})`);
  }

  // JSON values at a path (keys are plain identifiers: see PLAIN_KEY).
  private sqlitePath(path: string[]): Sql {
    return sql.lit(`$${path.map((key) => `."${key}"`).join('')}`);
  }

  private pgPath(path: string[]): Sql {
    return sql.lit(`{${path.map((key) => `"${key}"`).join(',')}}`);
  }

  private jsonAt(column: Sql, path: string[]): Sql {
    return sql`(${column} #> ${this.pgPath(path)})`;
  }

  /** The JSON type at the path, as SQLite names them (NULL when missing). */
  private typeIs(
    column: Sql,
    path: string[],
    types: ('text' | 'number' | 'true' | 'false' | 'null' | 'array')[],
  ): Sql {
    if (!this.pg) {
      const names = types.flatMap((type) => (type === 'number' ? ['integer', 'real'] : [type]));
      return sql`(json_type(${column}, ${this.sqlitePath(path)}) IN (${sql.join(names.map((name) => sql.lit(name)))}))`;
    }
    const value = this.jsonAt(column, path);
    const parts = types.map((type) => {
      switch (type) {
        case 'text':
          return sql`jsonb_typeof(${value}) = 'string'`;
        case 'number':
          return sql`jsonb_typeof(${value}) = 'number'`;
        case 'true':
          return sql`${value} = 'true'::jsonb`;
        case 'false':
          return sql`${value} = 'false'::jsonb`;
        case 'null':
          return sql`jsonb_typeof(${value}) = 'null'`;
        case 'array':
          return sql`jsonb_typeof(${value}) = 'array'`;
      }
    });
    return sql`(${sql.join(parts, sql` OR `)})`;
  }

  isText(o: JsonOperand): Sql {
    return this.typeIs(o.column, o.path, ['text']);
  }

  isNumber(o: JsonOperand): Sql {
    return this.typeIs(o.column, o.path, ['number']);
  }

  isType(o: JsonOperand, types: ('text' | 'number' | 'true' | 'false' | 'null' | 'array')[]): Sql {
    return this.typeIs(o.column, o.path, types);
  }

  /** Missing, or JSON null. */
  isNullOrMissing(o: JsonOperand): Sql {
    return this.pg
      ? sql`(${this.jsonAt(o.column, o.path)} IS NULL OR jsonb_typeof(${this.jsonAt(o.column, o.path)}) = 'null')`
      : sql`(json_type(${o.column}, ${this.sqlitePath(o.path)}) IS NULL OR json_type(${o.column}, ${this.sqlitePath(o.path)}) = 'null')`;
  }

  /** The string at the path (meaningful where isText holds). */
  textAt(o: JsonOperand): Sql {
    return this.pg
      ? sql`(${o.column} #>> ${this.pgPath(o.path)})`
      : sql`json_extract(${o.column}, ${this.sqlitePath(o.path)})`;
  }

  /** The number at the path (NULL unless it is one). */
  numberAt(o: JsonOperand): Sql {
    return this.pg
      ? sql`(CASE WHEN jsonb_typeof(${this.jsonAt(o.column, o.path)}) = 'number' THEN (${o.column} #>> ${this.pgPath(o.path)})::numeric END)`
      : sql`(CASE WHEN json_type(${o.column}, ${this.sqlitePath(o.path)}) IN ('integer', 'real') THEN json_extract(${o.column}, ${this.sqlitePath(o.path)}) END)`;
  }

  /** A list at the path holds the string `value`. */
  listHasText(o: JsonOperand, value: string): Sql {
    if (this.pg) {
      const list = this.jsonAt(o.column, o.path);
      return sql`EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${list}) = 'array' THEN ${list} ELSE '[]'::jsonb END) AS e(v) WHERE e.v = to_jsonb(${this.text(value)}))`;
    }
    return sql`(json_type(${o.column}, ${this.sqlitePath(o.path)}) = 'array' AND EXISTS (SELECT 1 FROM json_each(${o.column}, ${this.sqlitePath(o.path)}) AS e WHERE e.type = 'text' AND e.value = ${value}))`;
  }

  /** A metadata containment that an index can serve (PostgreSQL's GIN), implied by the exact test. */
  containsString(o: JsonOperand, value: string): Sql | undefined {
    if (!this.pg) return undefined;
    let doc: unknown = value;
    for (const key of [...o.path].reverse()) doc = { [key]: doc };
    return sql`(${o.column} @> ${JSON.stringify(doc)}::jsonb)`;
  }
}

type JsonOperand = Extract<Operand, { kind: 'json' }>;

/** SQL LIKE (`%`, `_`, everything else literal, case-sensitive) as a SQLite GLOB pattern. */
export function likeToGlob(pattern: string): string {
  let glob = '';
  for (const char of pattern) {
    if (char === '%') glob += '*';
    else if (char === '_') glob += '?';
    else if (char === '*' || char === '?' || char === '[') glob += `[${char}]`;
    else glob += char;
  }
  return glob;
}

/** Compiles a prepared query's predicate and scope. */
export class QueryCompiler {
  private readonly d: DialectSql;
  /** Entities other than the target's own that the predicate reads (they need a join). */
  readonly joined = new Set<QueryEntity>();

  constructor(
    private readonly query: PreparedQuery,
    dialect: Dialect,
  ) {
    this.d = new DialectSql(
      dialect,
      query.target === 'files' ? { orgId: query.orgId, datasetId: query.datasetId } : undefined,
    );
  }

  where(): Predicate {
    const { predicate } = this.query;
    const body =
      predicate.kind === 'all'
        ? ALWAYS
        : predicate.kind === 'roboql'
          ? this.roboql(predicate.node)
          : this.condition(predicate.node);
    const own = ENTITY_ALIAS[targetEntity(this.query)];
    const scope: Predicate[] = [];
    if (this.query.orgId !== undefined)
      scope.push(exactly(sql`${sql.ref(`${own}.org_id`)} = ${this.d.text(this.query.orgId)}`));
    if (this.query.datasetId !== undefined)
      scope.push(exactly(sql`${sql.ref(`${own}.dataset_id`)} = ${this.d.text(this.query.datasetId)}`));
    const where = and(...scope, body);
    return body.count === undefined ? where : { ...where, count: body.count };
  }

  private field(name: string): Operand {
    const ref = this.query.fields.get(name);
    if (ref === undefined) return { kind: 'opaque' };
    if (ref.entity !== targetEntity(this.query)) this.joined.add(ref.entity);
    return operand(ref);
  }

  // RoboQL (src/domain/roboql.ts's evaluateQuery).

  private roboql(node: QueryNode): Predicate {
    switch (node.kind) {
      case 'and':
        return and(this.roboql(node.left), this.roboql(node.right));
      case 'or':
        return or(this.roboql(node.left), this.roboql(node.right));
      case 'not':
        return not(this.roboql(node.operand));
      case 'in': {
        const o = this.field(node.field);
        return or(...node.values.map((value) => this.roboqlEquals(o, value)));
      }
      case 'contains':
        return this.roboqlContains(this.field(node.field), node.value);
      case 'compare': {
        const o = this.field(node.field);
        if (node.op === '=') return this.roboqlEquals(o, node.value);
        if (node.op === '!=') return not(this.roboqlEquals(o, node.value));
        if (node.op === 'LIKE') return this.likeOf(o, node.value);
        return this.roboqlOrder(o, node.op, node.value);
      }
    }
  }

  private roboqlEquals(o: Operand, value: Value): Predicate {
    const { d } = this;
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'missing':
        return value === null ? ALWAYS : NEVER;
      case 'object':
      case 'tags':
        return NEVER;
      case 'column': {
        const nullable = o.fieldKind === 'nullable-text' || o.fieldKind === 'nullable-number';
        if (value === null) return nullable ? exactly(sql`(${o.column} IS NULL)`) : NEVER;
        if (typeof value === 'boolean') return NEVER;
        if (o.fieldKind === 'number' || o.fieldKind === 'nullable-number') {
          // equals(number, string) is Number(string) for a non-blank string.
          const n = typeof value === 'number' ? value : value.trim() === '' ? NaN : Number(value);
          return numberComparison(d, o.column, '=', n, nullable);
        }
        // equals(string, number) is Number(string) === number: no SQL spells Number().
        if (typeof value === 'number') return SUPERSET;
        return leaf(sql`(${o.column} = ${d.text(value)})`, nullable);
      }
      case 'json': {
        if (value === null) return leaf(d.isNullOrMissing(o));
        if (typeof value === 'boolean') return leaf(d.isType(o, [value ? 'true' : 'false']));
        if (typeof value === 'number') {
          return or(numberComparison(d, d.numberAt(o), '=', value), {
            sql: leaf(d.isText(o)).sql,
            exact: false,
          });
        }
        const n = value.trim() === '' ? NaN : Number(value);
        const isString = d.textEquals(o, value);
        return or(isString, numberComparison(d, d.numberAt(o), '=', n));
      }
    }
  }

  private roboqlOrder(o: Operand, op: OrderOp, value: Value): Predicate {
    const { d } = this;
    if (value === null) return NEVER;
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'missing':
      case 'object':
      case 'tags':
        return NEVER;
      case 'column': {
        const numeric = o.fieldKind === 'number' || o.fieldKind === 'nullable-number';
        if (numeric) {
          return numberComparison(d, o.column, op, Number(value), isNullable(o));
        }
        if (typeof value === 'boolean')
          return leaf(d.textCompare(o.column, op, String(value)), isNullable(o));
        if (typeof value === 'number') {
          // Number(text) against the number; a datetime field never is a number.
          return o.fieldKind === 'datetime' ? NEVER : SUPERSET;
        }
        if (!DATE_LIKE.test(value)) return leaf(d.textCompare(o.column, op, value), isNullable(o));
        if (o.fieldKind !== 'datetime') return SUPERSET;
        // Both ISO dates: compared as instants; the column holds canonical instants, which order as text.
        const instant = Date.parse(value);
        if (Number.isNaN(instant)) return NEVER;
        const canonical = canonicalInstant(instant);
        return canonical === undefined
          ? SUPERSET
          : exactly(sql`(${o.column} ${sql.raw(op)} ${d.text(canonical)})`);
      }
      case 'json': {
        if (typeof value === 'boolean') {
          return or(
            numberComparison(d, d.numberAt(o), op, value ? 1 : 0),
            leaf(sql`(${d.isText(o)} AND ${d.textCompare(d.textAt(o), op, String(value))})`),
          );
        }
        if (typeof value === 'number') {
          return or(numberComparison(d, d.numberAt(o), op, value), {
            sql: leaf(d.isText(o)).sql,
            exact: false,
          });
        }
        const numbers = numberComparison(d, d.numberAt(o), op, Number(value));
        const texts = DATE_LIKE.test(value)
          ? { sql: leaf(d.isText(o)).sql, exact: false }
          : leaf(sql`(${d.isText(o)} AND ${d.textCompare(d.textAt(o), op, value)})`);
        return or(numbers, texts);
      }
    }
  }

  private roboqlContains(o: Operand, value: Value): Predicate {
    const { d } = this;
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'missing':
      case 'object':
        return NEVER;
      case 'tags':
        if (typeof value === 'string') return d.tagsHave(o, value);
        // equals(tag, number) is Number(tag) === number.
        return typeof value === 'number' ? SUPERSET : NEVER;
      case 'column':
        if (o.fieldKind === 'number' || o.fieldKind === 'nullable-number' || typeof value !== 'string')
          return NEVER;
        return leaf(d.contains(o.column, value), isNullable(o));
      case 'json':
        return {
          sql:
            typeof value === 'string'
              ? leaf(
                  sql`(${d.isType(o, ['array'])} OR (${d.isText(o)} AND ${d.contains(d.textAt(o), value)}))`,
                ).sql
              : leaf(d.isType(o, ['array'])).sql,
          exact: false,
        };
    }
  }

  /** LIKE on two strings (RoboQL and conditions agree). */
  private likeOf(o: Operand, value: Value): Predicate {
    if (typeof value !== 'string') return o.kind === 'opaque' ? SUPERSET : NEVER;
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'column':
        return o.fieldKind === 'text' || o.fieldKind === 'nullable-text' || o.fieldKind === 'datetime'
          ? leaf(this.d.like(o.column, value), isNullable(o))
          : NEVER;
      case 'json':
        return leaf(sql`(${this.d.isText(o)} AND ${this.d.like(this.d.textAt(o), value)})`);
      default:
        return NEVER;
    }
  }

  // Condition trees (src/domain/query-condition.ts's matchesCondition).

  private condition(node: Condition | ConditionGroup): Predicate {
    if (isConditionGroup(node)) {
      const parts = node.conditions.map((child) => this.condition(child));
      if (node.operator === 'AND') return and(...parts);
      if (node.operator === 'OR') return or(...parts);
      return not(or(...parts));
    }
    return this.conditionLeaf(this.field(node.field), node.comparator, node.value ?? null);
  }

  private isPresent(o: Operand): Predicate {
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'missing':
        return NEVER;
      case 'object':
      case 'tags':
        return ALWAYS;
      case 'column':
        return o.fieldKind === 'nullable-text' || o.fieldKind === 'nullable-number'
          ? exactly(sql`(${o.column} IS NOT NULL)`)
          : ALWAYS;
      case 'json':
        return not(leaf(this.d.isNullOrMissing(o)));
    }
  }

  private conditionLeaf(o: Operand, comparator: Comparator, value: Value): Predicate {
    const { d } = this;
    if (comparator === 'IS_NULL' || comparator === 'NOT_EXISTS')
      return o.kind === 'opaque' ? SUPERSET : not(this.isPresent(o));
    if (comparator === 'IS_NOT_NULL' || comparator === 'EXISTS') return this.isPresent(o);
    const present = this.isPresent(o);
    const orderOp = ORDER_OPS[comparator];
    switch (o.kind) {
      case 'opaque':
        return SUPERSET;
      case 'missing':
        return NEVER;
      case 'object':
        return comparator === 'NOT_EQUALS' ? ALWAYS : NEVER;
      case 'tags':
        if (comparator === 'NOT_EQUALS') return ALWAYS;
        if (comparator === 'CONTAINS') return typeof value === 'string' ? d.tagsHave(o, value) : NEVER;
        if (comparator === 'NOT_CONTAINS')
          return typeof value === 'string' ? not(d.tagsHave(o, value)) : ALWAYS;
        return NEVER;
      case 'column': {
        if (o.fieldKind === 'datetime') return this.conditionDatetime(o.column, comparator, value);
        if (o.fieldKind === 'number' || o.fieldKind === 'nullable-number') {
          if (comparator === 'NOT_EQUALS' && (value === null || typeof value === 'string')) return present;
          if (typeof value !== 'number' && typeof value !== 'boolean') return NEVER;
          const n = typeof value === 'boolean' ? Number(value) : value;
          if (comparator === 'EQUALS') return leaf(sql`(${o.column} = ${d.number(n)})`, isNullable(o));
          if (comparator === 'NOT_EQUALS') return leaf(sql`(${o.column} <> ${d.number(n)})`, isNullable(o));
          if (orderOp) return leaf(sql`(${o.column} ${sql.raw(orderOp)} ${d.number(n)})`, isNullable(o));
          return NEVER;
        }
        // A text column.
        if (value === null) return comparator === 'NOT_EQUALS' ? present : NEVER;
        if (typeof value !== 'string') {
          // The record's text is converted to the value's type first (int(…), float(…)): SQL cannot.
          return comparator === 'EQUALS' || comparator === 'NOT_EQUALS' || orderOp
            ? and(present, SUPERSET)
            : NEVER;
        }
        return this.textComparison(o.column, isNullable(o), comparator, value);
      }
      case 'json': {
        if (value === null) {
          if (comparator === 'NOT_EQUALS') return present;
          // CONTAINS null: a list holding null.
          return comparator === 'CONTAINS' || comparator === 'NOT_CONTAINS'
            ? { sql: leaf(d.isType(o, ['array'])).sql, exact: false }
            : NEVER;
        }
        if (typeof value === 'string') {
          const isText = d.isText(o);
          switch (comparator) {
            case 'EQUALS':
              return d.textEquals(o, value);
            case 'NOT_EQUALS':
              return and(present, not(d.textEquals(o, value)));
            case 'CONTAINS':
              return or(
                leaf(sql`(${isText} AND ${d.contains(d.textAt(o), value)})`),
                leaf(d.listHasText(o, value)),
              );
            case 'NOT_CONTAINS':
              return or(
                leaf(sql`(${isText} AND NOT ${d.contains(d.textAt(o), value)})`),
                leaf(sql`(${d.isType(o, ['array'])} AND NOT ${d.listHasText(o, value)})`),
              );
            case 'BEGINS_WITH':
              return leaf(sql`(${isText} AND ${d.beginsWith(d.textAt(o), value)})`);
            case 'LIKE':
              return leaf(sql`(${isText} AND ${d.like(d.textAt(o), value)})`);
            case 'NOT_LIKE':
              return leaf(sql`(${isText} AND NOT ${d.like(d.textAt(o), value)})`);
            default:
              return orderOp
                ? leaf(sql`(${isText} AND ${d.textCompare(d.textAt(o), orderOp, value)})`)
                : NEVER;
          }
        }
        // A number or a boolean: texts are converted (int(…), float(…)), booleans are 0 and 1.
        const n = typeof value === 'boolean' ? Number(value) : value;
        const texts = { sql: leaf(d.isText(o)).sql, exact: false };
        const booleans = leaf(d.isType(o, ['true', 'false']));
        switch (comparator) {
          case 'EQUALS':
            return or(leaf(sql`(${d.numberAt(o)} = ${d.number(n)})`), booleans, texts);
          case 'NOT_EQUALS':
            return and(present, SUPERSET);
          case 'CONTAINS':
          case 'NOT_CONTAINS':
            return { sql: leaf(d.isType(o, ['array'])).sql, exact: false };
          default:
            return orderOp
              ? or(leaf(sql`(${d.numberAt(o)} ${sql.raw(orderOp)} ${d.number(n)})`), booleans, texts)
              : NEVER;
        }
      }
    }
  }

  private textComparison(column: Sql, nullable: boolean, comparator: Comparator, value: string): Predicate {
    const { d } = this;
    const orderOp = ORDER_OPS[comparator];
    switch (comparator) {
      case 'EQUALS':
        return leaf(sql`(${column} = ${d.text(value)})`, nullable);
      case 'NOT_EQUALS':
        return leaf(sql`(${column} <> ${d.text(value)})`, nullable);
      case 'CONTAINS':
        return leaf(d.contains(column, value), nullable);
      case 'NOT_CONTAINS':
        return leaf(sql`(NOT ${d.contains(column, value)})`, nullable);
      case 'BEGINS_WITH':
        return leaf(d.beginsWith(column, value), nullable);
      case 'LIKE':
        return leaf(d.like(column, value), nullable);
      case 'NOT_LIKE':
        return leaf(sql`(NOT ${d.like(column, value)})`, nullable);
      default:
        // The null tests were settled before: only the orderings are left.
        return orderOp ? leaf(d.textCompare(column, orderOp, value), nullable) : NEVER;
    }
  }

  /** A datetime field meets a string value as an instant with a zone; anything else matches nothing. */
  private conditionDatetime(column: Sql, comparator: Comparator, value: Value): Predicate {
    if (typeof value !== 'string') return comparator === 'NOT_EQUALS' ? ALWAYS : NEVER;
    const instant = parseAwareInstant(value);
    if (instant === undefined) return NEVER;
    const canonical = canonicalInstant(instant);
    if (canonical === undefined) return SUPERSET;
    const op = comparator === 'EQUALS' ? '=' : comparator === 'NOT_EQUALS' ? '<>' : ORDER_OPS[comparator];
    if (op === undefined) return NEVER;
    return exactly(sql`(${column} ${sql.raw(op)} ${this.d.text(canonical)})`);
  }
}

function targetEntity(query: PreparedQuery): QueryEntity {
  return query.target === 'datasets' ? 'dataset' : query.target === 'files' ? 'file' : 'topic';
}

/** Whether the sort can be pushed down: a plain column of the target's own. */
export function sortColumn(
  query: PreparedQuery,
): { column: Sql; isText: boolean; isNullable: boolean } | undefined {
  const { sort } = query;
  if (sort.entity !== targetEntity(query) || sort.path.length > 0) return undefined;
  const kind = sort.definition.kind;
  if (kind === 'tags' || kind === 'metadata') return undefined;
  return {
    column: sql.ref(`${ENTITY_ALIAS[sort.entity]}.${sort.definition.column}`),
    isText: kind === 'text' || kind === 'nullable-text',
    isNullable: kind === 'nullable-text' || kind === 'nullable-number',
  };
}
