import { InvocationQueue, recordPrefix } from '../adapters/bullmq/invocation-queue.js';
import { redisOptions } from '../adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../adapters/redis/redis-invocation-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';

/** The queue and the invocation records, as the settings locate them. */
export interface ControlPlane {
  store: RedisInvocationStore;
  queue: InvocationQueue;
  close: () => Promise<void>;
}

export function openControlPlane(settings: WorkerSettings): ControlPlane {
  const store = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url),
    prefix: recordPrefix(settings.redis),
  });
  const queue = new InvocationQueue(settings.redis);
  return {
    store,
    queue,
    close: async () => {
      await Promise.allSettled([store.close(), queue.close()]);
    },
  };
}
