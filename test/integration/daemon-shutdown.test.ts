import { describe, expect, it } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { shellAction, useTestQueue } from '../support/daemon-harness.js';
import {} from '../support/harness.js';

describe('SIGTERM while an invocation runs', () => {
  const queue = useTestQueue();

  it('lets it finish within the drain window, taking nothing new meanwhile', async () => {
    const daemon = queue().startDaemon({ ACTION_WORKER_DRAIN_WINDOW: '60s' });
    await daemon.waitForLog('daemon.started');
    const running = await queue().invoke([await shellAction('drained', 'sleep 3; echo finished')]);
    await queue().waitStatus(running, InvocationStatus.Processing);
    daemon.kill('SIGTERM');
    await daemon.waitForLog('daemon.draining');
    const queued = await queue().invoke([await shellAction('not-taken', 'true')]);
    expect((await daemon.exited).exitCode).toBe(0);
    expect((await queue().store().get(running))?.last_status).toBe(InvocationStatus.Completed);
    const untouched = await queue().store().get(queued);
    expect(untouched?.last_status).toBe(InvocationStatus.Queued);
    const job = await queue().queue().queue.getJob(queued);
    expect(await job?.getState()).toBe('waiting');
  });

  it('hands it back unspent when the drain window runs out, and another worker completes it', async () => {
    const daemon = queue().startDaemon({ ACTION_WORKER_DRAIN_WINDOW: '1s' });
    await daemon.waitForLog('daemon.started');
    const invocationId = await queue().invoke([await shellAction('handed-back', 'sleep 6; echo finished')]);
    await queue().waitStatus(invocationId, InvocationStatus.Processing);
    const signalledAt = Date.now();
    daemon.kill('SIGTERM');
    expect((await daemon.exited).exitCode).toBe(0);
    // Drain window (1 s) plus the stop ladder's grace (2 s) plus hand-back, well short of the action's 6 s.
    expect(Date.now() - signalledAt).toBeLessThan(6_000);
    const handedBack = await queue().store().get(invocationId);
    expect(handedBack?.last_status).toBe(InvocationStatus.Queued);
    expect(handedBack?.handbacks).toBe(1);

    const second = queue().startDaemon();
    const record = await queue().waitFinished(invocationId, 60_000);
    second.kill('SIGTERM');
    expect((await second.exited).exitCode).toBe(0);
    const names = record.status.map((entry) => statusName(entry.status));
    expect(names.slice(0, 6)).toEqual([
      'Queued',
      'Scheduled',
      'Downloading',
      'Processing',
      'Failed',
      'Queued',
    ]);
    expect(record.status[4]?.detail).toMatch(/worker is shutting down/);
    expect(record.status[5]?.detail).toBe('handed back: the worker is shutting down');
    expect(record.last_status).toBe(InvocationStatus.Completed);
    // Attempt 2 ran, but only one attempt was spent.
    expect(record.attempt - record.handbacks).toBe(1);
  });

  it('forces on a second signal: the container is killed at once and handed back', async () => {
    const daemon = queue().startDaemon({
      ACTION_WORKER_DRAIN_WINDOW: '60s',
      ACTION_WORKER_STOP_GRACE: '60s',
    });
    await daemon.waitForLog('daemon.started');
    const invocationId = await queue().invoke([await shellAction('forced', "trap '' TERM; sleep 120")]);
    await queue().waitStatus(invocationId, InvocationStatus.Processing);
    daemon.kill('SIGTERM');
    await daemon.waitForLog('daemon.draining');
    const forcedAt = Date.now();
    daemon.kill('SIGTERM');
    expect((await daemon.exited).exitCode, daemon.dump()).toBe(0);
    expect(Date.now() - forcedAt).toBeLessThan(15_000);
    const record = await queue().store().get(invocationId);
    expect(record?.last_status).toBe(InvocationStatus.Queued);
    expect(record?.handbacks).toBe(1);
    await queue().cli(['invocations', 'cancel', invocationId]);
  });
});
