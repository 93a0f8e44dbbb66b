import { ActionWorkerError } from '../domain/errors.js';
import { type FailureReason, failureReasonFor } from '../domain/failure.js';
import { InvocationStatus } from '../domain/invocation-status.js';
import type { InvocationOutcome } from '../stages/execute-invocation.js';

/** The exit codes of `action-worker run`, documented in the README. */
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

const ACTION_FAILURES: ReadonlySet<FailureReason> = new Set([
  'action_exit',
  'oom',
  'timeout',
  'storage_exceeded',
]);
const USAGE_FAILURES: ReadonlySet<FailureReason> = new Set([
  'bad_input',
  'image_not_found',
  'image_unauthorized',
]);

function exitCodeForReason(reason: FailureReason): number {
  if (reason === 'cancelled') return CliExitCode.cancelled;
  if (ACTION_FAILURES.has(reason)) return CliExitCode.actionFailed;
  if (USAGE_FAILURES.has(reason)) return CliExitCode.usage;
  return CliExitCode.internal;
}

export function exitCodeForOutcome(outcome: InvocationOutcome): number {
  if (outcome.status === InvocationStatus.Completed) return CliExitCode.completed;
  if (outcome.status === InvocationStatus.Cancelled) return CliExitCode.cancelled;
  return exitCodeForReason(outcome.failure?.reason ?? 'internal');
}

export function exitCodeForError(error: unknown): number {
  if (!(error instanceof ActionWorkerError)) return CliExitCode.internal;
  if (error.code === 'E_MALFORMED_RECORD') return CliExitCode.malformedRecord;
  return exitCodeForReason(failureReasonFor(error.code));
}
