import { z } from 'zod';
import { Accessibility, ActionRecord } from '../domain/action-record.js';

/**
 * The HTTP shapes of registered actions (spec §2.1, A5–A7). Answers are serialized through these plain
 * schemas (no transforms: a response is encoded, not parsed); requests are the domain's own
 * CreateActionRequest / UpdateActionRequest.
 */

export const WireComputeRequirements = z.object({
  vCPU: z.number().int(),
  memory: z.number().int(),
  gpu: z.boolean(),
  storage: z.number().int(),
});

export const WireContainerParameters = z.object({
  command: z.array(z.string()).nullable(),
  entry_point: z.array(z.string()).nullable(),
  env_vars: z.record(z.string(), z.string()).nullable(),
  workdir: z.string().nullable(),
});

const WireActionParameter = z.object({
  name: z.string(),
  required: z.boolean(),
  description: z.string().nullable(),
  default: z.string().nullable(),
});

/**
 * ActionRecord as answered: every key of spec §2.1, `digest` always set; the nested shapes the domain
 * parses with transforms given plainly.
 */
export const ActionRecordWire = ActionRecord.extend({
  digest: z.string().min(1),
  compute_requirements: WireComputeRequirements.nullable(),
  container_parameters: WireContainerParameters.nullable(),
  parameters: z.array(WireActionParameter),
});

/** A QuerySpecification (spec §2.11); the condition tree is checked by the query itself. Unknown keys ignored. */
export const QuerySpecificationBody = z.object({
  condition: z.unknown().optional(),
  limit: z.number().int().min(1).max(1000).nullable().optional(),
  /** Honoured only by the search service (spec §2.11); ignored here. */
  max_results: z.number().int().nullable().optional(),
  after: z.string().nullable().optional(),
  sort_by: z.string().nullable().optional(),
  sort_direction: z.enum(['ASC', 'DESC']).nullable().optional(),
});

/** `PUT /v1/actions/{name}/accessibility` (spec A5): the SDK never sends `digest`. */
export const SetAccessibilityBody = z.object({
  accessibility: Accessibility,
  digest: z.string().nullable().optional(),
});

export const ActionNameParams = z.object({ name: z.string().min(1).max(256) });
/** A typo'd query parameter is an error, not ignored (as on every /v1 route). */
export const DigestQuery = z.strictObject({ digest: z.string().min(1).optional() });

/** `{"items": […], "next_token": …}` (spec §1.6), with how many match in all. */
export const ActionPage = z.object({
  items: z.array(ActionRecordWire),
  next_token: z.string().nullable(),
  total_count: z.number().int(),
});
