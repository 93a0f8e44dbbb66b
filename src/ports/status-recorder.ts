import type { InvocationStatus } from '../domain/invocation-status.js';

/** What an attempt produced besides its status: the action's log and the image that ran. */
export interface AttemptResult {
  log: string;
  image?: { reference: string; id: string; digest: string | null };
}

/** Records an invocation's status transitions (the pipeline checks them against the matrix first). */
export interface StatusRecorder {
  /** `retryable` comes with Failed: whether another attempt may succeed (the daemon's retry policy). */
  record(status: InvocationStatus, detail: string | null, failure?: { retryable: boolean }): Promise<void>;
  /**
   * Stores the attempt's result, called once just before its final status is recorded: whoever sees the
   * final status (a client waiting for it, then reading the log) finds the log already there.
   */
  storeResult?(result: AttemptResult): Promise<void>;
}
