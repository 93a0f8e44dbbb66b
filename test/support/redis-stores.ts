import { Redis } from 'ioredis';

/** The stem of the prefix under which the CLI the tests run keeps its Redis keys (harness runCli). */
export const CLI_TEST_KEY_PREFIX_STEM = 'action-worker-test-cli-';

export const TEST_REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';

/** A key prefix of a test's own (`name`, the process and the time), for `ACTION_WORKER_KEY_PREFIX`. */
export function testKeyPrefix(name: string): string {
  return `action-worker-test-${name}-${process.pid}-${Date.now()}`;
}

/**
 * Stores of one kind on the test Redis, under a key prefix of their own (`name`, the process and the time):
 * `store()` opens one more; `cleanup()` (for afterAll) closes them all and deletes every key of the prefix.
 */
export function redisStoresUnder<S extends { close(): Promise<void> }>(
  name: string,
  open: (options: { redis: string; prefix: string }) => S,
): { prefix: string; store: () => S; cleanup: () => Promise<void> } {
  const prefix = `${testKeyPrefix(name)}:`;
  const stores: S[] = [];
  return {
    prefix,
    store: () => {
      const created = open({ redis: TEST_REDIS_URL, prefix });
      stores.push(created);
      return created;
    },
    cleanup: async () => {
      for (const each of stores.splice(0)) await each.close();
      const redis = new Redis(TEST_REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

/** Deletes every key of a test's own key prefix (`ACTION_WORKER_KEY_PREFIX`), for its afterAll. */
export async function deleteKeysUnder(url: string, keyPrefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

/** Deletes the keys of every prefix that starts with `stem` (the suite's teardown of the CLI's keys). */
export async function deleteKeysWithStem(url: string, stem: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${stem}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}
