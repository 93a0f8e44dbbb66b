import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { managedContainers, removeTempDirs, runCli, runInProcess } from '../support/harness.js';
import { fixturesDir } from '../support/paths.js';

const exitAction = path.join(fixturesDir, 'exit-code');

describe('the invocation timeout', () => {
  afterAll(removeTempDirs);

  it('stops a container that outlives its timeout, as a non-retryable failure that says so', async () => {
    const startedAt = Date.now();
    const run = await runInProcess(
      { actionDir: exitAction, params: ['code=0', 'sleep=60'], timeout: '2s' },
      { settings: { container: { stopGraceMs: 1000 } } },
    );
    expect(run.result.outcome.status).toBe(998);
    expect(run.result.outcome.detail).toBe('timed out after 2 s');
    expect(run.result.outcome.failure).toEqual({ reason: 'timeout', code: 'E_TIMEOUT', retryable: false });
    expect(run.result.outcome.uploaded).toEqual([]);
    expect(Date.now() - startedAt).toBeLessThan(20_000);
    expect(await managedContainers()).toEqual([]);
  });

  it('reads a bare number as minutes and exits 1 on a timeout', async () => {
    const cli = await runCli([
      'run',
      exitAction,
      '--param',
      'code=0',
      '--param',
      'sleep=60',
      '--timeout',
      '0.05',
    ]);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toContain('action-worker: Failed (timed out after 3 s)');
  });
});
