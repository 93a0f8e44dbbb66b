import { describe, expect, it } from 'vitest';
import { formatDuration, parseDurationMs } from '../../src/domain/duration.js';

describe('parseDurationMs', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['15', 900_000],
    ['0.5', 30_000],
  ])('parses %s', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', 'abc', '5 minutes', '-5m', '0', '0s', '5x'])(
    'rejects %j with a message naming the flag',
    (text) => {
      expect(() => parseDurationMs(text, '--timeout')).toThrow(/--timeout/);
    },
  );
});

describe('formatDuration', () => {
  it('reads as a person would say it', () => {
    expect(formatDuration(30 * 60_000)).toBe('30 min');
    expect(formatDuration(2_000)).toBe('2 s');
    expect(formatDuration(7_200_000)).toBe('2 h');
    expect(formatDuration(90_000)).toBe('1 min 30 s');
  });
});
