import { ActionWorkerError, CliExitCode, ERROR_CODES } from '../domain/errors.js';
import { InvocationStatus } from '../domain/invocation-status.js';
import type { InvocationOutcome } from '../app/local-run.js';

/** The exit codes of `action-worker run`, documented in the README; defined with the error-code table. */
export { CliExitCode } from '../domain/errors.js';

export function exitCodeForOutcome(outcome: InvocationOutcome): number {
  if (outcome.status === InvocationStatus.Completed) return CliExitCode.completed;
  if (outcome.status === InvocationStatus.Cancelled) return CliExitCode.cancelled;
  return ERROR_CODES[outcome.failure?.code ?? 'E_INTERNAL'].exitCode;
}

export function exitCodeForError(error: unknown): number {
  if (!(error instanceof ActionWorkerError)) return CliExitCode.internal;
  return ERROR_CODES[error.code].exitCode;
}
