import { describe, expect, it } from 'vitest';
import {
  EMPTY_CHANGESET,
  MetadataChangeset,
  MetadataPathError,
  applyChangeset,
  applyFieldUpdates,
  applyTagUpdates,
  combineChangesets,
  isEmptyChangeset,
} from '../../src/domain/metadata-changeset.js';

const cs = (value: Record<string, unknown>): MetadataChangeset => MetadataChangeset.parse(value);

describe('applyTagUpdates', () => {
  it('appends new puts keeping existing order, then drops removes', () => {
    expect(applyTagUpdates(['a', 'b'], cs({ put_tags: ['c', 'a', 'c'], remove_tags: ['b'] }))).toEqual([
      'a',
      'c',
    ]);
  });

  it('replaces the tags with put_tags (or none) under replace_all', () => {
    expect(applyTagUpdates(['a'], cs({ put_tags: ['x'], replace_all: true }))).toEqual(['x']);
    expect(applyTagUpdates(['a'], cs({ replace_all: true }))).toEqual([]);
  });
});

describe('applyFieldUpdates', () => {
  it('creates objects along a dotted put path', () => {
    expect(applyFieldUpdates({}, cs({ put_fields: { 'a.b': 1 } }))).toEqual({ a: { b: 1 } });
  });

  it('prunes containers a dotted remove leaves empty, never the root', () => {
    expect(applyFieldUpdates({ z: { q: 1 }, k: true }, cs({ remove_fields: ['z.q'] }))).toEqual({ k: true });
    expect(applyFieldUpdates({ only: 1 }, cs({ remove_fields: ['only'] }))).toEqual({});
    expect(applyFieldUpdates({ a: { b: { c: 1 }, d: 2 } }, cs({ remove_fields: ['a.b.c'] }))).toEqual({
      a: { d: 2 },
    });
  });

  it('does nothing when a remove path is missing', () => {
    expect(applyFieldUpdates({ a: { b: 1 } }, cs({ remove_fields: ['a.x.y', 'nope'] }))).toEqual({
      a: { b: 1 },
    });
  });

  it('applies every put before any remove', () => {
    expect(applyFieldUpdates({}, cs({ put_fields: { x: 1, y: 2 }, remove_fields: ['x'] }))).toEqual({ y: 2 });
  });

  it('walks lists by index and inserts (not replaces) at the last part', () => {
    expect(
      applyFieldUpdates({ l: [{ v: 1 }, 'b'] }, cs({ put_fields: { 'l.0.w': 2, 'l.1': 'ins' } })),
    ).toEqual({
      l: [{ v: 1, w: 2 }, 'ins', 'b'],
    });
    expect(applyFieldUpdates({ l: [1, 2, 3] }, cs({ remove_fields: ['l.1'] }))).toEqual({ l: [1, 3] });
  });

  it('raises on a list index out of range or a scalar in the way', () => {
    expect(() => applyFieldUpdates({ l: [] }, cs({ put_fields: { 'l.3.x': 1 } }))).toThrow(MetadataPathError);
    expect(() => applyFieldUpdates({ s: 'text' }, cs({ put_fields: { 's.x': 1 } }))).toThrow(
      /holds a string/,
    );
  });

  it('does not modify the existing metadata', () => {
    const existing = { a: { b: 1 } };
    applyFieldUpdates(existing, cs({ put_fields: { 'a.c': 2 }, remove_fields: ['a.b'] }));
    expect(existing).toEqual({ a: { b: 1 } });
  });

  it('replaces the metadata with put_fields under replace_all', () => {
    expect(applyFieldUpdates({ a: 1 }, cs({ put_fields: { b: 2 }, replace_all: true }))).toEqual({ b: 2 });
  });
});

describe('combineChangesets', () => {
  it('unions lists, merges fields with the second winning, nulls empties and drops replace_all', () => {
    const combined = combineChangesets(
      cs({ put_tags: ['a'], put_fields: { x: 1, y: 1 }, replace_all: true }),
      cs({ put_tags: ['a', 'b'], remove_tags: ['c'], put_fields: { y: 2 } }),
    );
    expect(combined).toEqual({
      put_tags: ['a', 'b'],
      remove_tags: ['c'],
      put_fields: { x: 1, y: 2 },
      remove_fields: null,
      replace_all: false,
    });
  });

  it('lets removes beat puts whatever order they came in', () => {
    const removeThenPut = combineChangesets(cs({ remove_tags: ['x'] }), cs({ put_tags: ['x'] }));
    expect(applyChangeset({ tags: [], metadata: {} }, removeThenPut).tags).toEqual([]);
  });
});

describe('isEmptyChangeset', () => {
  it('is true for {} and for empty lists, false otherwise', () => {
    expect(isEmptyChangeset(EMPTY_CHANGESET)).toBe(true);
    expect(isEmptyChangeset(cs({ put_tags: [], put_fields: {} }))).toBe(true);
    expect(isEmptyChangeset(cs({ replace_all: true }))).toBe(false);
    expect(isEmptyChangeset(cs({ remove_fields: ['a'] }))).toBe(false);
  });
});

describe('field paths from an untrusted changeset', () => {
  it('never reach an object prototype', () => {
    for (const key of ['__proto__.polluted', 'a.__proto__.polluted', 'constructor.prototype.polluted']) {
      expect(() => applyFieldUpdates({}, cs({ put_fields: { [key]: 'yes' } }))).toThrow(MetadataPathError);
    }
    expect(() => applyFieldUpdates({}, cs({ remove_fields: ['__proto__.hasOwnProperty'] }))).toThrow(
      MetadataPathError,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(typeof Object.prototype.hasOwnProperty).toBe('function');
  });

  it('treat inherited names as ordinary keys', () => {
    expect(applyFieldUpdates({}, cs({ put_fields: { 'toString.x': 1 } }))).toEqual({ toString: { x: 1 } });
    expect(applyFieldUpdates({ a: 1 }, cs({ remove_fields: ['toString'] }))).toEqual({ a: 1 });
  });
});
