import { describe, expect, it } from 'vitest';
import { Labels } from '../../src/domain/container-labels.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { shellAction, useTestQueue } from '../support/daemon-harness.js';
import { docker } from '../support/harness.js';

const INVOCATIONS = 50;

describe('two daemons on one queue', () => {
  const queue = useTestQueue({ ACTION_WORKER_CONCURRENCY: '2' });

  it(`run each of ${INVOCATIONS} invocations exactly once`, { timeout: 300_000 }, async () => {
    // Every container start the engine reports, by invocation.
    const starts = new Map<string, number>();
    const events = (await docker.getEvents({
      filters: { type: ['container'], event: ['start'], label: [`${Labels.managed}=true`] },
    })) as NodeJS.ReadableStream & { destroy: () => void };
    let buffered = '';
    events.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
        const id = event.Actor?.Attributes?.[Labels.invocationId];
        if (id) starts.set(id, (starts.get(id) ?? 0) + 1);
      }
    });

    const daemons = [queue().startDaemon(), queue().startDaemon()];
    await Promise.all(daemons.map((daemon) => daemon.waitForLog('daemon.started')));
    const action = await shellAction('noop', 'true');
    const ids = await Promise.all(Array.from({ length: INVOCATIONS }, () => queue().invoke([action])));
    const records = await Promise.all(ids.map((id) => queue().waitFinished(id, 240_000)));
    events.destroy();

    for (const record of records) {
      expect(record.last_status).toBe(InvocationStatus.Completed);
      expect(record.attempt).toBe(1);
      expect(record.status.filter((entry) => entry.status === InvocationStatus.Scheduled)).toHaveLength(1);
      expect(starts.get(record.invocation_id), record.invocation_id).toBe(1);
    }
    // Both took a share.
    for (const daemon of daemons) {
      expect(daemon.lines.filter((line) => line.msg === 'invocation.finished').length).toBeGreaterThan(0);
    }
  });
});
