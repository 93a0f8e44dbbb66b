import type { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { DatasetRecord, FileRecord, TopicRecord } from '../domain/records.js';
import type { Page, StoreQuery } from '../domain/store-query.js';
import type { NewTopic } from '../domain/stored-records.js';
import type { TransferObserver } from './transfer-observer.js';

export type { DatasetRecord } from '../domain/records.js';

/** A file with what the store knows beyond its wire record. */
export interface StoredFile {
  record: FileRecord;
  sha256: string;
}

export interface NewDataset {
  orgId: string;
  /** A chosen id (`ds_…`); by default a fresh one. */
  datasetId?: string;
  name?: string | null;
  description?: string | null;
  tags?: string[];
  metadata?: Record<string, unknown>;
}

/** A dataset's own fields an update may set (`null` clears); absent ones stay as they are. */
export interface DatasetFields {
  name?: string | null;
  description?: string | null;
}

/** What an update of a file may change; absent parts stay as they are. */
export interface FileUpdate {
  description?: string | null;
  metadataChangeset?: MetadataChangeset;
  /** `ingested` once the file's ingestion is complete (the API's `ingestion_complete`). */
  ingestionStatus?: FileRecord['ingestion_status'];
}

export interface PutFile {
  /** The dataset path: forward slashes, no leading slash, never leaving the dataset. */
  relativePath: string;
  /** A readable local file holding the bytes. */
  sourcePath: string;
  /**
   * What the source file looks like, for an import of the same folder again: `${size}:${mtimeNs}:${ino}:${ctimeNs}`
   * from `stat(sourcePath, { bigint: true })` (`sourceStatOf` in app/dataset-transfer.ts). With `skipUnchanged`, a store may leave
   * a path alone without reading the file when the stat it recorded for the path's last import is the same
   * (size, modification and change times to the nanosecond, inode): any write to the file changes its
   * ctime. Absent for writes that are not imports (outputs). Stores may ignore it.
   */
  sourceStat?: string;
  /** Its size when the caller knows it already (a walk that stat-ed it): the store need not stat it again. */
  sizeBytes?: number;
}

export interface PutFilesOptions {
  /**
   * What the write belongs to (an invocation attempt, an import). Writing the same paths again under the
   * same key leaves one file and one version per path: a retried attempt never duplicates its outputs.
   */
  writeKey: { invocationId: string; attempt: number };
  origination: string;
  /** Leave a path alone when its content is unchanged, whoever wrote it (an import of a folder again). */
  skipUnchanged?: boolean;
  signal: AbortSignal;
  /** Told the write's total before it starts, then every increment of bytes stored, as `upload`. */
  transfers?: TransferObserver;
}

export type { NewTopic } from '../domain/stored-records.js';

export type { Page, StoreQuery } from '../domain/store-query.js';

/**
 * Datasets of files with tags, metadata and descriptions, and topics registered on files. The default keeps
 * metadata in SQL (SQLite on this host, or PostgreSQL) and contents as blobs on the filesystem; the older
 * folder store is kept as a migration source. An S3 or Roboto-API adapter implements the same port and
 * passes the same contract suite (test/contract/data-store.contract.ts).
 */
export interface DataStore {
  createDataset(dataset: NewDataset): Promise<DatasetRecord>;
  /** The dataset, or undefined when there is none with that id. */
  getDataset(datasetId: string): Promise<DatasetRecord | undefined>;
  listDatasets(): Promise<DatasetRecord[]>;
  /** Applies the changeset to tags and metadata and sets the given fields, in one write. */
  updateDataset(
    datasetId: string,
    changeset: MetadataChangeset,
    fields?: DatasetFields,
  ): Promise<DatasetRecord>;

  /** Stores files in a dataset: new paths become files (version 1), existing paths a new version. */
  putFiles(datasetId: string, files: readonly PutFile[], options: PutFilesOptions): Promise<FileRecord[]>;
  listFiles(datasetId: string): Promise<StoredFile[]>;
  getFile(fileId: string): Promise<StoredFile | undefined>;
  updateFile(fileId: string, update: FileUpdate): Promise<FileRecord>;
  /**
   * Deletes a file with its versions and topics, all at once (true), or nothing when there is no such file
   * (false). Its bytes stay in the blob store for a garbage collection to find unreferenced.
   */
  deleteFile(fileId: string): Promise<boolean>;
  /** Deletes a dataset with its files and topics, all at once (true); false when there is none. */
  deleteDataset(datasetId: string): Promise<boolean>;
  /** A local path holding the file's current bytes, to be read (never written). */
  contentPath(file: StoredFile): Promise<string>;

  addTopic(fileId: string, topic: NewTopic): Promise<TopicRecord>;
  listTopics(datasetId: string): Promise<TopicRecord[]>;
  getTopic(topicId: string): Promise<TopicRecord | undefined>;

  /** Lets go of what the store holds open (database connections); whoever opens a store closes it. */
  close(): Promise<void>;

  /**
   * Datasets, files or topics matching a query, one page at a time, with how many match in all. A bad
   * query (a syntax error, an unknown comparator, a field the target has not, a limit out of range, a
   * malformed `after`) is a UsageError naming what is wrong. Files and topics may be filtered on their
   * dataset's fields (`dataset.name`), topics on their file's too (`file.path`).
   */
  queryDatasets(query: StoreQuery): Promise<Page<DatasetRecord>>;
  queryFiles(query: StoreQuery): Promise<Page<StoredFile>>;
  queryTopics(query: StoreQuery): Promise<Page<TopicRecord>>;
}
