// A migration in a separate process, to be killed in the middle of a dataset's transaction:
//   folder-store-migrate-child.ts <database location> <store dir> <n>
// It runs the migration and, once the n-th dataset's rows and the progress row are written in its
// transaction but not committed, prints "blocked" and waits for stdin, which never comes: the test kills it
// with SIGKILL there.
import { readSync, writeSync } from 'node:fs';
import { type KyselyPlugin, InsertQueryNode, TableNode, UpdateQueryNode } from 'kysely';
import { pino } from 'pino';
import { migrateFolderStore } from '../../src/adapters/sql/folder-store-migration.js';
import { openSqlDatabase, parseDatabaseLocation } from '../../src/adapters/sql/open-database.js';

const [location = '', storeDir = '', blockAtText = '0'] = process.argv.slice(2);
const blockAt = Number(blockAtText);
let datasetInserts = 0;

const progressUpdates = new Set<unknown>();
const blocker: KyselyPlugin = {
  transformQuery({ node, queryId }) {
    if (InsertQueryNode.is(node) && node.into !== undefined && TableNode.is(node.into)) {
      if (node.into.table.identifier.name === 'datasets') datasetInserts += 1;
    }
    if (
      UpdateQueryNode.is(node) &&
      node.table !== undefined &&
      TableNode.is(node.table) &&
      node.table.table.identifier.name === 'store_migrations' &&
      datasetInserts === blockAt
    ) {
      progressUpdates.add(queryId);
    }
    return node;
  },
  transformResult({ queryId, result }) {
    if (progressUpdates.has(queryId)) {
      writeSync(1, 'blocked\n');
      readSync(0, Buffer.alloc(1));
    }
    return Promise.resolve(result);
  },
};

const database = await openSqlDatabase(parseDatabaseLocation(location));
await migrateFolderStore({ ...database, db: database.db.withPlugin(blocker) }, storeDir, {
  logger: pino({ level: 'warn' }),
  signal: new AbortController().signal,
});
await database.close();
writeSync(1, 'finished\n');
