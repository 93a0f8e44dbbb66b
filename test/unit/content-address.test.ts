import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/adapters/local/blob-store.js';
import { contentAddressedPath } from '../../src/util/content-address.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

describe('contentAddressedPath', () => {
  it('files content under the first two hex digits of its sha256', () => {
    const sha256 = createHash('sha256').update('x').digest('hex');
    expect(contentAddressedPath('/store/blobs', sha256)).toBe(`/store/blobs/${sha256.slice(0, 2)}/${sha256}`);
  });

  it.each(['../../etc/passwd', '..', 'ab/../../x', 'A'.repeat(64), `${'a'.repeat(64)}/x`, ''])(
    'refuses %j, which is no sha256 digest and could name a file outside the root',
    (digest) => {
      expect(() => contentAddressedPath('/store/blobs', digest)).toThrow(/not a sha256 digest/);
    },
  );

  it('is where the blob store puts what it stores', async () => {
    const dir = await tempDir('content-address');
    const source = path.join(dir, 'source.txt');
    await writeFile(source, 'hello');
    const blobs = new BlobStore(path.join(dir, 'blobs'), path.join(dir, 'tmp'));
    const stored = await blobs.put(source, new AbortController().signal);
    expect(stored.path).toBe(contentAddressedPath(path.join(dir, 'blobs'), stored.sha256));
    expect(blobs.pathOf(stored.sha256)).toBe(stored.path);
  });
});
