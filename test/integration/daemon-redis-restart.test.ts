import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { type DaemonProcess, TestQueue, shellAction } from '../support/daemon-harness.js';
import { eventually, removeTempDirs } from '../support/harness.js';
import { PrivateRedis } from '../support/private-redis.js';

/** What the daemon logs when a Redis command or connection fails. */
const REDIS_TROUBLE = new Set([
  'queue.worker_error',
  'queue.fetch_failed',
  'record.heartbeat_failed',
  'record.write_failed',
  'lease.renew_failed',
]);

/**
 * Stops Redis, and returns once the daemon has met the outage: one of `events` (by default, any failed
 * Redis command or connection) logged after the stop.
 */
async function stopRedisUnder(
  daemon: DaemonProcess,
  redis: PrivateRedis | undefined,
  events: ReadonlySet<string> = REDIS_TROUBLE,
): Promise<void> {
  const before = daemon.lines.length;
  await redis?.stop();
  await eventually(
    () => Promise.resolve(daemon.lines.slice(before).find((line) => events.has(line.msg))),
    20_000,
    `the daemon to log one of ${[...events].join(', ')}`,
  );
}

describe('redis-server restarted while an invocation runs', () => {
  let queue: TestQueue;
  let redis: PrivateRedis | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.create();
    queue = await TestQueue.create({
      ACTION_WORKER_REDIS_URL: redis.url,
      ACTION_WORKER_LOCK_DURATION: '15s',
    });
  });

  afterAll(async () => {
    try {
      await queue.cleanup();
    } finally {
      await redis?.stop();
      await removeTempDirs();
    }
  });

  it('completes the invocation once Redis is back, and keeps fetching', async () => {
    const daemon = queue.startDaemon();
    await daemon.waitForLog('daemon.started');
    const running = await queue.invoke([await shellAction('through-outage', 'sleep 5; echo survived')]);
    await queue.waitStatus(running, InvocationStatus.Processing);

    // Not just any trouble (the queue's connection reports the outage at once): the running attempt's own
    // lease renewal has failed, so the invocation really is carried through the outage.
    await stopRedisUnder(daemon, redis, new Set(['lease.renew_failed']));
    await redis?.start();

    const record = await queue.waitFinished(running, 60_000);
    expect(record.status.map((entry) => statusName(entry.status))).toEqual([
      'Queued',
      'Scheduled',
      'Downloading',
      'Processing',
      'Uploading',
      'Completed',
    ]);
    expect(record.attempt).toBe(1);
    expect(await queue.store().getLog(running)).toContain('survived');

    // The worker still takes new work after the reconnect.
    const after = await queue.invoke([await shellAction('after-outage', 'echo fine')]);
    expect((await queue.waitFinished(after, 60_000)).last_status).toBe(InvocationStatus.Completed);
    expect(daemon.lines.some((line) => line.msg === 'lease.lost')).toBe(false);
  });

  it('stops within bounds on SIGTERM while Redis is away', async () => {
    const daemon = queue.startDaemon();
    await daemon.waitForLog('daemon.started');
    await stopRedisUnder(daemon, redis);
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    // Every step of the shutdown that talks to Redis is bounded: the fetch in flight, closing the worker
    // and the connections.
    expect(exit.exitCode, daemon.dump()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(45_000);
    expect(daemon.lines.some((line) => line.msg === 'daemon.stopped')).toBe(true);
    await redis?.start();
  });
});
