import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { describeInvocationStoreContract } from '../contract/invocation-store.contract.js';
import { TEST_REDIS_URL, redisStoresUnder } from '../support/redis-stores.js';

const { prefix, store, cleanup } = redisStoresUnder(
  'invocations',
  (options) => new RedisInvocationStore(options),
);

const request = (extra: Record<string, unknown> = {}) =>
  InvocationRequest.parse({ action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_1', ...extra });

afterAll(cleanup);

describeInvocationStoreContract('RedisInvocationStore on a real redis-server', store);

describe('RedisInvocationStore on a real redis-server', () => {
  it('marks a Failed final in the same write when asked, and gives the live output an expiry', async () => {
    const invocations = store();
    const { record } = await invocations.create(request());
    const id = record.invocation_id;
    await invocations.startAttempt(id, 1);
    await invocations.appendLiveLog(id, 1, 'some output\n');
    await invocations.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
    const failed = await invocations.transition(id, InvocationStatus.Failed, 'action exited with code 1', {
      attempt: 1,
      final: true,
    });
    expect(failed.is_finished).toBe(true);
    const redis = new Redis(TEST_REDIS_URL);
    const ttl = await redis.ttl(`${prefix}inv:${id}:live`);
    await redis.quit();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(3600);
    expect((await invocations.readLiveLog(id, '0', 0)).entries).toEqual([
      { attempt: 1, text: 'some output\n' },
    ]);
  });

  it('leaves a record it cannot read out of a query instead of failing it', async () => {
    const invocations = store();
    const org = `og_malformed${Date.now()}`;
    const good = await invocations.create(request({ org_id: org }));
    const bad = await invocations.create(request({ org_id: org }));
    const redis = new Redis(TEST_REDIS_URL);
    await redis.hset(`${prefix}inv:${bad.record.invocation_id}`, 'last_status', 'Processing');
    await redis.quit();
    const page = await invocations.query(org, {}, { defaultTimeoutMinutes: 30 });
    expect(page.items.map((record) => record.invocation_id)).toEqual([good.record.invocation_id]);
  });
});
