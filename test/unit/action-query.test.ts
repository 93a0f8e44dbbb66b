import { describe, expect, it } from 'vitest';
import { pageActions } from '../../src/domain/action-query.js';
import type { ActionRecord } from '../../src/domain/action-record.js';
import { newAction } from '../../src/domain/action-versions.js';
import { UsageError } from '../../src/domain/errors.js';

function action(orgId: string, name: string, at: string, body: Record<string, unknown> = {}): ActionRecord {
  return newAction({ name, ...body }, orgId, { userId: 'tk_1', now: new Date(at) });
}

const records = [
  action('og_b', 'same', '2024-01-01T00:00:00Z', { timeout: 10, description: 'x' }),
  action('og_a', 'same', '2024-01-01T00:00:00Z', { timeout: 20 }),
  action('og_a', 'other', '2024-01-02T00:00:00Z', { metadata: { level: 'high' } }),
  action('og_a', 'no-timeout', '2023-06-01T00:00:00Z'),
];
const names = (page: { items: ActionRecord[] }) =>
  page.items.map((record) => `${record.org_id}/${record.name}`);

describe('pageActions', () => {
  it('sorts newest first by default, ties broken by org then name in the same direction', () => {
    expect(names(pageActions(records, {}))).toEqual([
      'og_a/other',
      'og_b/same',
      'og_a/same',
      'og_a/no-timeout',
    ]);
    expect(names(pageActions(records, { sortDirection: 'ASC' }))).toEqual([
      'og_a/no-timeout',
      'og_a/same',
      'og_b/same',
      'og_a/other',
    ]);
  });

  it('puts null and missing sort values last in either direction', () => {
    for (const sortDirection of ['ASC', 'DESC'] as const) {
      const page = pageActions(records, { sortBy: 'timeout', sortDirection });
      expect(names(page).slice(-2).sort()).toEqual(['og_a/no-timeout', 'og_a/other']);
    }
    expect(names(pageActions(records, { sortBy: 'metadata.level' }))[0]).toBe('og_a/other');
  });

  it('compares datetime fields as instants and dotted metadata paths', () => {
    const since = pageActions(records, {
      condition: {
        field: 'created',
        comparator: 'GREATER_THAN_OR_EQUAL',
        value: '2024-01-01T01:00:00+01:00',
      },
    });
    expect(names(since).sort()).toEqual(['og_a/other', 'og_a/same', 'og_b/same']);
    const high = pageActions(records, {
      condition: { field: 'metadata.level', comparator: 'EQUALS', value: 'high' },
    });
    expect(names(high)).toEqual(['og_a/other']);
    const like = pageActions(records, { condition: { field: 'name', comparator: 'LIKE', value: 'n%' } });
    expect(names(like)).toEqual(['og_a/no-timeout']);
  });

  it('refuses what it cannot run, naming it', () => {
    expect(() => pageActions(records, { sortBy: 'owner' })).toThrow(UsageError);
    expect(() => pageActions(records, { sortBy: 'owner' })).toThrow('sort_by');
    expect(() => pageActions(records, { limit: 0 })).toThrow('limit');
    expect(() =>
      pageActions(records, { condition: { field: 'name', comparator: 'SOUNDS_LIKE', value: 'x' } as never }),
    ).toThrow('comparator');
  });
});
