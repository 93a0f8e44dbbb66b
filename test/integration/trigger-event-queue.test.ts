import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  TriggerEventQueue,
  TriggerEventWorker,
  triggerEventJobId,
} from '../../src/adapters/bullmq/trigger-event-queue.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import type { TriggerEventHandler } from '../../src/ports/trigger-events.js';

// Real Redis, real BullMQ; the consumer's handler is a recording test double (the evaluator is built elsewhere).
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const location = { url, queue: 'q', keyPrefix: `aw-te-test-${process.pid}-${Date.now()}` };
const closers: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  const redis = new Redis(url);
  const keys = await redis.keys(`${location.keyPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function event(overrides: Partial<TriggerEvent> = {}): TriggerEvent {
  return {
    event_id: `tx_${randomUUID()}:1`,
    org_id: 'og_one',
    dataset_id: 'ds_one',
    cause: 'file_upload',
    transaction_id: 'tx_1',
    file_ids: ['fl_a'],
    source_invocation_id: null,
    occurred: new Date().toISOString(),
    ...overrides,
  };
}

/** Records every handled event; resolves `waitFor(n)` once n were handled. */
function recorder(fail: (event: TriggerEvent, calls: number) => boolean = () => false) {
  const handled: TriggerEvent[] = [];
  const calls = new Map<string, number>();
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const handler: TriggerEventHandler = {
    handle: async (e) => {
      const n = (calls.get(e.event_id) ?? 0) + 1;
      calls.set(e.event_id, n);
      if (fail(e, n)) throw new Error('handler failed on purpose');
      handled.push(e);
      for (const w of waiters) if (handled.length >= w.n) w.resolve();
      await Promise.resolve();
    },
  };
  const waitFor = (n: number) =>
    new Promise<void>((resolve) => {
      if (handled.length >= n) resolve();
      else waiters.push({ n, resolve });
    });
  return { handler, handled, calls, waitFor };
}

function open(loc = location) {
  const queue = new TriggerEventQueue(loc, { backoffMs: 50 });
  closers.push(() => queue.close());
  return queue;
}

function consume(handler: TriggerEventHandler, loc = location, onHandled?: () => void) {
  const worker = new TriggerEventWorker(loc, handler, { concurrency: 2, onHandled });
  closers.push(() => worker.close());
  worker.start();
  return worker;
}

describe('TriggerEventQueue and TriggerEventWorker', () => {
  it('an event emitted twice is one job, handled once; the second emit after handling is still a no-op', async () => {
    const loc = { ...location, queue: 'twice' };
    const queue = open(loc);
    const rec = recorder();
    const first = event();
    await queue.emit(first);
    await queue.emit({ ...first });
    consume(rec.handler, loc);
    await rec.waitFor(1);
    await queue.emit({ ...first });
    // A marker event behind it: once it is handled, the re-emit would have been too.
    await queue.emit(event({ event_id: 'marker' }));
    await rec.waitFor(2);
    expect(rec.handled.map((e) => e.event_id)).toEqual([first.event_id, 'marker']);
    expect(rec.calls.get(first.event_id)).toBe(1);
    expect(rec.handled[0]).toEqual(first);
  });

  it('a handler that throws once is retried and the event handled', async () => {
    const loc = { ...location, queue: 'retry' };
    const queue = open(loc);
    const rec = recorder((_e, n) => n === 1);
    const failures: boolean[] = [];
    const worker = new TriggerEventWorker(loc, rec.handler, {
      onFailed: (_e, _err, final) => failures.push(final),
    });
    closers.push(() => worker.close());
    worker.start();
    const e = event();
    await queue.emit(e);
    await rec.waitFor(1);
    expect(rec.calls.get(e.event_id)).toBe(2);
    expect(failures).toEqual([false]);
  });

  it('refuses an event that is not one (validated with the zod schema) and adds nothing', async () => {
    const loc = { ...location, queue: 'invalid' };
    const queue = open(loc);
    await expect(queue.emit({ ...event(), cause: 'nonsense' } as unknown as TriggerEvent)).rejects.toThrow();
    expect((await queue.counts()).waiting).toBe(0);
  });

  it('job ids are digests of the event id (BullMQ refuses ":"), stable and distinct', () => {
    expect(triggerEventJobId('fl_1:3:ingest')).toBe(triggerEventJobId('fl_1:3:ingest'));
    expect(triggerEventJobId('fl_1:3:ingest')).not.toBe(triggerEventJobId('fl_1:4:ingest'));
    expect(triggerEventJobId('fl_1:3:ingest')).not.toContain(':');
  });
});
