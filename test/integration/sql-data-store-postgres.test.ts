import { afterAll, afterEach, beforeAll } from 'vitest';
import type { SqlDataStore, SqlDataStoreOptions } from '../../src/adapters/sql/sql-data-store.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { describeDataStoreContract } from '../contract/data-store.contract.js';
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
