/** One piece of work shared by everyone asking for the same key at once. */
interface Shared<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

/**
 * One pull at a time per reference: later callers wait for the pull under way. A caller giving up (its
 * signal aborts) stops waiting at once; the pull itself is aborted only when all have given up.
 */
export class SharedPulls<T> {
  private readonly pulls = new Map<string, Shared<T>>();

  async join(key: string, signal: AbortSignal, start: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let shared = this.pulls.get(key);
    if (shared === undefined) {
      const controller = new AbortController();
      // Nothing is awaited between the lookup above and the set below: one pull per key.
      const entry: Shared<T> = { promise: start(controller.signal), controller, waiters: 0 };
      // Only its own entry: a pull every waiter gave up on may settle after a fresh one took its place.
      entry.promise = entry.promise.finally(() => {
        if (this.pulls.get(key) === entry) this.pulls.delete(key);
      });
      // Observed here too, so a pull every waiter gave up on does not reject unhandled.
      entry.promise.catch(() => undefined);
      this.pulls.set(key, entry);
      shared = entry;
    }
    const pull = shared;
    pull.waiters += 1;
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        pull.waiters -= 1;
        if (pull.waiters === 0) {
          // Nobody wants it any more: a caller arriving now starts a fresh pull instead of joining this one.
          if (this.pulls.get(key) === pull) this.pulls.delete(key);
          pull.controller.abort();
        }
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([pull.promise, aborted]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      if (!signal.aborted) pull.waiters -= 1;
    }
  }
}
