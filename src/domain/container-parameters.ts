import { z } from 'zod';
import { envVarNameProblem, namedRecord } from './names.js';

/** Entrypoint, command, working directory and extra environment of the action container (spec §9.2). */
export const ContainerParameters = z.object({
  command: z.array(z.string()).nullable().default(null),
  entry_point: z.array(z.string()).nullable().default(null),
  /** POSIX names; refused otherwise, as bad input, before any engine call. */
  env_vars: namedRecord(
    z
      .string({ error: 'environment values must be strings' })
      .refine((value) => !value.includes('\0'), 'environment values must not contain NUL'),
    envVarNameProblem,
  )
    .nullable()
    .default(null),
  workdir: z.string().nullable().default(null),
});
export type ContainerParameters = z.output<typeof ContainerParameters>;

export const EMPTY_CONTAINER_PARAMETERS: ContainerParameters = {
  command: null,
  entry_point: null,
  env_vars: null,
  workdir: null,
};

/**
 * Merges an invocation's container override over the action's values (spec §9.2, [REC]): command,
 * entry_point and workdir from the override replace the action's when not null; env_vars are merged,
 * the override winning per key, so an injected ROBOTO_LOG_LEVEL does not wipe the action's own env.
 */
export function mergeContainerParameters(
  action: ContainerParameters | null | undefined,
  override: ContainerParameters | null | undefined,
): ContainerParameters {
  const base = action ?? EMPTY_CONTAINER_PARAMETERS;
  if (!override) return { ...base };
  const envVars =
    base.env_vars === null && override.env_vars === null ? null : { ...base.env_vars, ...override.env_vars };
  return {
    command: override.command ?? base.command,
    entry_point: override.entry_point ?? base.entry_point,
    env_vars: envVars,
    workdir: override.workdir ?? base.workdir,
  };
}
