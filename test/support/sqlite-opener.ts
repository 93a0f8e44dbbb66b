// A separate process opening a SQLite metadata database (applying its migrations), for the start-up test:
//   sqlite-opener.ts <database file>
import { openSqlDatabase } from '../../src/adapters/sql/open-database.js';

const database = await openSqlDatabase({ dialect: 'sqlite', file: process.argv[2] ?? '' });
await database.close();
