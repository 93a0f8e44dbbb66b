import { afterAll, describe, expect, it } from 'vitest';
import {
  makeAction,
  managedContainers,
  ownRunningContainer,
  removeTempDirs,
  runInProcess,
} from '../support/harness.js';

describe('the stop ladder', () => {
  afterAll(removeTempDirs);

  it('kills a container that ignores SIGTERM once the grace period is over', async () => {
    const actionDir = await makeAction('stubborn', {}, [
      `ENTRYPOINT ["/bin/sh", "-c", "trap 'echo ignoring TERM' TERM; echo started; while true; do sleep 1; done"]`,
    ]);
    const controller = new AbortController();
    const running = runInProcess(
      { actionDir },
      { signal: controller.signal, settings: { container: { stopGraceMs: 2_000 } } },
    );
    await ownRunningContainer();
    const cancelledAt = Date.now();
    controller.abort();
    const run = await running;
    const stopMs = Date.now() - cancelledAt;
    expect(run.result.outcome.status).toBe(997);
    expect(run.stdout).toContain('ignoring TERM');
    // Grace (2 s) plus a few seconds, never the action's own pace.
    expect(stopMs).toBeGreaterThanOrEqual(2_000);
    expect(stopMs).toBeLessThan(8_000);
    expect(await managedContainers()).toEqual([]);
  });

  it('skips the rest of the grace period on the force signal', async () => {
    const actionDir = await makeAction('stubborn-forced', {}, [
      `ENTRYPOINT ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"]`,
    ]);
    const controller = new AbortController();
    const force = new AbortController();
    const running = runInProcess(
      { actionDir },
      {
        signal: controller.signal,
        forceSignal: force.signal,
        settings: { container: { stopGraceMs: 60_000 } },
      },
    );
    await ownRunningContainer();
    const cancelledAt = Date.now();
    controller.abort();
    force.abort();
    const run = await running;
    expect(run.result.outcome.status).toBe(997);
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
  });

  it('uses the image STOPSIGNAL', async () => {
    const actionDir = await makeAction('stopsignal', {}, [
      'STOPSIGNAL SIGUSR1',
      `ENTRYPOINT ["/bin/sh", "-c", "trap 'echo got USR1; exit 0' USR1; trap '' TERM; while true; do sleep 1; done"]`,
    ]);
    const controller = new AbortController();
    const running = runInProcess(
      { actionDir },
      { signal: controller.signal, settings: { container: { stopGraceMs: 30_000 } } },
    );
    await ownRunningContainer();
    const cancelledAt = Date.now();
    controller.abort();
    const run = await running;
    expect(run.stdout).toContain('got USR1');
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
  });
});
