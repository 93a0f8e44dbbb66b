import path from 'node:path';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { afterAll } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { describeDataStoreContract } from './data-store.contract.js';

afterAll(removeTempDirs);

describeDataStoreContract('LocalDataStore', async () => {
  const root = await tempDir('store');
  const storeDir = path.join(root, 'store');
  return {
    store: new LocalDataStore(storeDir),
    scratch: root,
    open: () => Promise.resolve(new LocalDataStore(storeDir)),
  };
});
