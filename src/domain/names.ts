import { z } from 'zod';

/**
 * Names refused for parameters. Parameter values travel through plain JavaScript objects (flags, the
 * params file, the job payload and its schema) where `__proto__` is dropped or turned into a prototype and
 * `constructor` reads back as Object's own function when it was not given; refusing the three names behind
 * prototype pollution is simpler to get right, and to check, than carrying them through every hop.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `name` cannot be a parameter name, or undefined when it can. */
export function parameterNameProblem(name: string): string | undefined {
  if (name === '') return 'a parameter name must not be empty';
  if (name.includes('=') || name.includes('\0')) {
    return 'must not contain "=" or NUL (it becomes an environment variable name)';
  }
  if (RESERVED_NAMES.has(name)) {
    return `"${name}" cannot be a parameter name: ${[...RESERVED_NAMES].join(', ')} are reserved`;
  }
  return undefined;
}

// POSIX: letters, digits and underscores, not starting with a digit.
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Why `name` cannot be an environment variable name (POSIX), or undefined when it can. */
export function envVarNameProblem(name: string): string | undefined {
  if (name === '__proto__') return `"${name}" cannot be an environment variable name here: it is reserved`;
  if (!ENV_VAR_NAME.test(name)) {
    return `${JSON.stringify(name)} is not a valid environment variable name: letters, digits and "_", not starting with a digit`;
  }
  return undefined;
}

/**
 * A record (JSON object) whose every own key is checked by `keyProblem`, `__proto__` included: a plain zod
 * record drops that key silently, and reports a bad key only as "Invalid key in record". Each problem is
 * an issue at the key's path, so the message names it.
 */
export function namedRecord<V extends z.ZodType>(value: V, keyProblem: (key: string) => string | undefined) {
  return z.preprocess(
    (input, ctx) => {
      if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
        for (const key of Object.keys(input)) {
          const problem = keyProblem(key) ?? (key === '__proto__' ? `"${key}" is reserved` : undefined);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: problem, input });
        }
      }
      return input;
    },
    z.record(z.string(), value),
  );
}

/** The value of an own property only: a name like `toString` never reads back as an inherited function. */
export function ownValue(record: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}
