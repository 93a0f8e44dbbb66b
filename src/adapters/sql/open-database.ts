import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import type { Database, Dialect, SqlDatabase } from './database.js';
import { withStoreErrors } from './database-errors.js';
import { initialSchema } from './migrations/0001-initial.js';

/** Every schema version, in order. Names sort in the order they apply; never rename or edit a shipped one. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return { '0001-initial': initialSchema(dialect) };
}

/** Where a store's metadata lives: a SQLite file, or a PostgreSQL server. */
export type DatabaseLocation = { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; url: string };

/** Reads a `--database`/setting value: `postgres://…` / `postgresql://…`, `sqlite:PATH`, or a file path. */
export function parseDatabaseLocation(value: string): DatabaseLocation {
  if (/^postgres(ql)?:\/\//.test(value)) return { dialect: 'postgres', url: value };
  const file = value.startsWith('sqlite:') ? value.slice('sqlite:'.length) : value;
  if (file === '') throw new UsageError('the SQLite database path is empty', 'E_USAGE');
  return { dialect: 'sqlite', file };
}

/** How long a SQLite writer waits for another process's write to finish before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 15_000;

/**
 * Opens the metadata database and brings its schema up to date (migrations are applied at start-up, under
 * the migrator's lock, so several processes starting together apply each one once).
 */
export async function openSqlDatabase(location: DatabaseLocation): Promise<SqlDatabase> {
  const db =
    location.dialect === 'sqlite' ? await openSqlite(location.file) : await openPostgres(location.url);
  try {
    const migrator = new Migrator({
      db: db as Kysely<unknown>,
      provider: { getMigrations: () => Promise.resolve(migrations(location.dialect)) },
      migrationTableName: 'schema_migrations',
      migrationLockTableName: 'schema_migrations_lock',
    });
    const { error } = await migrator.migrateToLatest();
    if (error !== undefined) {
      throw new InfrastructureError(
        `could not bring the metadata database's schema up to date: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
        'E_IO',
      );
    }
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { db, dialect: location.dialect, close: () => db.destroy() };
}

async function openSqlite(file: string): Promise<Kysely<Database>> {
  mkdirSync(path.dirname(file), { recursive: true });
  // Loaded when a store is opened, not when the CLI starts.
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const connection = new BetterSqlite3(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  // WAL lets readers go on while one process writes; FULL makes each commit durable before it returns
  // (with batched writes, one sync per batch).
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = FULL');
  connection.pragma('foreign_keys = ON');
  return new Kysely<Database>({
    dialect: withStoreErrors(new SqliteDialect({ database: connection }), 'sqlite'),
  });
}

async function openPostgres(url: string): Promise<Kysely<Database>> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  // An idle connection the server ends (a restart, a failover, an administrator) is reported on the pool:
  // without a listener that is an uncaught exception, which ends the whole worker. The pool drops that
  // connection and opens another for the next query; a query's own failure reaches its caller.
  pool.on('error', () => undefined);
  // The same for a connection in use: its query fails (and reaches its caller), and the client reports it
  // again as an event, which would be uncaught too.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end();
    throw new InfrastructureError(
      `could not reach the PostgreSQL metadata database: ${(error as Error).message}`,
      'E_IO',
    );
  }
  return new Kysely<Database>({ dialect: withStoreErrors(new PostgresDialect({ pool }), 'postgres') });
}
