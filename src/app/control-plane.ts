import {
  InvocationQueue,
  type RedisPatience,
  recordPrefix,
  redisOptions,
  withoutCredentials,
} from '../adapters/bullmq/invocation-queue.js';
import type { RedisStoreOptions } from '../adapters/redis/redis-connection.js';
import { RedisInvocationStore } from '../adapters/redis/redis-invocation-store.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import { ActionWorkerError, InfrastructureError } from '../domain/errors.js';
import { TIMED_OUT, withTimeout } from '../util/with-timeout.js';

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

/**
 * Runs `use` against the queue and the records, failing fast when Redis does not answer; a Redis that
 * cannot be reached is one clear error, and the connections are closed whatever happens.
 */
export async function usingControlPlane<T>(
  settings: WorkerSettings,
  use: (plane: ControlPlane) => Promise<T>,
): Promise<T> {
  const plane = openControlPlane(settings, { patience: 'fail' });
  try {
    return await use(plane);
  } catch (error) {
    return await rethrowUnlessRedisAnswers(error, () => plane.queue.ping(), settings.redis.url);
  } finally {
    await plane.close();
  }
}

/**
 * Rethrows a command's error as itself, or as "cannot reach Redis" (E_IO, naming the server without its
 * credentials) when it is not one of ours and Redis does not answer a ping now: only a Redis that is down
 * is reported as such, anything else as what it is.
 */
export async function rethrowUnlessRedisAnswers(
  error: unknown,
  ping: () => Promise<unknown>,
  redisUrl: string,
): Promise<never> {
  if (error instanceof ActionWorkerError) throw error;
  const answers = await withTimeout(ping(), 5_000).then(
    (answer) => answer !== TIMED_OUT,
    () => false,
  );
  if (answers) throw error;
  throw new InfrastructureError(
    `cannot reach Redis at ${withoutCredentials(redisUrl)}: ${(error as Error).message}`,
    'E_IO',
    error,
  );
}

/**
 * Where a Redis-backed store (orgs and tokens, actions) lives as the settings locate it: beside the
 * invocation records, under their prefix. `patience`: `fail` for a command a person waits for, `wait` for a
 * server that rides out a Redis outage.
 */
export function redisStoreOptions(
  settings: WorkerSettings,
  options: { patience?: RedisPatience; onError?: (error: Error) => void } = {},
): RedisStoreOptions {
  return {
    redis: redisOptions(settings.redis.url, options.patience ?? 'fail'),
    prefix: recordPrefix(settings.redis),
    ...(options.onError ? { onError: options.onError } : {}),
  };
}

/**
 * Runs `use` against a Redis-backed store, failing fast when Redis does not answer (one clear error), and
 * closes its connection whatever happens.
 */
export async function usingRedisStore<S extends { ping(): Promise<unknown>; close(): Promise<void> }, T>(
  settings: WorkerSettings,
  store: S,
  use: (store: S) => Promise<T>,
): Promise<T> {
  try {
    return await use(store);
  } catch (error) {
    return await rethrowUnlessRedisAnswers(error, () => store.ping(), settings.redis.url);
  } finally {
    await store.close();
  }
}
