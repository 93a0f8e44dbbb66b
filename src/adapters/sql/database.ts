import type { ColumnType, Generated, Kysely } from 'kysely';

/**
 * The metadata store's tables, as Kysely sees them. One schema for both dialects:
 *
 * - JSON values (`tags`, `metadata`, a topic's `record`) are `jsonb` on PostgreSQL and JSON text on SQLite.
 *   They are written as JSON text on both (PostgreSQL casts a text parameter to jsonb) and read through
 *   `fromJson`, since node-postgres hands back parsed values and better-sqlite3 strings.
 * - Timestamps are ISO-8601 text in UTC with milliseconds (`Date.prototype.toISOString`), so they order as
 *   text on both dialects.
 * - 64-bit integers (`size`, topic times) come back from node-postgres as strings: read through `toNumber`.
 */
export interface Database {
  datasets: DatasetsTable;
  files: FilesTable;
  file_versions: FileVersionsTable;
  topics: TopicsTable;
  store_migrations: StoreMigrationsTable;
  change_outbox: ChangeOutboxTable;
  change_outbox_files: ChangeOutboxFilesTable;
}

type Json = ColumnType<unknown, string, string>;
type BigIntColumn = ColumnType<number | string, number, number>;
type NullableBigIntColumn = ColumnType<number | string | null, number | null, number | null>;

export interface DatasetsTable {
  dataset_id: string;
  org_id: string;
  name: string | null;
  description: string | null;
  tags: Json;
  metadata: Json;
  created: string;
  created_by: string;
  modified: string;
  modified_by: string;
}

/** The current version of each file: one row per (dataset, path). */
export interface FilesTable {
  file_id: string;
  dataset_id: string;
  relative_path: string;
  name: string;
  org_id: string;
  version: number;
  size: BigIntColumn;
  sha256: string;
  description: string | null;
  tags: Json;
  metadata: Json;
  created: string;
  created_by: string;
  modified: string;
  modified_by: string;
  origination: string;
  upload_id: string;
  ingestion_status: string;
  status: string;
  storage_type: string;
  fs_type: string;
  device_id: string | null;
  parent_id: string | null;
  uri: string;
  /** The write (invocation attempt, import) that produced the current version. */
  written_by_invocation: string;
  written_by_attempt: number;
  /**
   * What the source file looked like when it was imported (`size:mtimeNs:ino:ctimeNs`), so that an import
   * of the same folder again recognises an unchanged file without reading it; null when not imported.
   */
  source_stat: string | null;
}

/** Every version a file has had, the current one included. */
export interface FileVersionsTable {
  file_id: string;
  version: number;
  sha256: string;
  size: BigIntColumn;
  upload_id: string;
  origination: string;
  created: string;
  created_by: string;
}

export interface TopicsTable {
  topic_id: string;
  file_id: string;
  dataset_id: string;
  org_id: string;
  topic_name: string;
  schema_name: string | null;
  message_count: NullableBigIntColumn;
  start_time: NullableBigIntColumn;
  end_time: NullableBigIntColumn;
  metadata: Json;
  created: string;
  modified: string;
  /** The whole wire record (TopicRecord), of which the columns above are the queryable part. */
  record: Json;
}

/** Progress of moving an earlier store (a JSON folder) into this one: one row per source. */
export interface StoreMigrationsTable {
  id: Generated<number>;
  source: string;
  started: string;
  /** The last dataset fully copied and verified, in the order the migration walks them. */
  last_dataset_id: string | null;
  datasets_done: number;
  files_done: number;
  /** Set once every record has been copied and verified. */
  verified: string | null;
}

export type Dialect = 'sqlite' | 'postgres';

export interface SqlDatabase {
  db: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

/** A JSON column's value as stored, on either dialect. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the stored shape
export function fromJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

/** A 64-bit column's value (node-postgres returns int8 as a string). */
export function toNumber(value: number | string): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toNullableNumber(value: number | string | null): number | null {
  return value === null ? null : toNumber(value);
}

/** Events of committed changes not yet handed on to the trigger event queue (migration 0002). */
export interface ChangeOutboxTable {
  seq: ColumnType<number | string, undefined, never>;
  event_id: string;
  /** The TriggerEvent, whole. */
  event: Json;
  /** A relay's lease on the row, in epoch milliseconds; 0 when unclaimed. */
  claimed_until: ColumnType<number | string, number | undefined, number>;
}

/** The files of an outbox event written over several transactions, beside its `event.file_ids`. */
export interface ChangeOutboxFilesTable {
  seq: ColumnType<number | string, number, number>;
  /** The order the write listed them in. */
  n: number;
  file_id: string;
}
