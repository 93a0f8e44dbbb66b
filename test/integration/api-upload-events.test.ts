import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPrefix, redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { RedisUploadTransactionStore } from '../../src/adapters/redis/redis-upload-transaction-store.js';
import { buildApiServer } from '../../src/api/server.js';
import { openDataStore, uploadStagingDir } from '../../src/app/local-adapters.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import type { DataStore } from '../../src/ports/data-store.js';
import type { ChangeNotifier } from '../../src/ports/trigger-events.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import { apiTestServer } from '../support/api-test-server.js';
import { eventually } from '../support/poll.js';
import { deleteKeysUnder } from '../support/redis-stores.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

/**
 * One upload transaction, one `file_upload` event (issue 13, "API uploads — one event per upload
 * transaction"): the API server is given a ChangeNotifier, so the completion's write carries its
 * announcement into the store's outbox, read back here as a relay would.
 * The last test goes the whole way through `serve`: outbox, relay, event queue, consumer.
 */

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const keyPrefix = `action-worker-api-upload-events-test-${process.pid}-${Date.now()}`;

class RecordingNotifier implements ChangeNotifier {
  calls = 0;
  changed(): void {
    this.calls += 1;
  }
}

/** The Redis transaction store, whose next completion mark can be made to fail (a crash right before it). */
class FailingMarkStore extends RedisUploadTransactionStore {
  failNextMark = false;
  override async markCompleted(transactionId: string, fileIds: readonly string[], completed: string) {
    if (this.failNextMark) {
      this.failNextMark = false;
      throw new Error('simulated crash before the completion is marked');
    }
    return super.markCompleted(transactionId, fileIds, completed);
  }
}

let app: FastifyInstance;
let url: string;
let store: DataStore;
let transactions: FailingMarkStore;
let closeTenancy: () => Promise<void>;
let token: string;
let orgId: string;
const notifier = new RecordingNotifier();

beforeAll(async () => {
  const settings = WorkerSettings.parse({
    storeDir: path.join(await tempDir('api-upload-events'), 'store'),
    redis: { url: REDIS_URL, keyPrefix },
  });
  store = await openDataStore(settings);
  const tenancy = openTenancyStore(settings);
  closeTenancy = () => tenancy.close();
  const org = await tenancy.createOrg({ name: 'upload-events' });
  orgId = org.org_id;
  token = (await tenancy.createToken({ orgId, name: 'events' })).token;
  transactions = new FailingMarkStore({ redis: REDIS_URL, prefix: recordPrefix(settings.redis) });
  app = await buildApiServer({
    store,
    authenticator: tenancy,
    orgs: tenancy,
    changes: notifier,
    uploads: { transactions, stagingDir: uploadStagingDir(settings.storeDir) },
    readiness: {},
    logger: pino({ level: 'silent' }),
    limits: { bodyLimitBytes: 1024 * 1024, requestTimeoutMs: 30_000 },
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app.close();
  await store.close();
  await transactions.close();
  await closeTenancy();
  await deleteKeysUnder(REDIS_URL, keyPrefix);
  await removeTempDirs();
});

async function call(
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(urlPath.startsWith('http') ? urlPath : `${url}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined
        ? {}
        : Buffer.isBuffer(body)
          ? { 'content-type': 'application/octet-stream' }
          : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe('an API upload transaction', () => {
  it('makes exactly one file_upload event, carrying the transaction and its files, however often completed', async () => {
    const dataset = await store.createDataset({ orgId });
    const contents: Record<string, Buffer> = { 'a.bag': Buffer.from('abc'), 'b/c.yaml': Buffer.from('k: v') };
    const begun = await call('POST', '/v1/files/upload', {
      association: { association_id: dataset.dataset_id, association_type: 'dataset' },
      origination: 'events test',
      resource_manifest: Object.fromEntries(
        Object.entries(contents).map(([key, bytes]) => [key, bytes.length]),
      ),
      device_id: null,
    });
    expect(begun.status).toBe(200);
    const { transaction_id: txn, upload_mappings: mappings } = (
      begun.json as { data: { transaction_id: string; upload_mappings: Record<string, string> } }
    ).data;
    for (const [key, bytes] of Object.entries(contents)) {
      expect((await call('PUT', mappings[key]!, bytes)).status).toBe(200);
    }
    expect(
      (await call('PUT', `/v1/files/upload/${txn}/progress`, { manifest_items: Object.values(mappings) }))
        .status,
    ).toBe(200);
    expect((await call('PUT', `/v1/files/upload/${txn}/complete`)).status).toBe(200);
    expect((await call('PUT', `/v1/files/upload/${txn}/complete`)).status).toBe(200);
    expect(notifier.calls).toBe(1);

    const fileIds = (await store.listFiles(dataset.dataset_id)).map((file) => file.record.file_id).sort();
    expect(fileIds).toHaveLength(2);
    const { events: claimed } = await store.claimOutboxEvents(100, 60_000);
    const uploads = claimed.filter((entry) => entry.event.cause === 'file_upload');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.event).toMatchObject({
      event_id: txn,
      transaction_id: txn,
      dataset_id: dataset.dataset_id,
      source_invocation_id: null,
    });
    expect([...uploads[0]!.event.file_ids].sort()).toEqual(fileIds);
  });

  it('stores nothing twice when a completion is cut off after its write and completed again', async () => {
    const dataset = await store.createDataset({ orgId });
    const begun = await call('POST', '/v1/files/upload', {
      association: { association_id: dataset.dataset_id, association_type: 'dataset' },
      resource_manifest: { 'x.bin': 2, 'y.bin': 1 },
    });
    const { transaction_id: txn, upload_mappings: mappings } = (
      begun.json as { data: { transaction_id: string; upload_mappings: Record<string, string> } }
    ).data;
    expect((await call('PUT', mappings['x.bin']!, Buffer.from('xx'))).status).toBe(200);
    expect((await call('PUT', mappings['y.bin']!, Buffer.from('y'))).status).toBe(200);
    transactions.failNextMark = true;
    expect((await call('PUT', `/v1/files/upload/${txn}/complete`)).status).toBe(500);
    // Cut off while completing: not completed, and a retried complete stores it again as the same write.
    expect((await transactions.get(txn))?.status).toBe('completing');
    expect((await call('PUT', `/v1/files/upload/${txn}/complete`)).status).toBe(200);
    const files = await store.listFiles(dataset.dataset_id);
    expect(files.map((file) => [file.record.relative_path, file.record.version])).toEqual([
      ['x.bin', 1],
      ['y.bin', 1],
    ]);
    const events = (await store.claimOutboxEvents(100, 60_000)).events.filter(
      (entry) => entry.event.dataset_id === dataset.dataset_id,
    );
    // Each write announced the same event (its id is the transaction): the queue hands it on once.
    expect(events.length).toBeGreaterThanOrEqual(1);
    for (const { event } of events) {
      expect(event).toMatchObject({ event_id: txn, transaction_id: txn, cause: 'file_upload' });
      expect([...event.file_ids].sort()).toEqual(files.map((file) => file.record.file_id).sort());
    }
  });
});

describe('an API upload through serve', () => {
  it('reaches the trigger event consumer as one file_upload event of its transaction, with its lineage', async () => {
    const handled: TriggerEvent[] = [];
    const server = await apiTestServer({
      name: 'api-upload-serve-events',
      orgs: ['upload-serve-events'],
      settings: { triggers: { enabled: true, concurrency: 1 } },
      server: {
        triggerEventHandler: {
          handle: (event) => {
            handled.push(event);
            return Promise.resolve();
          },
        },
      },
    });
    const served = await openDataStore(server.settings);
    const records = new RedisInvocationStore({
      redis: redisOptions(REDIS_URL, 'fail'),
      prefix: recordPrefix(server.settings.redis),
    });
    try {
      const { orgId, token: orgToken } = server.orgs[0]!;
      const invocationId = (
        await records.create(
          newInvocationRequest({ action: { image: 'busybox:up', config: { name: 'up' } }, org_id: orgId }),
        )
      ).record.invocation_id;
      const actionToken = (await server.tenancy().createToken({ orgId, invocationId })).token;

      /** One whole upload of `path` with `token`: its transaction and the file it stored. */
      const upload = async (token: string, datasetPath: string) => {
        const dataset = await served.createDataset({ orgId });
        const begun = await server.request('/v1/files/upload', {
          token,
          body: {
            association: { association_id: dataset.dataset_id, association_type: 'dataset' },
            resource_manifest: { [datasetPath]: 3 },
          },
        });
        const { transaction_id: txn, upload_mappings: mappings } = (
          begun.json as { data: { transaction_id: string; upload_mappings: Record<string, string> } }
        ).data;
        const put = await fetch(mappings[datasetPath]!, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          body: Buffer.from('abc'),
        });
        expect(put.status).toBe(200);
        const complete = await server.request(`/v1/files/upload/${txn}/complete`, { method: 'PUT', token });
        expect(complete.status).toBe(200);
        const [file] = await served.listFiles(dataset.dataset_id);
        return { txn, datasetId: dataset.dataset_id, fileId: file!.record.file_id };
      };
      const byOrg = await upload(orgToken, 'drive/a.bag');
      const byAction = await upload(actionToken, 'outputs/b.bag');
      for (const [made, lineage] of [
        [byOrg, null],
        [byAction, invocationId],
      ] as const) {
        const event = await eventually(
          () => handled.find((each) => each.transaction_id === made.txn),
          30_000,
          'the upload event to be handled',
        );
        expect(event).toMatchObject({
          cause: 'file_upload',
          event_id: made.txn,
          dataset_id: made.datasetId,
          org_id: orgId,
          file_ids: [made.fileId],
          source_invocation_id: lineage,
        });
        expect(handled.filter((each) => each.transaction_id === made.txn)).toHaveLength(1);
      }
    } finally {
      await records.close();
      await served.close();
      await server.close({ force: true });
    }
  });
});
