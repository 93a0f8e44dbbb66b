import type { Insertable, Selectable } from 'kysely';
import type { FileRecord, TopicRecord } from '../../domain/records.js';
import type { DatasetRecord, StoredFile } from '../../ports/data-store.js';
import {
  type DatasetsTable,
  type FilesTable,
  type TopicsTable,
  fromJson,
  toJson,
  toNullableNumber,
  toNumber,
} from './database.js';

/** The write (invocation attempt, import) that produced a file's current version. */
export interface WriteKey {
  invocationId: string;
  attempt: number;
}

export function datasetRow(record: DatasetRecord): Insertable<DatasetsTable> {
  return {
    dataset_id: record.dataset_id,
    org_id: record.org_id,
    name: record.name,
    description: record.description,
    tags: toJson(record.tags),
    metadata: toJson(record.metadata),
    created: record.created,
    created_by: record.created_by,
    modified: record.modified,
    modified_by: record.modified_by,
  };
}

export function datasetFromRow(row: Selectable<DatasetsTable>): DatasetRecord {
  return {
    dataset_id: row.dataset_id,
    org_id: row.org_id,
    name: row.name,
    description: row.description,
    tags: fromJson<string[]>(row.tags),
    metadata: fromJson<Record<string, unknown>>(row.metadata),
    created: row.created,
    created_by: row.created_by,
    modified: row.modified,
    modified_by: row.modified_by,
  };
}

export function fileRow(
  record: FileRecord,
  sha256: string,
  writtenBy: WriteKey,
  sourceStat: string | null = null,
): Insertable<FilesTable> {
  return {
    file_id: record.file_id,
    dataset_id: record.association_id,
    relative_path: record.relative_path,
    name: record.name,
    org_id: record.org_id,
    version: record.version,
    size: record.size,
    sha256,
    description: record.description,
    tags: toJson(record.tags),
    metadata: toJson(record.metadata),
    created: record.created,
    created_by: record.created_by,
    modified: record.modified,
    modified_by: record.modified_by,
    origination: record.origination,
    upload_id: record.upload_id,
    ingestion_status: record.ingestion_status,
    status: record.status,
    storage_type: record.storage_type,
    fs_type: record.fs_type,
    device_id: record.device_id,
    parent_id: record.parent_id,
    uri: record.uri,
    written_by_invocation: writtenBy.invocationId,
    written_by_attempt: writtenBy.attempt,
    source_stat: sourceStat,
  };
}

export function fileFromRow(row: Selectable<FilesTable>): StoredFile & { writtenBy: WriteKey } {
  const record: FileRecord = {
    association_id: row.dataset_id,
    created: row.created,
    created_by: row.created_by,
    description: row.description,
    device_id: row.device_id,
    file_id: row.file_id,
    fs_type: row.fs_type as FileRecord['fs_type'],
    ingestion_status: row.ingestion_status as FileRecord['ingestion_status'],
    metadata: fromJson<Record<string, unknown>>(row.metadata),
    modified: row.modified,
    modified_by: row.modified_by,
    name: row.name,
    org_id: row.org_id,
    origination: row.origination,
    parent_id: row.parent_id,
    relative_path: row.relative_path,
    size: toNumber(row.size),
    status: row.status as FileRecord['status'],
    storage_type: row.storage_type as FileRecord['storage_type'],
    tags: fromJson<string[]>(row.tags),
    upload_id: row.upload_id,
    uri: row.uri,
    version: row.version,
  };
  return {
    record,
    sha256: row.sha256,
    writtenBy: { invocationId: row.written_by_invocation, attempt: row.written_by_attempt },
  };
}

export function topicRow(record: TopicRecord, datasetId: string): Insertable<TopicsTable> {
  return {
    topic_id: record.topic_id,
    file_id: record.association.association_id,
    dataset_id: datasetId,
    org_id: record.org_id,
    topic_name: record.topic_name,
    schema_name: record.schema_name,
    message_count: record.message_count,
    start_time: record.start_time,
    end_time: record.end_time,
    metadata: toJson(record.metadata),
    created: record.created,
    modified: record.modified,
    record: toJson(record),
  };
}

export function topicFromRow(row: Selectable<TopicsTable>): TopicRecord {
  const record = fromJson<TopicRecord>(row.record);
  // The columns are the truth for what can change after the topic was registered.
  return {
    ...record,
    topic_name: row.topic_name,
    schema_name: row.schema_name,
    message_count: toNullableNumber(row.message_count),
    start_time: toNullableNumber(row.start_time),
    end_time: toNullableNumber(row.end_time),
    metadata: fromJson<Record<string, unknown>>(row.metadata),
    modified: row.modified,
  };
}
