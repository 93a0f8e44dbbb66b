export const TIMED_OUT = Symbol('timed out');

/**
 * `promise`, or TIMED_OUT when it has not settled within `ms`. The promise is not cancelled; its outcome is
 * dropped (a later rejection is handled, never unhandled).
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((resolve) => {
        timer = setTimeout(() => {
          resolve(TIMED_OUT);
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
