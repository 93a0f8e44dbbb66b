import { z } from 'zod';
import { ActionConfig } from './action-config.js';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';
import { parseOrThrow } from './errors.js';
import { ImageReferenceText } from './image-reference.js';
import { InvocationInput } from './input-selectors.js';
import { laxBool, laxInt } from './lax.js';
import { namedRecord, parameterNameProblem } from './names.js';
import { parseSecretUri } from './parameters.js';
import { UNSPECIFIED_DATA_SOURCE } from './records.js';

const LOG_LEVELS = ['ERROR', 'WARNING', 'INFO', 'DEBUG'] as const;

/** The registered action an invocation ran and who asked for it (spec §2.2, §4.3). */
export const InvocationRequestProvenance = z.object({
  action: z.object({ name: z.string(), org_id: z.string(), digest: z.string().nullable().default(null) }),
  source: z.object({ source_type: z.enum(['Manual', 'Trigger']), source_id: z.string() }),
  /**
   * How many triggered invocations lead to this one, itself included (absent: not triggered, 0): a
   * trigger's evaluator cuts chains deeper than MAX_TRIGGER_CHAIN_DEPTH (domain/trigger-evaluation.ts).
   */
  trigger_depth: z.number().int().nonnegative().optional(),
  /**
   * The trigger evaluation that made this invocation: an evaluation handled again (a retry, a second
   * delivery of its event) knows its own invocation by it, and another event's evaluation of the same data
   * knows the invocation is not its own (`already_run`).
   */
  trigger_evaluation_id: z.number().int().nonnegative().optional(),
});
export type InvocationRequestProvenance = z.output<typeof InvocationRequestProvenance>;

/**
 * What `invoke` submits and the daemon runs: the resolved action, parameter values, input selectors, data
 * source, upload destination, overrides, timeout, org and idempotency id. Secrets travel as
 * `roboto-secret://` references, resolved by the worker's secret store; a request can name which
 * parameters are secret, and each of those must be a reference, so a value can never ride in job data.
 */
export const InvocationRequest = z
  .object({
    action: z.object({
      /**
       * The image to run (a reference the worker can pull or finds locally), checked against Docker's
       * reference grammar here too: a job record may have been written by anyone who can enqueue.
       */
      image: ImageReferenceText,
      config: ActionConfig,
    }),
    parameter_values: namedRecord(z.unknown(), parameterNameProblem).default({}),
    /** Parameters whose values are secret references. */
    secret_parameters: z.array(z.string()).default([]),
    input: InvocationInput.nullable().default(null),
    data_source_id: z.string().min(1).default(UNSPECIFIED_DATA_SOURCE),
    upload_destination_id: z.string().min(1).nullable().default(null),
    compute_requirement_overrides: ComputeRequirements.nullable().default(null),
    container_parameter_overrides: ContainerParameters.nullable().default(null),
    timeout_minutes: laxInt()
      .refine((minutes) => minutes > 0, { message: 'must be a positive number of minutes' })
      .nullable()
      .default(null),
    /**
     * The exact timeout, when one was given: it wins over `timeout_minutes`, which is kept beside it
     * rounded up to whole minutes because the record's `timeout` is minutes on the wire (spec §2.2). A
     * request written before this field existed has none and runs for its minutes.
     */
    timeout_ms: laxInt()
      .refine((ms) => ms > 0, { message: 'must be a positive number of milliseconds' })
      .nullable()
      .default(null),
    org_id: z.string().min(1),
    idempotency_id: z.string().min(1).max(256).nullable().default(null),
    dry_run: laxBool().default(false),
    log_level: z.enum(LOG_LEVELS).default('INFO'),
    /**
     * Where the invocation came from (spec §2.2 InvocationProvenance), set by invoke-by-name. Requests
     * written before it existed have none: the wire record derives it from the action config and the org.
     */
    provenance: InvocationRequestProvenance.nullable().default(null),
    /** The glob patterns the caller sent as `input_data` (spec A8), echoed on the wire record. */
    input_data: z.array(z.string()).default([]),
  })
  .superRefine((request, ctx) => {
    for (const name of request.secret_parameters) {
      const value = request.parameter_values[name];
      if (typeof value !== 'string' || parseSecretUri(value) === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['parameter_values', name],
          message: 'a secret parameter must be a roboto-secret:// reference, never a value',
        });
      }
    }
  });
export type InvocationRequest = z.output<typeof InvocationRequest>;

/**
 * A request's timeout fields for an exact duration (or none): whole minutes rounded up, the wire's unit,
 * and the exact milliseconds beside them, which the plan uses.
 */
export function requestTimeout(
  timeoutMs: number | undefined,
): Pick<InvocationRequest, 'timeout_minutes' | 'timeout_ms'> {
  if (timeoutMs === undefined) return { timeout_minutes: null, timeout_ms: null };
  return { timeout_minutes: Math.max(1, Math.ceil(timeoutMs / 60_000)), timeout_ms: timeoutMs };
}

/**
 * A request made on this host, by `invoke` or `run`: parsed by the one schema both share, so a bad field
 * is reported alike, as the caller's input.
 */
export function newInvocationRequest(fields: z.input<typeof InvocationRequest>): InvocationRequest {
  return parseOrThrow(InvocationRequest, fields, 'invocation request', 'E_INVALID_INPUT');
}
