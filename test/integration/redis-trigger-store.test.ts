import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisTriggerStore } from '../../src/adapters/redis/redis-trigger-store.js';
import { newTrigger } from '../../src/domain/trigger-versions.js';
import { describeTriggerStoreContract } from '../contract/trigger-store.contract.js';
import { TEST_REDIS_URL, redisStoresUnder } from '../support/redis-stores.js';

const { prefix, store, cleanup } = redisStoresUnder('triggers', (options) => new RedisTriggerStore(options));

afterAll(cleanup);

describeTriggerStoreContract('RedisTriggerStore on a real redis-server', store);

describe('RedisTriggerStore on a real redis-server', () => {
  it('keeps a trigger under its prefix: the record, the org index and the enabled index', async () => {
    const triggers = store();
    const record = newTrigger(
      { name: 'layout', action_name: 'a', required_inputs: ['*.bag'] },
      'og_layout0001',
      { userId: 'tk_1', now: new Date('2024-01-01T00:00:00Z') },
    );
    await triggers.createTrigger(record);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      expect(await redis.get(`${prefix}trigger:og_layout0001:layout`)).toBe(JSON.stringify(record));
      expect(await redis.smembers(`${prefix}triggers:og_layout0001`)).toEqual(['layout']);
      expect(await redis.smembers(`${prefix}triggers:og_layout0001:enabled`)).toEqual(['layout']);
    } finally {
      await redis.quit();
    }
  });

  it('reports a stored record that is not a TriggerRecord as malformed, not as missing', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.set(`${prefix}trigger:og_broken00001:x`, '{"name":"x"}');
      await expect(store().getTrigger('og_broken00001', 'x')).rejects.toMatchObject({
        code: 'E_MALFORMED_RECORD',
      });
    } finally {
      await redis.quit();
    }
  });
});
