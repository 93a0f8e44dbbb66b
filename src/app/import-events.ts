import type { FileRecord } from '../domain/records.js';
import type { DatasetRecord } from '../ports/data-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { TriggerEventQueue } from '../adapters/bullmq/trigger-event-queue.js';
import { TIMED_OUT, withTimeout } from '../util/with-timeout.js';

/** The longest `datasets import` waits for the trigger event queue once its files are stored. */
const IMPORT_EVENT_BOUND_MS = 10_000;

/**
 * Announces an import for trigger evaluation: one file_upload event for the whole import (its id the
 * import's, as the transaction), however many files it wrote; none when it wrote none. The files are stored
 * first and stay stored: a Redis that does not answer within seconds is an error the caller reports as a
 * warning (the import is not undone, and a later change of the dataset evaluates its triggers again).
 */
export async function announceImport(
  settings: Pick<WorkerSettings, 'redis'>,
  imported: { dataset: DatasetRecord; importId: string; changed: readonly FileRecord[] },
): Promise<'announced' | 'nothing to announce'> {
  if (imported.changed.length === 0) return 'nothing to announce';
  let failure: unknown;
  const queue = new TriggerEventQueue(settings.redis, {
    patience: 'fail',
    onError: (error) => {
      failure = error;
    },
  });
  try {
    const outcome = await withTimeout(
      queue.emit({
        event_id: imported.importId,
        org_id: imported.dataset.org_id,
        dataset_id: imported.dataset.dataset_id,
        cause: 'file_upload',
        transaction_id: imported.importId,
        file_ids: imported.changed.map((file) => file.file_id),
        source_invocation_id: null,
        occurred: new Date().toISOString(),
      }),
      IMPORT_EVENT_BOUND_MS,
    );
    if (outcome === TIMED_OUT) {
      throw new Error(
        `the trigger event queue did not answer within ${IMPORT_EVENT_BOUND_MS / 1000} s${failure instanceof Error ? ` (${failure.message})` : ''}`,
      );
    }
    return 'announced';
  } finally {
    await queue.close();
  }
}
