import { describe, expect, it } from 'vitest';
import { pageTriggers } from '../../src/domain/trigger-query.js';
import { newTrigger } from '../../src/domain/trigger-versions.js';

const at = (second: number) => ({ userId: 'tk_1', now: new Date(Date.UTC(2024, 0, 1, 0, 0, second)) });
const records = [
  newTrigger({ name: 'b', action_name: 'x', required_inputs: ['*.a'], timeout: 5 }, 'og_1', at(2)),
  newTrigger({ name: 'a', action_name: 'y', required_inputs: ['*.a'], enabled: false }, 'og_1', at(1)),
  newTrigger({ name: 'c', action_name: 'x', required_inputs: ['*.a'], timeout: 1 }, 'og_1', at(3)),
];
const names = (query: Parameters<typeof pageTriggers>[1]) =>
  pageTriggers(records, query).items.map((record) => record.name);

describe('pageTriggers (spec §2.11 over TriggerRecord, T3)', () => {
  it.each([
    ['newest first by default', {}, ['c', 'b', 'a']],
    ['by name ascending', { sortBy: 'name', sortDirection: 'ASC' as const }, ['a', 'b', 'c']],
    ['nulls last either way (ASC)', { sortBy: 'timeout', sortDirection: 'ASC' as const }, ['c', 'b', 'a']],
    ['nulls last either way (DESC)', { sortBy: 'timeout', sortDirection: 'DESC' as const }, ['b', 'c', 'a']],
    [
      'action.name, as the roboto CLI filters',
      { condition: { field: 'action.name', comparator: 'EQUALS' as const, value: 'x' } },
      ['c', 'b'],
    ],
    [
      'enabled is a boolean',
      { condition: { field: 'enabled', comparator: 'EQUALS' as const, value: false } },
      ['a'],
    ],
    [
      'created as an instant',
      { condition: { field: 'created', comparator: 'GREATER_THAN' as const, value: '2024-01-01T00:00:01Z' } },
      ['c', 'b'],
    ],
    [
      'causes contains',
      { condition: { field: 'causes', comparator: 'CONTAINS' as const, value: 'dataset_metadata_update' } },
      ['c', 'b', 'a'],
    ],
  ])('%s', (_what, query, expected) => {
    expect(names(query)).toEqual(expected);
  });

  it.each([
    [{ condition: { field: 'nope', comparator: 'EQUALS' as const, value: 1 } }, /not a field of a trigger/],
    [{ sortBy: 'nope' }, /sort_by/],
    [{ sortDirection: 'UP' as never }, /sort_direction/],
    [{ limit: 0 }, /limit/],
    [{ after: 'garbage!' }, /page token/],
  ])('refuses %j', (query, message) => {
    expect(() => pageTriggers(records, query)).toThrow(message);
  });
});
