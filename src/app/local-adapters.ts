import path from 'node:path';
import { type Logger, pino } from 'pino';
import { DockerContainerRuntime } from '../adapters/docker/docker-container-runtime.js';
import { BlobStore } from '../adapters/local/blob-store.js';
import { LocalDataStore } from '../adapters/local/local-data-store.js';
import {
  folderStoreState,
  folderStoreWrittenSinceVerified,
  migrateFolderStore,
} from '../adapters/sql/folder-store-migration.js';
import {
  type DatabaseLocation,
  openSqlDatabase,
  parseDatabaseLocation,
} from '../adapters/sql/open-database.js';
import { SqlDataStore, type SqlDataStoreOptions } from '../adapters/sql/sql-data-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { DataStore } from '../ports/data-store.js';

/**
 * The adapters a command on this host runs on, built here so the CLI constructs none (app/ is the only
 * composition root): the Docker engine and the data store.
 */
export function openContainerRuntime(options: { dockerConfigDir?: string } = {}): ContainerRuntime {
  return new DockerContainerRuntime(
    options.dockerConfigDir === undefined ? {} : { dockerConfigDir: options.dockerConfigDir },
  );
}

/** The file of the embedded (SQLite) metadata database when `store.database` is not set. */
export const DEFAULT_DATABASE_FILE = 'metadata.sqlite3';

/**
 * Where `serve` stages API uploads' bytes until their transaction completes: `<storeDir>/uploads`, beside
 * the blobs, so every replica sharing the store sees them (not in `tmp/`, which `gc` sweeps after an hour).
 */
export function uploadStagingDir(storeDir: string): string {
  return path.join(storeDir, 'uploads');
}

/** Where the store's metadata lives: `store.database`, else `<storeDir>/metadata.sqlite3`. */
export function databaseLocation(settings: Pick<WorkerSettings, 'storeDir' | 'store'>): DatabaseLocation {
  const configured = settings.store.database;
  return configured === null
    ? { dialect: 'sqlite', file: path.join(settings.storeDir, DEFAULT_DATABASE_FILE) }
    : parseDatabaseLocation(configured);
}

/**
 * A SQL data store: its metadata in the database at `location` (opened, its schema brought up to date),
 * file contents in `<storeDir>/blobs` (copied through `<storeDir>/tmp`, as the folder store does).
 */
export async function openSqlDataStore(
  location: DatabaseLocation,
  storeDir: string,
  options: SqlDataStoreOptions = {},
): Promise<SqlDataStore> {
  const database = await openSqlDatabase(location);
  const blobs = new BlobStore(path.join(storeDir, 'blobs'), LocalDataStore.temporaryDir(storeDir));
  return new SqlDataStore(database, blobs, options);
}

/**
 * The data store the settings locate (close it when done). A JSON-folder store from before the SQL store
 * found in `storeDir` is migrated into the database first (once, verified record by record; its files
 * stay until `action-worker store migrate --confirm`): so the first start after an upgrade sees every
 * dataset it saw before, or fails saying which record it could not carry over.
 */
export async function openDataStore(
  settings: Pick<WorkerSettings, 'storeDir' | 'store'>,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<DataStore> {
  const store = await openSqlDataStore(databaseLocation(settings), settings.storeDir);
  try {
    const logger = options.logger ?? pino({ level: 'silent' });
    const state = await folderStoreState(store.database, settings.storeDir);
    if (state === 'verified' && (await folderStoreWrittenSinceVerified(store.database, settings.storeDir))) {
      logger.warn(
        {
          storeDir: settings.storeDir,
          detail:
            'the folder store was written to after its migration was verified (the previous version ' +
            'started again?): those records are not in this store; store migrate --confirm names them',
        },
        'store.folder_store.written_after_migration',
      );
    }
    if (state === 'pending') {
      logger.info({ storeDir: settings.storeDir }, 'store.folder_store.migrating');
      const result = await migrateFolderStore(store.database, settings.storeDir, {
        logger,
        signal: options.signal ?? new AbortController().signal,
      });
      logger.info({ ...result }, 'store.folder_store.migrated');
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
