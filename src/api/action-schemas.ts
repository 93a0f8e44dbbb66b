import { z } from 'zod';
import { Accessibility } from '../domain/action-record.js';

/**
 * The HTTP shapes of registered actions (spec §2.1, A5–A7). Answers are serialized through these plain
 * schemas (no transforms: a response is encoded, not parsed); requests are the domain's own
 * CreateActionRequest / UpdateActionRequest.
 */

const WireComputeRequirements = z.object({
  vCPU: z.number().int(),
  memory: z.number().int(),
  gpu: z.boolean(),
  storage: z.number().int(),
});

const WireContainerParameters = z.object({
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

const WireActionReference = z.object({
  name: z.string(),
  digest: z.string().nullable().optional(),
  owner: z.string().nullable().optional(),
});

/** ActionRecord as answered: every key of spec §2.1, `digest` always set. */
export const ActionRecordWire = z.object({
  name: z.string(),
  org_id: z.string(),
  digest: z.string().min(1),
  created: z.string(),
  created_by: z.string(),
  modified: z.string(),
  modified_by: z.string(),
  accessibility: Accessibility,
  published: z.string().nullable(),
  description: z.string().nullable(),
  short_description: z.string().nullable(),
  uri: z.string().nullable(),
  inherits: WireActionReference.nullable(),
  compute_requirements: WireComputeRequirements.nullable(),
  container_parameters: WireContainerParameters.nullable(),
  parameters: z.array(WireActionParameter),
  requires_downloaded_inputs: z.boolean().nullable(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  tags: z.array(z.string()),
  timeout: z.number().int().nullable(),
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
