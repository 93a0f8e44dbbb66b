import path from 'node:path';

/**
 * Where content with this sha256 lives under a content-addressed `root`: `<root>/<first two hex
 * digits>/<sha256>`, so no directory holds more than a 256th of the entries. The blob store and the
 * input cache share this layout.
 */
export function contentAddressedPath(root: string, sha256: string): string {
  return path.join(root, sha256.slice(0, 2), sha256);
}
