import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import {
  MIGRATED_DIR,
  confirmFolderStoreMigration,
  folderStoreProgress,
  folderStoreState,
  migrateFolderStore,
} from '../../src/adapters/sql/folder-store-migration.js';
import { openSqlDatabase, parseDatabaseLocation } from '../../src/adapters/sql/open-database.js';
import { contentAddressedPath } from '../../src/util/content-address.js';
import {
  FIXTURE_DATASETS,
  buildFolderStore,
  expectSameContents,
  folderStoreContents,
  sqlStoreContents,
} from '../support/folder-store-fixture.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const quiet = pino({ level: 'silent' });
const options = (signal = new AbortController().signal) => ({ logger: quiet, signal });

/** A fresh, empty metadata database, and where it is (for a child process to open). */
export interface FreshDatabase {
  location: string;
}

/**
 * The folder store migration, on one SQL dialect: `freshDatabase` gives a new empty database each time.
 */
export function folderStoreMigrationContract(
  name: string,
  freshDatabase: () => Promise<FreshDatabase>,
): void {
  // A child process of its own (tsx) and a few stores built file by file: slow on a loaded 2-core machine.
  describe(`migrating a folder store into ${name}`, { timeout: 60_000 }, () => {
    const opened: SqlDatabase[] = [];
    const open = async (location: string) => {
      const database = await openSqlDatabase(parseDatabaseLocation(location));
      opened.push(database);
      return database;
    };
    const setUp = async (fixture: { extraDatasets?: number; filesPerDataset?: number } = {}) => {
      const dir = await tempDir('migrate');
      const storeDir = path.join(dir, 'store');
      const scratch = path.join(dir, 'scratch');
      await mkdir(scratch);
      const store = await buildFolderStore(storeDir, scratch, fixture);
      const { location } = await freshDatabase();
      return { store, storeDir, location, database: await open(location) };
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((database) => database.close()));
    });
    afterAll(removeTempDirs);

    it('copies every record, verifies it, keeps the folder store, and does nothing the second time', async () => {
      const { store, storeDir, database } = await setUp();
      const before = await folderStoreContents(store);
      expect(await folderStoreState(database, storeDir)).toBe('pending');

      const result = await migrateFolderStore(database, storeDir, { ...options(), batchSize: 2 });

      expect(result).toEqual({
        datasets: FIXTURE_DATASETS.length,
        files: before.files.length,
        topics: before.topics.length,
        alreadyDone: false,
      });
      await expectSameContents(store, database);
      // The retried attempt's output: one version, written by the second attempt.
      const retried = before.files.find((file) => file.record.relative_path === 'out/result.json');
      expect(retried).toMatchObject({
        record: { version: 1 },
        writtenBy: { invocationId: 'iv_retried', attempt: 2 },
      });
      expect(before.files.find((file) => file.record.relative_path === 'log.txt')?.record.version).toBe(3);
      expect(await folderStoreState(database, storeDir)).toBe('verified');
      const progress = await folderStoreProgress(database, storeDir);
      expect(progress).toMatchObject({
        lastDatasetId: FIXTURE_DATASETS.at(-1),
        datasetsDone: FIXTURE_DATASETS.length,
        filesDone: before.files.length,
      });
      expect(progress?.verified).toMatch(/^\d{4}-\d\d-\d\dT/);
      // The folder store is untouched.
      expect(await folderStoreContents(store)).toEqual(before);
      expect((await readdir(storeDir)).sort()).toEqual(['blobs', 'datasets', 'index', 'locks', 'tmp']);

      const again = await migrateFolderStore(database, storeDir, options());
      expect(again).toMatchObject({ alreadyDone: true, datasets: FIXTURE_DATASETS.length });
      await expectSameContents(store, database);
    });

    it('stops between datasets when aborted, and the next run finishes with no duplicates', async () => {
      const { store, storeDir, database } = await setUp();
      const controller = new AbortController();
      let seen = 0;
      const logger = pino(
        { level: 'info' },
        {
          write: (line: string) => {
            if ((JSON.parse(line) as { msg: string }).msg === 'store.migration.dataset' && ++seen === 2) {
              controller.abort();
            }
          },
        },
      );
      await expect(
        migrateFolderStore(database, storeDir, { logger, signal: controller.signal }),
      ).rejects.toMatchObject({ code: 'E_CANCELLED' });
      const partial = await sqlStoreContents(database);
      expect(partial.datasets.map((dataset) => dataset.dataset_id)).toEqual(FIXTURE_DATASETS.slice(0, 2));
      expect(await folderStoreProgress(database, storeDir)).toMatchObject({
        lastDatasetId: FIXTURE_DATASETS[1],
        datasetsDone: 2,
        verified: null,
      });
      expect(await folderStoreState(database, storeDir)).toBe('pending');

      const result = await migrateFolderStore(database, storeDir, options());
      expect(result.alreadyDone).toBe(false);
      await expectSameContents(store, database);
      expect(await folderStoreState(database, storeDir)).toBe('verified');
    });

    it('resumes after the process running it is killed in the middle of a dataset', async () => {
      const { store, storeDir, location, database } = await setUp({ extraDatasets: 3, filesPerDataset: 5 });
      const child = execa(
        'node',
        [
          '--import',
          'tsx',
          path.join(projectRoot, 'test', 'support', 'folder-store-migrate-child.ts'),
          location,
          storeDir,
          '3',
        ],
        { cwd: projectRoot, reject: false, timeout: 60_000 },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('blocked')) resolve();
        });
        void child.then((result) => {
          reject(new Error(`the child ended before it blocked: ${result.stderr}`));
        });
      });
      child.kill('SIGKILL');
      expect((await child).signal).toBe('SIGKILL');

      // Two datasets committed; the third's rows and progress, written but not committed, are gone.
      const partial = await sqlStoreContents(database);
      expect(partial.datasets.map((dataset) => dataset.dataset_id)).toEqual(FIXTURE_DATASETS.slice(0, 2));
      expect(partial.files.every((file) => file.record.association_id !== FIXTURE_DATASETS[2])).toBe(true);
      expect(await folderStoreProgress(database, storeDir)).toMatchObject({
        lastDatasetId: FIXTURE_DATASETS[1],
      });

      await migrateFolderStore(database, storeDir, options());
      await expectSameContents(store, database);
      expect(await folderStoreState(database, storeDir)).toBe('verified');
    });

    it('gives one copy when two processes migrate the same store at once', async () => {
      const { store, storeDir, location, database } = await setUp({ extraDatasets: 4 });
      const other = await open(location);
      const results = await Promise.all([
        migrateFolderStore(database, storeDir, { ...options(), batchSize: 3 }),
        migrateFolderStore(other, storeDir, options()),
      ]);
      expect(results.map((result) => result.datasets)).toEqual([
        FIXTURE_DATASETS.length + 4,
        FIXTURE_DATASETS.length + 4,
      ]);
      await expectSameContents(store, database);
      expect(await folderStoreState(other, storeDir)).toBe('verified');
    });

    it('names a corrupt record, writes nothing of its dataset, keeps the ones before, and is not verified', async () => {
      const { store, storeDir, database } = await setUp();
      const files = path.join(storeDir, 'datasets', 'ds_c_retried', 'files');
      const [name] = (await readdir(files)).filter((file) => file.endsWith('.json'));
      const corrupt = path.join(files, name!);
      const good = await readFile(corrupt, 'utf8');
      await writeFile(corrupt, good.replace(/"size": \d+/, '"size": "nine"'));

      const error = await migrateFolderStore(database, storeDir, options()).catch(
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'E_MALFORMED_RECORD' });
      expect((error as Error).message).toContain(corrupt);
      expect((error as Error).message).toContain('record.size');
      const partial = await sqlStoreContents(database);
      expect(partial.datasets.map((dataset) => dataset.dataset_id)).toEqual(FIXTURE_DATASETS.slice(0, 2));
      expect(partial.files.filter((file) => file.record.association_id === 'ds_c_retried')).toEqual([]);
      expect(await folderStoreState(database, storeDir)).toBe('pending');

      // Not JSON at all.
      await writeFile(corrupt, '{"record": ');
      await expect(migrateFolderStore(database, storeDir, options())).rejects.toThrow(
        `folder store record ${corrupt} is not valid JSON`,
      );

      // A field the SQL store has no column for would be lost: refused too.
      await writeFile(corrupt, good.replace('"sha256"', '"color": "red",\n  "sha256"'));
      await expect(migrateFolderStore(database, storeDir, options())).rejects.toThrow(
        /has field\(s\) the SQL store has no place for: color/,
      );

      // Repaired, the migration finishes.
      await writeFile(corrupt, good);
      await migrateFolderStore(database, storeDir, options());
      await expectSameContents(store, database);
    });

    it('skips a dataset a crash left without a record, and refuses records that contradict where they are', async () => {
      const { store, storeDir, database } = await setUp();
      const datasets = path.join(storeDir, 'datasets');
      // A crash between mkdir and dataset.json: the folder store ignores that directory, and so does the migration.
      await mkdir(path.join(datasets, 'ds_0_crashed'));
      const { files, topics } = await folderStoreContents(store);
      const bag = files.find((file) => file.record.relative_path === 'run.mcap')!;
      const imu = topics.find((topic) => topic.topic_name === '/imu')!;
      const fileJson = path.join(datasets, 'ds_d_topics', 'files', `${bag.record.file_id}.json`);
      const topicJson = path.join(datasets, 'ds_d_topics', 'topics', `${imu.topic_id}.json`);
      const goodFile = await readFile(fileJson, 'utf8');
      const goodTopic = await readFile(topicJson, 'utf8');
      const cases: [string, () => Promise<void>, RegExp][] = [
        [
          fileJson,
          () =>
            writeFile(
              fileJson,
              goodFile.replace(`"file_id": "${bag.record.file_id}"`, '"file_id": "fl_other"'),
            ),
          /holds file "fl_other", not the one its name says/,
        ],
        [
          fileJson,
          () =>
            writeFile(
              fileJson,
              goodFile.replace('"association_id": "ds_d_topics"', '"association_id": "ds_a_plain"'),
            ),
          /belongs to dataset "ds_a_plain", not "ds_d_topics"/,
        ],
        [
          topicJson,
          () =>
            writeFile(
              topicJson,
              goodTopic.replace(`"association_id": "${bag.record.file_id}"`, '"association_id": "fl_gone"'),
            ),
          /is on file "fl_gone", which dataset ds_d_topics does not have/,
        ],
      ];
      for (const [file, corrupt, why] of cases) {
        await corrupt();
        const error = await migrateFolderStore(database, storeDir, options()).catch(
          (caught: unknown) => caught,
        );
        expect((error as Error).message).toContain(`folder store record ${file}`);
        expect((error as Error).message).toMatch(why);
        await writeFile(fileJson, goodFile);
        await writeFile(topicJson, goodTopic);
      }
      // Files without their dataset's record.
      await mkdir(path.join(datasets, 'ds_0_orphan', 'files'), { recursive: true });
      await writeFile(path.join(datasets, 'ds_0_orphan', 'files', 'fl_x.json'), goodFile);
      await expect(migrateFolderStore(database, storeDir, options())).rejects.toThrow(
        `folder store record ${path.join(datasets, 'ds_0_orphan', 'dataset.json')} is missing, but the dataset has files or topics`,
      );
      await rm(path.join(datasets, 'ds_0_orphan'), { recursive: true });

      expect(await migrateFolderStore(database, storeDir, options())).toMatchObject({
        datasets: FIXTURE_DATASETS.length,
      });
      await expectSameContents(store, database);
    });

    it('names a record the SQL store already holds with different content, and overwrites nothing', async () => {
      const { storeDir, database } = await setUp();
      const controller = new AbortController();
      controller.abort();
      await expect(migrateFolderStore(database, storeDir, options(controller.signal))).rejects.toMatchObject({
        code: 'E_CANCELLED',
      });
      // Someone wrote to the SQL store meanwhile.
      await database.db
        .insertInto('datasets')
        .values({
          dataset_id: 'ds_b_versions',
          org_id: 'og_other',
          name: 'written elsewhere',
          description: null,
          tags: '[]',
          metadata: '{}',
          created: '2026-01-01T00:00:00.000Z',
          created_by: 'someone',
          modified: '2026-01-01T00:00:00.000Z',
          modified_by: 'someone',
        })
        .execute();

      const error = await migrateFolderStore(database, storeDir, options()).catch(
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'E_USAGE' });
      expect((error as Error).message).toContain('the SQL store already holds different content');
      expect((error as Error).message).toMatch(/dataset ds_b_versions: (name|org_id)/);
      // Refused as it was copied: nothing of that dataset went in, and the migration stopped there.
      const partial = await sqlStoreContents(database);
      expect(partial.files.filter((file) => file.record.association_id === 'ds_b_versions')).toEqual([]);
      expect(partial.datasets.map((dataset) => dataset.dataset_id)).toEqual(['ds_a_plain', 'ds_b_versions']);
      expect(
        await database.db
          .selectFrom('datasets')
          .select('name')
          .where('dataset_id', '=', 'ds_b_versions')
          .executeTakeFirst(),
      ).toEqual({
        name: 'written elsewhere',
      });
      expect(await folderStoreState(database, storeDir)).toBe('pending');
    });

    it('is not verified when a blob is missing or a record read back differs, and names them', async () => {
      const { store, storeDir, database } = await setUp();
      const { files } = await folderStoreContents(store);
      const victim = files.find((file) => file.record.relative_path === 'a.txt')!;
      const blob = contentAddressedPath(path.join(storeDir, 'blobs'), victim.sha256);
      await chmod(path.dirname(blob), 0o755);
      await rename(blob, `${blob}.away`);

      const error = await migrateFolderStore(database, storeDir, options()).catch(
        (caught: unknown) => caught,
      );
      expect((error as Error).message).toContain(
        `file ${victim.record.file_id} ("a.txt") of dataset ds_a_plain: blob ${blob} is missing`,
      );
      expect(await folderStoreProgress(database, storeDir)).toMatchObject({ verified: null });
      expect(await folderStoreState(database, storeDir)).toBe('pending');
      await expect(confirmFolderStoreMigration(database, storeDir)).rejects.toThrow(/not verified/);

      // A record changed in the SQL store after the copy: named with its field.
      await rename(`${blob}.away`, blob);
      const other = files.find((file) => file.record.relative_path === 'log.txt')!;
      await database.db
        .updateTable('files')
        .set({ description: 'changed' })
        .where('file_id', '=', other.record.file_id)
        .execute();
      const second = await migrateFolderStore(database, storeDir, options()).catch(
        (caught: unknown) => caught,
      );
      expect((second as Error).message).toContain(
        `file ${other.record.file_id} ("log.txt") of dataset ds_b_versions: record.description`,
      );
      expect(await folderStoreState(database, storeDir)).toBe('pending');
    });

    it('refuses to confirm before verification; confirm moves the old tree aside, and then migrate does nothing', async () => {
      const { store, storeDir, database } = await setUp();
      await expect(confirmFolderStoreMigration(database, storeDir)).rejects.toMatchObject({
        code: 'E_USAGE',
      });
      expect((await readdir(storeDir)).sort()).toEqual(['blobs', 'datasets', 'index', 'locks', 'tmp']);

      const before = await folderStoreContents(store);
      await migrateFolderStore(database, storeDir, options());
      const confirmed = await confirmFolderStoreMigration(database, storeDir);
      expect(confirmed).toEqual({
        movedTo: path.join(storeDir, MIGRATED_DIR),
        moved: ['datasets', 'index', 'locks'],
      });
      expect((await readdir(storeDir)).sort()).toEqual(['blobs', 'folder-store.migrated', 'tmp']);
      expect((await readdir(path.join(storeDir, MIGRATED_DIR))).sort()).toEqual([
        'datasets',
        'index',
        'locks',
      ]);
      expect(await folderStoreState(database, storeDir)).toBe('confirmed');
      // The old tree is whole where it went.
      const { LocalDataStore } = await import('../../src/adapters/local/local-data-store.js');
      const moved = await folderStoreContents(new LocalDataStore(path.join(storeDir, MIGRATED_DIR)));
      expect(moved.files.map((file) => file.sha256)).toEqual(before.files.map((file) => file.sha256));

      expect(await migrateFolderStore(database, storeDir, options())).toMatchObject({ alreadyDone: true });
      expect(await confirmFolderStoreMigration(database, storeDir)).toMatchObject({ moved: [] });
      await expectSameContents(new LocalDataStore(path.join(storeDir, MIGRATED_DIR)), database);
    });

    it('refuses to confirm, moving nothing, when the folder store was written to after verification', async () => {
      const { store, storeDir, database } = await setUp();
      await migrateFolderStore(database, storeDir, options());
      const { MetadataChangeset } = await import('../../src/domain/metadata-changeset.js');
      // The SQL store written to since by the new version: that is what it is for, and no reason to refuse.
      const { SqlDataStore } = await import('../../src/adapters/sql/sql-data-store.js');
      const sqlStore = new SqlDataStore(database, {
        putMany: () => Promise.reject(new Error('no blobs in this test')),
        pathOf: (sha256) => contentAddressedPath(path.join(storeDir, 'blobs'), sha256),
      });
      await sqlStore.updateDataset('ds_b_versions', MetadataChangeset.parse({ put_tags: ['new-version'] }));
      // …but the previous version started again (a rollback) and wrote to the folder store.
      await store.createDataset({ orgId: 'og_1', datasetId: 'ds_z_rollback' });
      await store.updateDataset('ds_a_plain', MetadataChangeset.parse({ put_tags: ['rolled-back'] }));

      const error = await confirmFolderStoreMigration(database, storeDir).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'E_USAGE' });
      expect((error as Error).message).toContain('dataset ds_z_rollback: missing from the SQL store');
      expect((error as Error).message).toContain('dataset ds_a_plain: tags');
      expect((error as Error).message).not.toContain('ds_b_versions');
      expect((await readdir(storeDir)).sort()).toEqual(['blobs', 'datasets', 'index', 'locks', 'tmp']);
      expect(await folderStoreState(database, storeDir)).toBe('verified');
    });

    it('finishes a confirm that stopped half-way', async () => {
      const { storeDir, database } = await setUp();
      await migrateFolderStore(database, storeDir, options());
      // As if it crashed after the first rename.
      await mkdir(path.join(storeDir, MIGRATED_DIR));
      await rename(path.join(storeDir, 'datasets'), path.join(storeDir, MIGRATED_DIR, 'datasets'));
      expect(await folderStoreState(database, storeDir)).toBe('verified');
      expect(await confirmFolderStoreMigration(database, storeDir)).toMatchObject({
        moved: ['index', 'locks'],
      });
      expect(await folderStoreState(database, storeDir)).toBe('confirmed');
    });

    it('says none for a directory that holds no folder store', async () => {
      const dir = await tempDir('migrate-none');
      const database = await open((await freshDatabase()).location);
      expect(await folderStoreState(database, dir)).toBe('none');
      expect(await migrateFolderStore(database, dir, options())).toEqual({
        datasets: 0,
        files: 0,
        topics: 0,
        alreadyDone: true,
      });
      expect(await folderStoreState(database, dir)).toBe('none');
      await rm(dir, { recursive: true });
    });
  });
}
