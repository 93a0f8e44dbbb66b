import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { removeTempDirs } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';

describe("the daemon's Redis connection", () => {
  let redis: PrivateRedis | undefined;

  afterAll(async () => {
    await redis?.stop();
    await removeTempDirs();
  });

  it('notices Redis is back within a fraction of the lock duration, however long it was away', async () => {
    redis = await PrivateRedis.create();
    const lockDurationMs = 4_000;
    const client = new Redis(redisOptions(redis.url, 'wait', { lockDurationMs }));
    client.on('error', () => undefined);
    try {
      await client.ping();
      await redis.stop();
      // The outage: long enough for a backoff that is not bounded to reach seconds (1, 2, 4, 8 s…).
      await sleep(8_000);
      await redis.start();
      const backAt = Date.now();
      // Waits for the reconnection (requests wait through it).
      await client.ping();
      // At most an eighth of the lock duration between attempts, plus the reconnection itself.
      expect(Date.now() - backAt).toBeLessThan(lockDurationMs / 8 + 1_500);
    } finally {
      client.disconnect();
    }
  });
});
