import path from 'node:path';
import { afterAll } from 'vitest';
import type { SqlDataStore } from '../../src/adapters/sql/sql-data-store.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeStoreQueryContract } from './store-query.contract.js';

const opened: SqlDataStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await removeTempDirs();
});

describeStoreQueryContract(
  'SqlDataStore on SQLite',
  async () => {
    const root = await tempDir('sqlite-query');
    const store = await openSqlDataStore(
      { dialect: 'sqlite', file: path.join(root, 'store', 'metadata.sqlite3') },
      path.join(root, 'store'),
    );
    opened.push(store);
    return { store, scratch: root };
  },
  { generatedQueries: 200 },
);
