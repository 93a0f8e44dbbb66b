import path from 'node:path';
import { afterAll } from 'vitest';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';
import { SqlQueryTestStore } from '../support/sql-query-store.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeStoreQueryContract } from './store-query.contract.js';

const opened: SqlDatabase[] = [];
afterAll(async () => {
  await Promise.all(opened.map((database) => database.close()));
  await removeTempDirs();
});

// The SQL queries on SQLite, seeded through a test-only adapter until the SQL DataStore is merged.
describeStoreQueryContract(
  'SQL queries on SQLite',
  async () => {
    const root = await tempDir('sqlite-query');
    const database = await openSqlDatabase({ dialect: 'sqlite', file: path.join(root, 'store.db') });
    opened.push(database);
    return { store: new SqlQueryTestStore(database), scratch: root };
  },
  { generatedQueries: 200 },
);
