import { describe, expect, it } from 'vitest';
import {
  type Comparator,
  type Condition,
  type ConditionGroup,
  checkConditionTree,
  compareCodePoints,
  matchesCondition,
  parseAwareInstant,
  pythonFloat,
  pythonInt,
} from '../../src/domain/query-condition.js';
import { resolveField, readField } from '../../src/domain/query-fields.js';

const record: Record<string, unknown> = {
  name: 'drive-01.log',
  empty: '',
  size: 1500,
  zero: 0,
  count_text: '12',
  float_text: '7.5',
  bool_text: 'true',
  one_text: '1',
  yes: true,
  no: false,
  nothing: null,
  tags: ['lidar', 'night', 3, null],
  nested: { kind: 'lidar' },
  created: new Date('2026-11-01T08:00:00.000Z'),
  unicode: 'ü😀',
};
const read = (field: string): unknown => {
  let node: unknown = record;
  for (const key of field.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || node instanceof Date)
      return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
};
const matches = (field: string, comparator: Comparator, value?: Condition['value']) =>
  matchesCondition(value === undefined ? { field, comparator } : { field, comparator, value }, read);

describe('matchesCondition (spec §2.11)', () => {
  it.each<[string, Comparator, Condition['value'] | undefined, boolean]>([
    // Rule 2: null and missing.
    ['nothing', 'IS_NULL', undefined, true],
    ['missing', 'IS_NULL', undefined, true],
    ['missing.deeper', 'NOT_EXISTS', undefined, true],
    ['name.deeper', 'IS_NULL', undefined, true],
    ['name', 'IS_NULL', undefined, false],
    ['zero', 'IS_NOT_NULL', undefined, true],
    ['empty', 'EXISTS', undefined, true],
    ['nothing', 'EXISTS', undefined, false],
    // Rule 3: anything else on null or missing is false, NOT_EQUALS and NOT_CONTAINS too.
    ['nothing', 'EQUALS', null, false],
    ['nothing', 'NOT_EQUALS', 'x', false],
    ['missing', 'NOT_CONTAINS', 'x', false],
    ['missing', 'NOT_LIKE', 'x', false],
    // Rule 5: the usual comparisons.
    ['name', 'EQUALS', 'drive-01.log', true],
    ['name', 'NOT_EQUALS', 'drive-01.log', false],
    ['name', 'NOT_EQUALS', null, true],
    ['name', 'EQUALS', null, false],
    ['size', 'GREATER_THAN', 1000, true],
    ['size', 'GREATER_THAN_OR_EQUAL', 1500, true],
    ['size', 'LESS_THAN', 1500, false],
    ['size', 'LESS_THAN_OR_EQUAL', 1500, true],
    ['name', 'GREATER_THAN', 'drive', true],
    ['name', 'LESS_THAN', 'e', true],
    // A number and a string: never equal, never ordered (Python raises, the condition is false).
    ['size', 'EQUALS', '1500', false],
    ['size', 'NOT_EQUALS', '1500', true],
    ['size', 'GREATER_THAN', '1000', false],
    // Booleans are 0 and 1.
    ['yes', 'EQUALS', true, true],
    ['yes', 'EQUALS', 1, true],
    ['no', 'EQUALS', 0, true],
    ['yes', 'GREATER_THAN', false, true],
    ['zero', 'EQUALS', false, true],
    // Rule 4: a record string meets a number through int() or float().
    ['count_text', 'EQUALS', 12, true],
    ['count_text', 'GREATER_THAN', 11, true],
    ['count_text', 'GREATER_THAN', 11.5, true],
    ['float_text', 'EQUALS', 7.5, true],
    ['float_text', 'GREATER_THAN', 7, false],
    ['name', 'EQUALS', 1, false],
    ['name', 'NOT_EQUALS', 1, false],
    // A boolean value takes the int branch: "true" fails, "1" is 1 == True.
    ['bool_text', 'EQUALS', true, false],
    ['one_text', 'EQUALS', true, true],
    // A datetime meets a string as an aware ISO instant; anything else matches nothing.
    ['created', 'EQUALS', '2026-11-01T08:00:00Z', true],
    ['created', 'EQUALS', '2026-11-01T09:00:00+01:00', true],
    ['created', 'GREATER_THAN', '2026-11-01T07:59:59.999Z', true],
    ['created', 'LESS_THAN', '2026-11-01T08:00:00Z', false],
    ['created', 'GREATER_THAN', '2026-01-01', false],
    ['created', 'LESS_THAN', '2027-01-01T00:00:00', false],
    ['created', 'NOT_EQUALS', 'garbage', false],
    ['created', 'NOT_EQUALS', 5, true],
    ['created', 'BEGINS_WITH', '2026', false],
    // Rule 6: CONTAINS on lists and strings.
    ['tags', 'CONTAINS', 'lidar', true],
    ['tags', 'CONTAINS', 3, true],
    ['tags', 'CONTAINS', null, true],
    ['tags', 'CONTAINS', 'day', false],
    ['tags', 'NOT_CONTAINS', 'day', true],
    ['tags', 'NOT_CONTAINS', 'lidar', false],
    ['name', 'CONTAINS', 'ive-0', true],
    ['name', 'CONTAINS', '', true],
    ['name', 'NOT_CONTAINS', 'xyz', true],
    ['size', 'CONTAINS', 1, false],
    ['size', 'NOT_CONTAINS', 1, false],
    ['nested', 'CONTAINS', 'kind', false],
    ['count_text', 'CONTAINS', 1, false],
    // Rule 7: BEGINS_WITH on two strings.
    ['name', 'BEGINS_WITH', 'drive', true],
    ['name', 'BEGINS_WITH', 'log', false],
    ['size', 'BEGINS_WITH', '15', false],
    // Rule 8: LIKE as SQL LIKE, case-sensitive, `_` one character.
    ['name', 'LIKE', 'drive-__.log', true],
    ['name', 'LIKE', '%.LOG', false],
    ['name', 'LIKE', '%.log', true],
    ['name', 'NOT_LIKE', '%.log', false],
    ['name', 'NOT_LIKE', '%.bag', true],
    ['unicode', 'LIKE', '__', true],
    ['size', 'LIKE', '%', false],
    ['size', 'NOT_LIKE', 'x', false],
    // Nested fields.
    ['nested.kind', 'EQUALS', 'lidar', true],
    ['nested', 'EQUALS', 'lidar', false],
    ['nested', 'NOT_EQUALS', 'lidar', true],
  ])('%s %s %j → %s', (field, comparator, value, expected) => {
    expect(matches(field, comparator, value)).toBe(expected);
  });

  it('combines groups: AND all, OR any, NOT none', () => {
    const yes: Condition = { field: 'name', comparator: 'EQUALS', value: 'drive-01.log' };
    const no: Condition = { field: 'size', comparator: 'LESS_THAN', value: 0 };
    const group = (operator: ConditionGroup['operator'], ...conditions: Condition[]): ConditionGroup => ({
      operator,
      conditions,
    });
    expect(matchesCondition(group('AND', yes, no), read)).toBe(false);
    expect(matchesCondition(group('AND', yes, yes), read)).toBe(true);
    expect(matchesCondition(group('OR', no, yes), read)).toBe(true);
    expect(matchesCondition(group('OR', no, no), read)).toBe(false);
    expect(matchesCondition(group('NOT', no, no), read)).toBe(true);
    expect(matchesCondition(group('NOT', no, yes), read)).toBe(false);
    expect(matchesCondition({ operator: 'NOT', conditions: [group('AND', yes, yes)] }, read)).toBe(false);
  });
});

describe('Python conversions', () => {
  it.each([
    [' 12 ', 12],
    ['-3', -3],
    ['1_000', 1000],
    ['1.5', undefined],
    ['1e3', undefined],
    ['', undefined],
    ['true', undefined],
  ])('int(%j) → %s', (text, expected) => {
    expect(pythonInt(text)).toBe(expected);
  });

  it.each([
    ['1.5', 1.5],
    [' .5 ', 0.5],
    ['1e3', 1000],
    ['-inf', -Infinity],
    ['abc', undefined],
    ['', undefined],
  ])('float(%j) → %s', (text, expected) => {
    expect(pythonFloat(text)).toBe(expected);
  });

  it.each([
    ['2026-11-01T08:00:00Z', Date.UTC(2026, 10, 1, 8)],
    ['2026-11-01 08:00+0100', Date.UTC(2026, 10, 1, 7)],
    ['2026-11-01T08:00:00.5+01', Date.UTC(2026, 10, 1, 7, 0, 0, 500)],
    ['2026-11-01T08:00:00', undefined],
    ['2026-11-01', undefined],
    ['soon', undefined],
  ])('an aware instant %j → %s', (text, expected) => {
    expect(parseAwareInstant(text)).toBe(expected);
  });

  it('orders strings by code point, as UTF-8 bytes do', () => {
    // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit.
    expect(compareCodePoints('\uff5e', '😀')).toBe(-1);
    const [high, astral] = ['\uff5e', '😀'];
    expect(high < astral).toBe(false);
    expect(compareCodePoints('a', 'ab')).toBe(-1);
    expect(compareCodePoints('b', 'ab')).toBe(1);
    expect(compareCodePoints('R2', 'r1')).toBe(-1);
  });
});

describe('checkConditionTree', () => {
  it.each([
    [{ field: 'a', comparator: 'EQ', value: 1 }, /condition: unknown comparator "EQ"/],
    [{ field: 'a', comparator: 'equals', value: 1 }, /unknown comparator "equals"/],
    [{ operator: 'XOR', conditions: [] }, /unknown operator "XOR"/],
    [{ operator: 'OR', conditions: [] }, /OR needs a non-empty list of conditions/],
    [
      { operator: 'AND', conditions: [{ field: 'a', comparator: 'EQUALS', value: [1] }] },
      /condition.conditions\[0\]: the value of "a"/,
    ],
    [{ comparator: 'EQUALS' }, /needs a field name/],
    ['x', /not an object/],
  ])('refuses %j', (tree, message) => {
    expect(() => checkConditionTree(tree)).toThrow(message);
  });
});

describe('query fields', () => {
  it('strips the resource qualifiers, the last one naming the entity', () => {
    expect(resolveField('files', 'file.dataset.name')).toMatchObject({
      entity: 'dataset',
      name: 'name',
      path: [],
    });
    expect(resolveField('files', 'file.metadata.k.j')).toMatchObject({
      entity: 'file',
      name: 'metadata',
      path: ['k', 'j'],
    });
    expect(resolveField('topics', 'msgpath.topic.file.path')).toMatchObject({ entity: 'file', name: 'path' });
    expect(resolveField('topics', 'topic.name')).toMatchObject({ entity: 'topic', name: 'name' });
    expect(resolveField('files', 'path')).toMatchObject({ entity: 'file', name: 'path' });
  });

  it('refuses fields a target cannot read', () => {
    expect(() => resolveField('files', 'colour')).toThrow(/files have no field "colour"|no field "colour"/);
    expect(() => resolveField('datasets', 'file.path')).toThrow(/cannot read file fields/);
    expect(() => resolveField('files', 'topic.name')).toThrow(/cannot read topic fields/);
    expect(() => resolveField('files', 'msgpath.x')).toThrow(/message path/);
    expect(() => resolveField('files', 'metadata..x')).toThrow(/empty key/);
    expect(() => resolveField('files', 'constructor')).toThrow(/no field "constructor"/);
  });

  it('reads object keys only: never a list index, never an inherited property', () => {
    const file = { metadata: { list: ['a'], obj: { k: 1 } } } as never;
    const row = { file };
    expect(readField(row, resolveField('files', 'metadata.list.0'))).toBeUndefined();
    expect(readField(row, resolveField('files', 'metadata.obj.k'))).toBe(1);
    expect(readField(row, resolveField('files', 'metadata.constructor'))).toBeUndefined();
    expect(readField(row, resolveField('files', 'metadata.obj.toString'))).toBeUndefined();
  });
});
