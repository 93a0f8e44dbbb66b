import { blake2b } from '@noble/hashes/blake2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { isRawNumber, pyJsonString, reprFloat } from './python-str.js';
import { compareCodePoints } from './roboql.js';

/** `b"ActionRecord"` zero-padded to BLAKE2b's 16-byte personalization (spec §4.1.3). */
const PERSONALIZATION = (() => {
  const bytes = new Uint8Array(16);
  bytes.set(utf8ToBytes('ActionRecord'));
  return bytes;
})();

/**
 * Python's `json.dumps(value, sort_keys=True)` with its other defaults: `", "` and `": "` separators,
 * `ensure_ascii` (every non-ASCII UTF-16 unit as `\uxxxx`, so astral characters as surrogate pairs), keys
 * sorted by code point at every level, arrays in order.
 *
 * Numbers: a JS number is a Python int when it is integral and a float (Python `repr`) otherwise, so a
 * JSON `1.0` that reached us through `JSON.parse` hashes as `1`. That is the rule for every number we
 * store in an action (metadata values, compute requirements, timeout): what we store, return and hash is
 * the same JS number, and a client reading our answer sees the same int. A raw number token (the
 * lossless-json parser's) keeps its source form: integers as digits, anything else as a float.
 */
export function pyJsonDumpsSorted(value: unknown): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return pyJsonString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot hash the number ${String(value)}`);
    return Number.isInteger(value) ? BigInt(value).toString() : reprFloat(value);
  }
  if (isRawNumber(value)) {
    return /^-?\d+$/.test(value.value) ? BigInt(value.value).toString() : reprFloat(Number(value.value));
  }
  if (Array.isArray(value)) return `[${value.map(pyJsonDumpsSorted).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      // An absent key is not hashed; only a present null is (spec §4.1.3 V4, V7).
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => compareCodePoints(a, b));
    return `{${entries.map(([key, inner]) => `${pyJsonString(key)}: ${pyJsonDumpsSorted(inner)}`).join(', ')}}`;
  }
  throw new TypeError(`cannot hash a ${typeof value}`);
}

/** BLAKE2b-128 personalized "ActionRecord" of the text's UTF-8 bytes, as 32 lower-case hex digits. */
export function actionDigestOfText(text: string): string {
  return bytesToHex(blake2b(utf8ToBytes(text), { dkLen: 16, personalization: PERSONALIZATION }));
}

/**
 * The digest of one stored action version (spec §4.1.3): the record's keys as stored, `digest` left out,
 * serialized as Python's `json.dumps(sort_keys=True)` and hashed. Our records store every key (nulls
 * included), so every key but `digest` is hashed.
 */
export function actionDigest(record: Readonly<Record<string, unknown>>): string {
  const hashed = { ...record };
  delete hashed.digest;
  return actionDigestOfText(pyJsonDumpsSorted(hashed));
}

/**
 * A time as the wire and the digest carry it (spec §1.7, §4.1.3): UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`,
 * the fraction only when non-zero and then six digits.
 */
export function wireTimestamp(when: Date): string {
  const iso = when.toISOString(); // 2024-01-01T00:00:00.123Z
  const millis = when.getUTCMilliseconds();
  const seconds = iso.slice(0, 19);
  return millis === 0 ? `${seconds}Z` : `${seconds}.${String(millis).padStart(3, '0')}000Z`;
}
