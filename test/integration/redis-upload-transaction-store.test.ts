import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisUploadTransactionStore } from '../../src/adapters/redis/redis-upload-transaction-store.js';
import { randomId } from '../../src/domain/ids.js';
import { describeUploadTransactionStoreContract } from '../contract/upload-transaction-store.contract.js';
import { TEST_REDIS_URL, redisStoresUnder } from '../support/redis-stores.js';

const { prefix, store, cleanup } = redisStoresUnder(
  'uploads',
  (options) => new RedisUploadTransactionStore(options),
);

afterAll(cleanup);

describeUploadTransactionStoreContract('RedisUploadTransactionStore on a real redis-server', store);

describe('RedisUploadTransactionStore on a real redis-server', () => {
  it('keeps a transaction under its prefix with an expiry on every key, none beyond its expires', async () => {
    const transactionId = randomId('ut', 20);
    const expires = Date.now() + 24 * 60 * 60_000;
    const uploads = store();
    await uploads.create({
      transaction_id: transactionId,
      org_id: 'og_layout',
      dataset_id: 'ds_layout',
      origination: 'test',
      manifest: [{ path: 'a', size_bytes: 1 }],
      created_by: 'tk_layout',
      created: new Date().toISOString(),
      expires: new Date(expires).toISOString(),
      source_invocation_id: null,
    });
    await uploads.addReported(transactionId, ['a']);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      for (const key of [
        `upload:${transactionId}`,
        `upload:${transactionId}:state`,
        `upload:${transactionId}:reported`,
      ]) {
        const expiresAt = await redis.pexpiretime(`${prefix}${key}`);
        expect(expiresAt, key).toBe(Date.parse(new Date(expires).toISOString()));
      }
    } finally {
      await redis.quit();
    }
  });

  it('reports a stored record that is not a transaction as malformed, not as missing', async () => {
    const transactionId = randomId('ut', 20);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.set(`${prefix}upload:${transactionId}`, '{"org_id":"og_x"}', 'EX', 600);
      await expect(store().get(transactionId)).rejects.toMatchObject({ code: 'E_MALFORMED_RECORD' });
    } finally {
      await redis.quit();
    }
  });
});
