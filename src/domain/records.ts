import { z } from 'zod';

/** Wire records of the contract (spec §4.3). Unknown fields are ignored; defaults as the SDK's. */

const IsoDateTime = z
  .string()
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be an ISO-8601 datetime');

export const FileRecord = z.object({
  association_id: z.string(),
  created: IsoDateTime,
  created_by: z.string().default(''),
  description: z.string().nullable().default(null),
  device_id: z.string().nullable().default(null),
  file_id: z.string(),
  fs_type: z.enum(['file', 'directory']).default('file'),
  ingestion_status: z.enum(['not_ingested', 'partly_ingested', 'ingested']).default('not_ingested'),
  metadata: z.record(z.string(), z.unknown()).default({}),
  modified: IsoDateTime,
  modified_by: z.string(),
  name: z.string(),
  org_id: z.string(),
  origination: z.string().default(''),
  parent_id: z.string().nullable().default(null),
  relative_path: z.string(),
  size: z.number().int().nonnegative(),
  status: z.enum(['available', 'deleted', 'reserved']).default('available'),
  storage_type: z.enum(['imported', 'uploaded', 'directory']).default('uploaded'),
  tags: z.array(z.string()).default([]),
  upload_id: z.string().default('NO_ID'),
  uri: z.string(),
  version: z.number().int(),
});
export type FileRecord = z.output<typeof FileRecord>;

export interface Association {
  association_id: string;
  association_type: 'dataset' | 'file' | 'topic' | 'message_path';
  association_version: number | null;
  parent: Association | null;
}
export const Association: z.ZodType<Association> = z.lazy(() =>
  z.object({
    association_id: z.string(),
    association_type: z.enum(['dataset', 'file', 'topic', 'message_path']),
    association_version: z.number().int().nullable().default(null),
    parent: Association.nullable().default(null),
  }),
);

export const RepresentationRecord = z.object({
  association: Association,
  created: IsoDateTime,
  format: z.string().nullable().default(null),
  modified: IsoDateTime,
  representation_id: z.string(),
  storage_format: z.enum(['mcap', 'parquet']),
  topic_id: z.string(),
  transformations: z.array(z.string()).default([]),
  version: z.number().int(),
});

export const CanonicalDataType = z.enum([
  'array',
  'boolean',
  'byte',
  'categorical',
  'image',
  'number',
  'number_array',
  'object',
  'string',
  'timestamp',
  'unknown',
  'latdegfloat',
  'londegfloat',
  'latdegint',
  'londegint',
]);

export const MessagePathRecord = z.object({
  canonical_data_type: CanonicalDataType,
  created: IsoDateTime,
  created_by: z.string(),
  data_type: z.string(),
  message_path: z.string(),
  message_path_id: z.string(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  modified: IsoDateTime,
  modified_by: z.string(),
  org_id: z.string(),
  path_in_schema: z.array(z.string()),
  representations: z.array(RepresentationRecord).default([]),
  source_path: z.string(),
  topic_id: z.string(),
});

export const TopicRecord = z.object({
  association: Association,
  created: IsoDateTime,
  created_by: z.string(),
  default_representation: RepresentationRecord.nullable().default(null),
  end_time: z.number().int().nullable().default(null),
  message_count: z.number().int().nullable().default(null),
  message_paths: z.array(MessagePathRecord).default([]),
  metadata: z.record(z.string(), z.unknown()).default({}),
  modified: IsoDateTime,
  modified_by: z.string(),
  org_id: z.string(),
  schema_checksum: z.string().nullable().default(null),
  schema_id: z.string().nullable().default(null),
  schema_name: z.string().nullable().default(null),
  start_time: z.number().int().nullable().default(null),
  topic_id: z.string(),
  topic_name: z.string(),
});
export type TopicRecord = z.output<typeof TopicRecord>;

/** The inputs manifest: `{"files": [[FileRecord, path|null], …], "topics": [TopicRecord, …]}`. */
export const ActionInputRecord = z.object({
  files: z.array(z.tuple([FileRecord, z.string().nullable()])).default([]),
  topics: z.array(TopicRecord).default([]),
});
export type ActionInputRecord = z.output<typeof ActionInputRecord>;

/** `ROBOTO_DATASET_ID` when the invocation has no dataset. */
export const UNSPECIFIED_DATA_SOURCE = '__UNSPECIFIED_DATA_SOURCE__';

/** A dataset as the store keeps it. */
export interface DatasetRecord {
  dataset_id: string;
  org_id: string;
  name: string | null;
  description: string | null;
  tags: string[];
  metadata: Record<string, unknown>;
  created: string;
  created_by: string;
  modified: string;
  modified_by: string;
}
