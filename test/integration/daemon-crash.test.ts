import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Labels } from '../../src/domain/container-labels.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { TestQueue, shellAction } from '../support/daemon-harness.js';
import { docker, eventually, removeTempDirs } from '../support/harness.js';

describe('a daemon killed with SIGKILL while its container runs', () => {
  let queue: TestQueue;

  beforeAll(async () => {
    queue = await TestQueue.create();
  });

  afterAll(async () => {
    await queue.cleanup();
    await removeTempDirs();
  });

  it('is cleaned up after by the next daemon, and the invocation is retried to Completed', async () => {
    const first = queue.startDaemon();
    await first.waitForLog('daemon.started');
    const invocationId = await queue.invoke([await shellAction('slow', 'echo working; sleep 4; echo done')]);
    await queue.waitStatus(invocationId, InvocationStatus.Processing);
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

    const second = queue.startDaemon();
    const removed = await second.waitForLog('reconcile.removed_leftovers');
    expect(JSON.stringify(removed.containers)).toContain(orphan?.Id ?? 'missing');

    const record = await queue.waitFinished(invocationId, 60_000);
    const names = record.status.map((entry) => statusName(entry.status));
    expect(names).toEqual([
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
    ]);
    expect(record.status[4]?.detail).toBe('attempt 1 was lost: its worker stopped holding the invocation');
    expect(record.attempt).toBe(2);
    expect(await queue.store().getLog(invocationId)).toContain('done');
    // Nothing of either attempt is left, and nothing stays Processing.
    expect(await docker.listContainers(byLabel)).toEqual([]);
    expect(await queue.store().list({ status: InvocationStatus.Processing, limit: 10 })).toEqual([]);
  });
});
