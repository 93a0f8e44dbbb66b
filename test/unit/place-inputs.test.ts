import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileCache } from '../../src/stages/file-cache.js';
import { placeInputs } from '../../src/stages/setup.js';
import { createWorkspace } from '../../src/stages/workspace.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

describe('placeInputs', () => {
  afterAll(removeTempDirs);

  it.each(['link', 'copy'] as const)(
    'checks the cache again when an entry vanishes under it (%s), in the check or in the placing',
    async (staging) => {
      const dir = await tempDir('place-inputs');
      const layout = await createWorkspace(path.join(dir, 'ws'), 'iv_retry', 1, {
        host: 'h',
        pid: 1,
        workerId: 'w',
      });
      const source = path.join(dir, 'source');
      await writeFile(source, 'bytes');
      const cache = new FileCache(path.join(dir, 'cache'), 1024 ** 3);
      // Another invocation evicts or replaces the entry: first while this one checks it, then between
      // its check and its link.
      const vanished = () => Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' });
      const materialize = cache.materialize.bind(cache);
      let uses = 0;
      cache.materialize = async (...args) => {
        uses += 1;
        if (uses === 1) throw vanished();
        if (uses === 2) return path.join(dir, 'cache', 'no-such-entry');
        return materialize(...args);
      };
      await placeInputs(
        {
          files: [
            {
              record: { association_id: 'ds_1', file_id: 'fl_1', relative_path: 'a.txt', size: 5 } as never,
              sourcePath: source,
            },
          ],
          topics: [],
        },
        layout,
        layout,
        true,
        cache,
        staging,
        new AbortController().signal,
      );
      expect(await readFile(path.join(layout.inputDir, 'a.txt'), 'utf8')).toBe('bytes');
      expect(uses).toBe(3);
    },
  );
});
