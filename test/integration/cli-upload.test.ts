import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisTenancyStore } from '../../src/adapters/redis/redis-tenancy-store.js';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { type RunningApi, startApiServer } from '../../src/app/api-server.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { runCli } from '../support/harness.js';
import { deleteKeysUnder } from '../support/redis-stores.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

/**
 * `action-worker datasets upload … --endpoint`: the real CLI against a real `serve` on loopback, the token
 * only in its environment; batches of 500 files, one transaction each.
 */

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const keyPrefix = `action-worker-cli-upload-test-${process.pid}-${Date.now()}`;

let api: RunningApi;
let store: DataStore;
let tenancy: RedisTenancyStore;
let orgA: string;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  const settings = WorkerSettings.parse({
    storeDir: path.join(await tempDir('cli-upload'), 'store'),
    redis: { url: REDIS_URL, keyPrefix },
    api: { host: '127.0.0.1', port: 0 },
  });
  api = await startApiServer(settings, { logger: pino({ level: 'silent' }) });
  store = await openDataStore(settings);
  tenancy = new RedisTenancyStore({ redis: REDIS_URL, prefix: recordPrefix(settings.redis) });
  orgA = (await tenancy.createOrg({ name: 'cli-upload-a' })).org_id;
  const orgB = (await tenancy.createOrg({ name: 'cli-upload-b' })).org_id;
  tokenA = (await tenancy.createToken({ orgId: orgA, name: 'cli' })).token;
  tokenB = (await tenancy.createToken({ orgId: orgB, name: 'cli' })).token;
});

afterAll(async () => {
  await store.close();
  await tenancy.close();
  await api.stop({ force: true });
  await deleteKeysUnder(REDIS_URL, keyPrefix);
  await removeTempDirs();
});

const upload = (args: string[], token = tokenA) =>
  runCli(['datasets', 'upload', ...args, '--endpoint', api.url], {
    env: { ACTION_WORKER_API_TOKEN: token, ROBOTO_API_KEY: '', ACTION_WORKER_API_ENDPOINT: '' },
  });

describe('action-worker datasets upload --endpoint', () => {
  it('uploads a folder in transactions of 500 files, leaving out excluded ones, and prints what it sent', async () => {
    const folder = await tempDir('cli-upload-src');
    await mkdir(path.join(folder, 'many'), { recursive: true });
    await mkdir(path.join(folder, 'logs'), { recursive: true });
    for (let index = 0; index < 501; index += 1) {
      await writeFile(path.join(folder, 'many', `f${String(index).padStart(3, '0')}.txt`), `file ${index}`);
    }
    await writeFile(path.join(folder, 'drive a.bag'), 'rosbag');
    await writeFile(path.join(folder, 'logs', 'skip.log'), 'noise');
    const dataset = await store.createDataset({ orgId: orgA, name: 'cli upload' });

    const result = await upload([dataset.dataset_id, folder, '--exclude', '*.log', '--org', orgA]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).not.toContain(tokenA);
    const printed = result.stdout.trim().split('\n');
    expect(printed).toHaveLength(502);
    expect(printed).toContain('drive a.bag');
    expect(printed).not.toContain('logs/skip.log');
    expect(result.stderr.match(/in transaction ut_/g)).toHaveLength(2);

    const files = await store.listFiles(dataset.dataset_id);
    expect(files.map((file) => file.record.relative_path).sort()).toEqual([...printed].sort());
    expect(new Set(files.map((file) => file.record.upload_id)).size).toBe(2);
    const bag = files.find((file) => file.record.relative_path === 'drive a.bag');
    expect(bag?.record.size).toBe(6);
  });

  it('uploads a single file under its name', async () => {
    const folder = await tempDir('cli-upload-one');
    await writeFile(path.join(folder, 'one.yaml'), 'k: v\n');
    const dataset = await store.createDataset({ orgId: orgA });
    const result = await upload([dataset.dataset_id, path.join(folder, 'one.yaml')]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.trim()).toBe('one.yaml');
    expect((await store.listFiles(dataset.dataset_id)).map((file) => file.record.relative_path)).toEqual([
      'one.yaml',
    ]);
  });

  it("fails clearly for another org's dataset, and without --endpoint", async () => {
    const folder = await tempDir('cli-upload-other');
    await writeFile(path.join(folder, 'x.txt'), 'x');
    const dataset = await store.createDataset({ orgId: orgA });
    const other = await upload([dataset.dataset_id, folder], tokenB);
    expect(other.exitCode).not.toBe(0);
    expect(other.stderr).toContain('RobotoDatasetNotFoundException');
    expect(other.all).not.toContain(tokenB);
    expect(await store.listFiles(dataset.dataset_id)).toEqual([]);
    const without = await runCli(['datasets', 'upload', dataset.dataset_id, folder], {
      env: { ACTION_WORKER_API_TOKEN: tokenA, ACTION_WORKER_API_ENDPOINT: '' },
    });
    expect(without.exitCode).not.toBe(0);
    expect(without.stderr).toContain('needs --endpoint');
  });
});
