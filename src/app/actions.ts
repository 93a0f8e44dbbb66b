import { type RedisPatience, recordPrefix, redisOptions } from '../adapters/bullmq/invocation-queue.js';
import { RedisActionStore } from '../adapters/redis/redis-action-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ActionStore } from '../ports/action-store.js';
import { rethrowUnlessRedisAnswers } from './control-plane.js';

/**
 * Registered actions as the settings locate them: beside the invocation records, under their prefix.
 * `patience`: `fail` for a command a person waits for, `wait` for a server that rides out a Redis outage.
 */
export function openActionStore(
  settings: WorkerSettings,
  options: { patience?: RedisPatience; onError?: (error: Error) => void } = {},
): RedisActionStore {
  return new RedisActionStore({
    redis: redisOptions(settings.redis.url, options.patience ?? 'fail'),
    prefix: recordPrefix(settings.redis),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}

/**
 * Runs `use` against the action store, failing fast when Redis does not answer (one clear error), and
 * closes the connection whatever happens.
 */
export async function usingActions<T>(
  settings: WorkerSettings,
  use: (store: ActionStore) => Promise<T>,
): Promise<T> {
  const store = openActionStore(settings);
  try {
    return await use(store);
  } catch (error) {
    return await rethrowUnlessRedisAnswers(error, () => store.ping(), settings.redis.url);
  } finally {
    await store.close();
  }
}
