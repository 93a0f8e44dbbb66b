/**
 * `promise`, or a rejection with the reason of the first of `signals` to abort; the listeners are removed
 * once it settles, so a loop racing the same signals again and again leaves nothing behind.
 */
export function untilAborted<T>(promise: Promise<T>, signals: readonly AbortSignal[]): Promise<T> {
  const aborted = signals.find((signal) => signal.aborted);
  if (aborted) return Promise.reject(reasonOf(aborted));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (event: Event): void => {
      cleanUp();
      reject(reasonOf(event.target as AbortSignal));
    };
    const cleanUp = (): void => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
    };
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        cleanUp();
        resolve(value);
      },
      (error: unknown) => {
        cleanUp();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}
