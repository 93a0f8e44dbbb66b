import path from 'node:path';
import { recordPrefix, redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { RedisUploadTransactionStore } from '../../src/adapters/redis/redis-upload-transaction-store.js';
import { openDataStore, uploadStagingDir } from '../../src/app/local-adapters.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import { WorkerSettings, type WorkerSettingsInput } from '../../src/config/worker-settings.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { TEST_REDIS_URL, deleteKeysUnder, testKeyPrefix } from './redis-stores.js';
import { tempDir } from './temp-dirs.js';

/** An org of an upload test, with its API tokens by name. */
export interface UploadTestOrg {
  orgId: string;
  tokens: Record<string, string>;
}

/**
 * What the upload tests share: settings under a key prefix and store of their own, the stores a server of
 * them uses (tenancy, invocation records, upload transactions, data), orgs with real tokens, and an
 * invocation of the first org with its own token. `close` deletes the keys even when a close fails.
 */
export interface UploadBackends {
  settings: WorkerSettings;
  stagingDir: string;
  tenancy: ReturnType<typeof openTenancyStore>;
  records: RedisInvocationStore;
  transactions: RedisUploadTransactionStore;
  store: DataStore;
  orgs: UploadTestOrg[];
  invocationId: string;
  /** The token of that invocation (an action's own). */
  actionToken: string;
  close(): Promise<void>;
}

export async function openUploadBackends(options: {
  name: string;
  orgs: readonly { name: string; tokens: readonly string[] }[];
  api?: WorkerSettingsInput['api'];
}): Promise<UploadBackends> {
  const settings = WorkerSettings.parse({
    storeDir: path.join(await tempDir(options.name), 'store'),
    redis: { url: TEST_REDIS_URL, keyPrefix: testKeyPrefix(options.name) },
    ...(options.api === undefined ? {} : { api: options.api }),
  });
  const tenancy = openTenancyStore(settings);
  const records = new RedisInvocationStore({
    redis: redisOptions(settings.redis.url, 'fail'),
    prefix: recordPrefix(settings.redis),
  });
  const transactions = new RedisUploadTransactionStore({
    redis: settings.redis.url,
    prefix: recordPrefix(settings.redis),
  });
  const orgs: UploadTestOrg[] = [];
  for (const each of options.orgs) {
    const org = await tenancy.createOrg({ name: each.name });
    const tokens: Record<string, string> = {};
    for (const name of each.tokens) {
      tokens[name] = (await tenancy.createToken({ orgId: org.org_id, name })).token;
    }
    orgs.push({ orgId: org.org_id, tokens });
  }
  const first = orgs[0];
  if (first === undefined) throw new Error('an upload test needs an org');
  const invocationId = (
    await records.create(
      newInvocationRequest({ action: { image: 'busybox:up', config: { name: 'up' } }, org_id: first.orgId }),
    )
  ).record.invocation_id;
  const actionToken = (await tenancy.createToken({ orgId: first.orgId, invocationId })).token;
  const store = await openDataStore(settings);
  return {
    settings,
    stagingDir: uploadStagingDir(settings.storeDir),
    tenancy,
    records,
    transactions,
    store,
    orgs,
    invocationId,
    actionToken,
    async close() {
      try {
        await Promise.allSettled([store.close(), records.close(), transactions.close(), tenancy.close()]);
      } finally {
        await deleteKeysUnder(settings.redis.url, settings.redis.keyPrefix);
      }
    },
  };
}
