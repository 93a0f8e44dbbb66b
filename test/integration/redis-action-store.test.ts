import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisActionStore } from '../../src/adapters/redis/redis-action-store.js';
import { newAction } from '../../src/domain/action-versions.js';
import { describeActionStoreContract } from '../contract/action-store.contract.js';
import { TEST_REDIS_URL, redisStoresUnder } from '../support/redis-stores.js';

const { prefix, store, cleanup } = redisStoresUnder('actions', (options) => new RedisActionStore(options));

afterAll(cleanup);

describeActionStoreContract('RedisActionStore on a real redis-server', store);

describe('RedisActionStore on a real redis-server', () => {
  it('keeps an action under its prefix: a meta hash, a version list and the org index', async () => {
    const actions = store();
    const record = newAction({ name: 'layout', uri: 'img:1' }, 'og_layout0001', {
      userId: 'tk_1',
      now: new Date('2024-01-01T00:00:00Z'),
    });
    await actions.createAction(record);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.hgetall(`${prefix}action:og_layout0001:layout`)).toEqual({
        accessibility: 'organization',
        published: '',
        latest: record.digest,
      });
      expect(await redis.lrange(`${prefix}action:og_layout0001:layout:versions`, 0, -1)).toEqual([
        JSON.stringify(record),
      ]);
      expect(await redis.smembers(`${prefix}actions:og_layout0001`)).toEqual(['layout']);
    } finally {
      await redis.quit();
    }
  });

  it('reports a stored version that is not an ActionRecord as malformed, not as missing', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.hset(`${prefix}action:og_broken00001:x`, {
        accessibility: 'organization',
        published: '',
        latest: 'd',
      });
      await redis.rpush(`${prefix}action:og_broken00001:x:versions`, '{"name":');
    } finally {
      await redis.quit();
    }
    await expect(store().getAction('og_broken00001', 'x')).rejects.toMatchObject({
      code: 'E_MALFORMED_RECORD',
    });
  });
});
