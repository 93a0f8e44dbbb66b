import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import {
  folderStoreProgress,
  folderStoreState,
  migrateFolderStore,
} from '../../src/adapters/sql/folder-store-migration.js';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { FIXTURE_DATASETS, buildFolderStore, folderStoreContents } from '../support/folder-store-fixture.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { folderStoreMigrationContract } from './folder-store-migration.contract.js';

folderStoreMigrationContract('SQLite', async () => ({
  location: path.join(await tempDir('migrate-db'), 'metadata.sqlite3'),
}));

afterAll(removeTempDirs);

it(
  'leaves a migration another process verified (and wrote to since) verified, instead of failing every start after',
  { timeout: 60_000 },
  async () => {
    const dir = await tempDir('migrate-raced');
    const storeDir = path.join(dir, 'store');
    await mkdir(path.join(dir, 'scratch'));
    const store = await buildFolderStore(storeDir, path.join(dir, 'scratch'));
    const victim = (await folderStoreContents(store)).files.find(
      (file) => file.record.relative_path === 'a.txt',
    )!;
    const file = path.join(dir, 'metadata.sqlite3');
    const database = await openSqlDatabase({ dialect: 'sqlite', file });
    try {
      // Between this run's last copied dataset and its verification, another process (a second worker that
      // started at the same time) finishes verifying, and a job it runs changes a migrated file's record.
      // Done synchronously on a connection of its own, so it lands exactly there.
      const other = new BetterSqlite3(file);
      const logger = {
        info: (fields: unknown, message?: string) => {
          if (message !== 'store.migration.dataset') return;
          if ((fields as { datasetId: string }).datasetId !== FIXTURE_DATASETS.at(-1)) return;
          other.prepare('UPDATE store_migrations SET verified = ?').run(new Date().toISOString());
          other
            .prepare('UPDATE files SET description = ? WHERE file_id = ?')
            .run('written after the migration', victim.record.file_id);
        },
        warn: () => undefined,
      };
      try {
        const result = await migrateFolderStore(database, storeDir, {
          logger: logger as never,
          signal: new AbortController().signal,
        });
        expect(result.alreadyDone).toBe(true);
      } finally {
        other.close();
      }
      expect(await folderStoreState(database, storeDir)).toBe('verified');
      expect((await folderStoreProgress(database, storeDir))?.verified).not.toBeNull();
      // …so the next start does not migrate again (which would refuse the file written since).
      expect(
        await migrateFolderStore(database, storeDir, { logger, signal: new AbortController().signal }),
      ).toMatchObject({ alreadyDone: true });
    } finally {
      await database.close();
    }
  },
);

it(
  'stops, done, when another process verified the migration and wrote a dataset this one had yet to copy',
  { timeout: 60_000 },
  async () => {
    const dir = await tempDir('migrate-raced');
    const storeDir = path.join(dir, 'store');
    await mkdir(path.join(dir, 'scratch'));
    const store = await buildFolderStore(storeDir, path.join(dir, 'scratch'));
    const later = (await store.getDataset(FIXTURE_DATASETS.at(-1)!))!;
    const file = path.join(dir, 'metadata.sqlite3');
    const database = await openSqlDatabase({ dialect: 'sqlite', file });
    try {
      // After this run's first dataset, the other process is done: verified, and the last dataset's
      // metadata changed by one of its jobs.
      const other = new BetterSqlite3(file);
      const logger = {
        info: (fields: unknown, message?: string) => {
          if (message !== 'store.migration.dataset') return;
          if ((fields as { datasetId: string }).datasetId !== FIXTURE_DATASETS[0]) return;
          other.prepare('UPDATE store_migrations SET verified = ?').run(new Date().toISOString());
          other
            .prepare(
              'INSERT INTO datasets (dataset_id, org_id, name, description, tags, metadata, created, ' +
                'created_by, modified, modified_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            )
            .run(
              later.dataset_id,
              later.org_id,
              later.name,
              later.description,
              JSON.stringify(later.tags),
              JSON.stringify({ ...later.metadata, changed: 'after the migration' }),
              later.created,
              later.created_by,
              new Date().toISOString(),
              later.modified_by,
            );
        },
        warn: () => undefined,
      };
      try {
        const result = await migrateFolderStore(database, storeDir, {
          logger: logger as never,
          signal: new AbortController().signal,
        });
        expect(result.alreadyDone).toBe(true);
      } finally {
        other.close();
      }
      expect(await folderStoreState(database, storeDir)).toBe('verified');
    } finally {
      await database.close();
    }
  },
);
