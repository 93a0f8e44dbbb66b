import { z } from 'zod';
import type { DatasetRecord } from '../domain/records.js';

/**
 * The HTTP shapes, as zod schemas: request validation, the handlers' types and the OpenAPI document all
 * come from these. Request objects ignore unknown keys (spec §1.5: old and new clients differ).
 */

export const ErrorEnvelope = z.object({
  error: z.object({ error_code: z.string(), message: z.string() }),
});

/** `{"data": …}`: every JSON success answer (spec §1.6). */
export const envelope = <T extends z.ZodType>(data: T) => z.object({ data });

/** Deprecated storage fields the SDK still parses (spec §2.5); we answer their documented defaults. */
const NOT_SET_STORAGE_CTX = { bucket_name: 'NOT_SET', iam_role_arn: 'NOT_SET', key_prefix: 'NOT_SET' };

/** DatasetRecord as the SDK validates it (spec §2.5). */
export const DatasetRecordSchema = z.object({
  dataset_id: z.string(),
  org_id: z.string(),
  name: z.string().max(120).nullable(),
  description: z.string().nullable(),
  device_id: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  custom_fields: z.record(z.string(), z.unknown()),
  created: z.string(),
  created_by: z.string(),
  modified: z.string(),
  modified_by: z.string(),
  roboto_record_version: z.number().int(),
  administrator: z.string(),
  storage_ctx: z.record(z.string(), z.string()),
  storage_location: z.string(),
});
export type DatasetRecordWire = z.output<typeof DatasetRecordSchema>;

/**
 * The store's record with what it does not keep filled in: no devices or custom fields yet (null and {}),
 * no update counter (0), and the deprecated storage fields at the SDK's own defaults.
 */
export function datasetToWire(record: DatasetRecord): DatasetRecordWire {
  return {
    dataset_id: record.dataset_id,
    org_id: record.org_id,
    name: record.name,
    description: record.description,
    device_id: null,
    tags: record.tags,
    metadata: record.metadata,
    custom_fields: {},
    created: record.created,
    created_by: record.created_by,
    modified: record.modified,
    modified_by: record.modified_by,
    roboto_record_version: 0,
    administrator: 'Roboto',
    storage_ctx: { ...NOT_SET_STORAGE_CTX },
    storage_location: 'S3',
  };
}

export const DatasetIdParams = z.object({ dataset_id: z.string().min(1).max(200) });

/** `POST /v1/datasets` (spec D1): the SDK always sends all six keys. */
export const CreateDatasetRequest = z.object({
  name: z.string().max(120).nullable().optional(),
  description: z.string().nullable().optional(),
  device_id: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  tags: z.array(z.string()).nullable().optional(),
  custom_fields: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type CreateDatasetRequest = z.output<typeof CreateDatasetRequest>;
