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
