import { describe, expect, it } from 'vitest';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { shellAction, useTestQueue } from '../support/daemon-harness.js';

describe('invoke --timeout through a daemon', () => {
  const queue = useTestQueue();

  it('stops the action at the exact duration given, not at the next whole minute', async () => {
    const daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
    const action = await shellAction('sleeper', 'echo started; sleep 120');
    const invocationId = await queue().invoke([action, '--timeout', '3s']);
    const finished = await queue().waitFinished(invocationId, 50_000);
    const last = finished.status[finished.status.length - 1];
    expect(last?.status, daemon.dump()).toBe(InvocationStatus.Failed);
    expect(last?.detail).toMatch(/timed out after 3 s/);
    const processing = finished.status.find((entry) => entry.status === InvocationStatus.Processing);
    // Stopped well under the minute that whole minutes would have given it (generous for a busy host).
    const ranMs = Date.parse(last?.timestamp ?? '') - Date.parse(processing?.timestamp ?? '');
    expect(ranMs).toBeLessThan(40_000);
    // The wire keeps whole minutes for the record's `timeout`; the exact duration rides beside them.
    expect(finished.request).toMatchObject({ timeout_minutes: 1, timeout_ms: 3000 });
  });
});
