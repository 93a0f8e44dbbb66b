import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { execa } from 'execa';
import { Kysely, type KyselyPlugin, Migrator, type RootOperationNode, SqliteDialect, sql } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BlobStore } from '../../src/adapters/local/blob-store.js';
import { initialSchema } from '../../src/adapters/sql/migrations/0001-initial.js';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { SqlDataStore, type SqlDataStoreOptions } from '../../src/adapters/sql/sql-data-store.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import { projectRoot } from '../support/paths.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeDataStoreContract } from './data-store.contract.js';
import { describeChangeOutbox } from './change-outbox.suite.js';
import { describeSqlDataStore } from './sql-data-store.suite.js';

const opened: SqlDataStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(removeTempDirs);

/** A store on a new SQLite file in a temporary directory, and a way to open it again (a second connection). */
async function sqliteFixture() {
  const scratch = await tempDir('sql-store');
  const storeDir = path.join(scratch, 'store');
  const file = path.join(storeDir, 'metadata.sqlite3');
  const open = async (options?: SqlDataStoreOptions) => {
    const store = await openSqlDataStore({ dialect: 'sqlite', file }, storeDir, options);
    opened.push(store);
    return store;
  };
  const store = await open();
  return { store, scratch, storeDir, file, open, database: store.database };
}

describeDataStoreContract('SqlDataStore on SQLite', sqliteFixture);
describeSqlDataStore('SQLite', sqliteFixture);
describeChangeOutbox('SQLite', sqliteFixture);

describe('SqlDataStore on SQLite with several processes', () => {
  it(
    'keeps versions 1..N of every path when two processes write the same paths at once',
    { timeout: 120_000 },
    async () => {
      const { store, file, storeDir } = await sqliteFixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const rounds = 10;
      const writer = (name: string) =>
        execa(
          'node',
          [
            '--import',
            'tsx',
            path.join(projectRoot, 'test', 'support', 'sql-store-writer.ts'),
            file,
            storeDir,
            datasetId,
            name,
            String(rounds),
          ],
          { cwd: projectRoot },
        );
      await Promise.all([writer('alpha'), writer('beta')]);
      const files = await store.listFiles(datasetId);
      expect(files.map((stored) => stored.record.version)).toEqual([2 * rounds, 2 * rounds, 2 * rounds]);
      for (const stored of files) {
        const versions = await store.database.db
          .selectFrom('file_versions')
          .select('version')
          .where('file_id', '=', stored.record.file_id)
          .orderBy('version')
          .execute();
        expect(versions.map((row) => row.version)).toEqual(
          Array.from({ length: 2 * rounds }, (_, i) => i + 1),
        );
      }
      const dataset = await store.getDataset(datasetId);
      expect(dataset?.metadata).toEqual({ counts: { alpha: rounds, beta: rounds } });
    },
  );
});

describe('SqlDataStore on SQLite waiting for the write lock', () => {
  it('lets the event loop run while another connection holds the lock, and writes once it is released', async () => {
    const { store: first, file, storeDir } = await sqliteFixture();
    const { dataset_id: datasetId } = await first.createDataset({ orgId: 'og_1' });
    // Another connection takes the database's write lock; it lets go on a timer of this process, armed
    // when the store first tries to take the lock: a wait that blocks the event loop never sees it fire.
    const holder = new BetterSqlite3(file);
    holder.exec('BEGIN IMMEDIATE');
    let armed = false;
    let release: NodeJS.Timeout | undefined;
    const releaseOnFirstBegin: KyselyPlugin = {
      transformQuery({ node }: { node: RootOperationNode }) {
        const text = node.kind === 'RawNode' ? node.sqlFragments.join('') : '';
        if (!armed && text.includes('BEGIN IMMEDIATE')) {
          armed = true;
          release = setTimeout(() => holder.exec('COMMIT'), 0);
        }
        return node;
      },
      transformResult: ({ result }) => Promise.resolve(result),
    };
    const database = await openSqlDatabase({ dialect: 'sqlite', file });
    const store = new SqlDataStore(
      { ...database, db: database.db.withPlugin(releaseOnFirstBegin) },
      new BlobStore(path.join(storeDir, 'blobs'), path.join(storeDir, 'tmp')),
    );
    opened.push(store);
    try {
      const updated = await store.updateDataset(
        datasetId,
        MetadataChangeset.parse({ put_fields: { waited: true } }),
      );
      expect(armed).toBe(true);
      expect(updated.metadata).toEqual({ waited: true });
      expect((await first.getDataset(datasetId))?.metadata).toEqual({ waited: true });
    } finally {
      clearTimeout(release);
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
  });
});

describe('SqlDataStore on SQLite written by the version before the change outbox', () => {
  it('brings the schema up to date at start-up, keeping every record, and announces from then on', async () => {
    const scratch = await tempDir('sql-store-upgrade');
    const storeDir = path.join(scratch, 'store');
    const file = path.join(storeDir, 'metadata.sqlite3');
    await mkdir(storeDir, { recursive: true });
    // The schema as the previous version left it: the first migration only, and a dataset in it.
    const old = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
    const migrated = await new Migrator({
      db: old,
      provider: { getMigrations: () => Promise.resolve({ '0001-initial': initialSchema('sqlite') }) },
      migrationTableName: 'schema_migrations',
      migrationLockTableName: 'schema_migrations_lock',
    }).migrateToLatest();
    expect(migrated.error).toBeUndefined();
    await sql`INSERT INTO datasets (dataset_id, org_id, name, description, tags, metadata, created, created_by, modified, modified_by)
      VALUES ('ds_before', 'og_1', 'before', NULL, '["kept"]', '{}', '2026-11-01T00:00:00.000Z', 'u', '2026-11-01T00:00:00.000Z', 'u')`.execute(
      old,
    );
    await old.destroy();

    const store = await openSqlDataStore({ dialect: 'sqlite', file }, storeDir);
    opened.push(store);
    expect((await store.getDataset('ds_before'))?.tags).toEqual(['kept']);
    await store.updateDataset('ds_before', MetadataChangeset.parse({ put_tags: ['new'] }), {}, {});
    const events = await store.claimOutboxEvents(10, 60_000);
    expect(events.map((entry) => [entry.event.dataset_id, entry.event.cause])).toEqual([
      ['ds_before', 'dataset_metadata_update'],
    ]);
  });
});
