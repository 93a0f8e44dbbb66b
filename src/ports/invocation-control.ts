import type { InvocationRequest } from '../domain/invocation-request.js';
import type { InvocationRecord } from './invocation-store.js';

/** What a cancel did: Cancelled here (it was queued), asked its worker to stop it, or nothing (finished). */
export type CancelResult = 'cancelled' | 'requested' | 'already-finished';

/**
 * Starting and stopping invocations from any host: the record and its queue job together. The app's
 * `submitInvocation`/`cancelInvocation` (app/invocations.ts) over the store and the BullMQ queue implement
 * it, for `action-worker invoke/cancel` and the API alike.
 */
export interface InvocationControl {
  /** Stores the invocation (Queued) and queues its job; an idempotency id used before gives isNew false. */
  submit(request: InvocationRequest): Promise<{ record: InvocationRecord; isNew: boolean }>;
  /** Cancels a queued invocation at once, or tells its worker to stop it. */
  cancel(invocationId: string): Promise<CancelResult>;
}
