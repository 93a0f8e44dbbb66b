import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { shellAction, useTestQueue } from '../support/daemon-harness.js';

describe('invocations logs --follow on a finished invocation', () => {
  const queue = useTestQueue();

  it('prints the stored log and exits once the live stream has expired', async () => {
    const daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
    const invocationId = await queue().invoke([
      await shellAction('follow-expired', 'echo first line; echo second line >&2; echo last line'),
    ]);
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const stored = await queue().store().getLog(invocationId);
    expect(stored).toContain('first line');
    expect(stored).toContain('last line');

    // While the live stream is kept, --follow prints it.
    const live = await queue().cli(['invocations', 'logs', invocationId, '--follow']);
    expect(live.exitCode, live.stderr).toBe(0);
    expect(live.stdout).toContain('first line');

    // The live stream's expiry (an hour after the end), brought forward: the key goes, under this test's prefix.
    const redis = new Redis(queue().location().url);
    try {
      const liveKey = `${recordPrefix(queue().location())}inv:${invocationId}:live`;
      expect(await redis.exists(liveKey)).toBe(1);
      await redis.del(liveKey);
    } finally {
      await redis.quit();
    }

    const followed = await queue().cli(['invocations', 'logs', invocationId, '--follow']);
    expect(followed.exitCode, followed.stderr).toBe(0);
    expect(followed.stdout).toBe(stored.replace(/\n$/, ''));
    const plain = await queue().cli(['invocations', 'logs', invocationId]);
    expect(followed.stdout).toBe(plain.stdout);
  });
});
