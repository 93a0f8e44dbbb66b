import type { z } from 'zod';
import { type InvocationStatus, statusName } from './invocation-status.js';

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

/**
 * Why an attempt did not complete, as recorded and counted in metrics. Several codes share a reason (every
 * usage and validation code is `bad_input`); a reason is retryable exactly when its codes are.
 */
export type FailureReason =
  | 'action_exit'
  | 'oom'
  | 'timeout'
  | 'storage_exceeded'
  | 'cancelled'
  | 'bad_input'
  | 'image_not_found'
  | 'image_unauthorized'
  | 'image_pull_failed'
  | 'docker_error'
  | 'engine_restarted'
  | 'io_error'
  | 'worker_shutdown'
  | 'lease_lost'
  | 'internal';

/** The exit codes of the CLI (`run`, and any command that fails with an error), documented in the README. */
export const CliExitCode = {
  completed: 0,
  /** The action failed: non-zero exit, out of memory, timed out, or over its storage. */
  actionFailed: 1,
  /** Bad input: flags, action.json, parameters, secrets, inputs, image. */
  usage: 64,
  /** A stored invocation record cannot be read (`invocations show`, `logs`, `wait`, `list`). */
  malformedRecord: 65,
  /** Infrastructure: the Docker engine, the disk, a registry, an internal error. */
  internal: 70,
  /** Cancelled (Ctrl-C). */
  cancelled: 130,
} as const;
export type CliExitCode = (typeof CliExitCode)[keyof typeof CliExitCode];

/** What an error code means to the rest of the worker. */
export interface ErrorCodeRule {
  /** The failure reason an attempt failing with this code records. */
  reason: FailureReason;
  /**
   * Whether trying the same invocation again can succeed (infrastructure trouble) or cannot (the action's
   * own failure, bad input): what the daemon's retry policy reads, through the error's `retryable`.
   */
  retryable: boolean;
  /** The exit code of a CLI command that ends with this error. */
  exitCode: CliExitCode;
}

/**
 * The one table of error codes: reason, retryability and exit code. Error classes take their `retryable`
 * from it, the failure taxonomy and the CLI's exit codes read it; a new code does not compile without a row.
 */
export const ERROR_CODES = {
  E_USAGE: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_INVALID_ACTION_CONFIG: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_INVALID_PARAMETER: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_INVALID_INPUT: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_INVALID_CHANGESET: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_SECRET_NOT_FOUND: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_INVALID_IMAGE_REFERENCE: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_IMAGE_NOT_FOUND: { reason: 'image_not_found', retryable: false, exitCode: CliExitCode.usage },
  E_IMAGE_UNAUTHORIZED: { reason: 'image_unauthorized', retryable: false, exitCode: CliExitCode.usage },
  E_IMAGE_BUILD_FAILED: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  // An action that can never fit this host will not fit on the next attempt either.
  E_CAPACITY: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_OUTPUT_REFUSED: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.usage },
  E_ACTION_EXIT: { reason: 'action_exit', retryable: false, exitCode: CliExitCode.actionFailed },
  E_OOM: { reason: 'oom', retryable: false, exitCode: CliExitCode.actionFailed },
  // The action's own timeout; see WaitTimeoutError for the one override.
  E_TIMEOUT: { reason: 'timeout', retryable: false, exitCode: CliExitCode.actionFailed },
  E_STORAGE_EXCEEDED: { reason: 'storage_exceeded', retryable: false, exitCode: CliExitCode.actionFailed },
  // A registry that errored or stalled; not found and unauthorised have codes of their own.
  E_IMAGE_PULL: { reason: 'image_pull_failed', retryable: true, exitCode: CliExitCode.internal },
  E_DOCKER: { reason: 'docker_error', retryable: true, exitCode: CliExitCode.internal },
  // The engine stopping its containers as it shut down or restarted: the action did not fail.
  E_ENGINE_RESTARTED: { reason: 'engine_restarted', retryable: true, exitCode: CliExitCode.internal },
  E_IO: { reason: 'io_error', retryable: true, exitCode: CliExitCode.internal },
  E_WORKER_SHUTDOWN: { reason: 'worker_shutdown', retryable: true, exitCode: CliExitCode.internal },
  E_LEASE_LOST: { reason: 'lease_lost', retryable: true, exitCode: CliExitCode.internal },
  // Reading the record again reads the same bytes.
  E_MALFORMED_RECORD: { reason: 'bad_input', retryable: false, exitCode: CliExitCode.malformedRecord },
  E_CANCELLED: { reason: 'cancelled', retryable: false, exitCode: CliExitCode.cancelled },
  // Not known to be transient (a bug, most likely): another attempt would meet it again.
  E_INTERNAL: { reason: 'internal', retryable: false, exitCode: CliExitCode.internal },
} as const satisfies Record<ErrorCode, ErrorCodeRule>;

/** The codes the table makes retryable: what an InfrastructureError may carry. */
export type RetryableCode = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C]['retryable'] extends true ? C : never;
}[ErrorCode];
/** The codes the table makes not retryable: what a UsageError may carry. */
export type NonRetryableCode = Exclude<ErrorCode, RetryableCode>;

export interface ActionWorkerErrorOptions {
  code: ErrorCode;
  /**
   * Overrides the table's retryability, for the rare code that is genuinely both (a CLI wait that ran out
   * shares E_TIMEOUT with an action that did).
   * @defaultValue `ERROR_CODES[code].retryable`
   */
  retryable?: boolean;
  cause?: unknown;
}

/** Base class of every error action-worker throws on purpose. */
export class ActionWorkerError extends Error {
  readonly code: ErrorCode;
  /** Whether another attempt may succeed: what the daemon's retry policy reads. */
  readonly retryable: boolean;

  constructor(message: string, options: ActionWorkerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? ERROR_CODES[options.code].retryable;
  }
}

/** The caller asked for something that cannot work: a bad flag, file, parameter or selector. Never retryable. */
export class UsageError extends ActionWorkerError {
  constructor(message: string, code: NonRetryableCode = 'E_USAGE', cause?: unknown) {
    super(message, { code, cause });
  }
}

/** The Docker engine, the disk or another piece of infrastructure failed. Retryable. */
export class InfrastructureError extends ActionWorkerError {
  constructor(message: string, code: RetryableCode = 'E_DOCKER', cause?: unknown) {
    super(message, { code, cause });
  }
}

/** The invocation was cancelled (signal, Ctrl-C, cancel request). */
export class CancelledError extends ActionWorkerError {
  constructor(message = 'cancelled', cause?: unknown) {
    super(message, { code: 'E_CANCELLED', cause });
  }
}

/**
 * A write by an attempt that no longer holds the invocation: a later attempt has taken it over. Thrown by
 * every InvocationStore (the port's fence).
 */
export class FencedError extends ActionWorkerError {
  constructor(invocationId: string, attempt: number) {
    super(`attempt ${attempt} of invocation ${invocationId} no longer holds it`, { code: 'E_LEASE_LOST' });
  }
}

/**
 * A stored record that cannot be read (a field that is not JSON, an unknown status): named, with the
 * field, and never mistaken for the store being unreachable. Its content is not echoed.
 */
export class MalformedRecordError extends ActionWorkerError {
  constructor(invocationId: string, field: string, cause?: unknown) {
    super(`invocation ${invocationId} has a malformed record: its ${field} cannot be read`, {
      code: 'E_MALFORMED_RECORD',
      cause,
    });
  }
}

/** A status transition the contract's matrix does not allow from the record's current status. */
export class InvalidTransitionError extends ActionWorkerError {
  constructor(invocationId: string, from: InvocationStatus, to: InvocationStatus) {
    super(`invocation ${invocationId} cannot go from ${statusName(from)} to ${statusName(to)}`, {
      code: 'E_USAGE',
    });
  }
}

/** Formats a ZodError as one readable message, each issue naming the field it is about. */
export function formatZodError(error: z.ZodError, subject: string): string {
  return `${subject} is invalid:\n  ${error.issues.map(formatZodIssue).join('\n  ')}`;
}

/** One issue of a ZodError as `field.path[0]: message`, `(root)` for the value itself. */
export function formatZodIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length === 0 ? '(root)' : formatPath(issue.path);
  return `${where}: ${issue.message}`;
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
  code: NonRetryableCode = 'E_USAGE',
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(formatZodError(result.error, subject), code, result.error);
  return result.data;
}
