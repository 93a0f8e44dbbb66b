import { stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import os from 'node:os';
import { type Kysely, type Selectable, sql } from 'kysely';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import { randomId } from '../../domain/ids.js';
import { newTopicRecord, writtenFileRecord } from '../../domain/stored-records.js';
import { type MetadataChangeset, applyChangeset } from '../../domain/metadata-changeset.js';
import type { FileRecord, TopicRecord } from '../../domain/records.js';
import { safeRelativePath } from '../../domain/relative-path.js';
import {
  type AnnouncedChange,
  TriggerEvent,
  changeEvent,
  ingestEventId,
  jsonDiffers,
} from '../../domain/trigger-event.js';
import type {
  DataStore,
  DatasetFields,
  DatasetRecord,
  FileUpdate,
  NewDataset,
  NewTopic,
  ChangeAnnouncement,
  OutboxEvent,
  Page,
  PutFile,
  PutFilesOptions,
  StoreQuery,
  StoredFile,
} from '../../ports/data-store.js';
import { type Database, type FilesTable, type SqlDatabase, fromJson } from './database.js';
import { databaseErrorCode } from './database-errors.js';
import { SQLITE_BUSY_TIMEOUT_MS } from './open-database.js';
import { queryDatasets, queryFiles, queryTopics } from './sql-queries.js';
import { datasetFromRow, datasetRow, fileFromRow, fileRow, topicFromRow, topicRow } from './rows.js';

const ID = /^[A-Za-z0-9_-]{1,128}$/;

/** File records written per transaction, at most, by default. */
const RECORD_BATCH = 1000;

export interface SqlDataStoreOptions {
  /** File records written per transaction, at most (by default 1000). */
  recordBatch?: number;
  /**
   * How long a write's announcement is held after its latest batch (or, with `announce.hold`, after its
   * end) before relays hand it on anyway: the writer died between batches, or before releasing it. By
   * default 10 minutes.
   */
  announcementHoldMs?: number;
}

/** The default of SqlDataStoreOptions.announcementHoldMs. */
const ANNOUNCEMENT_HOLD_MS = 10 * 60_000;

/** Rows per INSERT statement: well below both dialects' limits on bound parameters (27 columns a row). */
const ROWS_PER_STATEMENT = 500;

function checkId(id: string, kind: string): string {
  if (!ID.test(id)) throw new UsageError(`"${id}" is not a valid ${kind} id`, 'E_INVALID_INPUT');
  return id;
}

function unknownDataset(datasetId: string): UsageError {
  return new UsageError(`unknown dataset "${datasetId}"`, 'E_INVALID_INPUT');
}

type FileRow = Selectable<FilesTable>;

/** A file's content as stored. */
export interface StoredBlob {
  sha256: string;
  sizeBytes: number;
  /** A local path holding it. */
  path: string;
}

/**
 * Where file contents go: the content-addressed blob store on this host's filesystem (BlobStore, built by
 * the composition root) today, an S3-compatible one later. Adapters do not import each other, so the
 * store is given one.
 */
export interface BlobContents {
  /**
   * Stores a copy of each source (hashed as it is copied; the same content twice keeps one blob), in the
   * order given, and returns once all of them are durable: a record committed after it never points at
   * bytes a crash could lose.
   */
  putMany(
    files: readonly { sourcePath: string }[],
    options: { signal: AbortSignal; onBytes?: (bytes: number) => void },
  ): Promise<StoredBlob[]>;
  /** Where the content with this hash is. */
  pathOf(sha256: string): string;
}

/** One file of a write, as it goes through the stages of `putFiles`. */
interface Pending {
  /** Its place in the caller's list, where its record goes. */
  index: number;
  relativePath: string;
  file: PutFile;
  /** Its content, once stored; absent while the file may still be recognised unchanged by its stat. */
  blob?: StoredBlob;
}

/**
 * Serialises this process's SQLite write transactions per database file. better-sqlite3 waits for another
 * connection's write lock synchronously (its busy timeout), which would block the event loop that the
 * holder, if it is another connection of this same process, needs to finish: so writers of one process
 * queue here, and only writers of other processes are waited for by SQLite itself.
 */
const sqliteWriters = new Map<string, Promise<unknown>>();

async function queued<T>(key: string, work: () => Promise<T>): Promise<T> {
  const before = sqliteWriters.get(key) ?? Promise.resolve();
  const mine = before.then(work, work);
  const tail = mine.catch(() => undefined);
  sqliteWriters.set(key, tail);
  try {
    return await mine;
  } finally {
    if (sqliteWriters.get(key) === tail) sqliteWriters.delete(key);
  }
}

/**
 * The data store with its metadata in SQL (SQLite embedded, or PostgreSQL shared by many hosts) and file
 * contents in a content-addressed blob store (on this host: `<storeDir>/blobs`, temporaries in
 * `<storeDir>/tmp`, as the folder store lays them out, so a migrated folder store keeps its blobs).
 *
 * Every change happens in one transaction, serialised with other writers of the same dataset (SQLite:
 * `BEGIN IMMEDIATE`, the database's write lock; PostgreSQL: the dataset's row locked `FOR UPDATE`), so
 * several processes, on one host or many, can write one dataset without losing a version or an update.
 */
export class SqlDataStore implements DataStore {
  private readonly db: Kysely<Database>;
  private readonly user = os.userInfo().username;
  private sqliteFile: Promise<string> | undefined;
  private readonly recordBatch: number;
  private readonly announcementHoldMs: number;

  constructor(
    readonly database: SqlDatabase,
    private readonly blobs: BlobContents,
    options: SqlDataStoreOptions = {},
  ) {
    this.db = database.db;
    this.recordBatch = options.recordBatch ?? RECORD_BATCH;
    this.announcementHoldMs = options.announcementHoldMs ?? ANNOUNCEMENT_HOLD_MS;
  }

  // Queries are compiled to SQL (sql-queries.ts): pushed down whole where exact, re-checked where not.
  queryDatasets(query: StoreQuery): Promise<Page<DatasetRecord>> {
    return queryDatasets(this.database, query);
  }

  queryFiles(query: StoreQuery): Promise<Page<StoredFile>> {
    return queryFiles(this.database, query);
  }

  queryTopics(query: StoreQuery): Promise<Page<TopicRecord>> {
    return queryTopics(this.database, query);
  }

  close(): Promise<void> {
    return this.database.close();
  }

  async createDataset(dataset: NewDataset): Promise<DatasetRecord> {
    const datasetId = checkId(dataset.datasetId ?? randomId('ds'), 'dataset');
    const now = new Date().toISOString();
    const record: DatasetRecord = {
      dataset_id: datasetId,
      org_id: dataset.orgId,
      name: dataset.name ?? null,
      description: dataset.description ?? null,
      tags: dataset.tags ?? [],
      metadata: dataset.metadata ?? {},
      created: now,
      created_by: this.user,
      modified: now,
      modified_by: this.user,
    };
    // The primary key settles a race: of several creators exactly one inserts, the others insert nothing.
    const result = await this.write(null, (db) =>
      db
        .insertInto('datasets')
        .values(datasetRow(record))
        .onConflict((conflict) => conflict.column('dataset_id').doNothing())
        .executeTakeFirst(),
    );
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) {
      throw new UsageError(`dataset ${datasetId} already exists`, 'E_USAGE');
    }
    return record;
  }

  async getDataset(datasetId: string): Promise<DatasetRecord | undefined> {
    if (!ID.test(datasetId)) return undefined;
    const row = await this.db
      .selectFrom('datasets')
      .selectAll()
      .where('dataset_id', '=', datasetId)
      .executeTakeFirst();
    return row && datasetFromRow(row);
  }

  async listDatasets(): Promise<DatasetRecord[]> {
    const rows = await this.db.selectFrom('datasets').selectAll().execute();
    // Ordered here, not by the database's collation: the same order as the folder store's on both dialects.
    return rows.map(datasetFromRow).sort((a, b) => compare(a.dataset_id, b.dataset_id));
  }

  async updateDataset(
    datasetId: string,
    changeset: MetadataChangeset,
    fields: DatasetFields = {},
    announce?: ChangeAnnouncement,
  ): Promise<DatasetRecord> {
    checkId(datasetId, 'dataset');
    return this.write(datasetId, async (db) => {
      const row = await db
        .selectFrom('datasets')
        .selectAll()
        .where('dataset_id', '=', datasetId)
        .executeTakeFirst();
      if (row === undefined) throw unknownDataset(datasetId);
      const record = datasetFromRow(row);
      const applied = applyChangeset(record, changeset);
      const updated = { ...record, ...applied, modified: new Date().toISOString(), modified_by: this.user };
      if (fields.name !== undefined) updated.name = fields.name;
      if (fields.description !== undefined) updated.description = fields.description;
      const columns = datasetRow(updated);
      await db
        .updateTable('datasets')
        .set({
          name: columns.name,
          description: columns.description,
          tags: columns.tags,
          metadata: columns.metadata,
          modified: columns.modified,
          modified_by: columns.modified_by,
        })
        .where('dataset_id', '=', datasetId)
        .execute();
      // What a trigger's condition reads changed: announced in this same transaction.
      if (
        announce !== undefined &&
        (jsonDiffers(record.tags, updated.tags) ||
          jsonDiffers(record.metadata, updated.metadata) ||
          record.description !== updated.description)
      ) {
        await writeOutbox(
          db,
          changeEvent(
            announce,
            {
              org_id: updated.org_id,
              dataset_id: datasetId,
              cause: 'dataset_metadata_update',
              file_ids: [],
            },
            new Date(updated.modified),
          ),
        );
      }
      return updated;
    });
  }

  async putFiles(
    datasetId: string,
    files: readonly PutFile[],
    options: PutFilesOptions,
  ): Promise<FileRecord[]> {
    const dataset = await this.getDataset(datasetId);
    if (dataset === undefined) throw unknownDataset(datasetId);
    // Every path is checked before anything is copied.
    let pending: Pending[] = files.map((file, index) => ({
      index,
      relativePath: safeRelativePath(file.relativePath, `file "${file.relativePath}"`),
      file,
    }));
    const records: FileRecord[] = new Array<FileRecord>(files.length);
    const { transfers } = options;
    const onBytes = transfers
      ? (bytes: number) => {
          transfers.moved('upload', bytes);
        }
      : undefined;
    // The write's event (PutFilesOptions.announce): its files, written or written by the same write; its
    // outbox row once a batch has written one, held until the last batch releases it.
    const announced: Announcing = { fileIds: new Set(), seq: undefined };
    if (options.announce?.hold === true && options.announce.eventId === undefined) {
      throw new UsageError('a held announcement needs an event id', 'E_USAGE');
    }
    // A file whose stat is the one recorded at its path's last import is left alone without being read.
    const recognised = options.skipUnchanged ? await this.unchangedByStat(datasetId, pending) : new Set();
    const toRead = (items: readonly Pending[]) =>
      items.filter((item) => item.blob === undefined && !recognised.has(item.relativePath));
    // The total is what will be read; a file found written meanwhile (below) is read on top of it.
    if (transfers?.planned) transfers.planned('upload', await totalSizeBytes(toRead(pending)));
    while (pending.length > 0) {
      const toCopy = toRead(pending);
      // Contents first, outside any transaction: the slow part, and harmless if the write never commits.
      const blobs = await this.storeBlobs(
        toCopy.map((item) => item.file),
        options.signal,
        onBytes,
      );
      toCopy.forEach((item, i) => {
        item.blob = blobs[i];
      });
      // Then the records, one transaction per batch. A file recognised by its stat whose path was written
      // by someone else meanwhile is read after all, in another round.
      const missed: Pending[] = [];
      for (let start = 0; start < pending.length; start += this.recordBatch) {
        options.signal.throwIfAborted();
        const batch = pending.slice(start, start + this.recordBatch);
        const isLast = start + this.recordBatch >= pending.length;
        missed.push(
          ...(await this.writeBatch(dataset, batch, options, records, {
            announced,
            // The round's last batch is the write's last transaction when no file of the round was missed.
            announceIfLast: isLast ? missed.length : undefined,
          })),
        );
      }
      for (const item of missed) recognised.delete(item.relativePath);
      pending = missed;
    }
    return records;
  }

  /** Copies the files' contents into the blob store (it batches and flushes them), in the order given. */
  private async storeBlobs(
    files: readonly PutFile[],
    signal: AbortSignal,
    onBytes: ((bytes: number) => void) | undefined,
  ): Promise<StoredBlob[]> {
    if (files.length === 0) return [];
    return this.blobs.putMany(files, { signal, ...(onBytes === undefined ? {} : { onBytes }) });
  }

  /** The paths (of files given a source stat) whose stored source stat is the same. */
  private async unchangedByStat(datasetId: string, items: readonly Pending[]): Promise<Set<string>> {
    const found = new Set<string>();
    const withStat = items.filter((item) => item.file.sourceStat !== undefined);
    for (let start = 0; start < withStat.length; start += RECORD_BATCH) {
      const batch = withStat.slice(start, start + RECORD_BATCH);
      const rows = await this.db
        .selectFrom('files')
        .select(['relative_path', 'source_stat'])
        .where('dataset_id', '=', datasetId)
        .where(
          'relative_path',
          'in',
          batch.map((item) => item.relativePath),
        )
        .execute();
      const stored = new Map(rows.map((row) => [row.relative_path, row.source_stat]));
      for (const item of batch) {
        if (stored.get(item.relativePath) === item.file.sourceStat) found.add(item.relativePath);
      }
    }
    return found;
  }

  /**
   * Writes one batch's records in one transaction; returns the files recognised by their stat whose path
   * no longer has that stat (their content must be read).
   */
  private async writeBatch(
    dataset: DatasetRecord,
    batch: readonly Pending[],
    options: PutFilesOptions,
    records: FileRecord[],
    announcing: {
      /** The write's event so far; this batch's files are added. */
      announced: Announcing;
      /**
       * Set on a round's last batch: how many files the round's earlier batches missed. None missed in the
       * round: this is the write's last transaction, where its event is written.
       */
      announceIfLast: number | undefined;
    },
  ): Promise<Pending[]> {
    const datasetId = dataset.dataset_id;
    const { writeKey } = options;
    return this.write(datasetId, async (db) => {
      const existingRows = await db
        .selectFrom('files')
        .selectAll()
        .where('dataset_id', '=', datasetId)
        .where(
          'relative_path',
          'in',
          batch.map((item) => item.relativePath),
        )
        .execute();
      const existingByPath = new Map<string, FileRow>(existingRows.map((row) => [row.relative_path, row]));
      const now = new Date().toISOString();
      const missed: Pending[] = [];
      // The files of this batch the write's event lists.
      const batchAnnounced: string[] = [];
      const fileRows: ReturnType<typeof fileRow>[] = [];
      const versionRows: Parameters<typeof versionRow>[0][] = [];
      const statUpdates: { fileId: string; sourceStat: string }[] = [];
      // A path given twice in one batch: the later one wins, as if written one after the other.
      const written = new Map<string, { record: FileRecord; sha256: string; writtenBy: string }>();
      for (const item of batch) {
        const row = existingByPath.get(item.relativePath);
        const sourceStat = item.file.sourceStat ?? null;
        const { blob } = item;
        if (blob === undefined) {
          // Recognised by its stat before the transaction: still so?
          if (row !== undefined && row.source_stat === sourceStat && !written.has(item.relativePath)) {
            records[item.index] = fileFromRow(row).record;
          } else missed.push(item);
          continue;
        }
        const earlier = written.get(item.relativePath);
        const existing = earlier ?? (row && { ...fileFromRow(row), writtenBy: row.written_by_invocation });
        const isSameWrite = existing?.writtenBy === writeKey.invocationId;
        if (existing && existing.sha256 === blob.sha256 && (isSameWrite || options.skipUnchanged)) {
          records[item.index] = existing.record;
          // Written by an earlier run of the same write (a retried attempt): still this write's file.
          if (isSameWrite) batchAnnounced.push(existing.record.file_id);
          // Remember what the file looks like now, so that the next import needs no reading.
          if (
            sourceStat !== null &&
            row !== undefined &&
            earlier === undefined &&
            row.source_stat !== sourceStat
          )
            statUpdates.push({ fileId: row.file_id, sourceStat });
          continue;
        }
        // A retried attempt replaces what an earlier attempt of the same invocation wrote, in the same version.
        const version =
          existing === undefined ? 1 : isSameWrite ? existing.record.version : existing.record.version + 1;
        const record = writtenFileRecord({
          datasetId,
          orgId: dataset.org_id,
          relativePath: item.relativePath,
          existing: existing?.record,
          version,
          sizeBytes: blob.sizeBytes,
          contentPath: blob.path,
          origination: options.origination,
          writeKey,
          by: this.user,
          now,
        });
        written.set(item.relativePath, { record, sha256: blob.sha256, writtenBy: writeKey.invocationId });
        records[item.index] = record;
        batchAnnounced.push(record.file_id);
        fileRows.push(fileRow(record, blob.sha256, writeKey, sourceStat));
        versionRows.push({ record, sha256: blob.sha256 });
      }
      // The last write of each path (a path given twice in a batch is one row).
      const lastRows = [...new Map(fileRows.map((row) => [row.relative_path, row])).values()];
      const lastVersions = [
        ...new Map(
          versionRows.map((entry) => [`${entry.record.file_id}:${entry.record.version}`, entry]),
        ).values(),
      ];
      for (let start = 0; start < lastRows.length; start += ROWS_PER_STATEMENT) {
        await db
          .insertInto('files')
          .values(lastRows.slice(start, start + ROWS_PER_STATEMENT))
          .onConflict((conflict) =>
            conflict.columns(['dataset_id', 'relative_path']).doUpdateSet((eb) => ({
              version: eb.ref('excluded.version'),
              size: eb.ref('excluded.size'),
              sha256: eb.ref('excluded.sha256'),
              modified: eb.ref('excluded.modified'),
              modified_by: eb.ref('excluded.modified_by'),
              origination: eb.ref('excluded.origination'),
              upload_id: eb.ref('excluded.upload_id'),
              ingestion_status: eb.ref('excluded.ingestion_status'),
              status: eb.ref('excluded.status'),
              storage_type: eb.ref('excluded.storage_type'),
              fs_type: eb.ref('excluded.fs_type'),
              uri: eb.ref('excluded.uri'),
              written_by_invocation: eb.ref('excluded.written_by_invocation'),
              written_by_attempt: eb.ref('excluded.written_by_attempt'),
              source_stat: eb.ref('excluded.source_stat'),
            })),
          )
          .execute();
      }
      for (let start = 0; start < lastVersions.length; start += ROWS_PER_STATEMENT) {
        await db
          .insertInto('file_versions')
          .values(lastVersions.slice(start, start + ROWS_PER_STATEMENT).map(versionRow))
          .onConflict((conflict) =>
            conflict.columns(['file_id', 'version']).doUpdateSet((eb) => ({
              sha256: eb.ref('excluded.sha256'),
              size: eb.ref('excluded.size'),
              upload_id: eb.ref('excluded.upload_id'),
              origination: eb.ref('excluded.origination'),
              created: eb.ref('excluded.created'),
              created_by: eb.ref('excluded.created_by'),
            })),
          )
          .execute();
      }
      for (const { fileId, sourceStat } of statUpdates) {
        await db
          .updateTable('files')
          .set({ source_stat: sourceStat })
          .where('file_id', '=', fileId)
          .execute();
      }
      const { announce } = options;
      if (announce !== undefined) {
        const isLast =
          announcing.announceIfLast !== undefined && announcing.announceIfLast + missed.length === 0;
        await this.announceBatch(db, announce, announcing.announced, batchAnnounced, isLast, {
          org_id: dataset.org_id,
          dataset_id: datasetId,
          cause: 'file_upload',
          file_ids: [],
        });
      }
      return missed;
    });
  }

  async listFiles(datasetId: string): Promise<StoredFile[]> {
    if ((await this.getDataset(datasetId)) === undefined) throw unknownDataset(datasetId);
    const rows = await this.db.selectFrom('files').selectAll().where('dataset_id', '=', datasetId).execute();
    return rows
      .map((row) => storedFile(row))
      .sort((a, b) => compare(a.record.relative_path, b.record.relative_path));
  }

  async getFile(fileId: string): Promise<StoredFile | undefined> {
    if (!ID.test(fileId)) return undefined;
    const row = await this.db
      .selectFrom('files')
      .selectAll()
      .where('file_id', '=', fileId)
      .executeTakeFirst();
    return row && storedFile(row);
  }

  async updateFile(fileId: string, update: FileUpdate, announce?: ChangeAnnouncement): Promise<FileRecord> {
    const noFile = () => new UsageError(`no file with id ${fileId}`, 'E_INVALID_INPUT');
    const found = await this.getFile(fileId);
    if (found === undefined) throw noFile();
    return this.write(found.record.association_id, async (db) => {
      const row = await db.selectFrom('files').selectAll().where('file_id', '=', fileId).executeTakeFirst();
      if (row === undefined) throw noFile();
      const before = fileFromRow(row).record;
      const record = {
        ...before,
        modified: new Date().toISOString(),
        modified_by: this.user,
      };
      if (update.description !== undefined) record.description = update.description;
      if (update.ingestionStatus !== undefined) record.ingestion_status = update.ingestionStatus;
      if (update.metadataChangeset) Object.assign(record, applyChangeset(record, update.metadataChangeset));
      await db
        .updateTable('files')
        .set({
          description: record.description,
          ingestion_status: record.ingestion_status,
          tags: JSON.stringify(record.tags),
          metadata: JSON.stringify(record.metadata),
          modified: record.modified,
          modified_by: record.modified_by,
        })
        .where('file_id', '=', fileId)
        .execute();
      if (announce !== undefined) {
        // One event per kind of change this update made, in its transaction.
        const change = {
          org_id: record.org_id,
          dataset_id: record.association_id,
          file_ids: [record.file_id],
        };
        const at = new Date(record.modified);
        if (before.ingestion_status !== 'ingested' && record.ingestion_status === 'ingested') {
          const eventId = ingestEventId(record.file_id, record.version);
          await writeOutbox(
            db,
            changeEvent({ ...announce, eventId }, { ...change, cause: 'file_ingest' }, at),
          );
        }
        if (jsonDiffers(before.tags, record.tags) || jsonDiffers(before.metadata, record.metadata)) {
          await writeOutbox(db, changeEvent(announce, { ...change, cause: 'file_metadata_update' }, at));
        }
      }
      return record;
    });
  }

  async deleteFile(fileId: string): Promise<boolean> {
    const found = await this.getFile(fileId);
    if (found === undefined) return false;
    // One transaction: the file, its versions and its topics go together or not at all.
    return this.write(found.record.association_id, async (db) => {
      await db.deleteFrom('topics').where('file_id', '=', fileId).execute();
      await db.deleteFrom('file_versions').where('file_id', '=', fileId).execute();
      const result = await db.deleteFrom('files').where('file_id', '=', fileId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async deleteDataset(datasetId: string): Promise<boolean> {
    if ((await this.getDataset(datasetId)) === undefined) return false;
    try {
      return await this.write(datasetId, async (db) => {
        await db.deleteFrom('topics').where('dataset_id', '=', datasetId).execute();
        await db
          .deleteFrom('file_versions')
          .where(
            'file_id',
            'in',
            db.selectFrom('files').select('file_id').where('dataset_id', '=', datasetId),
          )
          .execute();
        await db.deleteFrom('files').where('dataset_id', '=', datasetId).execute();
        const result = await db.deleteFrom('datasets').where('dataset_id', '=', datasetId).executeTakeFirst();
        return Number(result.numDeletedRows) > 0;
      });
    } catch (error) {
      // Deleted by another writer between the look and the lock.
      if ((await this.getDataset(datasetId)) === undefined) return false;
      throw error;
    }
  }

  /**
   * A write's batch's part of its announcement, in the batch's transaction (`db`): the event's row written
   * with the first batch that lists files, held; the batch's files added; the hold renewed, or, by the
   * write's last batch, released (unless the announcement asks to stay held).
   */
  private async announceBatch(
    db: Kysely<Database>,
    announce: ChangeAnnouncement,
    announced: Announcing,
    batchFileIds: readonly string[],
    isLast: boolean,
    change: AnnouncedChange,
  ): Promise<void> {
    const fresh = batchFileIds.filter((fileId) => !announced.fileIds.has(fileId));
    if (announced.seq === undefined && fresh.length === 0) return;
    const now = Date.now();
    const until = isLast && announce.hold !== true ? 0 : now + this.announcementHoldMs;
    if (announced.seq === undefined) {
      const event = TriggerEvent.parse(changeEvent(announce, change, new Date(now)));
      const row = await db
        .insertInto('change_outbox')
        .values({ event_id: event.event_id, event: JSON.stringify(event), claimed_until: until })
        .returning('seq')
        .executeTakeFirstOrThrow();
      announced.seq = Number(row.seq);
    } else {
      await db
        .updateTable('change_outbox')
        .set({ claimed_until: until })
        .where('seq', '=', announced.seq)
        .execute();
    }
    const seq = announced.seq;
    const start = announced.fileIds.size;
    for (let i = 0; i < fresh.length; i += ROWS_PER_STATEMENT) {
      await db
        .insertInto('change_outbox_files')
        .values(
          fresh
            .slice(i, i + ROWS_PER_STATEMENT)
            .map((fileId, j) => ({ seq, n: start + i + j, file_id: fileId })),
        )
        .onConflict((conflict) => conflict.columns(['seq', 'file_id']).doNothing())
        .execute();
    }
    for (const fileId of fresh) announced.fileIds.add(fileId);
  }

  async releaseAnnouncement(eventId: string): Promise<void> {
    await this.write(null, (db) =>
      db
        .updateTable('change_outbox')
        .set({ claimed_until: 0 })
        .where('event_id', '=', eventId)
        .where('claimed_until', '<', SET_ASIDE)
        .execute(),
    );
  }

  async claimOutboxEvents(
    limit: number,
    leaseMs: number,
    only?: readonly string[],
  ): Promise<{ events: OutboxEvent[]; setAside: number[] }> {
    const nothing = { events: [], setAside: [] };
    if (only !== undefined && only.length === 0) return nothing;
    const now = Date.now();
    const claimable = (db: Kysely<Database>) => {
      let query = db.selectFrom('change_outbox').where('claimed_until', '<=', now);
      if (only !== undefined) query = query.where('event_id', 'in', [...only]);
      return query;
    };
    // A look first, without the write lock: relays polling an empty outbox never take it.
    if ((await claimable(this.db).select('seq').limit(1).executeTakeFirst()) === undefined) return nothing;
    const rows = await this.write(null, async (db) => {
      let query = claimable(db).select(['seq', 'event']).orderBy('seq').limit(limit);
      // PostgreSQL: rows another relay is claiming right now are skipped, not waited for (SQLite's write
      // lock already makes claims one at a time).
      if (this.database.dialect === 'postgres') query = query.forUpdate().skipLocked();
      const found = await query.execute();
      if (found.length === 0) return [];
      await db
        .updateTable('change_outbox')
        .set({ claimed_until: now + leaseMs })
        .where(
          'seq',
          'in',
          found.map((row) => Number(row.seq)),
        )
        .execute();
      return found;
    });
    // Read outside the write lock; the files of events written over several batches from their table.
    const sideFiles = new Map<number, string[]>();
    if (rows.length > 0) {
      const fileRows = await this.db
        .selectFrom('change_outbox_files')
        .select(['seq', 'file_id'])
        .where(
          'seq',
          'in',
          rows.map((row) => Number(row.seq)),
        )
        .orderBy('seq')
        .orderBy('n')
        .execute();
      for (const fileRow of fileRows) {
        const list = sideFiles.get(Number(fileRow.seq)) ?? [];
        list.push(fileRow.file_id);
        sideFiles.set(Number(fileRow.seq), list);
      }
    }
    const events: OutboxEvent[] = [];
    const setAside: number[] = [];
    for (const row of rows) {
      const seq = Number(row.seq);
      const parsed = TriggerEvent.safeParse(fromJson(row.event));
      if (!parsed.success) {
        setAside.push(seq);
        continue;
      }
      const event = parsed.data;
      const more = sideFiles.get(seq);
      events.push({
        seq,
        event: more === undefined ? event : { ...event, file_ids: [...event.file_ids, ...more] },
      });
    }
    if (setAside.length > 0) {
      await this.write(null, (db) =>
        db
          .updateTable('change_outbox')
          .set({ claimed_until: SET_ASIDE })
          .where('seq', 'in', setAside)
          .execute(),
      );
    }
    return { events, setAside };
  }

  async settleOutboxEvents(seqs: readonly number[]): Promise<void> {
    for (let start = 0; start < seqs.length; start += RECORD_BATCH) {
      const batch = seqs.slice(start, start + RECORD_BATCH);
      await this.write(null, async (db) => {
        await db.deleteFrom('change_outbox_files').where('seq', 'in', batch).execute();
        await db.deleteFrom('change_outbox').where('seq', 'in', batch).execute();
      });
    }
  }

  async releaseOutboxEvents(seqs: readonly number[]): Promise<void> {
    for (let start = 0; start < seqs.length; start += RECORD_BATCH) {
      const batch = seqs.slice(start, start + RECORD_BATCH);
      await this.write(null, (db) =>
        db.updateTable('change_outbox').set({ claimed_until: 0 }).where('seq', 'in', batch).execute(),
      );
    }
  }

  contentPath(file: StoredFile): Promise<string> {
    return Promise.resolve(this.blobs.pathOf(file.sha256));
  }

  async addTopic(fileId: string, topic: NewTopic): Promise<TopicRecord> {
    const file = await this.getFile(fileId);
    if (file === undefined) throw new UsageError(`no file with id ${fileId}`, 'E_INVALID_INPUT');
    const datasetId = file.record.association_id;
    const record = newTopicRecord(file.record, topic, this.user, new Date().toISOString());
    await this.write(datasetId, (db) =>
      db
        .insertInto('topics')
        .values(topicRow(record, datasetId))
        .onConflict((conflict) =>
          conflict.column('topic_id').doUpdateSet((eb) => ({
            schema_name: eb.ref('excluded.schema_name'),
            message_count: eb.ref('excluded.message_count'),
            start_time: eb.ref('excluded.start_time'),
            end_time: eb.ref('excluded.end_time'),
            metadata: eb.ref('excluded.metadata'),
            created: eb.ref('excluded.created'),
            modified: eb.ref('excluded.modified'),
            record: eb.ref('excluded.record'),
          })),
        )
        .execute(),
    );
    return record;
  }

  async listTopics(datasetId: string): Promise<TopicRecord[]> {
    if ((await this.getDataset(datasetId)) === undefined) throw unknownDataset(datasetId);
    const rows = await this.db.selectFrom('topics').selectAll().where('dataset_id', '=', datasetId).execute();
    return rows.map(topicFromRow).sort((a, b) => compare(a.topic_name, b.topic_name));
  }

  async getTopic(topicId: string): Promise<TopicRecord | undefined> {
    if (!ID.test(topicId)) return undefined;
    const row = await this.db
      .selectFrom('topics')
      .selectAll()
      .where('topic_id', '=', topicId)
      .executeTakeFirst();
    return row && topicFromRow(row);
  }

  /**
   * Runs `work` in a write transaction, serialised with every other writer of the dataset (or, without
   * one, of the database). SQLite: `BEGIN IMMEDIATE` takes the database's write lock at once (a deferred
   * transaction that reads first could fail with SQLITE_BUSY on its first write instead of waiting).
   * PostgreSQL: the dataset's row is locked `FOR UPDATE` before anything else; a dataset that does not
   * exist fails the transaction.
   */
  private async write<T>(datasetId: string | null, work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.database.dialect === 'postgres') {
      return this.db.transaction().execute(async (trx) => {
        if (datasetId !== null) {
          const locked = await trx
            .selectFrom('datasets')
            .select('dataset_id')
            .where('dataset_id', '=', datasetId)
            .forUpdate()
            .executeTakeFirst();
          if (locked === undefined) throw unknownDataset(datasetId);
        }
        return work(trx);
      });
    }
    this.sqliteFile ??= sql<{ file: string }>`SELECT file FROM pragma_database_list WHERE name = 'main'`
      .execute(this.db)
      .then((result) => result.rows[0]?.file ?? '');
    const file = await this.sqliteFile;
    return queued(file, () =>
      this.db.connection().execute(async (connection) => {
        await beginImmediate(connection, file);
        try {
          if (datasetId !== null) {
            const found = await connection
              .selectFrom('datasets')
              .select('dataset_id')
              .where('dataset_id', '=', datasetId)
              .executeTakeFirst();
            if (found === undefined) throw unknownDataset(datasetId);
          }
          const result = await work(connection);
          await sql`COMMIT`.execute(connection);
          return result;
        } catch (error) {
          await sql`ROLLBACK`.execute(connection).catch(() => undefined);
          throw error;
        }
      }),
    );
  }
}

/** Pauses between tries of the SQLite write lock, growing to this at most. */
const MAX_LOCK_PAUSE_MS = 50;

/**
 * `BEGIN IMMEDIATE`, waiting for another process's write to finish without blocking the event loop:
 * better-sqlite3's busy timeout waits synchronously, stalling everything else this process does (the
 * daemon's queue locks and health checks, other stores' writes) for as long as another process writes. So
 * the busy timeout is off for this statement, and the lock is tried again after a pause, until the same
 * deadline.
 */
async function beginImmediate(connection: Kysely<Database>, file: string): Promise<void> {
  await sql`PRAGMA busy_timeout = 0`.execute(connection);
  try {
    const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
    for (let pause = 1; ; pause = Math.min(pause * 2, MAX_LOCK_PAUSE_MS)) {
      try {
        await sql`BEGIN IMMEDIATE`.execute(connection);
        return;
      } catch (error) {
        if (!(databaseErrorCode(error) ?? '').startsWith('SQLITE_BUSY')) throw error;
        if (Date.now() >= deadline) {
          throw new InfrastructureError(
            `the SQLite metadata database ${file} stayed locked by another writer for ` +
              `${SQLITE_BUSY_TIMEOUT_MS / 1000} s; nothing was written`,
            'E_IO',
            error,
          );
        }
      }
      await delay(pause);
    }
  } finally {
    await sql`PRAGMA busy_timeout = ${sql.lit(SQLITE_BUSY_TIMEOUT_MS)}`.execute(connection);
  }
}

function storedFile(row: FileRow): StoredFile {
  const { record, sha256 } = fileFromRow(row);
  return { record, sha256 };
}

function versionRow({ record, sha256 }: { record: FileRecord; sha256: string }) {
  return {
    file_id: record.file_id,
    version: record.version,
    sha256,
    size: record.size,
    upload_id: record.upload_id,
    origination: record.origination,
    created: record.modified,
    created_by: record.modified_by,
  };
}

/** Code-unit order, as JavaScript sorts strings (and the folder store lists). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * What a write will store in all: for a progress bar's total. A file's stat taken for the import is used
 * as it is (its size is the first field); a source that fails stat fails its copy.
 */
async function totalSizeBytes(items: readonly Pending[]): Promise<number> {
  let total = 0;
  for (const { file } of items) {
    const known =
      file.sizeBytes ?? (file.sourceStat === undefined ? undefined : Number(file.sourceStat.split(':')[0]));
    total += known ?? (await stat(file.sourcePath).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/**
 * The lease of an outbox row that is not a trigger event this version can read: it is never claimed again
 * (`SELECT * FROM change_outbox WHERE claimed_until = 9007199254740991` finds them for an operator).
 */
const SET_ASIDE = Number.MAX_SAFE_INTEGER;

/** Writes a change's event into the outbox, in the change's transaction (`db`). */
async function writeOutbox(db: Kysely<Database>, event: TriggerEvent): Promise<void> {
  const valid = TriggerEvent.parse(event);
  await db
    .insertInto('change_outbox')
    .values({ event_id: valid.event_id, event: JSON.stringify(valid) })
    .execute();
}

/** A write's announcement as its batches build it: the files listed so far, and its outbox row once written. */
interface Announcing {
  fileIds: Set<string>;
  seq: number | undefined;
}
