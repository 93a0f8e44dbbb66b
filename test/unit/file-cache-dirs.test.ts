import { createHash } from 'node:crypto';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/domain/records.js';
import { FileCache } from '../../src/stages/file-cache.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;

describe('FileCache directories', () => {
  afterAll(removeTempDirs);

  it('makes its directories again when they are removed under it, though it makes each once per instance', async () => {
    const dir = await tempDir('cache-dirs');
    const sourcePath = path.join(dir, 'source');
    await writeFile(sourcePath, 'frame');
    const file = {
      record: { file_id: 'fl_1', relative_path: 'frame.bin', size: 5 } as FileRecord,
      sourcePath,
      sha256: createHash('sha256').update('frame').digest('hex'),
    };
    const cacheDir = path.join(dir, 'cache');
    const cache = new FileCache(cacheDir, 1024 ** 3);
    await cache.materialize(file, signal);
    // Everything below the cache's own directory goes: its tmp/ and the entry's prefix directory.
    for (const name of await readdir(cacheDir)) await rm(path.join(cacheDir, name), { recursive: true });
    expect(await readFile(await cache.materialize(file, signal), 'utf8')).toBe('frame');
    expect(cache.stats).toEqual({ hits: 0, copies: 2 });
  });
});
