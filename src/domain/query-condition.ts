import { UsageError } from './errors.js';
import { compareCodePoints, likeMatches } from './roboql.js';

export { compareCodePoints };

/**
 * The condition trees of a QuerySpecification (spec §2.11): a Condition compares one field of a record; a
 * ConditionGroup combines conditions (AND: all, OR: any, NOT: none).
 */
export const COMPARATORS = [
  'EQUALS',
  'NOT_EQUALS',
  'GREATER_THAN',
  'GREATER_THAN_OR_EQUAL',
  'LESS_THAN',
  'LESS_THAN_OR_EQUAL',
  'CONTAINS',
  'NOT_CONTAINS',
  'IS_NULL',
  'IS_NOT_NULL',
  'EXISTS',
  'NOT_EXISTS',
  'BEGINS_WITH',
  'LIKE',
  'NOT_LIKE',
] as const;
export type Comparator = (typeof COMPARATORS)[number];

export interface Condition {
  field: string;
  comparator: Comparator;
  value?: string | number | boolean | null;
}

export interface ConditionGroup {
  operator: 'AND' | 'OR' | 'NOT';
  conditions: (Condition | ConditionGroup)[];
}

export function isConditionGroup(node: Condition | ConditionGroup): node is ConditionGroup {
  return 'operator' in node;
}

/** Groups nested deeper than this are refused: every walk of a tree (checks, evaluators, SQL) recurses. */
export const MAX_CONDITION_DEPTH = 64;

/**
 * Checks a condition tree that came from outside (a request body), naming what is wrong: an unknown
 * comparator or operator, an empty group, a value that is not a string, number, boolean or null, groups
 * nested deeper than {@link MAX_CONDITION_DEPTH} (a request's tree would otherwise overflow the stack: a 500).
 */
export function checkConditionTree(
  node: unknown,
  where = 'condition',
  depth = 0,
): Condition | ConditionGroup {
  const fail = (reason: string): never => {
    throw new UsageError(`${where}: ${reason}`, 'E_INVALID_INPUT');
  };
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return fail('not an object');
  const record = node as Record<string, unknown>;
  if ('operator' in record || 'conditions' in record) {
    if (depth >= MAX_CONDITION_DEPTH) return fail(`groups nested more than ${MAX_CONDITION_DEPTH} deep`);
    const { operator, conditions } = record;
    if (operator !== 'AND' && operator !== 'OR' && operator !== 'NOT') {
      return fail(`unknown operator ${JSON.stringify(operator)} (AND, OR or NOT)`);
    }
    if (!Array.isArray(conditions) || conditions.length === 0) {
      return fail(`${operator} needs a non-empty list of conditions`);
    }
    conditions.forEach((child, index) =>
      checkConditionTree(child, `${where}.conditions[${index}]`, depth + 1),
    );
    return record as unknown as ConditionGroup;
  }
  const { field, comparator, value } = record;
  if (typeof field !== 'string' || field === '') return fail('a condition needs a field name');
  if (!(COMPARATORS as readonly unknown[]).includes(comparator)) {
    return fail(`unknown comparator ${JSON.stringify(comparator)} (one of ${COMPARATORS.join(', ')})`);
  }
  if (value !== undefined && value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
    return fail(`the value of "${field}" must be a string, a number, a boolean or null`);
  }
  if (typeof value === 'number' && !Number.isFinite(value))
    return fail(`the value of "${field}" is not finite`);
  return record as unknown as Condition;
}

/** Reads a field of a record for a condition: datetime fields as `Date`, missing as undefined. */
export type ConditionReader = (field: string) => unknown;

/**
 * The reference evaluator of condition trees (spec §2.11, the SDK's `Condition.matches`), with Python's
 * comparison rules: booleans are the integers 0 and 1; comparing a string with a number orders nothing
 * (false) and is never equal; a record string meets a non-string value by being converted to the value's
 * type first (an integral value: `int(…)`, which refuses "1.5"; another number: `float(…)`; a boolean:
 * `int(…)` too), a failed conversion matching nothing; a datetime field meets a string value parsed as an
 * ISO-8601 instant with a time zone, anything else (a naive time, a date alone, garbage) matching nothing.
 * Strings order by code point. LIKE/NOT_LIKE are SQL LIKE (`%`, `_`, case-sensitive) on two strings.
 * JavaScript cannot tell `2` from `2.0`: an integral number is taken as an int.
 */
export function matchesCondition(node: Condition | ConditionGroup, read: ConditionReader): boolean {
  if (isConditionGroup(node)) {
    switch (node.operator) {
      case 'AND':
        return node.conditions.every((child) => matchesCondition(child, read));
      case 'OR':
        return node.conditions.some((child) => matchesCondition(child, read));
      case 'NOT':
        return !node.conditions.some((child) => matchesCondition(child, read));
    }
  }
  const actual = read(node.field);
  const isNull = actual === undefined || actual === null;
  switch (node.comparator) {
    case 'IS_NULL':
    case 'NOT_EXISTS':
      return isNull;
    case 'IS_NOT_NULL':
    case 'EXISTS':
      return !isNull;
    default:
      if (isNull) return false;
  }
  const value = node.value ?? null;
  let record: unknown = actual;
  if (typeof record === 'string' && (typeof value === 'number' || typeof value === 'boolean')) {
    const converted =
      typeof value === 'boolean' || Number.isInteger(value) ? pythonInt(record) : pythonFloat(record);
    if (converted === undefined) return false;
    record = converted;
  }
  let expected: unknown = value;
  if (record instanceof Date) {
    if (typeof value === 'string') {
      const instant = parseAwareInstant(value);
      if (instant === undefined) return false;
      record = record.getTime();
      expected = instant;
    }
  }
  switch (node.comparator) {
    case 'EQUALS':
      return pythonEquals(record, expected);
    case 'NOT_EQUALS':
      return !pythonEquals(record, expected);
    case 'GREATER_THAN': {
      const order = pythonCompare(record, expected);
      return order !== undefined && order > 0;
    }
    case 'GREATER_THAN_OR_EQUAL': {
      const order = pythonCompare(record, expected);
      return order !== undefined && order >= 0;
    }
    case 'LESS_THAN': {
      const order = pythonCompare(record, expected);
      return order !== undefined && order < 0;
    }
    case 'LESS_THAN_OR_EQUAL': {
      const order = pythonCompare(record, expected);
      return order !== undefined && order <= 0;
    }
    case 'CONTAINS':
    case 'NOT_CONTAINS': {
      let contains: boolean;
      if (Array.isArray(record)) contains = record.some((item) => pythonEquals(item, expected));
      else if (typeof record === 'string' && typeof expected === 'string')
        contains = record.includes(expected);
      else return false;
      return node.comparator === 'CONTAINS' ? contains : !contains;
    }
    case 'BEGINS_WITH':
      return typeof record === 'string' && typeof expected === 'string' && record.startsWith(expected);
    case 'LIKE':
    case 'NOT_LIKE': {
      if (typeof record !== 'string' || typeof expected !== 'string') return false;
      const isLike = likeMatches(expected, record);
      return node.comparator === 'LIKE' ? isLike : !isLike;
    }
    default:
      return false;
  }
}

/** Python's `int(str)`: optional sign and surrounding whitespace, digits with single underscores. */
export function pythonInt(text: string): number | undefined {
  return /^\s*[-+]?\d+(_\d+)*\s*$/.test(text) ? Number(text.replace(/_/g, '')) : undefined;
}

/** Python's `float(str)` for decimal notation (and inf/nan). */
export function pythonFloat(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^[-+]?(inf|infinity)$/i.test(trimmed)) return trimmed.startsWith('-') ? -Infinity : Infinity;
  if (/^[-+]?nan$/i.test(trimmed)) return NaN;
  if (!/^[-+]?(\d+(_\d+)*(\.(\d+(_\d+)*)?)?|\.\d+(_\d+)*)([eE][-+]?\d+(_\d+)*)?$/.test(trimmed))
    return undefined;
  return Number(trimmed.replace(/_/g, ''));
}

/** An ISO-8601 date and time with a zone (`Z` or an offset) as epoch milliseconds; undefined otherwise. */
export function parseAwareInstant(text: string): number | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[-+]\d{2}(?::?\d{2})?)$/i.exec(
    text,
  );
  if (!match) return undefined;
  const [, date, time, zone = ''] = match;
  const offset = /^[-+]\d{2}$/.test(zone)
    ? `${zone}:00`
    : /^[-+]\d{4}$/.test(zone)
      ? `${zone.slice(0, 3)}:${zone.slice(3)}`
      : zone.toUpperCase();
  const instant = Date.parse(`${date}T${time}${offset}`);
  return Number.isNaN(instant) ? undefined : instant;
}

function asPythonNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

/** Python's `==` on JSON values (and numbers standing for instants). */
function pythonEquals(a: unknown, b: unknown): boolean {
  const x = asPythonNumber(a);
  const y = asPythonNumber(b);
  if (x !== undefined || y !== undefined) return x !== undefined && y !== undefined && x === y;
  if (a === null || b === null) return a === b;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Python's ordering: numbers (booleans among them) with numbers, strings by code point; else none. */
function pythonCompare(a: unknown, b: unknown): number | undefined {
  const x = asPythonNumber(a);
  const y = asPythonNumber(b);
  if (x !== undefined && y !== undefined) {
    if (Number.isNaN(x) || Number.isNaN(y)) return Number.NaN;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  return undefined;
}
