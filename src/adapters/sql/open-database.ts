import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, type Migration, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import type { Database, Dialect, SqlDatabase } from './database.js';
import { withStoreErrors } from './database-errors.js';
import { initialSchema } from './migrations/0001-initial.js';
import { changeOutboxSchema } from './migrations/0002-change-outbox.js';

/** Every schema version, in order. Names sort in the order they apply; never rename or edit a shipped one. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initialSchema(dialect),
    '0002-change-outbox': changeOutboxSchema(dialect),
  };
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
    const { error } = await underMigrationLock(location, () => migrator.migrateToLatest());
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

/**
 * Runs the migrator so that one process at a time does. On PostgreSQL the migrator takes a lock of its
 * own; on SQLite its lock only covers this process's connection, and two processes opening a new file at
 * once would both start the first migration (one failing with "table already exists"), so a lock file
 * beside the database serialises them: the second finds the schema up to date.
 */
async function underMigrationLock<T>(location: DatabaseLocation, migrate: () => Promise<T>): Promise<T> {
  if (location.dialect !== 'sqlite') return migrate();
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(location.file, {
    realpath: false,
    lockfilePath: `${location.file}.migration-lock`,
    // A lock whose holder died is taken over after 10 s; a live holder refreshes it.
    stale: 10_000,
    retries: { retries: 1_000, minTimeout: 5, maxTimeout: 100, factor: 1.5 },
    // Losing the lock mid-migration is harmless (each migration is one transaction): never crash for it.
    onCompromised: () => undefined,
  });
  try {
    return await migrate();
  } finally {
    await release().catch(() => undefined);
  }
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

/** How long a connection to PostgreSQL may take to be made, the login included. */
const CONNECT_TIMEOUT_MS = 15_000;

async function openPostgres(url: string): Promise<Kysely<Database>> {
  const { default: pg } = await import('pg');
  // The first connection is made alone, so that a failure can close its socket: when pg itself gives up
  // half-way through the login (no password for a server that asks for one), a pooled client's socket
  // stays open until the server's login timeout (60 s), and the process with it.
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.end();
  } catch (error) {
    (probe as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    throw new InfrastructureError(
      `could not reach the PostgreSQL metadata database: ${(error as Error).message}`,
      'E_IO',
    );
  }
  const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle connection the server ends (a restart, a failover, an administrator) is reported on the pool:
  // without a listener that is an uncaught exception, which ends the whole worker. The pool drops that
  // connection and opens another for the next query; a query's own failure reaches its caller.
  pool.on('error', () => undefined);
  // The same for a connection in use: its query fails (and reaches its caller), and the client reports it
  // again as an event, which would be uncaught too.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return new Kysely<Database>({ dialect: withStoreErrors(new PostgresDialect({ pool }), 'postgres') });
}
