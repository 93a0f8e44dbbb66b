import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerEventQueue } from '../../src/adapters/bullmq/trigger-event-queue.js';
import { startApiServer } from '../../src/app/api-server.js';
import { ChangeRelay } from '../../src/app/change-relay.js';
import { databaseLocation, openDataStore, openSqlDataStore } from '../../src/app/local-adapters.js';
import { StoreOutputTarget } from '../../src/stages/store-output-target.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import { TriggerEvent } from '../../src/domain/trigger-event.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { projectRoot } from '../support/paths.js';
import { eventually } from '../support/poll.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

/**
 * The change outbox's relay (issue 13: "a crash between the change and the evaluation never loses it"):
 * real SQLite stores, the real event queue on Redis, real processes.
 */
const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const keyPrefix = `aw-relay-${process.pid}-${Date.now()}`;
const silent = pino({ level: 'silent' });
const closing: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const close of closing.reverse()) await close().catch(() => undefined);
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await removeTempDirs();
});

async function settingsFor(name: string) {
  const storeDir = await tempDir(`relay-${name}`);
  return WorkerSettings.parse({
    storeDir,
    redis: { url: REDIS_URL, keyPrefix, queue: `q-relay-${name}` },
    api: { host: '127.0.0.1', port: 0 },
    triggers: { enabled: true, concurrency: 1 },
  });
}

async function openStore(settings: WorkerSettings): Promise<DataStore> {
  const store = await openDataStore(settings);
  closing.push(() => store.close());
  return store;
}

function queueAt(settings: WorkerSettings, url = settings.redis.url) {
  const queue = new TriggerEventQueue({ ...settings.redis, url }, { patience: 'fail' });
  closing.push(() => queue.close());
  return queue;
}

async function queuedEvents(queue: TriggerEventQueue): Promise<TriggerEvent[]> {
  const jobs = await queue.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
  return jobs.map((job) => TriggerEvent.parse(job.data));
}

async function changes(store: DataStore, count: number, orgId = 'og_r'): Promise<string> {
  const dataset = await store.createDataset({ orgId });
  for (let i = 0; i < count; i += 1) {
    await store.updateDataset(
      dataset.dataset_id,
      MetadataChangeset.parse({ put_fields: { i } }),
      {},
      { eventId: `${dataset.dataset_id}-e${i}` },
    );
  }
  return dataset.dataset_id;
}

describe('the change relay', { timeout: 120_000 }, () => {
  it('hands on the event of a change whose process was killed the moment it committed: serve evaluates it', async () => {
    const settings = await settingsFor('crash');
    const child = await execa(
      'node',
      ['--import', 'tsx', path.join(projectRoot, 'test', 'fixtures', 'change-outbox', 'change-and-die.ts')],
      {
        cwd: projectRoot,
        env: { ACTION_WORKER_STORE_DIR: settings.storeDir, ACTION_WORKER_REDIS_URL: 'redis://127.0.0.1:1' },
        reject: false,
      },
    );
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const datasetId = child.stdout.trim();
    expect(datasetId).toMatch(/^ds_/);

    // A serve started later over the same store: its relay finds the event, its consumer handles it, once.
    const handled: TriggerEvent[] = [];
    const api = await startApiServer(settings, {
      logger: silent,
      triggerEventHandler: {
        handle: (event) => {
          handled.push(event);
          return Promise.resolve();
        },
      },
    });
    closing.push(() => api.stop({ force: true }));
    await eventually(() => (handled.length > 0 ? handled : undefined), 30_000, 'the event handled');
    expect(handled.map((event) => [event.event_id, event.cause, event.dataset_id])).toEqual([
      [`crash-${datasetId}`, 'dataset_metadata_update', datasetId],
    ]);
    const store = await openStore(settings);
    expect(await store.claimOutboxEvents(10, 0)).toEqual({ events: [], setAside: [] });
    expect((await store.getDataset(datasetId))?.tags).toEqual(['arrived']);
  });

  it('gives the events back when the queue fails, and another relay hands them on once it answers', async () => {
    const settings = await settingsFor('down');
    const store = await openStore(settings);
    const datasetId = await changes(store, 3);
    const down = new ChangeRelay(store, queueAt(settings, 'redis://127.0.0.1:1'), silent);
    expect(await down.drain()).toBe(0);
    expect(down.lastFailure).toBeDefined();

    const queue = queueAt(settings);
    const up = new ChangeRelay(store, queue, silent);
    expect(await up.drain()).toBe(3);
    expect(up.lastFailure).toBeUndefined();
    expect((await queuedEvents(queue)).map((event) => event.event_id).sort()).toEqual([
      `${datasetId}-e0`,
      `${datasetId}-e1`,
      `${datasetId}-e2`,
    ]);
    expect(await store.claimOutboxEvents(10, 0)).toEqual({ events: [], setAside: [] });
  });

  it('two relays over one store, each on its own connection, hand each event on once', async () => {
    const settings = await settingsFor('two');
    const store = await openStore(settings);
    const datasetId = await changes(store, 40);
    const queue = queueAt(settings);
    const first = new ChangeRelay(store, queue, silent, { batch: 5 });
    const second = new ChangeRelay(await openStore(settings), queue, silent, { batch: 5 });
    const [a, b] = await Promise.all([first.drain(), second.drain()]);
    expect(a + b).toBe(40);
    const ids = (await queuedEvents(queue)).map((event) => event.event_id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `${datasetId}-e${i}`)));
  });

  it("hands on only the events asked for (an import's own); the others stay for their own relay", async () => {
    const settings = await settingsFor('only');
    const store = await openStore(settings);
    const others = await changes(store, 3);
    const mine = await changes(store, 1);
    const queue = queueAt(settings);
    const relay = new ChangeRelay(store, queue, silent);
    expect(await relay.handOn([`${mine}-e0`])).toBe(1);
    expect((await queuedEvents(queue)).map((event) => event.event_id)).toEqual([`${mine}-e0`]);
    const left = await store.claimOutboxEvents(10, 0);
    expect(left.events.map((entry) => entry.event.event_id)).toEqual([
      `${others}-e0`,
      `${others}-e1`,
      `${others}-e2`,
    ]);
  });

  it('closes within its bound while a drain waits for a queue that never answers; the events stay', async () => {
    const settings = await settingsFor('stuck');
    const store = await openStore(settings);
    await changes(store, 2);
    const never = { emit: () => new Promise<void>(() => undefined) };
    const relay = new ChangeRelay(store, never, silent, { leaseMs: 0 });
    const draining = relay.drain();
    await relay.close(200);
    void draining;
    // Nothing was settled: with its lease run out, every event is there for the next relay.
    expect((await store.claimOutboxEvents(10, 0)).events).toHaveLength(2);
  });

  it("an attempt's outputs are announced after its changesets, and still once the hold runs out if it dies first", async () => {
    const settings = await settingsFor('outputs');
    const queue = queueAt(settings);
    const dataset = async (store: DataStore) => (await store.createDataset({ orgId: 'og_r' })).dataset_id;
    const output = path.join(settings.storeDir, 'out.bag');
    await writeFile(output, 'out');
    const signal = new AbortController().signal;
    const files = [{ relativePath: 'out.bag', hostPath: output, sizeBytes: 3 }];
    const notified: string[] = [];
    const changes = { changed: () => notified.push('changed') };

    // An attempt that finishes: nothing to hand on until its changesets are applied (uploadCommitted).
    const store = await openStore(settings);
    const finishing = new StoreOutputTarget(store, { invocationId: 'iv_ok', attempt: 1 }, 'test', changes);
    const stored = await finishing.upload(await dataset(store), files, { signal });
    expect((await store.claimOutboxEvents(10, 0)).events).toEqual([]);
    await finishing.uploadCommitted(stored[0]!.association_id, stored);
    expect(notified).toEqual(['changed']);
    const relay = new ChangeRelay(store, queue, silent);
    expect(await relay.drain()).toBe(1);

    // An attempt that dies after storing its outputs (a store whose hold runs out at once).
    const forgetful = await openSqlDataStore(databaseLocation(settings), settings.storeDir, {
      announcementHoldMs: 0,
    });
    closing.push(() => forgetful.close());
    const dying = new StoreOutputTarget(forgetful, { invocationId: 'iv_dead', attempt: 2 }, 'test', changes);
    await dying.upload(await dataset(forgetful), files, { signal });
    expect(await new ChangeRelay(forgetful, queue, silent).drain()).toBe(1);
    const queued = await queuedEvents(queue);
    expect(
      queued.map((event) => [event.event_id, event.source_invocation_id, event.file_ids.length]).sort(),
    ).toEqual([
      ['iv_dead:2', 'iv_dead', 1],
      ['iv_ok:1', 'iv_ok', 1],
    ]);
  });

  it('a daemon-style notifier: changed() hands on at once, without waiting for the poll', async () => {
    const settings = await settingsFor('poke');
    const store = await openStore(settings);
    const queue = queueAt(settings);
    // A poll far away: only changed() can hand the event on within the test.
    const relay = new ChangeRelay(store, queue, silent, { pollMs: 3_600_000 });
    relay.start();
    closing.push(() => relay.close());
    await relay.drain();
    const dataset = await store.createDataset({ orgId: 'og_r' });
    const source = path.join(settings.storeDir, 'source.bag');
    await writeFile(source, 'bag');
    await store.putFiles(dataset.dataset_id, [{ relativePath: 'a.bag', sourcePath: source }], {
      writeKey: { invocationId: 'upl_1', attempt: 1 },
      origination: 'test',
      signal: new AbortController().signal,
      announce: { eventId: 'upl_1' },
    });
    relay.changed();
    const queued = await eventually(
      async () => {
        const events = await queuedEvents(queue);
        return events.length > 0 ? events : undefined;
      },
      30_000,
      'the event queued',
    );
    expect(queued.map((event) => [event.event_id, event.cause])).toEqual([['upl_1', 'file_upload']]);
  });
});
