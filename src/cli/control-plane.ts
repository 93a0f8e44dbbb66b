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
  // Reconnections come often enough for the daemon's leases to outlive a short Redis outage.
  const bound = { lockDurationMs: settings.daemon.lockDurationMs };
  const store = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url, patience, bound),
    prefix: recordPrefix(settings.redis),
    ...(onError ? { onError } : {}),
  });
  const queue = new InvocationQueue(settings.redis, onError, patience, bound);
  return {
    store,
    queue,
    close: async () => {
      await Promise.allSettled([store.close(), queue.close()]);
    },
  };
}
