import path from 'node:path';
import type { Logger } from 'pino';
import {
  type FolderStoreMigrationResult,
  type FolderStoreProgress,
  type FolderStoreState,
  MIGRATED_DIR,
  confirmFolderStoreMigration,
  folderStoreProgress,
  folderStoreState,
  migrateFolderStore,
} from '../adapters/sql/folder-store-migration.js';
import type { SqlDatabase } from '../adapters/sql/database.js';
import { type DatabaseLocation, openSqlDatabase } from '../adapters/sql/open-database.js';
import { redactUrlPassword } from '../config/load-settings.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { databaseLocation } from './local-adapters.js';

/** The database, for a person to read: a SQLite file, or a PostgreSQL URL without its password. */
export function describeDatabase(location: DatabaseLocation): string {
  return location.dialect === 'sqlite' ? location.file : redactUrlPassword(location.url);
}

/** Where the folder store in a store directory stands, for `store status` and `store migrate`. */
export interface FolderStoreReport {
  storeDir: string;
  database: string;
  state: FolderStoreState;
  progress: FolderStoreProgress | undefined;
  /** Where a confirmed migration moved the folder store's files. */
  migratedDir: string;
  /** What this run of `migrate` did, if it ran. */
  migration?: FolderStoreMigrationResult;
  /** What `--confirm` moved aside, if it ran. */
  moved?: string[];
}

async function withDatabase<T>(
  settings: Pick<WorkerSettings, 'storeDir' | 'store'>,
  work: (database: SqlDatabase, location: DatabaseLocation) => Promise<T>,
): Promise<T> {
  const location = databaseLocation(settings);
  const database = await openSqlDatabase(location);
  try {
    return await work(database, location);
  } finally {
    await database.close();
  }
}

async function report(
  database: SqlDatabase,
  location: DatabaseLocation,
  storeDir: string,
): Promise<FolderStoreReport> {
  return {
    storeDir,
    database: describeDatabase(location),
    state: await folderStoreState(database, storeDir),
    progress: await folderStoreProgress(database, storeDir),
    migratedDir: path.join(storeDir, MIGRATED_DIR),
  };
}

export async function folderStoreStatus(
  settings: Pick<WorkerSettings, 'storeDir' | 'store'>,
): Promise<FolderStoreReport> {
  return withDatabase(settings, (database, location) => report(database, location, settings.storeDir));
}

/**
 * Migrates the folder store in the store directory into the metadata database (resuming a migration that
 * stopped; nothing when it is verified already), then, with `confirm`, moves the folder store's files aside.
 */
export async function upgradeFolderStore(
  settings: Pick<WorkerSettings, 'storeDir' | 'store'>,
  options: { logger: Logger; signal: AbortSignal; confirm: boolean },
): Promise<FolderStoreReport> {
  return withDatabase(settings, async (database, location) => {
    const migration = await migrateFolderStore(database, settings.storeDir, {
      logger: options.logger,
      signal: options.signal,
    });
    // With no folder store there is nothing to confirm either.
    const moved =
      options.confirm && (await folderStoreState(database, settings.storeDir)) !== 'none'
        ? (await confirmFolderStoreMigration(database, settings.storeDir)).moved
        : undefined;
    return {
      ...(await report(database, location, settings.storeDir)),
      migration,
      ...(moved === undefined ? {} : { moved }),
    };
  });
}
