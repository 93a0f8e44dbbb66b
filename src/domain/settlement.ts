import { formatDuration } from './duration.js';
import { InvocationStatus, isFinal, isInProgress } from './invocation-status.js';

/**
 * What follows an attempt, decided from its outcome, the attempts counted so far and the retry policy —
 * nothing else. The daemon only carries the decisions out: the status writes they name, then the job's
 * ending.
 */

/** The daemon's retry settings. */
export interface RetryPolicy {
  /** Attempts, at most, for failures worth retrying; then Deadly. */
  maxAttempts: number;
  /** The first retry's wait; it doubles with each attempt spent, up to {@link MAX_BACKOFF_MS}. */
  retryBackoffMs: number;
}

export type AfterFailure =
  { kind: 'final' } | { kind: 'retry'; delayMs: number; nextAttempt: number } | { kind: 'deadly' };

export const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * What follows a Failed attempt. Only infrastructure failures are retried, and only while spent attempts
 * (attempts started, less those handed back unspent) stay under the limit; the wait doubles each time.
 */
export function afterFailure(
  failure: { retryable: boolean } | undefined,
  spentAttempts: number,
  policy: RetryPolicy,
): AfterFailure {
  if (failure === undefined || !failure.retryable) return { kind: 'final' };
  if (spentAttempts >= policy.maxAttempts) return { kind: 'deadly' };
  const delayMs = Math.min(policy.retryBackoffMs * 2 ** Math.max(0, spentAttempts - 1), MAX_BACKOFF_MS);
  return { kind: 'retry', delayMs, nextAttempt: spentAttempts + 1 };
}

/** A status to write, fenced by the writing attempt. */
export interface StatusWrite {
  status: InvocationStatus;
  detail: string;
  /** Set when the write must say whether more attempts follow; else the store's default. */
  final?: boolean;
}

/** How an attempt that ran ended. */
export interface AttemptOutcome {
  status: InvocationStatus;
  detail: string | null;
  failure?: { retryable: boolean };
  /** It was stopped because the worker is shutting down (not cancelled, not its lease lost). */
  isWorkerShutdown: boolean;
}

/**
 * The ending of an attempt that ran:
 * - `complete`: the job is done (Completed or Cancelled);
 * - `fail-final`: Failed for good (already written final, in the same write): the job is done too;
 * - `hand-back`: back to the queue without spending an attempt, after `write`;
 * - `retry`: back to the queue after `delayMs`, after `write` (Queued, "retrying …");
 * - `deadly`: the attempts are spent; `write` (Deadly), then the job fails for good with `detail`.
 */
export type AttemptSettlement =
  | { kind: 'complete' }
  | { kind: 'fail-final' }
  | { kind: 'hand-back'; write: StatusWrite }
  | { kind: 'retry'; delayMs: number; nextAttempt: number; write: StatusWrite }
  | { kind: 'deadly'; detail: string; write: StatusWrite };

/**
 * Whether settling `outcome` needs the record's hand-back count: only a failure that may spend an attempt
 * does (so nothing is read for the others).
 */
export function needsHandbacks(outcome: AttemptOutcome): boolean {
  return outcome.status === InvocationStatus.Failed && !outcome.isWorkerShutdown;
}

export const HANDED_BACK_ON_SHUTDOWN = 'handed back: the worker is shutting down';

/** What follows an attempt that ran; `handbacks` is read from the record when {@link needsHandbacks}. */
export function settleAttempt(input: {
  outcome: AttemptOutcome;
  attempt: number;
  handbacks: number;
  policy: RetryPolicy;
}): AttemptSettlement {
  const { outcome, attempt, handbacks, policy } = input;
  if (outcome.status !== InvocationStatus.Failed) return { kind: 'complete' };
  if (outcome.isWorkerShutdown) {
    return { kind: 'hand-back', write: { status: InvocationStatus.Queued, detail: HANDED_BACK_ON_SHUTDOWN } };
  }
  const spent = attempt - handbacks;
  const next = afterFailure(outcome.failure, spent, policy);
  // A Failed that is not retried was written final already, in the same write.
  if (next.kind === 'final') return { kind: 'fail-final' };
  if (next.kind === 'retry') {
    const detail = `retrying (attempt ${next.nextAttempt} of ${policy.maxAttempts}) in ${formatDuration(next.delayMs)}`;
    return {
      kind: 'retry',
      delayMs: next.delayMs,
      nextAttempt: next.nextAttempt,
      write: { status: InvocationStatus.Queued, detail },
    };
  }
  const detail = `gave up after ${spent} attempt(s); the last: ${outcome.detail ?? 'failed'}`;
  return { kind: 'deadly', detail, write: { status: InvocationStatus.Deadly, detail } };
}

/** The parts of an invocation's record that settling reads. */
export interface RecordState {
  last_status: InvocationStatus;
  is_finished: boolean;
  is_cancel_requested: boolean;
  handbacks: number;
}

/**
 * One step of bringing a record left by an earlier attempt to Queued before `attempt` runs:
 * - `run`: nothing (more) to settle;
 * - `done`: there is nothing to run (already finished or cancelled), `isAlreadySettled` when nothing
 *   was written for it;
 * - `write`: write this status, then take the next step from the record it returns (`thenDone`: stop
 *   there). `isLost` marks the write recording a lost earlier attempt.
 */
export type PreviousStep =
  | { kind: 'run' }
  | { kind: 'done'; isAlreadySettled: true }
  | { kind: 'write'; write: StatusWrite; thenDone: boolean; isLost: boolean };

/**
 * The next step of settling what an earlier attempt left: a lost attempt (its status still in progress) is
 * Failed, a Failed one is retried or Deadly as the attempts allow, a cancel asked for meanwhile wins.
 */
export function settlePrevious(record: RecordState, attempt: number, policy: RetryPolicy): PreviousStep {
  if (record.is_finished || isFinal(record.last_status)) {
    return { kind: 'done', isAlreadySettled: true };
  }
  if (isInProgress(record.last_status)) {
    return {
      kind: 'write',
      write: {
        status: InvocationStatus.Failed,
        detail: `attempt ${attempt - 1} was lost: its worker stopped holding the invocation`,
      },
      thenDone: false,
      isLost: true,
    };
  }
  if (record.last_status === InvocationStatus.Failed) {
    const spent = attempt - 1 - record.handbacks;
    const next = afterFailure({ retryable: true }, spent, policy);
    if (next.kind !== 'retry' && !record.is_cancel_requested) {
      return {
        kind: 'write',
        write: { status: InvocationStatus.Deadly, detail: `gave up after ${spent} attempt(s)` },
        thenDone: true,
        isLost: false,
      };
    }
    const detail = record.is_cancel_requested
      ? 'no retry: cancel requested'
      : `retrying (attempt ${next.kind === 'retry' ? next.nextAttempt : attempt} of ${policy.maxAttempts})`;
    return {
      kind: 'write',
      write: { status: InvocationStatus.Queued, detail },
      thenDone: false,
      isLost: false,
    };
  }
  if (record.is_cancel_requested) {
    return {
      kind: 'write',
      write: { status: InvocationStatus.Cancelled, detail: 'cancelled before it ran' },
      thenDone: true,
      isLost: false,
    };
  }
  return { kind: 'run' };
}

/**
 * An invocation that needs more vCPU or memory than this worker offers can never run here: Failed for
 * good as bad input — or Deadly when an earlier attempt already Failed it. Nothing is written over a
 * settled record. The job is completed either way.
 */
export function settleUnfittable(record: RecordState, detail: string): StatusWrite | undefined {
  if (record.last_status === InvocationStatus.Failed && !record.is_finished) {
    return { status: InvocationStatus.Deadly, detail };
  }
  if (!record.is_finished && !isFinal(record.last_status)) {
    return { status: InvocationStatus.Failed, detail, final: true };
  }
  return undefined;
}

/**
 * A request that no longer reads as one (checked again in full on pickup) is Failed for good with the
 * reason, unless the record is settled or Failed already. The job is failed either way.
 */
export function settleInvalidRequest(record: RecordState, reason: string): StatusWrite | undefined {
  if (!record.is_finished && record.last_status !== InvocationStatus.Failed) {
    return { status: InvocationStatus.Failed, detail: reason, final: true };
  }
  return undefined;
}
