import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

function encode(bytes: Uint8Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += ALPHABET.charAt((bytes[i] ?? 0) % ALPHABET.length);
  return out;
}

/** A fresh id such as `iv_k3j9x0a1b2c4`. */
export function randomId(prefix: string, length = 12): string {
  return `${prefix}_${encode(randomBytes(length), length)}`;
}

/** A stable id derived from its parts, such as a file id from its dataset and path. */
export function stableId(prefix: string, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\0')).digest();
  return `${prefix}_${encode(digest, 12)}`;
}
