import {
  InvocationQueue,
  type RedisPatience,
  recordPrefix,
  redisOptions,
} from '../adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../adapters/redis/redis-invocation-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';

/** The queue and the invocation records, as the settings locate them. */
export interface ControlPlane {
  store: RedisInvocationStore;
  queue: InvocationQueue;
  close: () => Promise<void>;
}

export function openControlPlane(
  settings: WorkerSettings,
  options: { patience: RedisPatience; onError?: (error: Error) => void },
): ControlPlane {
  const { patience, onError } = options;
  const store = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url, patience),
    prefix: recordPrefix(settings.redis),
    ...(onError ? { onError } : {}),
  });
  const queue = new InvocationQueue(settings.redis, onError, patience);
  return {
    store,
    queue,
    close: async () => {
      await Promise.allSettled([store.close(), queue.close()]);
    },
  };
}
