import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, runCli } from '../support/harness.js';

describe('the invocation commands without a reachable Redis', () => {
  afterAll(removeTempDirs);

  it.each([
    [['invocations', 'list']],
    [['invoke', '--image', 'action-worker/busybox:latest']],
    // A registered action's name: the action store is Redis too.
    [['invoke', 'some-registered-action']],
  ])('%j fails within seconds with one message naming the Redis, its password hidden', async (args) => {
    const startedAt = Date.now();
    // Nothing listens on port 1.
    const result = await runCli(args, { env: { ACTION_WORKER_REDIS_URL: 'redis://:hunter2@127.0.0.1:1' } });
    expect(result.exitCode).toBe(70);
    expect(result.stderr).toMatch(/^action-worker: cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:1: /);
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
  });
});
