import { z } from 'zod';
import { TriggerEvaluationRecord, TriggerRecord } from '../domain/trigger-record.js';
import { WireComputeRequirements, WireContainerParameters } from './action-schemas.js';

/**
 * The HTTP shapes of triggers (spec §2.3, §2.4, T1–T7). Answers are serialized through these plain schemas
 * (no transforms: a response is encoded, not parsed); requests are the domain's own CreateTriggerRequest /
 * UpdateTriggerRequest.
 */

/** TriggerRecord as answered: every key of spec §2.3, the nested shapes given plainly. */
export const TriggerRecordWire = TriggerRecord.extend({
  compute_requirement_overrides: WireComputeRequirements.nullable(),
  container_parameter_overrides: WireContainerParameters.nullable(),
});

export const TriggerNameParams = z.object({ name: z.string().min(1).max(256) });

/** `{"items": […], "next_token": …}` (spec §1.6), with how many match in all. */
export const TriggerPage = z.object({
  items: z.array(TriggerRecordWire),
  next_token: z.string().nullable(),
  total_count: z.number().int(),
});

/** `?limit=` (only when the caller gave one) then `&page_token=` (spec T6). Typos are errors. */
export const TriggerEvaluationsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  page_token: z.string().min(1).optional(),
});

/** `?page_token=` from page 2 (spec T7). */
export const DatasetEvaluationsQuery = z.strictObject({
  page_token: z.string().min(1).optional(),
});

export const DatasetEvaluationsParams = z.object({ dataset_id: z.string().min(1).max(200) });

/** A page of evaluations (spec §1.6, §2.4). */
export const TriggerEvaluationPage = z.object({
  items: z.array(TriggerEvaluationRecord),
  next_token: z.string().nullable(),
});
