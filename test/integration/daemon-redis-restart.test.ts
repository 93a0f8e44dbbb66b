import { setTimeout as sleep } from 'node:timers/promises';
import { type ResultPromise, execa } from 'execa';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { TestQueue, shellAction } from '../support/daemon-harness.js';
import { eventually, removeTempDirs, tempDir } from '../support/harness.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server of this test's own, persisting to an append-only file, so it can be restarted. */
async function startRedis(port: number, dir: string): Promise<{ server: ResultPromise }> {
  const server = execa(
    'redis-server',
    [
      '--port',
      String(port),
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    { reject: false },
  );
  await eventually(
    async () => {
      const ping = await execa('redis-cli', ['-p', String(port), 'ping'], { reject: false });
      return ping.stdout.trim() === 'PONG' ? true : undefined;
    },
    10_000,
    'redis-server to answer',
  );
  // Wrapped: a subprocess is itself a promise (of its exit), which `await` would wait for.
  return { server };
}

describe('redis-server restarted while an invocation runs', () => {
  let queue: TestQueue;
  let redis: ResultPromise | undefined;
  let redisDir = '';

  beforeAll(async () => {
    const port = await freePort();
    redisDir = await tempDir('redis');
    redis = (await startRedis(port, redisDir)).server;
    queue = await TestQueue.create({
      ACTION_WORKER_REDIS_URL: `redis://127.0.0.1:${port}`,
      ACTION_WORKER_LOCK_DURATION: '15s',
    });
  });

  afterAll(async () => {
    try {
      await queue.cleanup();
    } finally {
      redis?.kill('SIGTERM');
      await redis;
      await removeTempDirs();
    }
  });

  it('completes the invocation once Redis is back, and keeps fetching', async () => {
    const daemon = queue.startDaemon();
    await daemon.waitForLog('daemon.started');
    const running = await queue.invoke([await shellAction('through-outage', 'sleep 5; echo survived')]);
    await queue.waitStatus(running, InvocationStatus.Processing);

    const port = new URL(queue.env.ACTION_WORKER_REDIS_URL ?? '').port;
    await execa('redis-cli', ['-p', port, 'shutdown']);
    await redis;
    await sleep(3_000);
    redis = (await startRedis(Number(port), redisDir)).server;

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
    const port = new URL(queue.env.ACTION_WORKER_REDIS_URL ?? '').port;
    await execa('redis-cli', ['-p', port, 'shutdown']);
    await redis;
    await sleep(1_500);
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    const exit = await daemon.exited;
    // Every step of the shutdown that talks to Redis is bounded: the fetch in flight, closing the worker
    // and the connections.
    expect(exit.exitCode, daemon.dump()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(45_000);
    expect(daemon.lines.some((line) => line.msg === 'daemon.stopped')).toBe(true);
    redis = (await startRedis(Number(port), redisDir)).server;
  });
});
