import path from 'node:path';
import { UsageError } from '../domain/errors.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Where content with this sha256 lives under a content-addressed `root`: `<root>/<first two hex
 * digits>/<sha256>`, so no directory holds more than a 256th of the entries. The blob store and the
 * input cache share this layout. The digest comes from stored records: anything but 64 lowercase hex
 * digits (`../..`, a path) is refused, so no record can name a file outside `root`.
 */
export function contentAddressedPath(root: string, sha256: string): string {
  if (!SHA256_HEX.test(sha256)) {
    throw new UsageError(`not a sha256 digest: ${JSON.stringify(sha256.slice(0, 80))}`, 'E_INVALID_INPUT');
  }
  return path.join(root, sha256.slice(0, 2), sha256);
}
