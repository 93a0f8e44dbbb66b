import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { describeStoreQueryContract } from '../contract/store-query.contract.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { SqlQueryTestStore } from '../support/sql-query-store.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

let server: PrivatePostgres;
const opened: SqlDatabase[] = [];
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await Promise.all(opened.map((database) => database.close()));
  await server.stop();
  await removeTempDirs();
});

// The SQL queries on PostgreSQL, seeded through a test-only adapter until the SQL DataStore is merged.
describeStoreQueryContract(
  'SQL queries on PostgreSQL',
  async () => {
    const root = await tempDir('pg-query');
    const database = await openSqlDatabase({ dialect: 'postgres', url: await server.database() });
    opened.push(database);
    return { store: new SqlQueryTestStore(database), scratch: path.join(root) };
  },
  { generatedQueries: 200 },
);
