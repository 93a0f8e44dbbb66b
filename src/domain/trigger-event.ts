import { z } from 'zod';
import { randomId } from './ids.js';

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

/**
 * Asks a change to be announced for trigger evaluation: what the caller knows of the change that the store
 * does not (the store fills in the org, the dataset, the cause, the files and the time).
 */
export interface ChangeAnnouncement {
  /**
   * The event's id: unique per change, the same when the same change is made again (a retried upload
   * completion), so that the event is handed on once. By default a fresh one.
   */
  eventId?: string;
  /** Uploads: the upload transaction (the evaluation's data constraint); by default the event's id. */
  transactionId?: string;
  /** The invocation whose outputs or API calls made the change: its lineage (a trigger never fires itself). */
  sourceInvocationId?: string | null;
  /**
   * A write's event is held when the write ends, until `releaseAnnouncement(eventId)` (the caller has more
   * to do first: an invocation's outputs are announced once their changesets are applied) or until the
   * hold runs out (the caller died): then it is handed on anyway. Needs an `eventId`.
   */
  hold?: boolean;
}

/** What a store knows of a committed change. */
export interface AnnouncedChange {
  org_id: string;
  dataset_id: string;
  cause: TriggerEventCause;
  file_ids: string[];
}

const FRESH_ID_PREFIX: Record<TriggerEventCause, string> = {
  file_upload: 'upl',
  file_ingest: 'ingest',
  dataset_metadata_update: 'dsmeta',
  file_metadata_update: 'flmeta',
};

/** The event a store writes into its outbox for a change it committed (or is committing). */
export function changeEvent(
  announcement: ChangeAnnouncement,
  change: AnnouncedChange,
  occurred: Date,
): TriggerEvent {
  const eventId = announcement.eventId ?? randomId(FRESH_ID_PREFIX[change.cause], 20);
  return {
    event_id: eventId,
    org_id: change.org_id,
    dataset_id: change.dataset_id,
    cause: change.cause,
    transaction_id: change.cause === 'file_upload' ? (announcement.transactionId ?? eventId) : null,
    file_ids: change.file_ids,
    source_invocation_id: announcement.sourceInvocationId ?? null,
    occurred: occurred.toISOString(),
  };
}

/** The id of a file version's `file_ingest` event: marking the same version ingested twice is one event. */
export function ingestEventId(fileId: string, version: number): string {
  return `${fileId}:${version}:ingest`;
}

/** Whether two JSON-like values differ, the key order of objects aside: a change a trigger could see. */
export function jsonDiffers(a: unknown, b: unknown): boolean {
  return canonicalJson(a) !== canonicalJson(b);
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}
