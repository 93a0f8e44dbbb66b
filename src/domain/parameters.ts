import type { ActionParameter } from './action-config.js';
import { UsageError } from './errors.js';
import { ownValue } from './names.js';
import { pyStr } from './python-str.js';

/** Merged parameter values in contract order: declared defaults first, supplied values overlaid. */
export type MergedParameters = ReadonlyMap<string, string | null>;

/**
 * Merges supplied values over declared defaults (spec §5.1): defaults in declaration order, supplied
 * keys keep a default's position or are appended. Every non-null supplied value is coerced with
 * Python `str()`; a supplied null stays null (the SDK then falls back to the reader's default).
 */
export function mergeParameters(
  declared: readonly ActionParameter[],
  supplied: Readonly<Record<string, unknown>>,
): Map<string, string | null> {
  const merged = new Map<string, string | null>();
  for (const parameter of declared)
    if (parameter.default !== null) merged.set(parameter.name, parameter.default);
  for (const [name, value] of Object.entries(supplied)) {
    merged.set(name, value === null || value === undefined ? null : pyStr(value));
  }
  return merged;
}

/**
 * Rejects undeclared names and required parameters with neither a value nor a default (spec §5.2, [REC]).
 * A declared default satisfies `required`.
 */
export function validateParameters(
  declared: readonly ActionParameter[],
  supplied: Readonly<Record<string, unknown>>,
  actionName: string,
): void {
  const names = new Set(declared.map((parameter) => parameter.name));
  const undeclared = Object.keys(supplied).filter((name) => !names.has(name));
  if (undeclared.length > 0) {
    const known = declared.length === 0 ? 'it declares none' : `declared: ${[...names].join(', ')}`;
    throw new UsageError(
      `parameter(s) not defined in action "${actionName}": ${undeclared.join(', ')} (${known})`,
      'E_INVALID_PARAMETER',
    );
  }
  const missing = declared.filter(
    (parameter) =>
      parameter.required &&
      parameter.default === null &&
      (ownValue(supplied, parameter.name) ?? null) === null,
  );
  if (missing.length > 0) {
    throw new UsageError(
      `missing required parameter(s) of action "${actionName}": ${missing.map((p) => p.name).join(', ')}`,
      'E_INVALID_PARAMETER',
    );
  }
}

/** A secret reference `roboto-secret://<name>[@<org>]` (spec §5.4). */
export interface SecretUri {
  name: string;
  orgId: string | null;
}

// Matched as a prefix: the name runs to the first "@" (slashes and spaces allowed), the org is a run of
// word characters, and anything after the match is ignored.
const SECRET_URI = /^roboto-secret:\/\/([^@]+)(?:@(\w+))?/;

export function parseSecretUri(value: string): SecretUri | undefined {
  const match = SECRET_URI.exec(value);
  if (!match?.[1]) return undefined;
  return { name: match[1], orgId: match[2] ?? null };
}

export function secretUri(name: string, orgId?: string): string {
  return orgId ? `roboto-secret://${name}@${orgId}` : `roboto-secret://${name}`;
}
