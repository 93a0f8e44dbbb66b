import type { InvocationStatus } from '../domain/invocation-status.js';

/** Records an invocation's status transitions (the pipeline checks them against the matrix first). */
export interface StatusRecorder {
  /** `retryable` comes with Failed: whether another attempt may succeed (the daemon's retry policy). */
  record(status: InvocationStatus, detail: string | null, failure?: { retryable: boolean }): Promise<void>;
}
