import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { useTestQueue } from '../support/daemon-harness.js';
import { eventually } from '../support/harness.js';

describe('a job whose data the worker cannot read', () => {
  const queue = useTestQueue();

  it('is moved to failed once, with the reason, and never fetched again', async () => {
    const { url, keyPrefix, queue: queueName } = queue().location();
    const raw = queue().queue();
    const redis = new Redis(url);
    try {
      const cases = [
        ['iv_unreadable01', 'not json{', /rejected: its data is not JSON/],
        ['iv_unreadable02', '42', /rejected: the job must carry \{"invocation_id"/],
        // Readable data, but the record it names is not.
        [
          'iv_unreadable03',
          JSON.stringify({ invocation_id: 'iv_unreadable03' }),
          /rejected: invocation iv_unreadable03 has a malformed record: its request \(not JSON\)/,
        ],
      ] as const;
      await redis.hset(`${recordPrefix(queue().location())}inv:iv_unreadable03`, {
        request: '{"action": not json',
        last_status: '0',
      });
      for (const [jobId, data] of cases) {
        // Parked as delayed so no worker takes it before its data is spoilt, then promoted.
        const job = await raw.queue.add('invocation', { invocation_id: jobId }, { jobId, delay: 3_600_000 });
        await redis.hset(`${keyPrefix}:${queueName}:${jobId}`, 'data', data);
        await job.promote();
      }

      const daemon = queue().startDaemon();
      for (const [jobId, , reason] of cases) {
        await eventually(
          async () =>
            (await redis.zscore(`${keyPrefix}:${queueName}:failed`, jobId)) === null ? undefined : true,
          60_000,
          `${jobId} in the failed set\n${daemon.dump()}`,
        );
        const [failedReason, attemptsMade, attemptsStarted] = await redis.hmget(
          `${keyPrefix}:${queueName}:${jobId}`,
          'failedReason',
          'atm',
          'ats',
        );
        expect(failedReason).toMatch(reason);
        expect(Number(attemptsMade)).toBe(1);
        expect(Number(attemptsStarted)).toBe(1);
      }
      const rejected = daemon.lines.filter((line) => line.msg === 'queue.job_rejected');
      expect(rejected.map((line) => line.jobId).sort()).toEqual([
        'iv_unreadable01',
        'iv_unreadable02',
        'iv_unreadable03',
      ]);
      // The data itself is not echoed into the logs.
      expect(daemon.dump()).not.toContain('not json{');
      expect(await raw.queue.getJobCounts('wait', 'active', 'delayed')).toEqual({
        wait: 0,
        active: 0,
        delayed: 0,
      });
    } finally {
      await redis.quit();
    }
  });
});
