import { sql } from 'kysely';
import type { Comparator, Condition, ConditionGroup } from '../../domain/query-condition.js';
import { isConditionGroup, parseAwareInstant } from '../../domain/query-condition.js';
import type { QueryEntity } from '../../domain/query-fields.js';
import type { QueryNode, Value } from '../../domain/roboql.js';
import type { PreparedQuery } from '../../domain/store-query.js';
import type { Dialect } from './database.js';
import {
  type Sql,
  type Predicate,
  type Operand,
  type OrderOp,
  ENTITY_ALIAS,
  exactly,
  ALWAYS,
  NEVER,
  SUPERSET,
  and,
  or,
  not,
  leaf,
  operand,
  isNullable,
  ORDER_OPS,
  DATE_LIKE,
  canonicalInstant,
  numberComparison,
  DialectSql,
} from './sql-dialect.js';

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
