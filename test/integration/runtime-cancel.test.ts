import { afterAll, describe, expect, it } from 'vitest';
import {
  docker,
  eventually,
  makeAction,
  managedContainers,
  ownRunningContainer,
  removeTempDirs,
  runInProcess,
} from '../support/harness.js';

describe('cancellation', () => {
  afterAll(removeTempDirs);

  it('cancels while the image is building: Cancelled, and the build stops', async () => {
    const marker = `build-cancel-${process.pid}-${Date.now()}`;
    const actionDir = await makeAction('slow-build', {}, [`RUN echo ${marker} && sleep 120`]);
    const controller = new AbortController();
    const running = runInProcess({ actionDir }, { signal: controller.signal });
    // The build's own container runs the RUN step.
    const buildContainer = await eventually(
      async () => (await docker.listContainers()).find((container) => container.Command.includes(marker)),
      60_000,
      'the build step to run',
    );
    const cancelledAt = Date.now();
    controller.abort();
    const run = await running;
    expect(run.statuses.at(-1)).toBe('Cancelled: cancelled');
    expect(Date.now() - cancelledAt).toBeLessThan(15_000);
    await eventually(
      async () =>
        (await docker.listContainers()).some((c) => c.Id === buildContainer.Id) ? undefined : true,
      30_000,
      'the build container to stop',
    );
  });

  it('cancels while the action runs: Cancelled, no outputs, no container left', async () => {
    const actionDir = await makeAction('long-run', {}, [
      'ENTRYPOINT ["/bin/sh", "-c", "echo data > $ROBOTO_OUTPUT_DIR/out.txt; sleep 120"]',
    ]);
    const controller = new AbortController();
    const running = runInProcess({ actionDir }, { signal: controller.signal });
    await ownRunningContainer();
    controller.abort();
    const run = await running;
    expect(run.statuses.map((status) => status.split(':')[0])).toEqual([
      'Scheduled',
      'Downloading',
      'Processing',
      'Cancelled',
    ]);
    expect(run.result.outcome.uploaded).toEqual([]);
    expect(run.result.summaryFile).toBeUndefined();
    expect(await managedContainers()).toEqual([]);
  });
});
