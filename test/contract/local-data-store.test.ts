import path from 'node:path';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { afterAll } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeDataStoreContract } from './data-store.contract.js';

afterAll(removeTempDirs);

describeDataStoreContract('LocalDataStore', async () => {
  const root = await tempDir('store');
  return { store: new LocalDataStore(path.join(root, 'store')), scratch: root };
});
