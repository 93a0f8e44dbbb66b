import type { InvocationFailure } from '../../stages/execute-invocation.js';

export type AfterFailure =
  { kind: 'final' } | { kind: 'retry'; delayMs: number; nextAttempt: number } | { kind: 'deadly' };

const MAX_BACKOFF_MS = 10 * 60_000;

/**
 * What follows a Failed attempt. Only infrastructure failures are retried, and only while spent attempts
 * (attempts started, less those handed back unspent) stay under the limit; the wait doubles each time.
 */
export function afterFailure(
  failure: Pick<InvocationFailure, 'retryable'> | undefined,
  spentAttempts: number,
  policy: { maxAttempts: number; retryBackoffMs: number },
): AfterFailure {
  if (failure === undefined || !failure.retryable) return { kind: 'final' };
  if (spentAttempts >= policy.maxAttempts) return { kind: 'deadly' };
  const delayMs = Math.min(policy.retryBackoffMs * 2 ** Math.max(0, spentAttempts - 1), MAX_BACKOFF_MS);
  return { kind: 'retry', delayMs, nextAttempt: spentAttempts + 1 };
}
