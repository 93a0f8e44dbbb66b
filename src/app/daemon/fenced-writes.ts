import pRetry from 'p-retry';
import type { Logger } from 'pino';
import { ActionWorkerError, FencedError } from '../../domain/errors.js';
import { InvocationStatus, statusName } from '../../domain/invocation-status.js';
import type { InvocationStore } from '../../ports/invocation-store.js';
import type { OutputTarget } from '../../ports/output-target.js';
import { type Backoff, backoffDelay } from '../../util/backoff.js';
import type { Lease } from './lease.js';

/** Waits between tries of a write through Redis trouble: from 250 ms, doubling, to at most 5 s. */
const WRITE_BACKOFF: Backoff = { factor: 2, minTimeout: 250, maxTimeout: 5_000, randomize: false };

/**
 * Enough tries that the capped wait is reached long before they run out; `forever` then starts them
 * over (from the first wait) only after hours.
 */
const FOREVER = { forever: true, retries: 2_000 } as const;

/**
 * A status write of a running attempt: fenced by the attempt number, retried through Redis trouble until
 * it lands or the lease is lost; once the lease is lost nothing more is written. An error of ours (a
 * refused transition) is thrown at once; a fenced write loses the lease.
 */
export async function writeStatus(
  deps: { store: InvocationStore; logger: Logger },
  invocationId: string,
  attempt: number,
  status: InvocationStatus,
  detail: string | null,
  lease: Lease,
  failure?: { retryable: boolean },
): Promise<void> {
  // A Failed that will not be retried is final in the same write, so no later attempt can retry it.
  const final = status === InvocationStatus.Failed ? failure?.retryable === false : undefined;
  if (lease.isLost) return;
  try {
    await pRetry(
      () =>
        deps.store.transition(invocationId, status, detail, {
          attempt,
          ...(final === undefined ? {} : { final }),
        }),
      {
        ...WRITE_BACKOFF,
        ...FOREVER,
        signal: lease.lost,
        shouldRetry: (error) => !(error instanceof ActionWorkerError),
        onFailedAttempt: (error) => {
          if (error instanceof ActionWorkerError) return;
          deps.logger.warn({ err: error, invocationId, status: statusName(status) }, 'record.write_failed');
        },
      },
    );
  } catch (error) {
    // The lease was lost meanwhile: nothing more is written.
    if (error === lease.lost.reason) return;
    if (error instanceof FencedError) {
      // A later attempt holds the invocation: this one is over.
      lease.markLost(`attempt ${attempt} was superseded (its status write was refused)`);
      return;
    }
    // An error of ours (a refused transition): the caller's to handle.
    throw error;
  }
}

/**
 * Retries a write through Redis trouble for up to `lockDurationMs`: no wait is started that would end past
 * it. Then it gives up loudly (undefined).
 */
export async function retrying<T>(
  logger: Logger,
  what: string,
  lockDurationMs: number,
  write: () => Promise<T>,
): Promise<T | undefined> {
  const deadline = Date.now() + lockDurationMs;
  try {
    return await pRetry(write, {
      ...WRITE_BACKOFF,
      ...FOREVER,
      onFailedAttempt: (error) => {
        // Thrown from here, the error ends the retries.
        if (Date.now() + backoffDelay(WRITE_BACKOFF, error.attemptNumber) > deadline) throw error;
        logger.warn({ err: error, what }, 'record.write_failed');
      },
    });
  } catch (error) {
    logger.error({ err: error, what }, 'record.write_gave_up');
    return undefined;
  }
}

/** Every write of outputs first proves the lease is still held: a zombie attempt stores nothing. */
export function fencedOutputs(target: OutputTarget, lease: Lease): OutputTarget {
  return {
    upload: async (datasetId, files, options) => {
      await lease.assertHeld();
      return await target.upload(datasetId, files, options);
    },
    ensureDataset: async (dataset) => {
      await lease.assertHeld();
      await target.ensureDataset(dataset);
    },
    updateFile: async (fileId, update) => {
      await lease.assertHeld();
      await target.updateFile(fileId, update);
    },
    updateDataset: async (datasetId, changeset) => {
      await lease.assertHeld();
      await target.updateDataset(datasetId, changeset);
    },
    // Not fenced: it writes no data, and what was stored is there to be announced whoever holds the lease.
    uploadCommitted: async (datasetId, files) => {
      await target.uploadCommitted?.(datasetId, files);
    },
  };
}
