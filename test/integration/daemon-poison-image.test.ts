import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import type { InvocationRequest } from '../../src/domain/invocation-request.js';
import { type DaemonProcess, shellAction, useTestQueue } from '../support/daemon-harness.js';
import { BASE_IMAGE } from '../support/paths.js';
import { type TrapServer, startTrapServer } from '../support/trap-server.js';

const names = (record: { status: { status: InvocationStatus }[] }): string[] =>
  record.status.map((entry) => statusName(entry.status));

/**
 * A job whose record holds a crafted image reference, written straight into Redis as anyone who can enqueue
 * could: `../../127.0.0.1:PORT/admin/x` makes the engine's path cleaning answer with a redirect to that
 * address. The trap listening there records every request and drops the connection, which used to leave the
 * redirected request with an unhandled error and take the daemon down, its neighbours with it.
 */
describe('a poison image reference next to a healthy invocation', () => {
  // The healthy action needs no network: "none" keeps it independent of the engine's bridge.
  const queue = useTestQueue({
    ACTION_WORKER_CONCURRENCY: '2',
    ACTION_WORKER_MAX_ATTEMPTS: '3',
    ACTION_WORKER_NETWORK: 'none',
  });
  let trap: TrapServer;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    trap = await startTrapServer();
    daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  afterAll(async () => {
    await trap.close();
  });

  /** Writes a request into Redis as it is, bypassing invoke's checks, and queues its job. */
  async function enqueueRaw(fields: Record<string, unknown>): Promise<{ invocation_id: string }> {
    const { record } = await queue()
      .store()
      .create({
        action: { image: BASE_IMAGE, config: { name: 'raw' } },
        parameter_values: {},
        secret_parameters: [],
        input: null,
        data_source_id: '__UNSPECIFIED_DATA_SOURCE__',
        upload_destination_id: null,
        compute_requirement_overrides: null,
        container_parameter_overrides: null,
        timeout_minutes: null,
        org_id: 'og_test',
        idempotency_id: null,
        dry_run: false,
        log_level: 'INFO',
        ...fields,
      } as unknown as InvocationRequest);
    await queue().queue().enqueue(record.invocation_id);
    return record;
  }

  it('fails the poison invocation for good, once, and the healthy one completes on the same daemon', async () => {
    const healthy = await queue().invoke([
      await shellAction('healthy', 'sleep 6; echo healthy-done', { image_uri: BASE_IMAGE }),
    ]);
    await queue().waitStatus(healthy, InvocationStatus.Processing, 90_000);

    const poisonReference = `../../127.0.0.1:${trap.port}/admin/x`;
    const store = queue().store();
    const record = await enqueueRaw({ action: { image: poisonReference, config: { name: 'poison' } } });

    const poisoned = await queue().waitFinished(record.invocation_id, 60_000);
    expect(poisoned.last_status, daemon.dump()).toBe(InvocationStatus.Failed);
    expect(names(poisoned)).toEqual(['Queued', 'Failed']);
    expect(poisoned.attempt).toBe(1);
    const detail = poisoned.status[poisoned.status.length - 1]?.detail ?? '';
    expect(detail).toContain('action.image');
    expect(detail).toContain('not a valid image reference');

    const done = await queue().waitFinished(healthy, 90_000);
    expect(done.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    expect(done).toMatchObject({ attempt: 1, handbacks: 0 });
    expect(await store.getLog(healthy)).toContain('healthy-done');

    // The same daemon process did both: it never exited, and it started once.
    expect(daemon.child.exitCode).toBeNull();
    expect(daemon.lines.filter((line) => line.msg === 'daemon.started')).toHaveLength(1);
    // No request ever reached the address the reference pointed at.
    expect(trap.hits).toEqual([]);
  });

  it.each([
    [
      'an env var name that is not a POSIX name',
      { container_parameter_overrides: { env_vars: { 'A=B': 'x' } } },
      'container_parameter_overrides.env_vars.A=B',
    ],
    [
      'a parameter named __proto__',
      // As JSON.parse reads it back from Redis: an own "__proto__" key.
      { parameter_values: JSON.parse('{"__proto__": "x"}') as unknown },
      'parameter_values.__proto__: "__proto__" cannot be a parameter name',
    ],
  ])('fails a request with %s for good, once, naming it', async (_what, fields, detail) => {
    const record = await enqueueRaw(fields);
    const settled = await queue().waitFinished(record.invocation_id, 60_000);
    expect(settled.last_status, daemon.dump()).toBe(InvocationStatus.Failed);
    expect(names(settled)).toEqual(['Queued', 'Failed']);
    expect(settled.attempt).toBe(1);
    expect(settled.status[settled.status.length - 1]?.detail).toContain(detail);
    expect(daemon.child.exitCode).toBeNull();
  });
});
