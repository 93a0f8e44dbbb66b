import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import { buildFolderStore } from '../support/folder-store-fixture.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

it('warns at start when the folder store was written to after its migration was verified', async () => {
  const dir = await tempDir('open-store');
  const storeDir = path.join(dir, 'store');
  await mkdir(path.join(dir, 'scratch'));
  await buildFolderStore(storeDir, path.join(dir, 'scratch'));
  const settings = WorkerSettings.parse({ storeDir });
  const warnings = async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    await (await openDataStore(settings, { logger })).close();
    return lines
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((entry) => entry.level >= 40)
      .map((entry) => entry.msg);
  };

  // The first start migrates; the next ones, with nothing written to the folder store since, say nothing.
  expect(await warnings()).toEqual([]);
  expect(await warnings()).toEqual([]);

  // The previous version started again (a rollback) and wrote to the folder store.
  await new LocalDataStore(storeDir).updateDataset(
    'ds_a_plain',
    MetadataChangeset.parse({ put_tags: ['rolled-back'] }),
  );
  expect(await warnings()).toEqual(['store.folder_store.written_after_migration']);
});
