import { z } from 'zod';

/**
 * Stable error codes. The code, not the message, is what callers branch on.
 */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_INVALID_ACTION_CONFIG'
  | 'E_INVALID_PARAMETER'
  | 'E_INVALID_INPUT'
  | 'E_INVALID_CHANGESET'
  | 'E_SECRET_NOT_FOUND'
  | 'E_INVALID_IMAGE_REFERENCE'
  | 'E_IMAGE_NOT_FOUND'
  | 'E_IMAGE_UNAUTHORIZED'
  | 'E_IMAGE_PULL'
  | 'E_IMAGE_BUILD_FAILED'
  | 'E_CAPACITY'
  | 'E_OUTPUT_REFUSED'
  | 'E_ACTION_EXIT'
  | 'E_OOM'
  | 'E_TIMEOUT'
  | 'E_STORAGE_EXCEEDED'
  | 'E_WORKER_SHUTDOWN'
  | 'E_LEASE_LOST'
  | 'E_DOCKER'
  | 'E_ENGINE_RESTARTED'
  | 'E_IO'
  | 'E_MALFORMED_RECORD'
  | 'E_CANCELLED'
  | 'E_INTERNAL';

/** Exit codes of the contract (spec §7). */
export const ExitCode = {
  success: 0,
  usage: 64,
  data: 65,
  internal: 70,
  configuration: 78,
} as const;

export interface ActionWorkerErrorOptions {
  code: ErrorCode;
  /** Whether trying the same invocation again can succeed (infrastructure trouble) or cannot (bad input). */
  retryable?: boolean;
  cause?: unknown;
}

/** Base class of every error action-worker throws on purpose. */
export class ActionWorkerError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(message: string, options: ActionWorkerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/** The caller asked for something that cannot work: a bad flag, file, parameter or selector. Never retryable. */
export class UsageError extends ActionWorkerError {
  constructor(message: string, code: ErrorCode = 'E_USAGE', cause?: unknown) {
    super(message, { code, retryable: false, cause });
  }
}

/** The Docker engine, the disk or another piece of infrastructure failed. Retryable. */
export class InfrastructureError extends ActionWorkerError {
  constructor(message: string, code: ErrorCode = 'E_DOCKER', cause?: unknown) {
    super(message, { code, retryable: true, cause });
  }
}

/** The invocation was cancelled (signal, Ctrl-C, cancel request). */
export class CancelledError extends ActionWorkerError {
  constructor(message = 'cancelled', cause?: unknown) {
    super(message, { code: 'E_CANCELLED', retryable: false, cause });
  }
}

/** Formats a ZodError as one readable message, each issue naming the field it is about. */
export function formatZodError(error: z.ZodError, subject: string): string {
  const lines = error.issues.map((issue) => {
    const where = issue.path.length === 0 ? '(root)' : formatPath(issue.path);
    return `${where}: ${issue.message}`;
  });
  return `${subject} is invalid:\n  ${lines.join('\n  ')}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Parses `value` with `schema`, turning a validation failure into a UsageError with the given code. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  subject: string,
  code: ErrorCode = 'E_USAGE',
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(formatZodError(result.error, subject), code, result.error);
  return result.data;
}
