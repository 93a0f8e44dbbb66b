import path from 'node:path';
import { afterAll } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeStoreQueryContract } from './store-query.contract.js';

afterAll(removeTempDirs);

describeStoreQueryContract('LocalDataStore', async () => {
  const root = await tempDir('query');
  return { store: new LocalDataStore(path.join(root, 'store')), scratch: root };
});
