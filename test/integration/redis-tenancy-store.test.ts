import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisTenancyStore } from '../../src/adapters/redis/redis-tenancy-store.js';
import { describeTenancyStoreContract } from '../contract/tenancy-store.contract.js';

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const prefix = `action-worker-test-tenancy-${process.pid}-${Date.now()}:`;
const stores: RedisTenancyStore[] = [];

function store(): RedisTenancyStore {
  const created = new RedisTenancyStore({ redis: REDIS_URL, prefix });
  stores.push(created);
  return created;
}

/** Every key of this test's namespace and every value under it, as text. */
async function namespaceText(): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    const parts: string[] = [];
    for (const key of await redis.keys(`${prefix}*`)) {
      const type = await redis.type(key);
      parts.push(key);
      if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else throw new Error(`unexpected ${type} at ${key}`);
    }
    return parts.join('\n');
  } finally {
    await redis.quit();
  }
}

afterAll(async () => {
  for (const each of stores.splice(0)) await each.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describeTenancyStoreContract('RedisTenancyStore on a real redis-server', store, namespaceText);

describe('RedisTenancyStore on a real redis-server', () => {
  it('keeps its keys under its prefix, the token as a SHA-256 hash only', async () => {
    const tenancy = store();
    const org = await tenancy.createOrg({ name: 'layout' });
    const { record } = await tenancy.createToken({ orgId: org.org_id, name: 'n' });
    const redis = new Redis(REDIS_URL);
    try {
      const fields = await redis.hgetall(`${prefix}token:${record.token_id}`);
      expect(fields.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Object.keys(fields).sort()).toEqual(['created', 'hash', 'name', 'org_id', 'token_id']);
      expect(await redis.zscore(`${prefix}org:${org.org_id}:tokens`, record.token_id)).not.toBeNull();
      expect(await redis.hget(`${prefix}org:${org.org_id}`, 'name')).toBe('layout');
    } finally {
      await redis.quit();
    }
  });
});
