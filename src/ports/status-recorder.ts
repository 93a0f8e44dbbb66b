import type { InvocationStatus } from '../domain/invocation-status.js';

/** Records an invocation's status transitions (the pipeline checks them against the matrix first). */
export interface StatusRecorder {
  record(status: InvocationStatus, detail: string | null): Promise<void>;
}
