import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApi, startApiServer } from '../../src/app/api-server.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const keyPrefix = `action-worker-api-tokens-${process.pid}-${Date.now()}`;

let api: RunningApi;
let tokenA: string;
let tokenB: string;
let tokenIdA: string;
let orgIdA: string;
let orgIdB: string;
let settings: WorkerSettings;

beforeAll(async () => {
  settings = WorkerSettings.parse({
    storeDir: path.join(await tempDir('api-tokens'), 'store'),
    redis: { url: REDIS_URL, keyPrefix },
    api: { host: '127.0.0.1', port: 0 },
  });
  // The orgs and tokens as `action-worker orgs create` / `tokens create` make them.
  const tenancy = openTenancyStore(settings);
  try {
    const orgA = await tenancy.createOrg({ name: 'A' });
    const orgB = await tenancy.createOrg({ name: 'B' });
    orgIdA = orgA.org_id;
    orgIdB = orgB.org_id;
    const createdA = await tenancy.createToken({ orgId: orgA.org_id, name: 'a' });
    tokenA = createdA.token;
    tokenIdA = createdA.record.token_id;
    tokenB = (await tenancy.createToken({ orgId: orgB.org_id, name: 'b' })).token;
  } finally {
    await tenancy.close();
  }
  // No authenticator given: the server checks bearer tokens against the orgs' tokens in Redis.
  api = await startApiServer(settings, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await api.stop();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await removeTempDirs();
});

const call = async (urlPath: string, token: string, body?: unknown) => {
  const response = await fetch(`${api.url}${urlPath}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    json: (await response.json()) as { data: { dataset_id: string; org_id: string; name: string } },
  };
};

describe('serve with the orgs’ API tokens', () => {
  it('answers the caller’s org (O1, O2), and another org as if it did not exist', async () => {
    const own = await call(`/v1/orgs/id/${orgIdA}`, tokenA);
    expect(own.status).toBe(200);
    expect(own.json.data).toMatchObject({ org_id: orgIdA, name: 'A', tier: 'free', status: 'active' });
    expect((await call(`/v1/orgs/id/${orgIdB}`, tokenA)).status).toBe(404);
    expect((await call('/v1/orgs/id/og_missing', tokenA)).status).toBe(404);
    const callers = await call('/v1/orgs/caller', tokenB);
    expect(callers.status).toBe(200);
    expect((callers.json.data as unknown as { org_id: string }[]).map((org) => org.org_id)).toEqual([orgIdB]);
  });

  it('lets a token act in its own org only, and refuses it once revoked', async () => {
    const created = await call('/v1/datasets', tokenA, { name: 'drive-1' });
    expect(created.status).toBe(200);
    const datasetId = created.json.data.dataset_id;
    expect((await call(`/v1/datasets/${datasetId}`, tokenA)).status).toBe(200);
    // Another org's token: as if the dataset did not exist.
    expect((await call(`/v1/datasets/${datasetId}`, tokenB)).status).toBe(404);
    // A token of ours with its secret changed.
    expect((await call(`/v1/datasets/${datasetId}`, `${tokenA.slice(0, -4)}AAAA`)).status).toBe(401);

    const tenancy = openTenancyStore(settings);
    try {
      await tenancy.revokeToken(tokenIdA);
    } finally {
      await tenancy.close();
    }
    expect((await call(`/v1/datasets/${datasetId}`, tokenA)).status).toBe(401);
  });
});
