import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisTriggerEvaluationStore } from '../../src/adapters/redis/redis-trigger-evaluation-store.js';
import { describeTriggerEvaluationStoreContract } from '../contract/trigger-evaluation-store.contract.js';
import { pendingEvaluation } from '../support/pending-evaluation.js';
import { TEST_REDIS_URL, redisStoresUnder } from '../support/redis-stores.js';

const { prefix, store, cleanup } = redisStoresUnder(
  'trigger-evaluations',
  (options) => new RedisTriggerEvaluationStore(options),
);

afterAll(cleanup);

describeTriggerEvaluationStoreContract('RedisTriggerEvaluationStore on a real redis-server', store);

describe('RedisTriggerEvaluationStore on a real redis-server', () => {
  it('reports a stored record that is not an evaluation as malformed, not as missing', async () => {
    const evaluations = store();
    const { record } = await evaluations.createPending(
      'og_broken',
      'ev',
      pendingEvaluation('tr_b', 'ds_b', 'T', { data_constraint: null, cause: null }),
    );
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await redis.set(`${prefix}trigger-evaluation:${record.trigger_evaluation_id}`, '{"record":{}}');
      await expect(evaluations.listByTrigger('og_broken', 'tr_b', { limit: 5 })).rejects.toMatchObject({
        code: 'E_MALFORMED_RECORD',
      });
    } finally {
      await redis.quit();
    }
  });
});
