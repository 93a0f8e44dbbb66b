import { UsageError } from './errors.js';

/**
 * A subset of RoboQL, the query language of file and topic selectors (spec §6.2):
 *
 *   query      := or
 *   or         := and ("OR" and)*
 *   and        := not ("AND" not)*
 *   not        := "NOT" not | "(" or ")" | comparison
 *   comparison := field op value | field "IN" "(" value ("," value)* ")" | field "CONTAINS" value
 *   op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "LIKE"
 *   field      := name ("." name)*          e.g. path, size, metadata.sensor.kind
 *   value      := "string" | 'string' | number | true | false | null
 *
 * Keywords are case-insensitive. LIKE matches the whole value, with % for any run of characters and _ for
 * one. CONTAINS tests a list (tags) for a member.
 */

export type Value = string | number | boolean | null;

export type QueryNode =
  | { kind: 'and' | 'or'; left: QueryNode; right: QueryNode }
  | { kind: 'not'; operand: QueryNode }
  | { kind: 'compare'; field: string; op: '=' | '!=' | '<' | '<=' | '>' | '>=' | 'LIKE'; value: Value }
  | { kind: 'in'; field: string; values: Value[] }
  | { kind: 'contains'; field: string; value: Value };

interface Token {
  type: 'word' | 'string' | 'number' | 'op' | 'lparen' | 'rparen' | 'comma' | 'end';
  text: string;
  position: number;
}

export class QuerySyntaxError extends UsageError {
  constructor(
    readonly query: string,
    readonly position: number,
    reason: string,
  ) {
    super(
      `query: ${reason} at position ${position + 1}:\n  ${query}\n  ${' '.repeat(position)}^`,
      'E_INVALID_INPUT',
    );
  }
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const char = query[i] ?? '';
    if (/\s/.test(char)) {
      i += 1;
      continue;
    }
    const start = i;
    if (char === '(' || char === ')' || char === ',') {
      tokens.push({
        type: char === '(' ? 'lparen' : char === ')' ? 'rparen' : 'comma',
        text: char,
        position: start,
      });
      i += 1;
    } else if (char === '"' || char === "'") {
      let text = '';
      i += 1;
      while (i < query.length && query[i] !== char) {
        if (query[i] === '\\' && i + 1 < query.length) i += 1;
        text += query[i] ?? '';
        i += 1;
      }
      if (i >= query.length) throw new QuerySyntaxError(query, start, 'unterminated string');
      i += 1;
      tokens.push({ type: 'string', text, position: start });
    } else if (/[-\d]/.test(char) && /^-?\d/.test(query.slice(i, i + 2))) {
      const match = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(query.slice(i));
      const text = match?.[0] ?? char;
      tokens.push({ type: 'number', text, position: start });
      i += text.length;
    } else if (/[=!<>]/.test(char)) {
      const two = query.slice(i, i + 2);
      const text = ['!=', '<=', '>='].includes(two) ? two : char;
      if (text === '!') throw new QuerySyntaxError(query, start, 'unknown operator "!"');
      tokens.push({ type: 'op', text, position: start });
      i += text.length;
    } else if (/[A-Za-z_]/.test(char)) {
      const match = /^[A-Za-z_][\w.]*/.exec(query.slice(i));
      const text = match?.[0] ?? char;
      tokens.push({ type: 'word', text, position: start });
      i += text.length;
    } else {
      throw new QuerySyntaxError(query, start, `unexpected character "${char}"`);
    }
  }
  tokens.push({ type: 'end', text: '', position: query.length });
  return tokens;
}

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'LIKE', 'IN', 'CONTAINS', 'TRUE', 'FALSE', 'NULL']);

/** NOTs and parentheses nested deeper than this are a syntax error. */
export const MAX_QUERY_NESTING = 64;
/** Comparisons in one query, at most. */
export const MAX_QUERY_TERMS = 256;

/** Parses a query, or throws a QuerySyntaxError that points at where it went wrong. */
export function parseQuery(query: string): QueryNode {
  const tokens = tokenize(query);
  let index = 0;
  const peek = (): Token => tokens[index] ?? { type: 'end', text: '', position: query.length };
  const next = (): Token => {
    const token = peek();
    index += 1;
    return token;
  };
  const isKeyword = (token: Token, word: string): boolean =>
    token.type === 'word' && token.text.toUpperCase() === word;
  const fail = (token: Token, expected: string): never => {
    const found = token.type === 'end' ? 'the end of the query' : `"${token.text}"`;
    throw new QuerySyntaxError(query, token.position, `expected ${expected}, found ${found}`);
  };

  const value = (): Value => {
    const token = next();
    if (token.type === 'string') return token.text;
    if (token.type === 'number') return Number(token.text);
    if (isKeyword(token, 'TRUE')) return true;
    if (isKeyword(token, 'FALSE')) return false;
    if (isKeyword(token, 'NULL')) return null;
    return fail(token, 'a value (a quoted string, a number, true, false or null)');
  };

  // AND/OR chains make trees as deep as they are long (SQLite refuses expressions deeper than 1000).
  let terms = 0;
  const comparison = (): QueryNode => {
    terms += 1;
    if (terms > MAX_QUERY_TERMS) fail(peek(), `at most ${MAX_QUERY_TERMS} comparisons`);
    const fieldToken = next();
    if (fieldToken.type !== 'word' || KEYWORDS.has(fieldToken.text.toUpperCase())) {
      return fail(fieldToken, 'a field name such as path, size or metadata.key');
    }
    const field = fieldToken.text;
    const operator = next();
    if (operator.type === 'op') {
      return {
        kind: 'compare',
        field,
        op: operator.text as '=' | '!=' | '<' | '<=' | '>' | '>=',
        value: value(),
      };
    }
    if (isKeyword(operator, 'LIKE')) return { kind: 'compare', field, op: 'LIKE', value: value() };
    if (isKeyword(operator, 'CONTAINS')) return { kind: 'contains', field, value: value() };
    if (isKeyword(operator, 'IN')) {
      if (next().type !== 'lparen') fail(tokens[index - 1] ?? peek(), '"(" after IN');
      const values = [value()];
      while (peek().type === 'comma') {
        next();
        values.push(value());
      }
      const close = next();
      if (close.type !== 'rparen') fail(close, '"," or ")"');
      return { kind: 'in', field, values };
    }
    return fail(operator, 'an operator (=, !=, <, <=, >, >=, LIKE, IN, CONTAINS)');
  };

  // NOTs and parentheses nest the parser (and every walk of the tree): a request's query must not overflow it.
  let nesting = 0;
  const nested = <T>(parse: () => T): T => {
    if (nesting >= MAX_QUERY_NESTING) {
      fail(peek(), `at most ${MAX_QUERY_NESTING} nested NOTs and parentheses`);
    }
    nesting += 1;
    try {
      return parse();
    } finally {
      nesting -= 1;
    }
  };

  const not = (): QueryNode => {
    if (isKeyword(peek(), 'NOT')) {
      next();
      return { kind: 'not', operand: nested(not) };
    }
    if (peek().type === 'lparen') {
      next();
      const inner = nested(or);
      const close = next();
      if (close.type !== 'rparen') fail(close, '")"');
      return inner;
    }
    return comparison();
  };

  const and = (): QueryNode => {
    let left = not();
    while (isKeyword(peek(), 'AND')) {
      next();
      left = { kind: 'and', left, right: not() };
    }
    return left;
  };

  const or = (): QueryNode => {
    let left = and();
    while (isKeyword(peek(), 'OR')) {
      next();
      left = { kind: 'or', left, right: and() };
    }
    return left;
  };

  const tree = or();
  if (peek().type !== 'end') fail(peek(), 'AND, OR or the end of the query');
  return tree;
}

/** Reads a field of a record: a name, or a dotted path into an object such as metadata.a.b. */
export type FieldReader = (field: string) => unknown;

export function evaluateQuery(node: QueryNode, read: FieldReader): boolean {
  switch (node.kind) {
    case 'and':
      return evaluateQuery(node.left, read) && evaluateQuery(node.right, read);
    case 'or':
      return evaluateQuery(node.left, read) || evaluateQuery(node.right, read);
    case 'not':
      return !evaluateQuery(node.operand, read);
    case 'in':
      return node.values.some((candidate) => equals(read(node.field), candidate));
    case 'contains': {
      const actual = read(node.field);
      if (Array.isArray(actual)) return actual.some((item) => equals(item, node.value));
      return typeof actual === 'string' && typeof node.value === 'string' && actual.includes(node.value);
    }
    case 'compare':
      return compare(read(node.field), node.op, node.value);
  }
}

function equals(actual: unknown, expected: Value): boolean {
  if (actual === undefined) return expected === null;
  if (typeof actual === 'number' && typeof expected === 'string' && expected.trim() !== '')
    return actual === Number(expected);
  if (typeof actual === 'string' && typeof expected === 'number') return Number(actual) === expected;
  return actual === expected;
}

function compare(actual: unknown, op: string, expected: Value): boolean {
  if (op === '=') return equals(actual, expected);
  if (op === '!=') return !equals(actual, expected);
  if (op === 'LIKE') {
    if (typeof actual !== 'string' || typeof expected !== 'string') return false;
    return likeMatches(expected, actual);
  }
  if (actual === undefined || actual === null || expected === null) return false;
  const [a, b] = orderable(actual, expected);
  if (a === undefined || b === undefined) return false;
  // Strings by code point (as SQL's binary collations order them), not by UTF-16 unit.
  const order =
    typeof a === 'string' && typeof b === 'string'
      ? compareCodePoints(a, b)
      : a < b
        ? -1
        : a > b
          ? 1
          : a === b
            ? 0
            : NaN;
  switch (op) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    default:
      return order >= 0;
  }
}

/** Orders strings by Unicode code point (as UTF-8 bytes order, SQLite's BINARY and PostgreSQL's "C"). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  while (i < a.length && i < b.length) {
    const x = a.codePointAt(i) ?? 0;
    const y = b.codePointAt(i) ?? 0;
    if (x !== y) return x < y ? -1 : 1;
    i += x > 0xffff ? 2 : 1;
  }
  return a.length - i === 0 ? (b.length - i === 0 ? 0 : -1) : 1;
}

/** Numbers compare as numbers; ISO datetimes as instants; other strings as strings. */
function orderable(
  actual: unknown,
  expected: Value,
): [number | string | undefined, number | string | undefined] {
  if (typeof actual === 'number') return [actual, typeof expected === 'number' ? expected : Number(expected)];
  if (typeof actual === 'string') {
    const isDate =
      /^\d{4}-\d{2}-\d{2}/.test(actual) &&
      typeof expected === 'string' &&
      /^\d{4}-\d{2}-\d{2}/.test(expected);
    if (isDate) return [Date.parse(actual), Date.parse(expected)];
    if (typeof expected === 'number') return [Number(actual), expected];
    return [actual, String(expected)];
  }
  return [undefined, undefined];
}

/**
 * SQL LIKE: `%` any run of characters, `_` one character (code point, as in SQL), everything else itself,
 * case-sensitive, the whole value. Matched greedily with one backtrack point, in O(value × pattern) time:
 * a regex would backtrack exponentially on `%a%a%a…%b` (a request's pattern against a value a caller chose).
 */
export function likeMatches(pattern: string, value: string): boolean {
  const p = Array.from(pattern);
  const v = Array.from(value);
  let pi = 0;
  let vi = 0;
  let star = -1;
  let resume = 0;
  while (vi < v.length) {
    const token = p[pi];
    if (token === '%') {
      star = pi;
      pi += 1;
      resume = vi;
    } else if (token !== undefined && (token === '_' || token === v[vi])) {
      pi += 1;
      vi += 1;
    } else if (star !== -1) {
      pi = star + 1;
      resume += 1;
      vi = resume;
    } else {
      return false;
    }
  }
  while (p[pi] === '%') pi += 1;
  return pi === p.length;
}

/** Reads a dotted path (metadata.a.b) from an object. */
export function readPath(root: unknown, dottedPath: string): unknown {
  let node = root;
  for (const part of dottedPath.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
