import { z } from 'zod';
import { MetadataChangeset } from '../domain/metadata-changeset.js';
import type { FileRecord, TopicRecord } from '../domain/records.js';
import type { StoreQuery } from '../ports/data-store.js';

/**
 * The HTTP shapes of files, topics and the dataset routes beyond create/get (spec §2.6, §2.7, §2.12,
 * §3.4–§3.6). Requests ignore unknown keys (spec §1.5); records carry every field the SDK requires, and
 * never `null` where the SDK's model has a non-null default (spec §1.7).
 */

/** FileRecord as the SDK validates it (spec §2.6, runtime doc §4.3). */
export const FileRecordSchema = z.object({
  association_id: z.string(),
  created: z.string(),
  created_by: z.string(),
  description: z.string().nullable(),
  device_id: z.string().nullable(),
  file_id: z.string(),
  fs_type: z.enum(['file', 'directory']),
  ingestion_status: z.enum(['not_ingested', 'partly_ingested', 'ingested']),
  metadata: z.record(z.string(), z.unknown()),
  modified: z.string(),
  modified_by: z.string(),
  name: z.string(),
  org_id: z.string(),
  origination: z.string(),
  parent_id: z.string().nullable(),
  relative_path: z.string(),
  size: z.number().int(),
  status: z.enum(['available', 'deleted', 'reserved']),
  storage_type: z.enum(['imported', 'uploaded', 'directory']),
  tags: z.array(z.string()),
  upload_id: z.string(),
  uri: z.string(),
  version: z.number().int(),
});
export type FileRecordWire = z.output<typeof FileRecordSchema>;

/**
 * The store's record as answered. Its `uri` names where the bytes are on the server's disk, which is no
 * business of a client: it becomes an opaque URI of the file's id and version (downloads go through
 * the signed URL).
 */
export function fileToWire(record: FileRecord): FileRecordWire {
  return { ...record, uri: `action-worker://files/${record.file_id}/${record.version}` };
}

const AssociationSchema = z.object({
  association_id: z.string(),
  association_type: z.enum(['dataset', 'file', 'topic', 'message_path']),
  association_version: z.number().int().nullable(),
  parent: z.record(z.string(), z.unknown()).nullable(),
});

/** TopicRecord as the SDK validates it (spec §2.7, runtime doc §4.3); message paths are not kept yet. */
export const TopicRecordSchema = z.object({
  association: AssociationSchema,
  created: z.string(),
  created_by: z.string(),
  default_representation: z.record(z.string(), z.unknown()).nullable(),
  // Nanoseconds since the epoch: beyond 2^53, so not a "safe" integer to zod, though integral.
  end_time: z.number().nullable(),
  message_count: z.number().int().nullable(),
  message_paths: z.array(z.record(z.string(), z.unknown())),
  metadata: z.record(z.string(), z.unknown()),
  modified: z.string(),
  modified_by: z.string(),
  org_id: z.string(),
  schema_checksum: z.string().nullable(),
  schema_id: z.string().nullable(),
  schema_name: z.string().nullable(),
  start_time: z.number().nullable(),
  topic_id: z.string(),
  topic_name: z.string(),
});
export type TopicRecordWire = z.output<typeof TopicRecordSchema>;

export function topicToWire(record: TopicRecord): TopicRecordWire {
  const association = record.association;
  return {
    ...record,
    association: {
      association_id: association.association_id,
      association_type: association.association_type,
      association_version: association.association_version,
      parent: null,
    },
    default_representation: null,
    message_paths: [],
  };
}

/** `{"items": […], "next_token": …}`: a page of a listing or query (spec §1.6, §1.9); the token key always. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_token: z.string().nullable() });

/** MetadataChangeset as a request part (spec §2.12): every key optional, nulls allowed. */
export const MetadataChangesetRequest = z.object({
  put_tags: z.array(z.string()).nullable().optional(),
  remove_tags: z.array(z.string()).nullable().optional(),
  put_fields: z.record(z.string(), z.unknown()).nullable().optional(),
  remove_fields: z.array(z.string()).nullable().optional(),
  replace_all: z.boolean().nullable().optional(),
});

/** The domain's changeset (defaults filled) from the request's. */
export function changesetOf(
  request: z.output<typeof MetadataChangesetRequest> | null | undefined,
): MetadataChangeset {
  return MetadataChangeset.parse({ ...request, replace_all: request?.replace_all ?? false });
}

/** `PUT /v1/datasets/{id}` (spec D3): absent = unchanged, null = clear. */
export const UpdateDatasetRequest = z.object({
  metadata_changeset: MetadataChangesetRequest.nullable().optional(),
  name: z.string().max(120).nullable().optional(),
  description: z.string().nullable().optional(),
  device_id: z.string().nullable().optional(),
  custom_fields_changeset: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** `PUT /v1/files/record/{id}` (spec F2): absent = unchanged, null = clear. */
export const UpdateFileRequest = z.object({
  description: z.string().nullable().optional(),
  device_id: z.string().nullable().optional(),
  metadata_changeset: MetadataChangesetRequest.nullable().optional(),
  ingestion_complete: z.literal(true).nullable().optional(),
});

/** `?version_id=N` of the file reads (spec D7, F1). */
export const VersionQuery = z.object({ version_id: z.coerce.number().int().min(1).optional() });

/** `?page_token=` of the GET listings (spec §1.9), and an optional page size (ours; the SDK sends none). */
export const ListingQuery = z.object({
  page_token: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

/**
 * QuerySpecification (spec §2.11), the body of `…/query`. The condition tree is checked by the store's
 * query (a bad comparator or field is a 400 naming it); `max_results` is only the search service's.
 */
export const QuerySpecificationRequest = z.object({
  condition: z
    .unknown()
    .optional()
    .describe('a Condition {field, comparator, value} or ConditionGroup {operator, conditions}; null = all'),
  limit: z.number().int().min(1).max(1000).optional(),
  max_results: z.number().int().min(1).nullable().optional(),
  after: z.string().nullable().optional(),
  sort_by: z.string().nullable().optional(),
  sort_direction: z.enum(['ASC', 'DESC']).nullable().optional(),
});
export type QuerySpecificationRequest = z.output<typeof QuerySpecificationRequest>;

/** The store query of a QuerySpecification, in one org. */
export function storeQueryOf(spec: QuerySpecificationRequest, orgId: string): StoreQuery {
  return {
    condition: (spec.condition ?? null) as StoreQuery['condition'],
    orgId,
    ...(spec.sort_by ? { sortBy: spec.sort_by } : {}),
    ...(spec.sort_direction ? { sortDirection: spec.sort_direction } : {}),
    ...(spec.limit === undefined ? {} : { limit: spec.limit }),
    after: spec.after ?? null,
  };
}

/** `POST /v1/datasets/{id}/files/query` (spec D6): the SDK always sends these three keys. */
export const QueryDatasetFilesRequest = z.object({
  page_token: z.string().min(1).nullable().optional(),
  include_patterns: z.array(z.string()).nullable().optional(),
  exclude_patterns: z.array(z.string()).nullable().optional(),
  limit: z.number().int().min(1).max(1000).optional(),
});
