import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { Labels } from '../../src/domain/container-labels.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { shellAction, useTestQueue } from '../support/daemon-harness.js';
import { docker, eventually } from '../support/harness.js';

/** Attempt 1 lost while Processing, recorded by attempt 2, which completes. */
const RETRIED_AFTER_A_LOST_ATTEMPT = [
  'Queued',
  'Scheduled',
  'Downloading',
  'Processing',
  'Failed',
  'Queued',
  'Scheduled',
  'Downloading',
  'Processing',
  'Uploading',
  'Completed',
];

describe('a daemon killed with SIGKILL while its container runs', () => {
  const queue = useTestQueue();

  it('is cleaned up after by the next daemon, and the invocation is retried to Completed', async () => {
    const first = queue().startDaemon();
    await first.waitForLog('daemon.started');
    const invocationId = await queue().invoke([
      await shellAction('slow', 'echo working; sleep 4; echo done'),
    ]);
    await queue().waitStatus(invocationId, InvocationStatus.Processing);
    const byLabel = { all: true, filters: { label: [`${Labels.invocationId}=${invocationId}`] } };
    const [orphan] = await eventually(async () => {
      const found = await docker.listContainers({
        ...byLabel,
        filters: { ...byLabel.filters, status: ['running'] },
      });
      return found.length > 0 ? found : undefined;
    });

    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The container outlives its worker.
    expect((await docker.getContainer(orphan?.Id ?? '').inspect()).State.Running).toBe(true);

    const second = queue().startDaemon();
    const removed = await second.waitForLog('reconcile.removed_leftovers');
    expect(JSON.stringify(removed.containers)).toContain(orphan?.Id ?? 'missing');

    const record = await queue().waitFinished(invocationId, 60_000);
    const names = record.status.map((entry) => statusName(entry.status));
    expect(names).toEqual(RETRIED_AFTER_A_LOST_ATTEMPT);
    expect(record.status[4]?.detail).toBe('attempt 1 was lost: its worker stopped holding the invocation');
    expect(record.attempt).toBe(2);
    // Read at once after Completed: the log is stored before the final status (it once came after, and
    // this read sometimes found it empty).
    expect(await queue().store().getLog(invocationId), second.dump()).toContain('done');
    // Nothing of either attempt is left, and nothing stays Processing.
    expect(await docker.listContainers(byLabel)).toEqual([]);
    expect(await queue().store().list({ status: InvocationStatus.Processing, limit: 10 })).toEqual([]);
    second.kill('SIGTERM');
    expect((await second.exited).exitCode).toBe(0);
  });

  it('stops an attempt whose lease is lost, which then writes nothing; the next attempt completes it', async () => {
    const daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
    const invocationId = await queue().invoke([
      await shellAction('fenced', 'sleep 4; echo attempt-output > "$ROBOTO_OUTPUT_DIR/out.txt"'),
    ]);
    const processing = await queue().waitStatus(invocationId, InvocationStatus.Processing);
    const firstAttemptLabel = {
      all: true,
      filters: { label: [`${Labels.invocationId}=${invocationId}`, `${Labels.attempt}=1`] },
    };
    await eventually(async () =>
      (await docker.listContainers(firstAttemptLabel)).length > 0 ? true : undefined,
    );

    // Someone else takes the lock (as after a partition); it expires in 2.5 s, and the job is redelivered.
    const { keyPrefix, queue: queueName, url } = queue().location();
    const redis = new Redis(url);
    await redis.set(`${keyPrefix}:${queueName}:${invocationId}:lock`, 'another-worker', 'PX', 2_500);
    await redis.quit();

    await daemon.waitForLog('lease.lost', (line) => line.invocationId === invocationId, 10_000);
    await eventually(
      async () => ((await docker.listContainers(firstAttemptLabel)).length === 0 ? true : undefined),
      15_000,
      'the fenced container to go',
    );
    await daemon.waitForLog('invocation.fenced', (line) => line.invocationId === invocationId);

    const record = await queue().waitFinished(invocationId, 60_000);
    // Attempt 1 wrote nothing after losing its lease: the Failed is attempt 2's account of the loss.
    expect(record.status.map((entry) => statusName(entry.status))).toEqual(RETRIED_AFTER_A_LOST_ATTEMPT);
    expect(record.status.slice(0, 4)).toEqual(processing.status);
    expect(record.status[4]?.detail).toBe('attempt 1 was lost: its worker stopped holding the invocation');
    expect(record.attempt).toBe(2);
    daemon.kill('SIGTERM');
    await daemon.exited;
  });
});
