import { ActionWorkerError } from '../domain/errors.js';
import { InvocationStatus } from '../domain/invocation-status.js';
import type { InvocationOutcome } from '../stages/execute-invocation.js';

/** The exit codes of `action-worker run`, documented in the README. */
export const CliExitCode = {
  completed: 0,
  /** The action failed: non-zero exit, out of memory, or timed out. */
  actionFailed: 1,
  /** Bad input: flags, action.json, parameters, secrets, inputs, image. Nothing was started. */
  usage: 64,
  /** Infrastructure: the Docker engine, the disk, an internal error. */
  internal: 70,
  /** Cancelled (Ctrl-C). */
  cancelled: 130,
} as const;

export function exitCodeForOutcome(outcome: InvocationOutcome): number {
  if (outcome.status === InvocationStatus.Completed) return CliExitCode.completed;
  if (outcome.status === InvocationStatus.Cancelled) return CliExitCode.cancelled;
  if (outcome.failure?.kind === 'action') return CliExitCode.actionFailed;
  if (outcome.failure?.retryable === false && outcome.failure.code !== 'E_INTERNAL') return CliExitCode.usage;
  return CliExitCode.internal;
}

export function exitCodeForError(error: unknown): number {
  if (error instanceof ActionWorkerError)
    return error.retryable || error.code === 'E_INTERNAL' ? CliExitCode.internal : CliExitCode.usage;
  return CliExitCode.internal;
}
