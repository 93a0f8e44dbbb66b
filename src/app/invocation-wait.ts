import { setTimeout as sleep } from 'node:timers/promises';
import { ActionWorkerError, UsageError } from '../domain/errors.js';

/** A wait for an invocation that ran out before it finished (`invocations wait --timeout`). */
export class WaitTimeoutError extends ActionWorkerError {
  constructor(invocationId: string, status: string) {
    super(`invocation ${invocationId} is still ${status}: the wait ran out`, {
      code: 'E_TIMEOUT',
      // The one override of the table: E_TIMEOUT is an action that ran out of time (another attempt would
      // too), but here it is the caller's wait, and waiting again may well see the invocation finish.
      retryable: true,
    });
  }
}

export interface WaitOptions<R> {
  timeoutMs?: number;
  pollMs?: number;
  /** Called once per new status entry, with the record cut to the history up to that entry. */
  onStatus?: (record: R) => void;
}

/**
 * Reads a record (from the store, or over the API) until `finished` says so; calls back on each new status.
 * Shared by `invocations wait` on Redis and with `--endpoint`, which differ only in how they read.
 */
export async function pollInvocation<R extends { status: readonly unknown[] }>(
  invocationId: string,
  read: () => Promise<R | undefined>,
  finished: (record: R) => boolean,
  statusOf: (record: R) => string,
  options: WaitOptions<R>,
): Promise<R> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let seen = 0;
  for (;;) {
    const record = await read();
    if (record === undefined) throw new UsageError(`no invocation ${invocationId}`, 'E_INVALID_INPUT');
    if (options.onStatus) {
      for (; seen < record.status.length; seen += 1)
        options.onStatus({ ...record, status: record.status.slice(0, seen + 1) });
    }
    if (finished(record)) return record;
    if (Date.now() >= deadline) throw new WaitTimeoutError(invocationId, statusOf(record));
    await sleep(Math.min(options.pollMs ?? 500, Math.max(0, deadline - Date.now())));
  }
}
