import { describe, expect, it } from 'vitest';
import {
  QuerySyntaxError,
  evaluateQuery,
  likeMatches,
  parseQuery,
  readPath,
} from '../../src/domain/roboql.js';

const file = {
  dataset_id: 'ds_1',
  path: 'logs/drive-01.log',
  name: 'drive-01.log',
  size: 1500,
  created: '2026-11-01T08:00:00Z',
  tags: ['lidar', 'night'],
  metadata: { sensor: { kind: 'lidar', hz: 10 }, passed: true },
};
const read = (field: string) =>
  field.startsWith('metadata.')
    ? readPath(file.metadata, field.slice(9))
    : (file as Record<string, unknown>)[field];
const matches = (query: string) => evaluateQuery(parseQuery(query), read);

describe('RoboQL subset', () => {
  it.each([
    ['path = "logs/drive-01.log"', true],
    ["name = 'drive-01.log'", true],
    ['dataset_id != "ds_1"', false],
    ['size > 1000', true],
    ['size <= 1000', false],
    ['size >= 1500 AND size < 1501', true],
    ['created > "2026-10-31"', true],
    ['created < "2026-11-01T07:00:00Z"', false],
    ['path LIKE "logs/%.log"', true],
    ['path LIKE "%drive-0_.log"', true],
    ['path LIKE "drive%"', false],
    ['tags CONTAINS "lidar"', true],
    ['tags CONTAINS "day"', false],
    ['name IN ("a.log", "drive-01.log")', true],
    ['metadata.sensor.kind = "lidar"', true],
    ['metadata.sensor.hz >= 10', true],
    ['metadata.passed = true', true],
    ['metadata.missing = null', true],
    ['metadata.missing = "x"', false],
    ['NOT tags CONTAINS "day"', true],
    ['size > 2000 OR tags CONTAINS "night"', true],
    ['(size > 2000 OR size < 100) AND name = "drive-01.log"', false],
    ['not (size > 2000) and NAME = "x" or path like "%.log"', true],
    ['not (size > 2000) and NAME = "x"', false],
  ])('%s → %s', (query, expected) => {
    // Keywords are case-insensitive; field names are not (NAME is no field).
    expect(matches(query)).toBe(expected);
  });

  it('binds AND tighter than OR', () => {
    expect(matches('name = "x" AND size > 0 OR size > 1000')).toBe(true);
    expect(matches('name = "x" AND (size > 0 OR size > 1000)')).toBe(false);
  });

  it.each([
    ['path =', 6, 'expected a value'],
    ['path = "open', 7, 'unterminated string'],
    ['= "x"', 0, 'expected a field name'],
    ['path ~ "x"', 5, 'unexpected character "~"'],
    ['path "x"', 5, 'expected an operator'],
    ['(path = "x"', 11, 'expected ")"'],
    ['path = "x" size = 1', 11, 'expected AND, OR or the end of the query'],
    ['name IN "a"', 8, '"(" after IN'],
    ['name IN ("a" "b")', 13, 'expected "," or ")"'],
    ['AND = 1', 0, 'expected a field name'],
    ['size ! 1', 5, 'unknown operator "!"'],
  ])('rejects %j at position %i', (query, position, message) => {
    let error: unknown;
    try {
      parseQuery(query);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QuerySyntaxError);
    expect((error as QuerySyntaxError).position).toBe(position);
    expect((error as QuerySyntaxError).message).toContain(message);
    expect((error as QuerySyntaxError).message).toContain(`\n  ${' '.repeat(position)}^`);
    expect((error as QuerySyntaxError).code).toBe('E_INVALID_INPUT');
  });
});

describe('RoboQL string order', () => {
  it('orders strings by code point, as the SQL stores do', () => {
    const read = (field: string) => (field === 'x' ? '\uff5e' : undefined);
    // U+FF5E < U+1F600 by code point; by UTF-16 unit (0xFF5E > 0xD83D) it would be the other way.
    expect(evaluateQuery(parseQuery('x < "😀"'), read)).toBe(true);
    expect(evaluateQuery(parseQuery('x >= "😀"'), read)).toBe(false);
  });
});

describe('likeMatches', () => {
  /** SQL LIKE as a regex: right on small inputs, exponential on `%a%a…%b` (why it is not used). */
  const byRegex = (pattern: string, value: string) =>
    new RegExp(
      `^${Array.from(pattern)
        .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('')}$`,
      'su',
    ).test(value);

  it('agrees with SQL LIKE on every small pattern and value', () => {
    const words = (alphabet: string, max: number): string[] => {
      let all = [''];
      let level = [''];
      for (let length = 1; length <= max; length += 1) {
        level = level.flatMap((word) => Array.from(alphabet).map((c) => word + c));
        all = all.concat(level);
      }
      return all;
    };
    const values = words('ab\n', 4).concat(['é', 'aé', '😀', 'a😀b']);
    for (const pattern of words('ab%_', 4).concat(['_', '%😀%', 'a_b', '.*', '(a'])) {
      for (const value of values) {
        expect(likeMatches(pattern, value), `${JSON.stringify(pattern)} ~ ${JSON.stringify(value)}`).toBe(
          byRegex(pattern, value),
        );
      }
    }
  });

  it('answers a pattern that would make a regex backtrack for hours', () => {
    expect(likeMatches(`${'%a'.repeat(20)}%b`, 'a'.repeat(10_000))).toBe(false);
    expect(likeMatches(`${'%a'.repeat(20)}%`, 'a'.repeat(10_000))).toBe(true);
  });
});
