import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Labels } from '../../src/domain/container-labels.js';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import type { InvocationRecord } from '../../src/ports/invocation-store.js';
import { type DaemonProcess, TestQueue, shellAction } from '../support/daemon-harness.js';
import { eventually, removeTempDirs } from '../support/harness.js';
import { PrivateEngine } from '../support/private-engine.js';

/** Status and detail, one line per transition, for assertions and failure messages. */
function history(record: InvocationRecord): string[] {
  return record.status.map((entry) => `${statusName(entry.status)}: ${entry.detail ?? ''}`);
}

/**
 * The daemon on an engine of the test's own (never the machine's shared dockerd), which the test stops,
 * kills and starts again while invocations wait or run.
 */
describe('daemon on a Docker engine that restarts or goes away', () => {
  let engine: PrivateEngine | undefined;
  let queue: TestQueue | undefined;
  let daemon: DaemonProcess;

  const testQueue = (): TestQueue => {
    if (queue === undefined) throw new Error('the test queue is made before the tests');
    return queue;
  };
  const privateEngine = (): PrivateEngine => {
    if (engine === undefined) throw new Error('the private engine starts before the tests');
    return engine;
  };

  beforeAll(async () => {
    engine = await PrivateEngine.create();
    const created = await TestQueue.create({
      DOCKER_HOST: engine.host,
      // The private engine has no bridge.
      ACTION_WORKER_NETWORK: 'none',
      ACTION_WORKER_LOCK_DURATION: '15s',
      // Containers an interrupted attempt could not remove (its engine was down) are swept soon.
      ACTION_WORKER_RECONCILE_INTERVAL: '2s',
    });
    queue = created;
    daemon = created.startDaemon();
    await daemon.waitForLog('daemon.started', () => true, 60_000);
  });

  // A test that failed half-way may have left the engine stopped.
  beforeEach(async () => {
    if (engine !== undefined && !engine.isRunning) await engine.start();
  });

  afterAll(async () => {
    try {
      // The daemon stops quicker with its engine answering.
      if (engine !== undefined && !engine.isRunning) await engine.start().catch(() => undefined);
      await queue?.cleanup();
    } finally {
      await engine?.destroy();
      await removeTempDirs();
    }
  });

  /** Waits for the invocation's container to run on the engine. */
  async function untilContainerStarted(invocationId: string): Promise<void> {
    await daemon.waitForLog('container.started', (line) => line.invocationId === invocationId, 60_000);
  }

  it("reports an action's own exit on SIGTERM as the action's failure, not the engine's", async () => {
    const id = await testQueue().invoke([
      await shellAction('self-term', 'echo here; kill -TERM $$; sleep 30'),
    ]);
    const record = await testQueue().waitFinished(id, 90_000);
    expect(record.last_status, history(record).join('\n')).toBe(InvocationStatus.Failed);
    expect(record.status.at(-1)?.detail).toBe('action exited with code 143');
    expect(record.attempt).toBe(1);
  });

  it("reports a container stopped by someone else while the engine keeps running as the action's exit", async () => {
    const id = await testQueue().invoke([await shellAction('stopped-by-someone', 'echo here; sleep 60')]);
    await untilContainerStarted(id);
    const docker = privateEngine().client();
    const [container] = await docker.listContainers({
      filters: { label: [`${Labels.invocationId}=${id}`] },
    });
    // What an engine shutting down does first, through the engine, but with the engine staying up.
    await docker.getContainer(container?.Id ?? '').kill({ signal: 'SIGTERM' });
    const record = await testQueue().waitFinished(id, 90_000);
    expect(record.last_status, history(record).join('\n')).toBe(InvocationStatus.Failed);
    expect(record.status.at(-1)?.detail).toBe('action exited with code 143');
    expect(record.attempt).toBe(1);
  });

  /** Asserts for a few seconds that the invocation stays Queued with no attempt started. */
  async function staysQueued(invocationId: string): Promise<void> {
    const store = testQueue().store();
    // Several fetch blocks and retry backoffs: a worker that fetched would have spent every attempt by now.
    const watchUntil = Date.now() + 6_000;
    while (Date.now() < watchUntil) {
      const record = await store.get(invocationId);
      expect(record?.last_status, record ? history(record).join('\n') : 'no record').toBe(
        InvocationStatus.Queued,
      );
      expect(record?.attempt ?? 0).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The invocation's stored log once it holds `text` (the log is stored just after the final status). */
  async function logHolding(invocationId: string, text: string): Promise<string> {
    const store = testQueue().store();
    return await eventually(
      async () => {
        const log = await store.getLog(invocationId);
        return log.includes(text) ? log : undefined;
      },
      10_000,
      `the log of ${invocationId} to hold "${text}"`,
    );
  }

  it('takes nothing while the engine is away, and runs the invocation on attempt 1 once it is back', async () => {
    const unreachableBefore = daemon.lines.filter((line) => line.msg === 'docker.unreachable').length;
    await privateEngine().stop('SIGTERM');
    await eventually(
      () =>
        Promise.resolve(
          daemon.lines.filter((line) => line.msg === 'docker.unreachable').length > unreachableBefore
            ? true
            : undefined,
        ),
      30_000,
      'the daemon to find the engine away',
    );
    const id = await testQueue().invoke([await shellAction('engine-away', 'echo ran while it was back')]);
    await staysQueued(id);

    await privateEngine().start();
    const record = await testQueue().waitFinished(id, 90_000);
    expect(record.last_status, history(record).join('\n')).toBe(InvocationStatus.Completed);
    expect(record.attempt).toBe(1);
    await logHolding(id, 'ran while it was back');
  });

  it('spends no attempt on an invocation enqueued just as the engine goes away', async () => {
    await privateEngine().stop('SIGTERM');
    // At once: the fetch waiting for work when the engine went away may well bring this one.
    const id = await testQueue().invoke([await shellAction('engine-going', 'echo ran after all')]);
    await staysQueued(id);

    await privateEngine().start();
    const record = await testQueue().waitFinished(id, 90_000);
    expect(record.last_status, history(record).join('\n')).toBe(InvocationStatus.Completed);
    // Handed back unspent if a fetch brought it while the engine was away.
    expect(record.attempt - record.handbacks).toBe(1);
    await logHolding(id, 'ran after all');
  });

  it.each([
    ['stopped (SIGTERM) and started again', 'SIGTERM'],
    ['killed (SIGKILL) and started again', 'SIGKILL'],
  ] as const)('retries an invocation whose engine was %s, and completes it', async (_, signal) => {
    const id = await testQueue().invoke([
      await shellAction(`engine-${signal.toLowerCase()}`, 'echo begin; sleep 6; echo end'),
    ]);
    await untilContainerStarted(id);
    await privateEngine().stop(signal);
    await privateEngine().start();

    const record = await testQueue().waitFinished(id, 120_000);
    const lines = history(record);
    expect(record.last_status, lines.join('\n')).toBe(InvocationStatus.Completed);
    expect(record.attempt, lines.join('\n')).toBe(2);
    const failed = record.status.find((entry) => entry.status === InvocationStatus.Failed);
    expect(failed?.detail, lines.join('\n')).toMatch(/Docker engine/);
    expect(
      lines.some((line) => line.includes('exited with code')),
      lines.join('\n'),
    ).toBe(false);
    await logHolding(id, 'end');
  });

  it('leaves nothing behind on the engine once the invocations are done', async () => {
    const docker = privateEngine().client();
    // The interrupted attempts' containers are removed (by the attempt, or by the reconcile sweep).
    await eventually(
      async () => {
        const left = await docker.listContainers({ all: true });
        return left.length === 0 ? true : undefined;
      },
      60_000,
      'the engine to hold no containers',
    );
  });
});
