import path from 'node:path';
import { folderStoreMigrationContract } from './folder-store-migration.contract.js';
import { tempDir } from '../support/temp-dirs.js';

folderStoreMigrationContract('SQLite', async () => ({
  location: path.join(await tempDir('migrate-db'), 'metadata.sqlite3'),
}));
