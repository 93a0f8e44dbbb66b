import { z } from 'zod';

/**
 * Pydantic "lax mode" coercions that real action.json files rely on (spec §3): numeric strings become
 * ints (`"2048"` → 2048) and boolean words become booleans (`"false"` → false).
 */

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0']);

function toLaxInt(value: unknown): unknown {
  if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) return Number(value.trim());
  // Pydantic accepts a float with no fractional part as an int.
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  return value;
}

function toLaxBool(value: unknown): unknown {
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  if (value === 0) return false;
  if (value === 1) return true;
  return value;
}

/** An integer, also accepted as a numeric string. */
export const laxInt = () =>
  z.preprocess(toLaxInt, z.number({ error: 'must be an integer' }).int('must be an integer'));

/** A boolean, also accepted as true/false/yes/no/on/off/t/f/y/n/1/0 in any case. */
export const laxBool = () => z.preprocess(toLaxBool, z.boolean({ error: 'must be a boolean' }));

/** Parses a boolean word the way pydantic does, or returns undefined. */
export function parseBoolWord(value: string): boolean | undefined {
  const parsed = toLaxBool(value);
  return typeof parsed === 'boolean' ? parsed : undefined;
}
