import { mkdir, open, readFile, readdir, realpath, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Insertable, Selectable, Transaction } from 'kysely';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CancelledError, InfrastructureError, UsageError, formatZodError } from '../../domain/errors.js';
import { FileRecord, TopicRecord } from '../../domain/records.js';
import type { DatasetRecord } from '../../ports/data-store.js';
import { contentAddressedPath } from '../../util/content-address.js';
import type {
  Database,
  DatasetsTable,
  FileVersionsTable,
  FilesTable,
  SqlDatabase,
  StoreMigrationsTable,
  TopicsTable,
} from './database.js';
import {
  type WriteKey,
  datasetFromRow,
  datasetRow,
  fileFromRow,
  fileRow,
  topicFromRow,
  topicRow,
} from './rows.js';

/*
 * Moving a JSON-folder store (src/adapters/local/local-data-store.ts) into the SQL store.
 *
 * The source, under the store directory:
 *   datasets/<dataset id>/dataset.json            the dataset record
 *   datasets/<dataset id>/files/<file id>.json    {record, sha256, writtenBy}: the file's current version
 *   datasets/<dataset id>/topics/<topic id>.json  the topic record
 *   index/, locks/                                derived from the above, not copied
 *   blobs/, tmp/                                  shared with the SQL store: they stay where they are
 *
 * Only records move. The folder store kept a file's current version only (earlier versions were never
 * kept), so each file gets one `file_versions` row, for its current version.
 *
 * Datasets are copied in the order of their ids, one transaction each (the dataset, its files and versions,
 * its topics, and the progress row), so a crash leaves whole datasets behind it and the next run resumes
 * after the last one. Inserts do nothing on a row already there, and a row already there is compared with
 * the source: the same content is fine (a run resumed or racing), different content is an error naming
 * the record, never overwritten. Once every dataset is copied, every record is read back and compared
 * with the source, every blob checked, and only then is the migration marked verified. The folder store's
 * own files are left untouched until `confirmFolderStoreMigration` moves them aside.
 */

/** Where a confirmed migration moves the folder store's files, inside the store directory. */
export const MIGRATED_DIR = 'folder-store.migrated';

/** The folder store's own entries in the store directory (blobs/ and tmp/ are shared and stay). */
const FOLDER_STORE_ENTRIES = ['datasets', 'index', 'locks'] as const;

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Rows per INSERT: well under SQLite's and PostgreSQL's limits on bound parameters (27 columns a file). */
const DEFAULT_BATCH_SIZE = 500;

/** Source records read at once. */
const READ_CONCURRENCY = 16;

const SILENT: MigrationLogger = { info: () => undefined, warn: () => undefined };

/** How many mismatches a failed verification lists in its error (all of them are logged). */
const MISMATCHES_SHOWN = 20;

export type MigrationLogger = Pick<Logger, 'info' | 'warn'>;

export interface FolderStoreMigrationOptions {
  logger: MigrationLogger;
  /** Aborting stops between datasets: what is copied stays, and the next run resumes after it. */
  signal: AbortSignal;
  /** Rows per INSERT statement. */
  batchSize?: number;
}

export interface FolderStoreMigrationResult {
  datasets: number;
  files: number;
  /** Null when the migration was already done (the progress row does not count topics). */
  topics: number | null;
  /** True when there was nothing to do: verified earlier, or no folder store in the directory. */
  alreadyDone: boolean;
}

export type FolderStoreState = 'none' | 'pending' | 'verified' | 'confirmed';

export interface FolderStoreProgress {
  source: string;
  started: string;
  lastDatasetId: string | null;
  datasetsDone: number;
  filesDone: number;
  verified: string | null;
}

const DatasetSchema = z.object({
  dataset_id: z.string(),
  org_id: z.string(),
  name: z.string().nullable(),
  description: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  created: z.string(),
  created_by: z.string(),
  modified: z.string(),
  modified_by: z.string(),
});

const FileEntrySchema = z.object({
  record: FileRecord,
  sha256: z.string().regex(SHA256, 'must be a sha256 digest (64 lowercase hex digits)'),
  writtenBy: z.object({ invocationId: z.string(), attempt: z.number().int() }),
});

/**
 * A topic as the folder store may hold it: the domain's TopicRecord, except that its counts and times may be
 * integers beyond 2^53. Times in nanoseconds since the epoch are (`datasets add-topic --start-time` takes
 * them as JS numbers); the folder store kept them, so the migration keeps them too, as the same numbers.
 */
const WholeNumber = z.number().refine(Number.isInteger, 'must be a whole number').nullable().default(null);
const SourceTopicSchema = TopicRecord.extend({
  start_time: WholeNumber,
  end_time: WholeNumber,
  message_count: WholeNumber,
});

interface SourceFile {
  file: string;
  /** The wire record as the source holds it: parsed (defaults applied), plus any field the schema lacks. */
  record: FileRecord;
  sha256: string;
  writtenBy: WriteKey;
}

interface SourceTopic {
  file: string;
  record: TopicRecord;
}

interface SourceDataset {
  id: string;
  file: string;
  record: DatasetRecord;
  files: SourceFile[];
  topics: SourceTopic[];
}

/** One record that differs between the source and the SQL store. */
interface Mismatch {
  what: string;
  field: string;
}

/**
 * Copies the folder store in `storeDir` into `database`, then verifies every record. Resumes a migration
 * that stopped (crash, abort, error) after the last dataset it finished; does nothing once verified.
 */
export async function migrateFolderStore(
  database: SqlDatabase,
  storeDir: string,
  options: FolderStoreMigrationOptions,
): Promise<FolderStoreMigrationResult> {
  const { logger, signal } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new UsageError(`the migration's batch size must be a positive integer, not ${batchSize}`);
  }
  const source = await sourceName(storeDir);
  const existing = await readProgress(database, source);
  if (existing !== undefined && existing.verified !== null) {
    return { datasets: existing.datasets_done, files: existing.files_done, topics: null, alreadyDone: true };
  }
  if (existing === undefined && !(await exists(path.join(storeDir, 'datasets')))) {
    return { datasets: 0, files: 0, topics: 0, alreadyDone: true };
  }
  const progress = existing ?? (await startProgress(database, source));

  const ids = await datasetIds(storeDir, logger);
  const resumeAfter = progress.last_dataset_id;
  let datasetsDone = resumeAfter === null ? 0 : progress.datasets_done;
  let filesDone = resumeAfter === null ? 0 : progress.files_done;
  logger.info(
    { source, datasets: ids.length, resumeAfter, datasetsDone },
    resumeAfter === null ? 'store.migration.started' : 'store.migration.resumed',
  );
  for (const id of ids) {
    if (resumeAfter !== null && id <= resumeAfter) continue;
    if (signal.aborted) {
      throw new CancelledError(
        `the folder store migration was stopped after ${datasetsDone} dataset(s); run it again to resume`,
        signal.reason,
      );
    }
    const dataset = await readSourceDataset(storeDir, id, logger);
    if (dataset === undefined) continue;
    datasetsDone += 1;
    filesDone += dataset.files.length;
    try {
      await copyDataset(database, dataset, batchSize, {
        source,
        last_dataset_id: id,
        datasets_done: datasetsDone,
        files_done: filesDone,
      });
    } catch (error) {
      // A record refused because another process finished the migration and wrote to it since.
      const done =
        error instanceof UsageError ? await verifiedElsewhere(database, source, logger) : undefined;
      if (done !== undefined) return done;
      throw error;
    }
    logger.info(
      {
        datasetId: id,
        files: dataset.files.length,
        topics: dataset.topics.length,
        done: datasetsDone,
        total: ids.length,
      },
      'store.migration.dataset',
    );
  }

  const verified = await verifyFolderStore(database, storeDir, logger);
  if (verified.mismatches.length > 0) {
    // Another process migrating at the same time may have verified it meanwhile, and written to the SQL
    // store since (a job of a worker started with this one): its verification stands, and is not undone.
    const done = await verifiedElsewhere(database, source, logger);
    if (done !== undefined) return done;
    for (const mismatch of verified.mismatches) logger.warn(mismatch, 'store.migration.mismatch');
    // The next run walks every dataset again (copying what is missing, refusing what differs).
    await database.db
      .updateTable('store_migrations')
      .set({ last_dataset_id: null, verified: null })
      .where('source', '=', source)
      .where('verified', 'is', null)
      .execute();
    throw new UsageError(
      `the folder store migration of ${source} is not verified: ${verified.mismatches.length} record(s) differ ` +
        `between the folder store and the SQL store:\n  ${verified.mismatches
          .slice(0, MISMATCHES_SHOWN)
          .map((m) => `${m.what}: ${m.field}`)
          .join('\n  ')}${verified.mismatches.length > MISMATCHES_SHOWN ? '\n  …' : ''}\n` +
        'The folder store is untouched.',
      'E_INTERNAL',
    );
  }
  await database.db
    .updateTable('store_migrations')
    .set({
      verified: new Date().toISOString(),
      datasets_done: verified.datasets,
      files_done: verified.files,
    })
    .where('source', '=', source)
    .execute();
  logger.info(
    { source, datasets: verified.datasets, files: verified.files, topics: verified.topics },
    'store.migration.verified',
  );
  return { datasets: verified.datasets, files: verified.files, topics: verified.topics, alreadyDone: false };
}

/** The result of a migration another process verified since this one started, if one did. */
async function verifiedElsewhere(
  database: SqlDatabase,
  source: string,
  logger: MigrationLogger,
): Promise<FolderStoreMigrationResult | undefined> {
  const progress = await readProgress(database, source);
  if (progress?.verified == null) return undefined;
  logger.info({ source, verified: progress.verified }, 'store.migration.verified-elsewhere');
  return { datasets: progress.datasets_done, files: progress.files_done, topics: null, alreadyDone: true };
}

/**
 * Moves the folder store's files (`datasets/`, `index/`, `locks/`) into `<storeDir>/folder-store.migrated/`,
 * once the migration is verified. One rename per entry: run again after a crash, it finishes.
 */
export async function confirmFolderStoreMigration(
  database: SqlDatabase,
  storeDir: string,
): Promise<{ movedTo: string; moved: string[] }> {
  const source = await sourceName(storeDir);
  const progress = await readProgress(database, source);
  if (progress === undefined || progress.verified === null) {
    throw new UsageError(
      `the folder store in ${storeDir} cannot be confirmed: its migration is not verified yet ` +
        '(run `action-worker store migrate` first)',
    );
  }
  // The previous version started again after verification (a rollback) may have written to the folder
  // store: those records are not in the SQL store, and moving them aside would lose them from sight. The
  // SQL store's own writes since verification are no reason to refuse.
  if (await exists(path.join(storeDir, 'datasets'))) {
    const { mismatches } = await verifyFolderStore(database, storeDir, SILENT, progress.verified);
    if (mismatches.length > 0) {
      throw new UsageError(
        `the folder store in ${storeDir} cannot be confirmed: ${mismatches.length} of its record(s) were ` +
          `written after its migration was verified (${progress.verified}), by a worker of the previous ` +
          `version?, and are not in the SQL store as they are:\n  ${mismatches
            .slice(0, MISMATCHES_SHOWN)
            .map((m) => `${m.what}: ${m.field}`)
            .join('\n  ')}${mismatches.length > MISMATCHES_SHOWN ? '\n  …' : ''}\n` +
          'Nothing was moved. Stop every worker of the previous version, and carry those records over ' +
          'before confirming.',
      );
    }
  }
  const movedTo = path.join(storeDir, MIGRATED_DIR);
  await mkdir(movedTo, { recursive: true });
  const moved: string[] = [];
  for (const entry of FOLDER_STORE_ENTRIES) {
    const from = path.join(storeDir, entry);
    if (!(await exists(from))) continue;
    const to = path.join(movedTo, entry);
    if (await exists(to)) {
      throw new UsageError(
        `cannot move ${from} aside: ${to} is already there (was the folder store written to after it ` +
          'was confirmed?); move one of them away and confirm again',
      );
    }
    await rename(from, to);
    moved.push(entry);
  }
  await syncDir(movedTo);
  await syncDir(storeDir);
  return { movedTo, moved };
}

/**
 * Where the folder store in `storeDir` stands: none (no folder store, nothing migrated), pending (there is
 * one, not verified in this database), verified (copied and verified, its files still in place), or
 * confirmed (its files moved aside).
 */
export async function folderStoreState(database: SqlDatabase, storeDir: string): Promise<FolderStoreState> {
  const progress = await readProgress(database, await sourceName(storeDir));
  let remaining = false;
  for (const entry of FOLDER_STORE_ENTRIES) {
    if (await exists(path.join(storeDir, entry))) remaining = true;
  }
  if (progress !== undefined && progress.verified !== null) return remaining ? 'verified' : 'confirmed';
  if (progress !== undefined || (await exists(path.join(storeDir, 'datasets')))) return 'pending';
  return 'none';
}

/**
 * Whether the folder store in `storeDir` was written to after its migration was verified (by the previous
 * version started again): every write of the folder store takes a dataset lock, a directory made and
 * removed in `locks/`, so one stat tells. Those records are not in the SQL store.
 */
export async function folderStoreWrittenSinceVerified(
  database: SqlDatabase,
  storeDir: string,
): Promise<boolean> {
  const progress = await readProgress(database, await sourceName(storeDir));
  if (progress?.verified == null) return false;
  const locks = await stat(path.join(storeDir, 'locks')).catch(() => undefined);
  return locks !== undefined && locks.mtimeMs > Date.parse(progress.verified);
}

/** The migration's progress row for the folder store in `storeDir`, if it has one. */
export async function folderStoreProgress(
  database: SqlDatabase,
  storeDir: string,
): Promise<FolderStoreProgress | undefined> {
  const row = await readProgress(database, await sourceName(storeDir));
  return (
    row && {
      source: row.source,
      started: row.started,
      lastDatasetId: row.last_dataset_id,
      datasetsDone: row.datasets_done,
      filesDone: row.files_done,
      verified: row.verified,
    }
  );
}

/** The progress row's key: the store directory's real path. */
async function sourceName(storeDir: string): Promise<string> {
  return realpath(storeDir).catch(() => path.resolve(storeDir));
}

async function readProgress(
  database: SqlDatabase,
  source: string,
): Promise<Selectable<StoreMigrationsTable> | undefined> {
  return database.db
    .selectFrom('store_migrations')
    .selectAll()
    .where('source', '=', source)
    .executeTakeFirst();
}

async function startProgress(
  database: SqlDatabase,
  source: string,
): Promise<Selectable<StoreMigrationsTable>> {
  await database.db
    .insertInto('store_migrations')
    .values({ source, started: new Date().toISOString(), datasets_done: 0, files_done: 0 })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const row = await readProgress(database, source);
  if (row === undefined) throw new InfrastructureError(`could not record the migration of ${source}`, 'E_IO');
  return row;
}

/** The folder store's dataset ids, sorted: the order the migration walks them in. */
async function datasetIds(storeDir: string, logger: MigrationLogger): Promise<string[]> {
  const dir = path.join(storeDir, 'datasets');
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InfrastructureError(`cannot read ${dir}: ${(error as Error).message}`, 'E_IO', error);
  });
  const ids: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && ID.test(entry.name)) ids.push(entry.name);
    else logger.warn({ entry: path.join(dir, entry.name) }, 'store.migration.skipped-entry');
  }
  return ids.sort();
}

/**
 * Reads and checks one dataset of the source; undefined for a directory a crash left before its
 * dataset.json was written (the folder store ignores those too).
 */
async function readSourceDataset(
  storeDir: string,
  id: string,
  logger: MigrationLogger,
): Promise<SourceDataset | undefined> {
  const dir = path.join(storeDir, 'datasets', id);
  const datasetFile = path.join(dir, 'dataset.json');
  const fileNames = await jsonNames(path.join(dir, 'files'));
  const topicNames = await jsonNames(path.join(dir, 'topics'));
  const raw = await readSourceJson(datasetFile);
  if (raw === undefined) {
    if (fileNames.length > 0 || topicNames.length > 0) {
      throw malformed(datasetFile, 'is missing, but the dataset has files or topics');
    }
    logger.warn({ dir }, 'store.migration.skipped-empty-dataset');
    return undefined;
  }
  const record: DatasetRecord = parseSource(DatasetSchema, raw, datasetFile);
  refuseUnknownFields(raw, DatasetSchema, datasetFile, '');
  if (record.dataset_id !== id)
    throw malformed(datasetFile, `names dataset "${record.dataset_id}", not "${id}"`);

  const limit = pLimit(READ_CONCURRENCY);
  const files = await Promise.all(
    fileNames.map((name) =>
      limit(async (): Promise<SourceFile> => {
        const file = path.join(dir, 'files', name);
        const entryRaw = await readSourceJson(file);
        if (entryRaw === undefined) throw malformed(file, 'vanished while it was being migrated');
        const entry = parseSource(FileEntrySchema, entryRaw, file);
        refuseUnknownFields(entryRaw, FileEntrySchema, file, '');
        refuseUnknownFields((entryRaw as { record: unknown }).record, FileRecord, file, 'record.');
        const fileRecord = entry.record;
        if (`${fileRecord.file_id}.json` !== name) {
          throw malformed(file, `holds file "${fileRecord.file_id}", not the one its name says`);
        }
        if (fileRecord.association_id !== id) {
          throw malformed(file, `belongs to dataset "${fileRecord.association_id}", not "${id}"`);
        }
        return { file, record: fileRecord, sha256: entry.sha256, writtenBy: entry.writtenBy };
      }),
    ),
  );
  const fileIds = new Set(files.map((file) => file.record.file_id));
  const topics = await Promise.all(
    topicNames.map((name) =>
      limit(async (): Promise<SourceTopic> => {
        const file = path.join(dir, 'topics', name);
        const topicRaw = await readSourceJson(file);
        if (topicRaw === undefined) throw malformed(file, 'vanished while it was being migrated');
        // The SQL store keeps a topic's whole record: a field the schema does not know is kept too.
        const topic = { ...(topicRaw as object), ...parseSource(SourceTopicSchema, topicRaw, file) };
        if (`${topic.topic_id}.json` !== name) {
          throw malformed(file, `holds topic "${topic.topic_id}", not the one its name says`);
        }
        if (!fileIds.has(topic.association.association_id)) {
          throw malformed(
            file,
            `is on file "${topic.association.association_id}", which dataset ${id} does not have`,
          );
        }
        return { file, record: topic };
      }),
    ),
  );
  return { id, file: datasetFile, record, files, topics };
}

async function jsonNames(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw new InfrastructureError(`cannot read ${dir}: ${(error as Error).message}`, 'E_IO', error);
  });
  return names.filter((name) => name.endsWith('.json')).sort();
}

/** A source record's JSON, or undefined when the file is not there. */
async function readSourceJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InfrastructureError(
      `folder store record ${file} cannot be read: ${(error as Error).message}`,
      'E_IO',
      error,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw malformed(file, `is not valid JSON (${(error as Error).message})`);
  }
}

function parseSource<S extends z.ZodType>(schema: S, value: unknown, file: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new UsageError(formatZodError(result.error, `folder store record ${file}`), 'E_MALFORMED_RECORD');
  }
  return result.data;
}

/** A dataset's or file's fields beyond the schema would be lost (the SQL store has no column for them). */
function refuseUnknownFields(value: unknown, schema: z.ZodObject, file: string, prefix: string): void {
  const unknown = Object.keys(value as object).filter((key) => !(key in schema.shape));
  if (unknown.length > 0) {
    throw malformed(
      file,
      `has field(s) the SQL store has no place for: ${unknown.map((key) => prefix + key).join(', ')}`,
    );
  }
}

function malformed(file: string, why: string): UsageError {
  return new UsageError(`folder store record ${file} ${why}`, 'E_MALFORMED_RECORD');
}

/** What the progress row says once a dataset is copied. */
type ProgressUpdate = Pick<
  Insertable<StoreMigrationsTable>,
  'source' | 'last_dataset_id' | 'datasets_done' | 'files_done'
>;

/** One dataset, its files, their current versions and its topics, and the progress row: one transaction. */
async function copyDataset(
  database: SqlDatabase,
  dataset: SourceDataset,
  batchSize: number,
  progress: ProgressUpdate,
): Promise<void> {
  try {
    await database.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('datasets')
        .values(datasetRow(dataset.record))
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
        const row = await trx
          .selectFrom('datasets')
          .selectAll()
          .where('dataset_id', '=', dataset.id)
          .executeTakeFirstOrThrow();
        refuseDifferent(datasetMismatches(dataset, row));
      }
      for (const batch of batches(dataset.files, batchSize)) {
        await insertFiles(trx, batch);
        await insertVersions(trx, batch);
      }
      for (const batch of batches(dataset.topics, batchSize)) await insertTopics(trx, dataset.id, batch);
      await trx
        .updateTable('store_migrations')
        .set({
          last_dataset_id: progress.last_dataset_id,
          datasets_done: progress.datasets_done,
          files_done: progress.files_done,
        })
        .where('source', '=', progress.source)
        .execute();
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new InfrastructureError(
      `could not copy dataset ${dataset.id} into the SQL store (nothing of it was written): ${(error as Error).message}`,
      'E_IO',
      error,
    );
  }
}

async function insertFiles(trx: Transaction<Database>, files: SourceFile[]): Promise<void> {
  const result = await trx
    .insertInto('files')
    .values(files.map((file) => fileRow(file.record, file.sha256, file.writtenBy)))
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) === files.length) return;
  // Some were there already: each must hold what the source holds.
  const rows = await trx
    .selectFrom('files')
    .selectAll()
    .where(
      'file_id',
      'in',
      files.map((file) => file.record.file_id),
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.file_id, row]));
  for (const file of files) {
    const row = byId.get(file.record.file_id);
    if (row === undefined) {
      const holder = await trx
        .selectFrom('files')
        .select('file_id')
        .where('dataset_id', '=', file.record.association_id)
        .where('relative_path', '=', file.record.relative_path)
        .executeTakeFirst();
      refuseDifferent([
        {
          what: fileName(file),
          field: `its path is held by another file (${holder?.file_id ?? 'unknown'}) in the SQL store`,
        },
      ]);
      continue;
    }
    refuseDifferent(fileMismatches(file, row));
  }
}

/** The folder store kept only the current version of a file: that one version is what is recorded. */
async function insertVersions(trx: Transaction<Database>, files: SourceFile[]): Promise<void> {
  const rows = files.map((file) => versionRow(file));
  const result = await trx
    .insertInto('file_versions')
    .values(rows)
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) === files.length) return;
  for (const file of files) {
    const row = await trx
      .selectFrom('file_versions')
      .selectAll()
      .where('file_id', '=', file.record.file_id)
      .where('version', '=', file.record.version)
      .executeTakeFirst();
    refuseDifferent(versionMismatches(file, row));
  }
}

async function insertTopics(
  trx: Transaction<Database>,
  datasetId: string,
  topics: SourceTopic[],
): Promise<void> {
  const result = await trx
    .insertInto('topics')
    .values(topics.map((topic) => topicRow(topic.record, datasetId)))
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) === topics.length) return;
  const rows = await trx
    .selectFrom('topics')
    .selectAll()
    .where(
      'topic_id',
      'in',
      topics.map((topic) => topic.record.topic_id),
    )
    .execute();
  const byId = new Map(rows.map((row) => [row.topic_id, row]));
  for (const topic of topics)
    refuseDifferent(topicMismatches(datasetId, topic, byId.get(topic.record.topic_id)));
}

/**
 * A file's version as the folder store knew it: version 1 was written when the file was created; a later
 * one at the record's last modification (the closest the folder store kept: a metadata update after the
 * write moved that time too).
 */
function versionRow(file: SourceFile): Insertable<FileVersionsTable> {
  const { record } = file;
  const first = record.version === 1;
  return {
    file_id: record.file_id,
    version: record.version,
    sha256: file.sha256,
    size: record.size,
    upload_id: record.upload_id,
    origination: record.origination,
    created: first ? record.created : record.modified,
    created_by: first ? record.created_by : record.modified_by,
  };
}

function refuseDifferent(mismatches: Mismatch[]): void {
  if (mismatches.length === 0) return;
  throw new UsageError(
    `the SQL store already holds different content for records of the folder store; nothing is ` +
      `overwritten:\n  ${mismatches.map((m) => `${m.what}: ${m.field}`).join('\n  ')}\n` +
      'Either the SQL store was written to after a partial migration, or the folder store was written to ' +
      'after these records were copied (a worker of the previous version still running?): stop every ' +
      'writer, and either repair the record or start the migration over with an empty database.',
    'E_USAGE',
  );
}

function fileName(file: SourceFile): string {
  return `file ${file.record.file_id} ("${file.record.relative_path}") of dataset ${file.record.association_id}`;
}

/** The fields of `actual` that differ from `expected`, over the keys of both. */
function differingFields(expected: object, actual: object): string[] {
  const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
  return [...keys]
    .filter(
      (key) =>
        !isDeepStrictEqual(
          (expected as Record<string, unknown>)[key],
          (actual as Record<string, unknown>)[key],
        ),
    )
    .sort();
}

function datasetMismatches(dataset: SourceDataset, row: Selectable<DatasetsTable> | undefined): Mismatch[] {
  const what = `dataset ${dataset.id}`;
  if (row === undefined) return [{ what, field: 'missing from the SQL store' }];
  return differingFields(dataset.record, datasetFromRow(row)).map((field) => ({ what, field }));
}

function fileMismatches(file: SourceFile, row: Selectable<FilesTable> | undefined): Mismatch[] {
  const what = fileName(file);
  if (row === undefined) return [{ what, field: 'missing from the SQL store' }];
  const stored = fileFromRow(row);
  const fields = differingFields(file.record, stored.record).map((field) => `record.${field}`);
  if (stored.sha256 !== file.sha256) fields.push('sha256');
  if (!isDeepStrictEqual(stored.writtenBy, file.writtenBy)) fields.push('writtenBy');
  return fields.map((field) => ({ what, field }));
}

function versionMismatches(file: SourceFile, row: Selectable<FileVersionsTable> | undefined): Mismatch[] {
  const what = `${fileName(file)}, version ${file.record.version}`;
  if (row === undefined) return [{ what, field: 'missing from file_versions' }];
  const fields: string[] = [];
  if (row.sha256 !== file.sha256) fields.push('file_versions.sha256');
  if (Number(row.size) !== file.record.size) fields.push('file_versions.size');
  return fields.map((field) => ({ what, field }));
}

function topicMismatches(
  datasetId: string,
  topic: SourceTopic,
  row: Selectable<TopicsTable> | undefined,
): Mismatch[] {
  const what = `topic ${topic.record.topic_id} ("${topic.record.topic_name}") of dataset ${datasetId}`;
  if (row === undefined) return [{ what, field: 'missing from the SQL store' }];
  const fields = differingFields(topic.record, topicFromRow(row)).map((field) => `record.${field}`);
  if (row.dataset_id !== datasetId) fields.push('dataset_id');
  return fields.map((field) => ({ what, field }));
}

/**
 * Reads every dataset of the folder store again and compares each record with what the SQL store holds,
 * and checks each file's blob is there with the record's size.
 */
async function verifyFolderStore(
  database: SqlDatabase,
  storeDir: string,
  logger: MigrationLogger,
  /** A record the SQL store changed after this time differs from its JSON file rightly: not a mismatch. */
  changedSince?: string,
): Promise<{ datasets: number; files: number; topics: number; mismatches: Mismatch[] }> {
  const changedLater = (row: { modified: string } | undefined) =>
    changedSince !== undefined && row !== undefined && row.modified > changedSince;
  const { db } = database;
  const blobsDir = path.join(storeDir, 'blobs');
  const mismatches: Mismatch[] = [];
  let datasets = 0;
  let files = 0;
  let topics = 0;
  const limit = pLimit(READ_CONCURRENCY);
  for (const id of await datasetIds(storeDir, logger)) {
    const dataset = await readSourceDataset(storeDir, id, logger);
    if (dataset === undefined) continue;
    datasets += 1;
    files += dataset.files.length;
    topics += dataset.topics.length;
    const datasetRowRead = await db
      .selectFrom('datasets')
      .selectAll()
      .where('dataset_id', '=', id)
      .executeTakeFirst();
    if (!changedLater(datasetRowRead)) mismatches.push(...datasetMismatches(dataset, datasetRowRead));
    const fileRows = new Map(
      (await db.selectFrom('files').selectAll().where('dataset_id', '=', id).execute()).map((row) => [
        row.file_id,
        row,
      ]),
    );
    const versionRows = new Map(
      (
        await db
          .selectFrom('file_versions')
          .innerJoin('files', 'files.file_id', 'file_versions.file_id')
          .selectAll('file_versions')
          .where('files.dataset_id', '=', id)
          .execute()
      ).map((row) => [`${row.file_id}/${row.version}`, row]),
    );
    const topicRows = new Map(
      (await db.selectFrom('topics').selectAll().where('dataset_id', '=', id).execute()).map((row) => [
        row.topic_id,
        row,
      ]),
    );
    for (const file of dataset.files) {
      if (changedLater(fileRows.get(file.record.file_id))) continue;
      mismatches.push(...fileMismatches(file, fileRows.get(file.record.file_id)));
      mismatches.push(
        ...versionMismatches(file, versionRows.get(`${file.record.file_id}/${file.record.version}`)),
      );
    }
    const blobs = await Promise.all(
      dataset.files.map((file) =>
        limit(async () => {
          const blob = contentAddressedPath(blobsDir, file.sha256);
          const stats = await stat(blob).catch(() => undefined);
          if (stats === undefined) return { what: fileName(file), field: `blob ${blob} is missing` };
          if (stats.size !== file.record.size) {
            return {
              what: fileName(file),
              field: `blob ${blob} is ${stats.size} bytes, not ${file.record.size}`,
            };
          }
          return undefined;
        }),
      ),
    );
    mismatches.push(...blobs.filter((mismatch) => mismatch !== undefined));
    for (const topic of dataset.topics) {
      if (changedLater(topicRows.get(topic.record.topic_id))) continue;
      mismatches.push(...topicMismatches(id, topic, topicRows.get(topic.record.topic_id)));
    }
  }
  return { datasets, files, topics, mismatches };
}

function* batches<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

/** Makes renames in `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
