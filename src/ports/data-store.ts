import type { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { DatasetRecord, FileRecord, TopicRecord } from '../domain/records.js';
import type { Page, StoreQuery } from '../domain/store-query.js';
import type { NewTopic } from '../domain/stored-records.js';
import type { ChangeAnnouncement, TriggerEvent } from '../domain/trigger-event.js';
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

/**
 * A change to be announced for trigger evaluation (issue 13). The store writes the change's TriggerEvent
 * into its outbox in the change's own transaction, so a committed change always has its event; a relay
 * (app/change-relay.ts) hands outbox events on to the trigger event queue. A change that changes nothing
 * announces nothing.
 */
export type { ChangeAnnouncement } from '../domain/trigger-event.js';

/** An event of a committed change, in the store's outbox until a relay has handed it on. */
export interface OutboxEvent {
  /** Its place in the outbox: events are claimed oldest first. */
  seq: number;
  event: TriggerEvent;
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
  /**
   * Announce the write as one `file_upload` event. Its files are those the call wrote, and those an earlier
   * run of the same write key had written (a retried attempt lists all of its files); files left alone as
   * unchanged by another write are not in it, and a call that lists none announces nothing. The event is
   * written with the write's first batch, held, gains each batch's files in that batch's transaction, and
   * is released by the last (unless `announce.hold`): a write cut off between batches still announces the
   * files it committed, once the hold runs out.
   */
  announce?: ChangeAnnouncement;
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
  /**
   * Applies the changeset to tags and metadata and sets the given fields, in one write. With `announce`,
   * a change of tags, metadata or description is announced as `dataset_metadata_update`.
   */
  updateDataset(
    datasetId: string,
    changeset: MetadataChangeset,
    fields?: DatasetFields,
    announce?: ChangeAnnouncement,
  ): Promise<DatasetRecord>;

  /** Stores files in a dataset: new paths become files (version 1), existing paths a new version. */
  putFiles(datasetId: string, files: readonly PutFile[], options: PutFilesOptions): Promise<FileRecord[]>;
  listFiles(datasetId: string): Promise<StoredFile[]>;
  getFile(fileId: string): Promise<StoredFile | undefined>;
  /**
   * With `announce`: a file that becomes ingested is announced as `file_ingest` (the event id
   * `<file>:<version>:ingest`, whatever `announce.eventId`: once per version), and a change of its tags or
   * metadata as `file_metadata_update` (the announcement's id).
   */
  updateFile(fileId: string, update: FileUpdate, announce?: ChangeAnnouncement): Promise<FileRecord>;
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

  /**
   * Releases a held announcement (`ChangeAnnouncement.hold`) to the relays; nothing when there is none. A
   * held announcement not released is handed on anyway once its hold runs out.
   */
  releaseAnnouncement(eventId: string): Promise<void>;

  /**
   * Claims up to `limit` outbox events, oldest first, that no relay has claimed in the last `leaseMs`:
   * several relays may drain one store, and an event a relay claimed and did not settle (it died) is
   * claimed again once its lease has run out. `only`: just the events of these ids (an import hands on its
   * own event, not the whole outbox). A row that is not a trigger event this version can read (written by
   * a newer one, or edited by hand) is set aside, never claimed again and kept for an operator; its
   * sequence number is reported so that it can be logged.
   */
  claimOutboxEvents(
    limit: number,
    leaseMs: number,
    only?: readonly string[],
  ): Promise<{ events: OutboxEvent[]; setAside: number[] }>;
  /** Deletes outbox events that have been handed on. */
  settleOutboxEvents(seqs: readonly number[]): Promise<void>;
  /** Gives back claimed events that could not be handed on: the next claim, by any relay, takes them. */
  releaseOutboxEvents(seqs: readonly number[]): Promise<void>;

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
