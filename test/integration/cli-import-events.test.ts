import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerEventQueue } from '../../src/adapters/bullmq/trigger-event-queue.js';
import { TriggerEvent } from '../../src/domain/trigger-event.js';
import { runCli, tempDir } from '../support/harness.js';

// `action-worker datasets import` (the built CLI) against real Redis: no consumer runs, the events wait.
const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const location = {
  url: REDIS_URL,
  queue: `q-imp-${process.pid}`,
  keyPrefix: `aw-imp-${process.pid}-${Date.now()}`,
};
const env = {
  ACTION_WORKER_REDIS_URL: location.url,
  ACTION_WORKER_QUEUE: location.queue,
  ACTION_WORKER_KEY_PREFIX: location.keyPrefix,
};
const queue = new TriggerEventQueue(location);

afterAll(async () => {
  await queue.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${location.keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

async function events(): Promise<TriggerEvent[]> {
  const jobs = await queue.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
  return jobs.map((job) => TriggerEvent.parse(job.data)).sort((a, b) => a.occurred.localeCompare(b.occurred));
}

describe('datasets import announces each import as one event', () => {
  it('10,000 files are one file_upload event; an unchanged re-import none; a changed file one more', async () => {
    const folder = await tempDir('import-events');
    const storeDir = await tempDir('import-events-store');
    for (let dir = 0; dir < 100; dir += 1) {
      await mkdir(path.join(folder, `d${dir}`));
      await Promise.all(
        Array.from({ length: 100 }, (_, n) =>
          writeFile(path.join(folder, `d${dir}`, `${n}.bag`), `${dir}/${n}`),
        ),
      );
    }
    const first = await runCli(['datasets', 'import', folder, '--org-id', 'og_imp'], {
      env: { ...env, ACTION_WORKER_STORE_DIR: storeDir },
    });
    expect(first.exitCode, first.all).toBe(0);
    const datasetId = first.stdout.trim();
    const [event] = await events();
    expect(await events()).toHaveLength(1);
    expect(event).toMatchObject({
      org_id: 'og_imp',
      dataset_id: datasetId,
      cause: 'file_upload',
      source_invocation_id: null,
    });
    expect(event?.transaction_id).toBe(event?.event_id);
    expect(new Set(event?.file_ids).size).toBe(10_000);

    const again = await runCli(['datasets', 'import', folder], {
      env: { ...env, ACTION_WORKER_STORE_DIR: storeDir },
    });
    expect(again.exitCode, again.all).toBe(0);
    expect(await events()).toHaveLength(1);

    await writeFile(path.join(folder, 'd0', '0.bag'), 'changed');
    const changed = await runCli(['datasets', 'import', folder], {
      env: { ...env, ACTION_WORKER_STORE_DIR: storeDir },
    });
    expect(changed.exitCode, changed.all).toBe(0);
    const both = await events();
    expect(both).toHaveLength(2);
    expect(both[1]?.file_ids).toHaveLength(1);
    expect(both[1]?.transaction_id).not.toBe(event?.transaction_id);
  }, 180_000);

  it('with Redis unreachable the import and its event are stored, and the next process over the store hands the event on; --no-trigger-events stores none', async () => {
    const folder = await tempDir('import-no-redis');
    await writeFile(path.join(folder, 'a.bag'), 'a');
    const storeDir = await tempDir('import-no-redis-store');
    const down = {
      ...env,
      ACTION_WORKER_REDIS_URL: 'redis://127.0.0.1:1',
      ACTION_WORKER_STORE_DIR: storeDir,
    };
    const result = await runCli(['datasets', 'import', folder, '--org-id', 'og_down'], { env: down });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stderr).toContain('the import is stored and announced, but not yet evaluated by triggers');
    expect(result.stderr).toContain('it is kept in the store');
    const datasetId = result.stdout.trim();
    expect(datasetId).toMatch(/^ds_/);
    // A changed file imported with --no-trigger-events: no event is stored, none is tried.
    await writeFile(path.join(folder, 'a.bag'), 'changed');
    const skipped = await runCli(['datasets', 'import', folder, '--no-trigger-events'], { env: down });
    expect(skipped.exitCode, skipped.all).toBe(0);
    expect(skipped.stderr).not.toContain('trigger');
    expect((await events()).filter((event) => event.org_id === 'og_down')).toEqual([]);

    // Redis is back: the next process over the same store (here another import) hands on what waited.
    const other = await tempDir('import-no-redis-other');
    await writeFile(path.join(other, 'c.bag'), 'c');
    const back = await runCli(['datasets', 'import', other, '--org-id', 'og_down'], {
      env: { ...env, ACTION_WORKER_STORE_DIR: storeDir },
    });
    expect(back.exitCode, back.all).toBe(0);
    expect(back.stderr).not.toContain('warning');
    const announced = (await events()).filter((event) => event.org_id === 'og_down');
    expect(announced.map((event) => [event.dataset_id, event.file_ids.length])).toEqual([
      [datasetId, 1],
      [back.stdout.trim(), 1],
    ]);
  }, 120_000);
});
