import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { SqlDataStore } from '../../src/adapters/sql/sql-data-store.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { describeStoreQueryContract } from '../contract/store-query.contract.js';
import { PrivatePostgres } from '../support/private-postgres.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

let server: PrivatePostgres;
const opened: SqlDataStore[] = [];
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await server.stop();
  await removeTempDirs();
});

describeStoreQueryContract(
  'SqlDataStore on PostgreSQL',
  async () => {
    const root = await tempDir('pg-query');
    const store = await openSqlDataStore(
      { dialect: 'postgres', url: await server.database() },
      path.join(root, 'store'),
    );
    opened.push(store);
    return { store, scratch: root };
  },
  { generatedQueries: 200 },
);
