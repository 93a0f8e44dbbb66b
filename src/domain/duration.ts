import { UsageError } from './errors.js';

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses a duration such as `90s`, `5m`, `1h` or `1h30m`. A bare number means minutes, as in the
 * contract's `timeout`. Returns milliseconds.
 */
export function parseDurationMs(text: string, subject = 'duration'): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return positive(Number(trimmed) * 60_000, text, subject);
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * (UNIT_SECONDS[match[2] ?? ''] ?? 0) * 1000;
    consumed += match[0].length;
  }
  if (consumed !== trimmed.length || consumed === 0) {
    throw new UsageError(
      `${subject} "${text}" is not a duration: use a number of minutes or a value such as 90s, 5m, 1h, 1h30m`,
    );
  }
  return positive(total, text, subject);
}

function positive(ms: number, text: string, subject: string): number {
  if (!(ms > 0)) throw new UsageError(`${subject} "${text}" must be greater than zero`);
  return Math.round(ms);
}

/** "30 min", "90 s", "2 h 5 min": a human form for status details. */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${seconds % 60} s`;
}
