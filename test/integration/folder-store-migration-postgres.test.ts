import { afterAll, beforeAll } from 'vitest';
import { folderStoreMigrationContract } from '../contract/folder-store-migration.contract.js';
import { PrivatePostgres } from '../support/private-postgres.js';

let server: PrivatePostgres;
beforeAll(async () => {
  server = await PrivatePostgres.create();
});
afterAll(async () => {
  await server.stop();
});

folderStoreMigrationContract('PostgreSQL', async () => ({ location: await server.database() }));
