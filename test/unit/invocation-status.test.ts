import { describe, expect, it } from 'vitest';
import {
  ALL_STATUSES,
  FINAL_STATUSES,
  InvocationStatus,
  canTransition,
  currentStatus,
  isFinal,
  isInProgress,
  isTerminal,
  parseStatus,
} from '../../src/domain/invocation-status.js';

// The matrix of spec §8.1, row = from, column = to, in the order Queued … Deadly.
const MATRIX = `
Queued   T   T   T   T   T   T   T   T   T
Sched    .   T   T   T   T   T   T   T   .
Downl    .   .   T   T   T   T   T   T   .
Proc     .   .   .   T   T   T   T   T   .
Upload   .   .   .   .   T   T   T   T   .
Compl    .   .   .   .   .   T   .   .   .
Cancel   .   .   .   .   .   .   T   .   .
Failed   T   .   .   .   .   .   .   T   T
Deadly   .   .   .   .   .   .   .   .   T
`;

describe('canTransition', () => {
  const rows = MATRIX.trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).slice(1));

  it('matches the contract matrix in all 81 cells', () => {
    ALL_STATUSES.forEach((from, i) => {
      ALL_STATUSES.forEach((to, j) => {
        expect({ from, to, allowed: canTransition(from, to) }).toEqual({
          from,
          to,
          allowed: rows[i]?.[j] === 'T',
        });
      });
    });
  });
});

describe('status helpers', () => {
  it('uses the wire integers', () => {
    expect(ALL_STATUSES).toEqual([0, 1, 2, 3, 4, 5, 997, 998, 999]);
  });

  it('parses numbers and numeric strings but not names', () => {
    expect(parseStatus(3)).toBe(InvocationStatus.Processing);
    expect(parseStatus('3')).toBe(InvocationStatus.Processing);
    expect(parseStatus('Processing')).toBeUndefined();
    expect(parseStatus(6)).toBeUndefined();
  });

  it('classifies in-progress, final and terminal statuses', () => {
    // In progress: what an attempt holds, from pickup (Scheduled) to its end.
    expect(ALL_STATUSES.filter(isInProgress)).toEqual([1, 2, 3, 4]);
    expect(ALL_STATUSES.filter(isFinal)).toEqual([5, 997, 999]);
    expect([...FINAL_STATUSES].sort((a, b) => a - b)).toEqual([5, 997, 999]);
    expect(ALL_STATUSES.filter(isTerminal)).toEqual([5, 997, 998, 999]);
  });

  it('lets a final status go nowhere else', () => {
    for (const from of FINAL_STATUSES) {
      expect(ALL_STATUSES.filter((to) => canTransition(from, to))).toEqual([from]);
    }
  });

  it('takes the current status by (timestamp, value)', () => {
    const t = '2025-01-02T03:04:05Z';
    expect(
      currentStatus([
        { status: InvocationStatus.Failed, detail: null, timestamp: t },
        { status: InvocationStatus.Queued, detail: null, timestamp: t },
        { status: InvocationStatus.Processing, detail: null, timestamp: '2025-01-01T00:00:00Z' },
      ]),
    ).toBe(InvocationStatus.Failed);
  });
});
