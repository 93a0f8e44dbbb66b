import { isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { z } from 'zod';
import { ComputeRequirements } from './compute-requirements.js';
import { ContainerParameters } from './container-parameters.js';
import { UsageError, formatZodError } from './errors.js';
import { ImageReferenceText } from './image-reference.js';
import { parameterNameProblem } from './names.js';
import { laxBool, laxInt } from './lax.js';
import { pyStr } from './python-str.js';

/** A declared action parameter (spec §5.1). Non-null defaults are coerced with Python `str()`. */
export const ActionParameter = z.object({
  name: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .superRefine((name, ctx) => {
      const problem = name === '' ? undefined : parameterNameProblem(name);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
  required: laxBool().default(false),
  description: z.string().nullable().default(null),
  default: z
    .unknown()
    .transform((value) => (value === null || value === undefined ? null : pyStr(value)))
    .default(null),
});
export type ActionParameter = z.output<typeof ActionParameter>;

export const ActionReference = z.object({
  name: z.string(),
  digest: z.string().nullable().optional(),
  owner: z.string().nullable().optional(),
});

export const DockerConfig = z.object({
  dockerfile: z.string().optional(),
  context: z.string().optional(),
  build_args: z.record(z.string(), z.string()).optional(),
});

/** `action.json` (spec §12.1). Unknown keys are ignored, as the SDK does. */
export const ActionConfig = z
  .object({
    name: z.string({ error: 'is required and must be a string' }).min(1, 'must not be empty'),
    description: z.string().nullable().optional(),
    short_description: z.string().max(140, 'must be at most 140 characters').nullable().optional(),
    parameters: z
      .array(ActionParameter)
      .default([])
      .superRefine((parameters, ctx) => {
        const seen = new Set<string>();
        parameters.forEach((parameter, index) => {
          if (seen.has(parameter.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [index, 'name'],
              message: `duplicate parameter "${parameter.name}"`,
            });
          }
          seen.add(parameter.name);
        });
      }),
    compute_requirements: ComputeRequirements.nullable().optional(),
    container_parameters: ContainerParameters.nullable().optional(),
    requires_downloaded_inputs: laxBool().nullable().optional(),
    timeout: laxInt()
      .refine((minutes) => minutes > 0, { message: 'must be a positive number of minutes' })
      .nullable()
      .optional(),
    metadata: z.record(z.string(), z.unknown()).default({}),
    tags: z.array(z.string()).default([]),
    inherits: ActionReference.nullable().optional(),
    image_uri: ImageReferenceText.nullable().optional(),
    docker_config: DockerConfig.nullable().optional(),
  })
  .superRefine((config, ctx) => {
    if (config.image_uri && config.docker_config) {
      ctx.addIssue({ code: 'custom', path: ['docker_config'], message: 'cannot be combined with image_uri' });
    }
    if (config.inherits) {
      const clashes = (['image_uri', 'container_parameters', 'requires_downloaded_inputs'] as const).filter(
        (key) => config[key] !== undefined && config[key] !== null,
      );
      if (config.parameters.length > 0) clashes.push('parameters' as never);
      for (const key of clashes) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'cannot be combined with inherits' });
      }
    }
  });
export type ActionConfig = z.output<typeof ActionConfig>;

/**
 * Parses the text of an action.json file. Numbers are read losslessly so that parameter defaults are
 * formatted from their source token (`1.0` stays "1.0", spec §5.1).
 */
export function parseActionConfigJson(text: string, subject = 'action.json'): ActionConfig {
  let raw: unknown;
  try {
    raw = parseLossless(text);
  } catch (error) {
    throw new UsageError(
      `${subject} is not valid JSON: ${(error as Error).message}`,
      'E_INVALID_ACTION_CONFIG',
      error,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UsageError(`${subject} must hold a JSON object`, 'E_INVALID_ACTION_CONFIG');
  }
  const config = raw as Record<string, unknown>;
  if (Array.isArray(config.parameters)) {
    config.parameters = config.parameters.map((parameter: unknown) => {
      if (typeof parameter !== 'object' || parameter === null) return parameter;
      const declared = parameter as Record<string, unknown>;
      if (declared.default === undefined || declared.default === null) return declared;
      return { ...declared, default: pyStr(declared.default) };
    });
  }
  const result = ActionConfig.safeParse(losslessToPlain(config));
  if (!result.success) {
    throw new UsageError(formatZodError(result.error, subject), 'E_INVALID_ACTION_CONFIG', result.error);
  }
  return result.data;
}

/** Replaces lossless numbers by plain numbers everywhere. */
function losslessToPlain(value: unknown): unknown {
  if (isLosslessNumber(value)) return Number(value.value);
  if (Array.isArray(value)) return value.map(losslessToPlain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, losslessToPlain(inner)]));
  }
  return value;
}
