import { execa } from 'execa';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import type { SqlDataStore, SqlDataStoreOptions } from '../../src/adapters/sql/sql-data-store.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { describeDataStoreContract } from '../contract/data-store.contract.js';
import { describeChangeOutbox } from '../contract/change-outbox.suite.js';
import { describeSqlDataStore } from '../contract/sql-data-store.suite.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
const opened: SqlDataStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  await server.stop();
  await removeTempDirs();
});

/** A store on a fresh database of the file's PostgreSQL server, its blobs in a temporary directory. */
async function postgresFixture() {
  const url = await server.database();
  const scratch = await tempDir('pg-store');
  const open = async (options?: SqlDataStoreOptions) => {
    const store = await openSqlDataStore({ dialect: 'postgres', url }, `${scratch}/store`, options);
    opened.push(store);
    return store;
  };
  const store = await open();
  return { store, scratch, open, database: store.database };
}

describeDataStoreContract('SqlDataStore on PostgreSQL', postgresFixture);
describeSqlDataStore('PostgreSQL', postgresFixture);
describeChangeOutbox('PostgreSQL', postgresFixture);

it('outlives its idle connections being cut (a server restart, an administrator) and connects again', async () => {
  const url = await server.database();
  const store = await openSqlDataStore({ dialect: 'postgres', url }, `${await tempDir('pg-store')}/store`);
  opened.push(store);
  // A few connections at once, left idle in the pool.
  const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
  await Promise.all(Array.from({ length: 4 }, () => store.getDataset(datasetId)));
  // Another session ends every one of them: their sockets close under the idle clients.
  const database = new URL(url).pathname.slice(1);
  await execa('psql', [
    server.adminUrl,
    '-v',
    'ON_ERROR_STOP=1',
    '-qc',
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}'`,
  ]);
  // The store answers again (a query that drew a connection being cut may fail; the next ones do not).
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await store.getDataset(datasetId).catch(() => undefined);
    if (answer !== undefined) break;
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // …and goes on answering: nothing was left to crash the process.
  for (let i = 0; i < 5; i += 1)
    expect(await store.getDataset(datasetId)).toMatchObject({ dataset_id: datasetId });
});

it('fails a write whose connection the server ends as a retryable I/O error, not an internal one', async () => {
  const url = await server.database();
  const store = await openSqlDataStore({ dialect: 'postgres', url }, `${await tempDir('pg-store')}/store`);
  opened.push(store);
  const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
  // Another session holds the dataset's row, so the store's write waits on it…
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT dataset_id FROM datasets WHERE dataset_id = $1 FOR UPDATE', [datasetId]);
    const write = store
      .updateDataset(datasetId, MetadataChangeset.parse({ put_fields: { k: 1 } }))
      .catch((error: unknown) => error);
    // …until the server ends its connection (a restart, a failover, an administrator).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rowCount } = await holder.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
      );
      if ((rowCount ?? 0) > 0) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The daemon retries an invocation whose outputs failed so; an internal error would fail it for good.
    expect(await write).toMatchObject({ code: 'E_IO', retryable: true });
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await holder.end();
  }
});
