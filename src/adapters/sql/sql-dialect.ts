import { type RawBuilder, sql } from 'kysely';
import type { FieldRef, QueryEntity } from '../../domain/query-fields.js';
import type { Dialect } from './database.js';

/**
 * The pieces the query compiler (query-compiler.ts) builds predicates from: two-valued predicates marked
 * exact or superset, what a field is to SQL, and the SQL of each dialect.
 */
export type Sql = RawBuilder<unknown>;

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

export const TRUE: Sql = sql`(1=1)`;
export const FALSE: Sql = sql`(1=0)`;
export const exactly = (text: Sql): Predicate => ({ sql: text, exact: true });
export const ALWAYS: Predicate = exactly(TRUE);
export const NEVER: Predicate = exactly(FALSE);
export const SUPERSET: Predicate = { sql: TRUE, exact: false };

export function and(...parts: Predicate[]): Predicate {
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

export function or(...parts: Predicate[]): Predicate {
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

export function not(part: Predicate): Predicate {
  if (!part.exact) return SUPERSET;
  if (part.sql === TRUE) return NEVER;
  if (part.sql === FALSE) return ALWAYS;
  return exactly(sql`(NOT ${part.sql})`);
}

/** A leaf: its SQL may be NULL (a NULL column): folded into false. */
export function leaf(text: Sql, isNullable = true): Predicate {
  if (!isNullable) return exactly(text);
  return exactly(sql`COALESCE(${text}, ${FALSE})`);
}

/** What a field is to SQL. */
export type Operand =
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

export const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function operand(ref: FieldRef): Operand {
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
export function isNullable(o: Extract<Operand, { kind: 'column' }>): boolean {
  return o.fieldKind === 'nullable-text' || o.fieldKind === 'nullable-number';
}

export type OrderOp = '<' | '<=' | '>' | '>=';
export const ORDER_OPS: Record<string, OrderOp> = {
  GREATER_THAN: '>',
  GREATER_THAN_OR_EQUAL: '>=',
  LESS_THAN: '<',
  LESS_THAN_OR_EQUAL: '<=',
};

export const DATE_LIKE = /^\d{4}-\d{2}-\d{2}/;

/** A canonical instant (`toISOString`), when it orders as text (years 0000–9999). */
export function canonicalInstant(instant: number): string | undefined {
  if (Number.isNaN(instant)) return undefined;
  const text = new Date(instant).toISOString();
  return /^\d{4}-/.test(text) ? text : undefined;
}

/**
 * `expression op n` for a number `n` that may be NaN (nothing compares) or infinite (everything or nothing
 * that is a number).
 */
export function numberComparison(
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
export class DialectSql {
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

export type JsonOperand = Extract<Operand, { kind: 'json' }>;

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
