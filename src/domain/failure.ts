import type { ErrorCode } from './errors.js';

/**
 * Why an attempt did not complete. The reason, not a message, is what the daemon's retry policy reads:
 * infrastructure trouble is worth another attempt; the action's own failure or bad input is not.
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

const RETRYABLE: ReadonlySet<FailureReason> = new Set([
  'image_pull_failed',
  'docker_error',
  // The engine stopping its containers as it shut down or restarted: the action did not fail.
  'engine_restarted',
  'io_error',
  'worker_shutdown',
  'lease_lost',
]);

export function isRetryable(reason: FailureReason): boolean {
  return RETRYABLE.has(reason);
}

const BY_CODE: Partial<Record<ErrorCode, FailureReason>> = {
  E_ACTION_EXIT: 'action_exit',
  E_OOM: 'oom',
  E_TIMEOUT: 'timeout',
  E_STORAGE_EXCEEDED: 'storage_exceeded',
  E_CANCELLED: 'cancelled',
  E_IMAGE_NOT_FOUND: 'image_not_found',
  E_IMAGE_UNAUTHORIZED: 'image_unauthorized',
  E_IMAGE_PULL: 'image_pull_failed',
  E_DOCKER: 'docker_error',
  E_ENGINE_RESTARTED: 'engine_restarted',
  E_IO: 'io_error',
  E_WORKER_SHUTDOWN: 'worker_shutdown',
  E_LEASE_LOST: 'lease_lost',
  E_INTERNAL: 'internal',
};

/** The reason for an error code; every usage/validation code is bad input. */
export function failureReasonFor(code: ErrorCode): FailureReason {
  return BY_CODE[code] ?? 'bad_input';
}
