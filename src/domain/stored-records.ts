import path from 'node:path';
import { stableId } from './ids.js';
import type { FileRecord, TopicRecord } from './records.js';

/**
 * The wire records a data store writes, built one way for every store (the folder store and the SQL one
 * keep them differently, but must hand out the same records).
 */

/** A file's record after a write: a new file (no `existing`), or a new version of an existing one. */
export function writtenFileRecord(write: {
  datasetId: string;
  orgId: string;
  relativePath: string;
  /** The current record of the path, if it has one: its description, tags, metadata and creation stay. */
  existing: FileRecord | undefined;
  version: number;
  sizeBytes: number;
  /** Where the content is, as a local path (the record's `uri`). */
  contentPath: string;
  origination: string;
  writeKey: { invocationId: string; attempt: number };
  by: string;
  now: string;
}): FileRecord {
  const { existing } = write;
  return {
    association_id: write.datasetId,
    created: existing?.created ?? write.now,
    created_by: existing?.created_by ?? write.by,
    description: existing?.description ?? null,
    device_id: null,
    file_id: stableId('fl', write.datasetId, write.relativePath),
    fs_type: 'file',
    ingestion_status: 'not_ingested',
    metadata: existing?.metadata ?? {},
    modified: write.now,
    modified_by: write.by,
    name: path.posix.basename(write.relativePath),
    org_id: write.orgId,
    origination: write.origination,
    parent_id: null,
    relative_path: write.relativePath,
    size: write.sizeBytes,
    status: 'available',
    storage_type: 'uploaded',
    tags: existing?.tags ?? [],
    upload_id: `${write.writeKey.invocationId}-${write.writeKey.attempt}`,
    uri: `file://${write.contentPath}`,
    version: write.version,
  };
}

/** What registering a topic on a file gives: its name, and what is known of its messages. */
export interface NewTopic {
  topicName: string;
  schemaName?: string | null;
  messageCount?: number | null;
  startTime?: number | null;
  endTime?: number | null;
  metadata?: Record<string, unknown>;
}

/** A topic registered on (the current version of) a file. */
export function newTopicRecord(file: FileRecord, topic: NewTopic, by: string, now: string): TopicRecord {
  return {
    association: {
      association_id: file.file_id,
      association_type: 'file',
      association_version: file.version,
      parent: null,
    },
    created: now,
    created_by: by,
    default_representation: null,
    end_time: topic.endTime ?? null,
    message_count: topic.messageCount ?? null,
    message_paths: [],
    metadata: topic.metadata ?? {},
    modified: now,
    modified_by: by,
    org_id: file.org_id,
    schema_checksum: null,
    schema_id: null,
    schema_name: topic.schemaName ?? null,
    start_time: topic.startTime ?? null,
    topic_id: stableId('tp', file.file_id, topic.topicName),
    topic_name: topic.topicName,
  };
}
