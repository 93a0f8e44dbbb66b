import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { describeDataStoreContract } from './data-store.contract.js';

describeDataStoreContract('LocalDataStore', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'aw-store-'));
  return { store: new LocalDataStore(path.join(root, 'store')), scratch: root };
});
