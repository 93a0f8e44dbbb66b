import pino from 'pino';
import type { DataStore } from '../ports/data-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { TriggerEventQueue } from '../adapters/bullmq/trigger-event-queue.js';
import { TIMED_OUT, withTimeout } from '../util/with-timeout.js';
import { ChangeRelay } from './change-relay.js';

/** The longest `datasets import` waits for the trigger event queue once its files are stored. */
const IMPORT_EVENT_BOUND_MS = 10_000;

/**
 * Hands an import's event (written into the store's outbox with its files: one file_upload event for the
 * whole import) on to the trigger event queue, with whatever else waits in the outbox. The files and the
 * event are stored whatever happens here: a Redis that does not answer within seconds is an error the
 * caller reports as a warning, and the event stays in the outbox until a `serve` or a daemon over the same
 * store hands it on.
 */
export async function handOnChanges(
  settings: Pick<WorkerSettings, 'redis'>,
  store: DataStore,
): Promise<number> {
  let failure: unknown;
  const queue = new TriggerEventQueue(settings.redis, {
    patience: 'fail',
    onError: (error) => {
      failure = error;
    },
  });
  const relay = new ChangeRelay(store, queue, pino({ level: 'silent' }));
  try {
    const outcome = await withTimeout(relay.drain(), IMPORT_EVENT_BOUND_MS);
    failure = outcome === TIMED_OUT ? (failure ?? 'no answer') : relay.lastFailure;
    if (outcome === TIMED_OUT || failure !== undefined) {
      throw new Error(
        `the trigger event queue did not take the event${outcome === TIMED_OUT ? ` within ${IMPORT_EVENT_BOUND_MS / 1000} s` : ''} (${failure instanceof Error ? failure.message : String(failure)}); it is kept in the store, and a serve or daemon over this store hands it on`,
      );
    }
    return outcome;
  } finally {
    // A drain still waiting for the queue ends when the queue's connection is dropped.
    await withTimeout(relay.close(), 1_000);
    await queue.close();
  }
}
