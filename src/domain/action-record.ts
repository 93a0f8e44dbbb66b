import { z } from 'zod';
import { ActionParameter, ActionReference } from './action-config.js';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';

/** Who may see an action (spec §2.1, §1.12): its org's members, or everyone (`action_hub`). */
export const Accessibility = z.enum(['organization', 'action_hub']);
export type Accessibility = z.output<typeof Accessibility>;

/** Metadata of an action: flat primitives only (spec §2.1: the SDK's serializer refuses anything else). */
export const ActionMetadata = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/**
 * One version of a registered action, as stored and as the API answers it (spec §2.1 ActionRecord, every
 * key present). `created`/`created_by` are those of the first version; `modified`/`modified_by` this
 * version's; `digest` identifies this version (spec §4.1.3).
 */
export const ActionRecord = z.object({
  name: z.string(),
  org_id: z.string(),
  digest: z.string(),
  created: z.string(),
  created_by: z.string(),
  modified: z.string(),
  modified_by: z.string(),
  accessibility: Accessibility,
  published: z.string().nullable(),
  description: z.string().nullable(),
  short_description: z.string().nullable(),
  uri: z.string().nullable(),
  inherits: ActionReference.nullable(),
  compute_requirements: ComputeRequirements.nullable(),
  container_parameters: ContainerParameters.nullable(),
  parameters: z.array(ActionParameter),
  requires_downloaded_inputs: z.boolean().nullable(),
  metadata: ActionMetadata,
  tags: z.array(z.string()),
  /** Minutes; null: the platform default (spec §4.2). */
  timeout: z.number().int().nullable(),
});
export type ActionRecord = z.output<typeof ActionRecord>;
