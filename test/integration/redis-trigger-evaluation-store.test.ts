import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisTriggerEvaluationStore } from '../../src/adapters/redis/redis-trigger-evaluation-store.js';
import { describeTriggerEvaluationStoreContract } from '../contract/trigger-evaluation-store.contract.js';

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `action-worker-test-trigger-evaluations-${process.pid}-${Date.now()}:`;
const stores: RedisTriggerEvaluationStore[] = [];

function store(): RedisTriggerEvaluationStore {
  const created = new RedisTriggerEvaluationStore({ redis: REDIS_URL, prefix });
  stores.push(created);
  return created;
}

afterAll(async () => {
  for (const each of stores.splice(0)) await each.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describeTriggerEvaluationStoreContract('RedisTriggerEvaluationStore on a real redis-server', store);

describe('RedisTriggerEvaluationStore on a real redis-server', () => {
  it('reports a stored record that is not an evaluation as malformed, not as missing', async () => {
    const evaluations = store();
    const { record } = await evaluations.createPending('og_broken', 'ev', {
      trigger_id: 'tr_b',
      data_source: { data_source_type: 'Dataset', data_source_id: 'ds_b' },
      data_constraint: null,
      evaluation_start: 'T',
      evaluation_end: null,
      status: 'pending',
      status_detail: null,
      outcome: null,
      outcome_reason: null,
      cause: null,
    });
    const redis = new Redis(REDIS_URL);
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
