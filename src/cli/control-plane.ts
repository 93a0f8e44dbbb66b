import { InvocationQueue, recordPrefix, redisOptions } from '../adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../adapters/redis/redis-invocation-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';

/** The queue and the invocation records, as the settings locate them. */
export interface ControlPlane {
  store: RedisInvocationStore;
  queue: InvocationQueue;
  close: () => Promise<void>;
}

export function openControlPlane(settings: WorkerSettings, onError?: (error: Error) => void): ControlPlane {
  const store = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url),
    prefix: recordPrefix(settings.redis),
    ...(onError ? { onError } : {}),
  });
  const queue = new InvocationQueue(settings.redis, onError);
  return {
    store,
    queue,
    close: async () => {
      await Promise.allSettled([store.close(), queue.close()]);
    },
  };
}
