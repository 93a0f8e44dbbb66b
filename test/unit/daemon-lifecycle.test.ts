import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { Daemon, type DaemonState } from '../../src/app/daemon/daemon.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import type { ContainerRuntime } from '../../src/ports/container-runtime.js';
import type { DataStore } from '../../src/ports/data-store.js';
import type { InvocationStore } from '../../src/ports/invocation-store.js';
import type { SecretStore } from '../../src/ports/secret-store.js';
import { FakeJobQueue, FakeJobSource } from '../support/fake-job-source.js';

/** A logger keeping the state transitions it was told of. */
function recordingLogger(): { logger: pino.Logger; transitions: string[]; events: string[] } {
  const transitions: string[] = [];
  const events: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg: string; from?: DaemonState; to?: DaemonState };
        events.push(entry.msg);
        if (entry.msg === 'daemon.state') transitions.push(`${String(entry.from)}→${String(entry.to)}`);
      },
    },
  );
  return { logger, transitions, events };
}

describe('Daemon lifecycle', () => {
  it('is stopped cleanly while it waits for the engine at start-up, through one explicit state', async () => {
    let pings = 0;
    const runtime = {
      ping: () => {
        pings += 1;
        return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
      },
    } as unknown as ContainerRuntime;
    const { logger, transitions, events } = recordingLogger();
    const daemon = new Daemon({
      settings: WorkerSettings.parse({}),
      workerId: 'w_lifecycle',
      runtime,
      // Never reached: nothing past the engine wait runs.
      store: {} as unknown as InvocationStore,
      queue: new FakeJobQueue(),
      source: new FakeJobSource(),
      dataStore: {} as DataStore,
      secrets: {} as SecretStore,
      logger,
    });
    expect(daemon.state).toBe('starting');
    expect(daemon.isStopping()).toBe(false);
    const started = daemon.start();
    await eventually(
      () => events.includes('docker.unreachable') || undefined,
      5_000,
      'docker.unreachable',
      1,
    );
    expect(pings).toBeGreaterThan(0);

    await daemon.shutdown();
    await started;
    expect(daemon.state).toBe('stopped');
    expect(daemon.isStopping()).toBe(true);
    expect(daemon.isFetching()).toBe(false);
    expect(transitions).toEqual(['starting→draining', 'draining→stopping', 'stopping→stopped']);
    expect(events).toContain('daemon.stopped');
    expect(events).not.toContain('daemon.started');
  });

  it('fails when start-up fails for another reason than a stop', async () => {
    const { logger } = recordingLogger();
    const daemon = new Daemon({
      settings: WorkerSettings.parse({}),
      workerId: 'w_lifecycle',
      runtime: { ping: () => Promise.resolve() } as unknown as ContainerRuntime,
      store: {
        onCancelRequested: () => Promise.reject(new Error('NOAUTH Authentication required')),
      } as unknown as InvocationStore,
      queue: new FakeJobQueue(),
      source: new FakeJobSource(),
      dataStore: {} as DataStore,
      secrets: {} as SecretStore,
      logger,
    });
    await expect(daemon.start()).rejects.toThrow(/NOAUTH/);
    expect(daemon.state).toBe('failed');
    expect(daemon.isStopping()).toBe(false);
  });
});
