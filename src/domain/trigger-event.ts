import { z } from 'zod';

/** What can cause a trigger's evaluation (spec §2.3 TriggerEvaluationCause, event causes only). */
export const TriggerEventCause = z.enum([
  'file_upload',
  'file_ingest',
  'dataset_metadata_update',
  'file_metadata_update',
]);
export type TriggerEventCause = z.output<typeof TriggerEventCause>;

/**
 * A change to an org's data that may cause trigger evaluations (issue 13, "Events"): emitted once per
 * change by whatever made it (an upload transaction — an invocation's outputs, `datasets import`, an API
 * upload —, a file marked ingested, a dataset's or a file's metadata changed), carried durably, and
 * handled at least once; its handling is idempotent by `event_id`.
 */
export const TriggerEvent = z.object({
  /** Unique per change and stable across re-deliveries: what deduplicates. */
  event_id: z.string().min(1).max(256),
  org_id: z.string().min(1),
  dataset_id: z.string().min(1),
  cause: TriggerEventCause,
  /** Uploads: the upload transaction (the evaluation's `data_constraint.transaction_id`); else null. */
  transaction_id: z.string().min(1).nullable().default(null),
  /** The files the change is about: those uploaded (ids), or the one ingested / re-tagged. */
  file_ids: z.array(z.string().min(1)).default([]),
  /**
   * The invocation whose outputs these files are, for uploads made by a worker: a trigger's own outputs
   * never fire it again, and a chain of triggered invocations is cut at a depth limit.
   */
  source_invocation_id: z.string().min(1).nullable().default(null),
  /** When the change was made (ISO 8601): the lag from event to decision is measured from it. */
  occurred: z.string(),
});
export type TriggerEvent = z.output<typeof TriggerEvent>;
