import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import type { RunningApi } from '../../src/app/api-server.js';
import { importFolder } from '../../src/app/dataset-transfer.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { newInvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus, isTerminal } from '../../src/domain/invocation-status.js';
import type { DataStore } from '../../src/ports/data-store.js';
import type { ApiTestServer } from '../support/api-test-server.js';
import { type DaemonProcess, useTestQueue } from '../support/daemon-harness.js';
import { runInProcess } from '../support/harness.js';
import { fixturesDir } from '../support/paths.js';
import { PYTHON_IMAGE, PYTHON_IMAGE_BUILD_TIMEOUT_MS, ensurePythonImage } from '../support/python-image.js';
import { apiTestServerOn } from '../support/serve-with-daemon.js';
import { tempDir } from '../support/temp-dirs.js';

const SCRIPT = path.join(fixturesDir, 'api-calling-action', 'call_api.py');

interface Dropped {
  key: string;
  endpoint: string;
}

/** A loopback listener the action POSTs its key to, so the test can try the key once the invocation ended. */
async function startKeyDrop(): Promise<{ url: string; keys: Dropped[]; close: () => Promise<void> }> {
  const keys: Dropped[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      keys.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Dropped);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/key`,
    keys,
    close: () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}

/** The action: the script run by the image's python3, with the test's listener in its environment. */
async function apiCallingAction(keyDrop: string): Promise<string> {
  const dir = await tempDir('api-action');
  await writeFile(
    path.join(dir, 'action.json'),
    JSON.stringify({
      name: 'api-caller',
      image_uri: PYTHON_IMAGE,
      parameters: [{ name: 'other_dataset' }, { name: 'file_path' }],
      container_parameters: {
        entry_point: ['python3', '-c'],
        command: [await readFile(SCRIPT, 'utf8')],
        env_vars: { KEY_DROP: keyDrop },
      },
    }),
  );
  return dir;
}

interface CallResult {
  status: number;
  answer: { data?: Record<string, unknown>; error?: { error_code: string } } | null;
}

/** An input file with a space and a sub-directory in its path: the action finds it by that path (D7). */
const NESTED_PATH = 'sub dir/b c.log';

/** The action's input folder: a.log and NESTED_PATH. */
async function inputFolder(prefix: string): Promise<string> {
  const input = await tempDir(prefix);
  await writeFile(path.join(input, 'a.log'), 'one line\n');
  await mkdir(path.join(input, 'sub dir'));
  await writeFile(path.join(input, ...NESTED_PATH.split('/')), 'another line\n');
  return input;
}

/**
 * The SDK's runtime calls succeeded, with what they wrote in the store: the invocation read while running
 * (I1), the dataset tagged and given a field (D4), the nested file found by its path (D7) and tagged (F2),
 * its topics listed (P2, a page).
 */
async function expectSdkCallsTookEffect(
  calls: Record<string, CallResult>,
  store: DataStore,
  datasetId: string,
  invocationId: string,
): Promise<void> {
  expect(calls.invocation).toMatchObject({ status: 200, answer: { data: { invocation_id: invocationId } } });
  const status = calls.invocation!.answer!.data!.last_status as InvocationStatus;
  expect(isTerminal(status), `status ${String(status)}`).toBe(false);
  expect(calls.tag_dataset).toMatchObject({ status: 200, answer: { data: { dataset_id: datasetId } } });
  expect(calls.file_by_path).toMatchObject({
    status: 200,
    answer: { data: { relative_path: NESTED_PATH, association_id: datasetId } },
  });
  const fileId = calls.file_by_path!.answer!.data!.file_id as string;
  expect(calls.tag_file).toMatchObject({ status: 200, answer: { data: { file_id: fileId } } });
  expect(calls.file_topics).toMatchObject({ status: 200, answer: { data: { items: [], next_token: null } } });

  const dataset = await store.getDataset(datasetId);
  expect(dataset?.tags).toContain('tagged-by-action');
  expect(dataset?.metadata).toMatchObject({ seen_by: 'call_api' });
  const file = await store.getFile(fileId);
  expect(file?.record.relative_path).toBe(NESTED_PATH);
  expect(file?.record.tags).toContain('file-tagged-by-action');
}

/** The api-calls.json the action left in a dataset. */
async function apiCallsIn(store: DataStore, datasetId: string): Promise<Record<string, CallResult>> {
  const file = (await store.listFiles(datasetId)).find(
    (entry) => entry.record.relative_path === 'api-calls.json',
  );
  if (file === undefined) throw new Error(`no api-calls.json in ${datasetId}`);
  return JSON.parse(await readFile(await store.contentPath(file), 'utf8')) as Record<string, CallResult>;
}

async function get(url: string, token: string): Promise<number> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Every file below `dir` whose bytes contain `text`. */
async function filesContaining(dir: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if ((await readFile(file)).includes(text)) found.push(file);
  }
  return found;
}

/** Every value under a key prefix in Redis, as text: strings, hashes, lists, sets, sorted sets, streams. */
async function redisValues(redis: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await redis.keys(`${prefix}*`)) {
    const type = await redis.type(key);
    parts.push(key);
    if (type === 'string') parts.push((await redis.get(key)) ?? '');
    else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') parts.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(...(await redis.smembers(key)));
    else if (type === 'zset') parts.push(...(await redis.zrange(key, 0, -1)));
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}

beforeAll(async () => {
  await ensurePythonImage();
}, PYTHON_IMAGE_BUILD_TIMEOUT_MS);

describe("the engine's network gateways (where run's API listens on a bridge)", () => {
  it('are the IPv4 gateway of a network, and undefined for one that does not exist', async () => {
    const runtime = new DockerContainerRuntime();
    // Only read from the engine: nothing here connects to the gateway.
    expect(await runtime.networkGateway('bridge')).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await runtime.networkGateway('action-worker-no-such-network')).toBeUndefined();
    expect(await runtime.networkGateway('../containers/json')).toBeUndefined();
  });
});

describe('an action calling the API under action-worker run (the in-process API)', () => {
  it(
    'makes the SDK’s runtime calls with its own token (invocation, tags, metadata, file by path, topics), is refused another org’s dataset, and the token dies with the run',
    { timeout: 180_000 },
    async () => {
      const drop = await startKeyDrop();
      try {
        const storeDir = await tempDir('run-api-store');
        const store = new LocalDataStore(storeDir);
        const other = await store.createDataset({ orgId: 'og_someone_else', name: 'not yours' });
        const input = await inputFolder('run-api-input');
        const run = await runInProcess(
          {
            actionDir: await apiCallingAction(drop.url),
            image: PYTHON_IMAGE,
            inputDir: input,
            orgId: 'og_runner',
            params: [`other_dataset=${other.dataset_id}`, `file_path=${NESTED_PATH}`],
            keepWorkspace: true,
            outputDir: path.join(await tempDir('run-api-out'), 'o'),
          },
          {
            store,
            settings: {
              storeDir,
              // Host networking: the action reaches the run's API on 127.0.0.1.
              container: { networkMode: 'host' },
              roboto: { localApi: true },
            },
          },
        );
        const { outcome } = run.result;
        expect(outcome.status, run.stderr + outcome.log).toBe(InvocationStatus.Completed);
        const calls = JSON.parse(
          await readFile(path.join(run.result.outputDir!, 'api-calls.json'), 'utf8'),
        ) as Record<string, CallResult>;
        const datasetId = outcome.uploadDatasetId!;
        expect(calls.dataset).toMatchObject({ status: 200, answer: { data: { dataset_id: datasetId } } });
        expect(calls.org).toMatchObject({ status: 200, answer: { data: { org_id: 'og_runner' } } });
        await expectSdkCallsTookEffect(calls, store, datasetId, run.result.invocationId);
        // Another org's dataset answers exactly like a missing one.
        expect(calls.other_org_dataset).toMatchObject({
          status: 404,
          answer: { error: { error_code: 'RobotoDatasetNotFoundException' } },
        });

        const [dropped] = drop.keys;
        const token = dropped!.key;
        expect(token).toMatch(/^awt_/);
        expect(dropped!.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        // Masked wherever the action's output went; absent from the workspace kept on purpose.
        for (const text of [
          outcome.log,
          run.stdout,
          run.stderr,
          await readFile(run.result.logFile, 'utf8'),
        ]) {
          expect(text).not.toContain(token);
        }
        expect(outcome.log).toContain('key=***');
        expect(await filesContaining(outcome.workspaceDir!, token)).toEqual([]);
        // The run is over: its API is gone, and the token with it.
        await expect(get(`${dropped!.endpoint}/v1/datasets/${datasetId}`, token)).rejects.toThrow();
      } finally {
        await drop.close();
      }
    },
  );
});

describe('an action calling the API under the daemon (a serve beside it)', () => {
  // Host networking: the action reaches serve on 127.0.0.1, as the test does.
  const queue = useTestQueue({ ACTION_WORKER_NETWORK: 'host' });
  let api: RunningApi;
  let daemon: DaemonProcess;
  let store: DataStore;
  let redis: Redis;
  let tenancy: ReturnType<ApiTestServer['tenancy']>;
  const closers: (() => Promise<unknown>)[] = [];
  let orgId: string;
  let datasetId: string;
  let otherDatasetId: string;

  beforeAll(async () => {
    const logger = pino({ level: 'silent' });
    const server = await apiTestServerOn(queue(), { name: 'runtime-api', server: { logger } });
    closers.push(() => server.close({ force: true }));
    api = server.api;
    const { settings } = server;
    tenancy = server.tenancy();
    orgId = (await tenancy.createOrg({ name: 'runtime' })).org_id;
    const otherOrgId = (await tenancy.createOrg({ name: 'someone else' })).org_id;
    store = await openDataStore(settings, { logger });
    closers.push(() => store.close());
    const input = await inputFolder('daemon-api-input');
    const signal = new AbortController().signal;
    datasetId = (await importFolder(store, input, { orgId, signal })).dataset.dataset_id;
    otherDatasetId = (await store.createDataset({ orgId: otherOrgId, name: 'not yours' })).dataset_id;
    redis = new Redis(settings.redis.url);
    closers.push(() => redis.quit());
    daemon = queue().startDaemon({ ACTION_WORKER_SERVICE_ENDPOINT: api.url });
    await daemon.waitForLog('daemon.started');
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  });

  it(
    'makes the SDK’s runtime calls with its own token (invocation, tags, metadata, file by path, topics), which is refused once the invocation is over and is stored nowhere',
    { timeout: 180_000 },
    async () => {
      const drop = await startKeyDrop();
      try {
        const invocationId = await queue().invoke([
          await apiCallingAction(drop.url),
          '--dataset',
          datasetId,
          '--org-id',
          orgId,
          '--param',
          `other_dataset=${otherDatasetId}`,
          '--param',
          `file_path=${NESTED_PATH}`,
        ]);
        const record = await queue().waitFinished(invocationId, 120_000);
        const log = await queue().store().getLog(invocationId);
        expect(record.last_status, log + daemon.dump()).toBe(InvocationStatus.Completed);

        const calls = await apiCallsIn(store, datasetId);
        expect(calls.dataset).toMatchObject({ status: 200, answer: { data: { dataset_id: datasetId } } });
        expect(calls.org).toMatchObject({ status: 200, answer: { data: { org_id: orgId } } });
        await expectSdkCallsTookEffect(calls, store, datasetId, invocationId);
        expect(calls.other_org_dataset).toMatchObject({
          status: 404,
          answer: { error: { error_code: 'RobotoDatasetNotFoundException' } },
        });

        const [dropped] = drop.keys;
        const token = dropped!.key;
        expect(token).toMatch(/^awt_/);
        expect(dropped!.endpoint).toBe(api.url);
        // Over: the same token is refused, on every route.
        expect(await get(`${api.url}/v1/datasets/${datasetId}`, token)).toBe(401);
        expect(await get(`${api.url}/v1/orgs/id/${orgId}`, token)).toBe(401);
        // Not in the log (masked), the record, the job, nor anywhere else in Redis, nor the daemon's own log.
        expect(log).toContain('key=***');
        expect(log).not.toContain(token);
        expect(JSON.stringify(record)).not.toContain(token);
        expect(await redisValues(redis, queue().location().keyPrefix)).not.toContain(token);
        expect(daemon.dump()).not.toContain(token);
        expect(await filesContaining(queue().env.ACTION_WORKER_WORKSPACE_DIR!, token)).toEqual([]);
      } finally {
        await drop.close();
      }
    },
  );

  it('serve refuses the token of a finished invocation even when it was never revoked, and one whose invocation is another org’s', async () => {
    const records = queue().store();
    const { record } = await records.create(
      newInvocationRequest({ action: { image: PYTHON_IMAGE, config: { name: 'never-run' } }, org_id: orgId }),
    );
    const invocationId = record.invocation_id;
    const created = await tenancy.createToken({ orgId, invocationId });
    const url = `${api.url}/v1/datasets/${datasetId}`;
    expect(await get(url, created.token)).toBe(200);
    // Cancelled straight in the records, as a writer that does not revoke would: the token stays unrevoked…
    await records.transition(invocationId, InvocationStatus.Cancelled, 'cancelled');
    expect((await tenancy.getToken(created.record.token_id))?.revoked).toBeNull();
    // …and is refused all the same.
    expect(await get(url, created.token)).toBe(401);

    // A token of another org naming this org's running invocation.
    const running = await records.create(
      newInvocationRequest({ action: { image: PYTHON_IMAGE, config: { name: 'never-run' } }, org_id: orgId }),
    );
    const otherOrg = (await tenancy.createOrg({ name: 'forger' })).org_id;
    const forged = await tenancy.createToken({ orgId: otherOrg, invocationId: running.record.invocation_id });
    expect(await get(`${api.url}/v1/orgs/id/${otherOrg}`, forged.token)).toBe(401);
  });

  it("serve refuses an earlier attempt's token once a retry holds the invocation, even unrevoked", async () => {
    const records = queue().store();
    const { record } = await records.create(
      newInvocationRequest({ action: { image: PYTHON_IMAGE, config: { name: 'retried' } }, org_id: orgId }),
    );
    const id = record.invocation_id;
    const url = `${api.url}/v1/datasets/${datasetId}`;
    await records.startAttempt(id, 1);
    const first = await tenancy.createToken({ orgId, invocationId: id, attempt: 1 });
    expect(await get(url, first.token)).toBe(200);
    // Attempt 1 fails with a retry to come, written straight in the records: its token is not revoked…
    await records.transition(id, InvocationStatus.Scheduled, null, { attempt: 1 });
    await records.transition(id, InvocationStatus.Failed, 'boom', { attempt: 1, final: false });
    await records.startAttempt(id, 2);
    await records.transition(id, InvocationStatus.Queued, 'retrying', { attempt: 2 });
    const second = await tenancy.createToken({ orgId, invocationId: id, attempt: 2 });
    expect((await tenancy.getToken(first.record.token_id))?.revoked).toBeNull();
    // …and the record is live again, but only for attempt 2's token.
    expect(await get(url, first.token)).toBe(401);
    expect(await get(`${api.url}/v1/actions/invocations/${id}`, first.token)).toBe(401);
    expect(await get(url, second.token)).toBe(200);
  });
});
