import { ERROR_CODES, type ErrorCode, type FailureReason } from './errors.js';

export type { FailureReason } from './errors.js';

/** Each reason's retryability, read off the table: every code with the same reason agrees (unit-tested). */
const RETRYABLE_REASONS: ReadonlySet<FailureReason> = new Set(
  Object.values(ERROR_CODES)
    .filter((rule) => rule.retryable)
    .map((rule) => rule.reason),
);

/**
 * Whether an attempt that failed for this reason is worth another: infrastructure trouble is; the action's
 * own failure or bad input is not.
 */
export function isRetryable(reason: FailureReason): boolean {
  return RETRYABLE_REASONS.has(reason);
}

/** The reason an attempt failing with this code records; every usage/validation code is bad input. */
export function failureReasonFor(code: ErrorCode): FailureReason {
  return ERROR_CODES[code].reason;
}
