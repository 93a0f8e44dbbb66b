import { Redis, type RedisOptions } from 'ioredis';

/** Where a Redis-backed store keeps its keys and whom it tells of connection errors. */
export interface RedisStoreOptions {
  redis: RedisOptions | string;
  /** Prepended to every key (default `action-worker:`). */
  prefix?: string;
  onError?: (error: Error) => void;
}

export const DEFAULT_KEY_PREFIX = 'action-worker:';

/**
 * A connection for a store. Connection errors are reported to `onError`, not thrown: ioredis reconnects,
 * and the commands queued meanwhile go through then.
 */
export function connectRedis(options: RedisStoreOptions): Redis {
  const redis = typeof options.redis === 'string' ? new Redis(options.redis) : new Redis(options.redis);
  redis.on('error', (error: Error) => {
    options.onError?.(error);
  });
  return redis;
}
