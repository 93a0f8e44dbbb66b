// A migration in a separate process, to be killed in the middle of a dataset's transaction:
//   folder-store-migrate-child.ts <database location> <store dir> <n>
// It runs the migration and, when the n-th dataset's file versions are about to be inserted (its dataset
// and file rows written, not committed), prints "blocked" and waits for stdin, which never comes: the test
// kills it with SIGKILL there.
import { readSync, writeSync } from 'node:fs';
import { type KyselyPlugin, InsertQueryNode, TableNode } from 'kysely';
import { pino } from 'pino';
import { migrateFolderStore } from '../../src/adapters/sql/folder-store-migration.js';
import { openSqlDatabase, parseDatabaseLocation } from '../../src/adapters/sql/open-database.js';

const [location = '', storeDir = '', blockAtText = '0'] = process.argv.slice(2);
const blockAt = Number(blockAtText);
let datasetInserts = 0;

const blocker: KyselyPlugin = {
  transformQuery({ node }) {
    if (InsertQueryNode.is(node) && node.into !== undefined && TableNode.is(node.into)) {
      const table = node.into.table.identifier.name;
      if (table === 'datasets') datasetInserts += 1;
      if (table === 'file_versions' && datasetInserts === blockAt) {
        writeSync(1, 'blocked\n');
        readSync(0, Buffer.alloc(1));
      }
    }
    return node;
  },
  transformResult: ({ result }) => Promise.resolve(result),
};

const database = await openSqlDatabase(parseDatabaseLocation(location));
await migrateFolderStore({ ...database, db: database.db.withPlugin(blocker) }, storeDir, {
  logger: pino({ level: 'warn' }),
  signal: new AbortController().signal,
});
await database.close();
writeSync(1, 'finished\n');
