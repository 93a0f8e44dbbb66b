import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { projectRoot } from '../support/paths.js';

const COUNT = 25;

describe('LocalDataStore with two processes', () => {
  afterAll(removeTempDirs);

  it(
    'loses no file and no update when two processes write the same dataset at once',
    { timeout: 120_000 },
    async () => {
      const root = path.join(await tempDir('concurrent'), 'store');
      const store = new LocalDataStore(root);
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const writer = (name: string) =>
        execa(
          'node',
          [
            '--import',
            'tsx',
            path.join(projectRoot, 'test', 'support', 'store-writer.ts'),
            root,
            datasetId,
            name,
            String(COUNT),
          ],
          {
            cwd: projectRoot,
          },
        );
      await Promise.all([writer('alpha'), writer('beta')]);

      const files = await store.listFiles(datasetId);
      expect(files).toHaveLength(2 * COUNT);
      const dataset = await store.getDataset(datasetId);
      expect(new Set(dataset?.tags)).toEqual(
        new Set(['alpha', 'beta'].flatMap((name) => Array.from({ length: COUNT }, (_, i) => `${name}-${i}`))),
      );
      expect(dataset?.metadata).toEqual({ counts: { alpha: COUNT, beta: COUNT } });
    },
  );
});
