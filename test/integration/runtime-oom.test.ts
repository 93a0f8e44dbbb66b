import { afterAll, describe, expect, it } from 'vitest';
import { makeAction, removeTempDirs, runInProcess } from '../support/harness.js';

describe('out of memory', () => {
  afterAll(removeTempDirs);

  it('reports an OOM kill with the limit, as a non-retryable failure', async () => {
    // tail keeps the current line in memory, and /dev/zero never ends one.
    const actionDir = await makeAction('oom', { compute_requirements: { vCPU: 256, memory: 512 } }, [
      'ENTRYPOINT ["/bin/sh", "-c", "echo filling memory; tail -n 1 /dev/zero"]',
    ]);
    const run = await runInProcess({ actionDir });
    expect(run.result.outcome.detail).toBe('out of memory (limit 512 MiB)');
    expect(run.result.outcome.failure).toEqual({ reason: 'oom', code: 'E_OOM', retryable: false });
    expect(run.result.outcome.exit).toMatchObject({ kind: 'oom', exitCode: 137 });
  });

  it('does not call exit code 137 alone an OOM', async () => {
    const actionDir = await makeAction('killed', {}, ['ENTRYPOINT ["/bin/sh", "-c", "kill -9 $$"]']);
    const run = await runInProcess({ actionDir });
    expect(run.result.outcome.exit).toEqual({ kind: 'exited', exitCode: 137 });
    expect(run.result.outcome.detail).toBe('action exited with code 137');
    expect(run.result.outcome.failure?.reason).toBe('action_exit');
  });
});
