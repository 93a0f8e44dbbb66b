import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import {
  datasetFromRow,
  datasetRow,
  fileFromRow,
  fileRow,
  topicFromRow,
  topicRow,
} from '../../src/adapters/sql/rows.js';
import { queryDatasets, queryFiles, queryTopics } from '../../src/adapters/sql/sql-queries.js';
import { randomId, stableId } from '../../src/domain/ids.js';
import { type MetadataChangeset, applyChangeset } from '../../src/domain/metadata-changeset.js';
import type { FileRecord, TopicRecord } from '../../src/domain/records.js';
import type {
  DataStore,
  DatasetRecord,
  NewDataset,
  NewTopic,
  Page,
  PutFile,
  PutFilesOptions,
  StoreQuery,
  StoredFile,
} from '../../src/ports/data-store.js';

/** The part of a DataStore the query contract seeds and reads through. */
export type QueryableStore = Pick<
  DataStore,
  | 'createDataset'
  | 'updateDataset'
  | 'putFiles'
  | 'updateFile'
  | 'addTopic'
  | 'listDatasets'
  | 'listFiles'
  | 'listTopics'
  | 'queryDatasets'
  | 'queryFiles'
  | 'queryTopics'
>;

/**
 * A test-only seeding adapter over a SQL database: writes records with the row mappers (no blobs) and
 * queries through src/adapters/sql/sql-queries.ts. It stands in for the SQL DataStore in the query
 * contract until that store exists; the contract then runs against the store itself.
 */
export class SqlQueryTestStore implements QueryableStore {
  constructor(readonly database: SqlDatabase) {}

  private get db() {
    return this.database.db;
  }

  async createDataset(dataset: NewDataset): Promise<DatasetRecord> {
    const now = new Date().toISOString();
    const record: DatasetRecord = {
      dataset_id: dataset.datasetId ?? randomId('ds'),
      org_id: dataset.orgId,
      name: dataset.name ?? null,
      description: dataset.description ?? null,
      tags: dataset.tags ?? [],
      metadata: dataset.metadata ?? {},
      created: now,
      created_by: 'test',
      modified: now,
      modified_by: 'test',
    };
    await this.db.insertInto('datasets').values(datasetRow(record)).execute();
    return record;
  }

  async updateDataset(datasetId: string, changeset: MetadataChangeset): Promise<DatasetRecord> {
    const record = datasetFromRow(
      await this.db
        .selectFrom('datasets')
        .selectAll()
        .where('dataset_id', '=', datasetId)
        .executeTakeFirstOrThrow(),
    );
    const updated = { ...record, ...applyChangeset(record, changeset), modified: new Date().toISOString() };
    const row = datasetRow(updated);
    await this.db
      .updateTable('datasets')
      .set({ tags: row.tags, metadata: row.metadata, modified: row.modified })
      .where('dataset_id', '=', datasetId)
      .execute();
    return updated;
  }

  async putFiles(
    datasetId: string,
    files: readonly PutFile[],
    options: PutFilesOptions,
  ): Promise<FileRecord[]> {
    const dataset = datasetFromRow(
      await this.db
        .selectFrom('datasets')
        .selectAll()
        .where('dataset_id', '=', datasetId)
        .executeTakeFirstOrThrow(),
    );
    const now = new Date().toISOString();
    const records: FileRecord[] = [];
    for (const file of files) {
      const content = await readFile(file.sourcePath);
      const sha256 = createHash('sha256').update(content).digest('hex');
      const record: FileRecord = {
        association_id: datasetId,
        created: now,
        created_by: 'test',
        description: null,
        device_id: null,
        file_id: stableId('fl', datasetId, file.relativePath),
        fs_type: 'file',
        ingestion_status: 'not_ingested',
        metadata: {},
        modified: now,
        modified_by: 'test',
        name: path.posix.basename(file.relativePath),
        org_id: dataset.org_id,
        origination: options.origination,
        parent_id: null,
        relative_path: file.relativePath,
        size: content.length,
        status: 'available',
        storage_type: 'uploaded',
        tags: [],
        upload_id: `${options.writeKey.invocationId}-${options.writeKey.attempt}`,
        uri: `blob:${sha256}`,
        version: 1,
      };
      await this.db
        .insertInto('files')
        .values(fileRow(record, sha256, options.writeKey))
        .execute();
      records.push(record);
    }
    return records;
  }

  async updateFile(
    fileId: string,
    update: { description?: string | null; metadataChangeset?: MetadataChangeset },
  ): Promise<FileRecord> {
    const stored = fileFromRow(
      await this.db.selectFrom('files').selectAll().where('file_id', '=', fileId).executeTakeFirstOrThrow(),
    );
    const record = { ...stored.record, modified: new Date().toISOString() };
    if (update.description !== undefined) record.description = update.description;
    if (update.metadataChangeset) Object.assign(record, applyChangeset(record, update.metadataChangeset));
    const row = fileRow(record, stored.sha256, stored.writtenBy);
    await this.db
      .updateTable('files')
      .set({ description: row.description, tags: row.tags, metadata: row.metadata, modified: row.modified })
      .where('file_id', '=', fileId)
      .execute();
    return record;
  }

  async addTopic(fileId: string, topic: NewTopic): Promise<TopicRecord> {
    const file = fileFromRow(
      await this.db.selectFrom('files').selectAll().where('file_id', '=', fileId).executeTakeFirstOrThrow(),
    ).record;
    const now = new Date().toISOString();
    const record: TopicRecord = {
      association: {
        association_id: fileId,
        association_type: 'file',
        association_version: file.version,
        parent: null,
      },
      created: now,
      created_by: 'test',
      default_representation: null,
      end_time: topic.endTime ?? null,
      message_count: topic.messageCount ?? null,
      message_paths: [],
      metadata: topic.metadata ?? {},
      modified: now,
      modified_by: 'test',
      org_id: file.org_id,
      schema_checksum: null,
      schema_id: null,
      schema_name: topic.schemaName ?? null,
      start_time: topic.startTime ?? null,
      topic_id: stableId('tp', fileId, topic.topicName),
      topic_name: topic.topicName,
    };
    await this.db.insertInto('topics').values(topicRow(record, file.association_id)).execute();
    return record;
  }

  async listDatasets(): Promise<DatasetRecord[]> {
    return (await this.db.selectFrom('datasets').selectAll().orderBy('dataset_id').execute()).map(
      datasetFromRow,
    );
  }

  async listFiles(datasetId: string): Promise<StoredFile[]> {
    const rows = await this.db.selectFrom('files').selectAll().where('dataset_id', '=', datasetId).execute();
    return rows.map((row) => {
      const { record, sha256 } = fileFromRow(row);
      return { record, sha256 };
    });
  }

  async listTopics(datasetId: string): Promise<TopicRecord[]> {
    return (await this.db.selectFrom('topics').selectAll().where('dataset_id', '=', datasetId).execute()).map(
      topicFromRow,
    );
  }

  queryDatasets(query: StoreQuery): Promise<Page<DatasetRecord>> {
    return queryDatasets(this.database, query);
  }

  queryFiles(query: StoreQuery): Promise<Page<StoredFile>> {
    return queryFiles(this.database, query);
  }

  queryTopics(query: StoreQuery): Promise<Page<TopicRecord>> {
    return queryTopics(this.database, query);
  }
}
