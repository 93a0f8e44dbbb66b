/** A backoff as p-retry takes it: the first wait, the factor it grows by, and its cap. */
export interface Backoff {
  readonly factor: number;
  readonly minTimeout: number;
  readonly maxTimeout: number;
  readonly randomize: false;
}

/** The wait p-retry makes after failed try number `attemptNumber` (1-based). */
export function backoffDelay(backoff: Backoff, attemptNumber: number): number {
  return Math.min(backoff.minTimeout * backoff.factor ** (attemptNumber - 1), backoff.maxTimeout);
}
