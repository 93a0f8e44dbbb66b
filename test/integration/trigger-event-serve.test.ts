import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ResultPromise, execa } from 'execa';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TriggerEventQueue, triggerEventJobId } from '../../src/adapters/bullmq/trigger-event-queue.js';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import { openActionStore } from '../../src/app/actions.js';
import { startApiServer } from '../../src/app/api-server.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { openTriggerEvaluationStore } from '../../src/app/trigger-evaluator.js';
import { openTriggerStore } from '../../src/app/triggers.js';
import { newAction } from '../../src/domain/action-versions.js';
import { newTrigger } from '../../src/domain/trigger-versions.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import { eventually, tempDir } from '../support/harness.js';
import { projectRoot } from '../support/paths.js';

// serve's consumer of trigger events, in real serve processes on real Redis; the handler is a recording
// test double (test/fixtures/trigger-serve/serve-child.ts), standing in for the evaluator.
const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const child = path.join(projectRoot, 'test', 'fixtures', 'trigger-serve', 'serve-child.ts');
const redis = new Redis(REDIS_URL);
const prefixes: string[] = [];
const children: ResultPromise[] = [];

afterAll(async () => {
  for (const running of children) running.kill('SIGKILL');
  await Promise.allSettled(children);
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

function deployment() {
  const id = `${process.pid}x${randomUUID().slice(0, 8)}`;
  const location = { url: REDIS_URL, queue: `q-${id}`, keyPrefix: `awtest-te-${id}` };
  prefixes.push(location.keyPrefix);
  return location;
}

function event(eventId: string): TriggerEvent {
  return {
    event_id: eventId,
    org_id: 'og_a',
    dataset_id: 'ds_a',
    cause: 'file_upload',
    transaction_id: `tx_${eventId}`,
    file_ids: ['fl_1'],
    source_invocation_id: null,
    occurred: new Date().toISOString(),
  };
}

/** A serve child process; its stdout JSON lines collected. */
async function serveChild(location: ReturnType<typeof deployment>, env: Record<string, string> = {}) {
  const lines: Array<{ msg: string; [key: string]: unknown }> = [];
  const proc = execa('node', ['--import', 'tsx', child], {
    cwd: projectRoot,
    env: {
      ACTION_WORKER_REDIS_URL: location.url,
      ACTION_WORKER_QUEUE: location.queue,
      ACTION_WORKER_KEY_PREFIX: location.keyPrefix,
      ACTION_WORKER_STORE_DIR: await tempDir('te-store'),
      ACTION_WORKER_API_HOST: '127.0.0.1',
      ACTION_WORKER_API_PORT: '0',
      ...env,
    },
    extendEnv: true,
    reject: false,
    stderr: 'inherit',
    forceKillAfterDelay: false,
  });
  children.push(proc);
  let partial = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as { msg: string });
      } catch {
        // not ours
      }
    }
  });
  const waitFor = (msg: string) =>
    eventually(() => Promise.resolve(lines.find((line) => line.msg === msg)), 60_000, `child log ${msg}`);
  await waitFor('listening');
  return { proc, waitFor };
}

async function handled(location: ReturnType<typeof deployment>): Promise<string[]> {
  return await redis.lrange(`${location.keyPrefix}:test-handled`, 0, -1);
}

describe('serve consumes trigger events', () => {
  it('a serve killed while handling an event: the next serve handles it, once', async () => {
    const location = deployment();
    const queue = new TriggerEventQueue(location);
    try {
      const first = await serveChild(location, { TEST_BLOCK: '1' });
      await queue.emit(event('block-crash'));
      await first.waitFor('blocking');
      first.proc.kill('SIGKILL');
      expect((await first.proc).signal).toBe('SIGKILL');
      expect(await handled(location)).toEqual([]);

      const second = await serveChild(location);
      const done = await eventually(async () => {
        const list = await handled(location);
        return list.length > 0 ? list : undefined;
      }, 60_000);
      expect(done).toEqual([`block-crash ${second.proc.pid}`]);
      const job = await queue.queue.getJob(triggerEventJobId('block-crash'));
      expect(await job?.getState()).toBe('completed');
      // Handled once: nothing more came for it once its job completed.
      expect((await handled(location)).filter((line) => line.startsWith('block-crash '))).toHaveLength(1);
      second.proc.kill('SIGTERM');
      await second.proc;
    } finally {
      await queue.close();
    }
  }, 120_000);

  it('two serve processes consuming at once handle each event once', async () => {
    const location = deployment();
    const queue = new TriggerEventQueue(location);
    try {
      const [a, b] = await Promise.all([serveChild(location), serveChild(location)]);
      const ids = Array.from({ length: 40 }, (_, i) => `ev-${i}`);
      // Each emitted twice, by two producers at once.
      await Promise.all([...ids, ...ids].map((id) => queue.emit(event(id))));
      const list = await eventually(async () => {
        const all = await handled(location);
        return all.length >= ids.length ? all : undefined;
      }, 60_000);
      const counts = await queue.counts();
      expect(counts.completed).toBe(ids.length);
      expect(list.map((line) => line.split(' ')[0]).sort()).toEqual([...ids].sort());
      a.proc.kill('SIGTERM');
      b.proc.kill('SIGTERM');
      await Promise.all([a.proc, b.proc]);
    } finally {
      await queue.close();
    }
  }, 120_000);

  it("two serve processes evaluating one dataset's events at once, with the real evaluator: one invocation", async () => {
    const location = deployment();
    const storeDir = await tempDir('te-shared-store');
    const settings = WorkerSettings.parse({ storeDir, redis: location });
    const data = await openDataStore(settings);
    const actions = openActionStore(settings);
    const triggers = openTriggerStore(settings);
    const evaluations = openTriggerEvaluationStore(settings);
    const records = new RedisInvocationStore({ redis: REDIS_URL, prefix: recordPrefix(settings.redis) });
    const queue = new TriggerEventQueue(location);
    try {
      const author = { userId: 'tk_test', now: new Date() };
      await actions.createAction(
        newAction({ name: 'process', uri: 'registry.example/p:1' }, 'og_two', author),
      );
      const trigger = await triggers.createTrigger(
        newTrigger({ name: 'bags', action_name: 'process', required_inputs: ['**/*.bag'] }, 'og_two', author),
      );
      const dataset = await data.createDataset({ orgId: 'og_two' });
      const source = path.join(storeDir, 'source.bag');
      await writeFile(source, 'bag');
      const [bag] = await data.putFiles(dataset.dataset_id, [{ relativePath: 'a.bag', sourcePath: source }], {
        writeKey: { invocationId: 'upl_two', attempt: 1 },
        origination: 'test',
        signal: new AbortController().signal,
      });
      const real = { TEST_REAL_EVALUATOR: '1', ACTION_WORKER_STORE_DIR: storeDir };
      const [a, b] = await Promise.all([serveChild(location, real), serveChild(location, real)]);
      // Twenty uploads' events for the one dataset, all at once: each is evaluated by one of the two.
      const ids = Array.from({ length: 20 }, (_, i) => `two-${i}`);
      await Promise.all(
        ids.map((id) =>
          queue.emit({
            ...event(id),
            org_id: 'og_two',
            dataset_id: dataset.dataset_id,
            file_ids: [bag!.file_id],
          }),
        ),
      );
      const evaluated = await eventually(async () => {
        const page = await evaluations.listByTrigger('og_two', trigger.trigger_id, { limit: 100 });
        const done = page.items.filter((each) => each.status === 'evaluated');
        return done.length >= ids.length ? done : undefined;
      }, 60_000);
      expect(evaluated.filter((each) => each.outcome === 'invoked_action')).toHaveLength(1);
      expect(evaluated.filter((each) => each.outcome_reason === 'already_run')).toHaveLength(ids.length - 1);
      const made = (await records.list({ limit: 1_000 })).filter((record) => record.org_id === 'og_two');
      expect(made.map((record) => record.request.idempotency_id)).toEqual([
        `${trigger.trigger_id}:${dataset.dataset_id}`,
      ]);
      a.proc.kill('SIGTERM');
      b.proc.kill('SIGTERM');
      await Promise.all([a.proc, b.proc]);
    } finally {
      await Promise.allSettled([
        queue.close(),
        data.close(),
        actions.close(),
        triggers.close(),
        evaluations.close(),
        records.close(),
      ]);
    }
  }, 120_000);

  it("counts handled events and their lag on /metrics (handler made from serve's backends); triggers.enabled=false runs no consumer", async () => {
    const location = deployment();
    const queue = new TriggerEventQueue(location);
    const seen: string[] = [];
    const settings = (enabled: boolean) =>
      WorkerSettings.parse({
        storeDir: '/nonexistent-unused',
        redis: location,
        api: { host: '127.0.0.1', port: 0 },
        triggers: { enabled, concurrency: 1 },
      });
    const logger = pino({ level: 'silent' });
    const off = await startApiServer(
      { ...settings(false), storeDir: await tempDir('te-off') },
      { logger, triggerEventHandler: { handle: () => Promise.reject(new Error('must not run')) } },
    );
    const on = await startApiServer(
      { ...settings(true), storeDir: await tempDir('te-on') },
      {
        logger,
        // The factory form, as the evaluator is made: from the backends serve opened.
        triggerEventHandler: (backends) => ({
          handle: async (e) => {
            // The handler reads through serve's own stores.
            expect(await backends.triggers.getTrigger(e.org_id, 'none-such')).toBeUndefined();
            seen.push(e.event_id);
          },
        }),
      },
    );
    try {
      await queue.emit(event('metered'));
      await eventually(() => Promise.resolve(seen.length > 0 ? true : undefined), 30_000);
      const text = await eventually(async () => {
        const body = await (await fetch(`${on.url}/metrics`)).text();
        return body.includes('action_worker_trigger_events_processed_total{cause="file_upload"} 1')
          ? body
          : undefined;
      }, 30_000);
      expect(text).toContain('action_worker_trigger_event_lag_seconds_count{cause="file_upload"} 1');
      // Only the enabled server's consumer is registered with the queue.
      expect(await queue.queue.getWorkersCount()).toBe(1);
      const offMetrics = await (await fetch(`${off.url}/metrics`)).text();
      expect(offMetrics).not.toContain('action_worker_trigger_events_processed_total{');
      expect((await fetch(`${on.url}/readyz`)).status).toBe(200);
    } finally {
      await Promise.all([off.stop(), on.stop()]);
      await queue.close();
    }
  }, 60_000);
});
