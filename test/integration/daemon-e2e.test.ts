import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import { DaemonProcess, TestQueue, shellAction, useTestQueue } from '../support/daemon-harness.js';
import { docker, eventually, managedContainers, removeTempDirs, tempDir } from '../support/harness.js';
import { Labels } from '../../src/domain/container-labels.js';
import { openDataStore } from '../../src/app/local-adapters.js';

/** Inputs and outputs bigger than one copy chunk (4 MiB), in sizes no chunking divides evenly. */
const BIG_INPUT_BYTES = 9 * 1024 * 1024 + 12_345;
const NOISE_OUTPUT_BYTES = 5 * 1024 * 1024 + 13;
/** "hello robots", in a.txt and (upper-cased) in upper.txt. */
const GREETING_BYTES = 12;

const PROCESS = [
  'set -e',
  'echo "processing $(cat "$ROBOTO_INPUT_DIR/a.txt") with greeting=$ROBOTO_PARAM_GREETING token=$ROBOTO_PARAM_TOKEN"',
  'tr a-z A-Z < "$ROBOTO_INPUT_DIR/a.txt" > "$ROBOTO_OUTPUT_DIR/upper.txt"',
  `printf '%s\\n' '{"relative_path":"upper.txt","update":{"metadata_changeset":{"put_fields":{"case":"upper"}}}}' > "$ROBOTO_FILE_METADATA_CHANGESET_FILE"`,
  `echo '{"put_tags":["processed"]}' > "$ROBOTO_DATASET_METADATA_CHANGESET_FILE"`,
  `head -c ${NOISE_OUTPUT_BYTES} /dev/urandom > "$ROBOTO_OUTPUT_DIR/noise.bin"`,
].join('\n');

const names = (record: { status: { status: InvocationStatus }[] }): string[] =>
  record.status.map((entry) => statusName(entry.status));

describe('the daemon, end to end on a real redis-server and dockerd', () => {
  let queue: TestQueue;
  let daemon: DaemonProcess;
  let datasetId: string;

  beforeAll(async () => {
    const secrets = await tempDir('secrets');
    await writeFile(path.join(secrets, 'api-token'), 's3cr3t-t0ken-value\n');
    queue = await TestQueue.create({ ACTION_WORKER_SECRETS_DIR: secrets, ACTION_WORKER_MAX_ATTEMPTS: '2' });
    const folder = await tempDir('input');
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, 'a.txt'), 'hello robots');
    await writeFile(path.join(folder, 'big.bin'), randomBytes(BIG_INPUT_BYTES));
    const imported = await queue.cli(['datasets', 'import', folder]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    datasetId = imported.stdout.trim().split('\n').pop() ?? '';
    expect(datasetId).toMatch(/^ds_/);
    daemon = queue.startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  afterAll(async () => {
    await queue.cleanup();
    await removeTempDirs();
  });

  it('runs an invocation to Completed with its outputs and metadata in the store, secrets masked', async () => {
    const action = await shellAction('process', PROCESS, {
      parameters: [{ name: 'greeting', default: 'hi' }, { name: 'token' }],
    });
    const result = await queue.cli([
      'invoke',
      action,
      '--dataset',
      datasetId,
      '--param',
      'greeting=hello',
      '--secret',
      'token=api-token',
      '--wait',
    ]);
    expect(result.exitCode, `${result.stderr}\n${daemon.dump()}`).toBe(0);
    const invocationId = result.stdout.trim();
    expect(result.stderr).toContain(`${invocationId} Completed`);

    const record = await queue.waitFinished(invocationId);
    expect(names(record)).toEqual([
      'Queued',
      'Scheduled',
      'Downloading',
      'Processing',
      'Uploading',
      'Completed',
    ]);
    expect(record).toMatchObject({ attempt: 1, handbacks: 0, is_finished: true });
    expect(Date.parse(record.last_heartbeat ?? '')).toBeGreaterThanOrEqual(Date.parse(record.created));
    // The secret travelled as a reference; its value is in neither the record nor the log.
    expect(record.request.parameter_values.token).toBe('roboto-secret://api-token');
    const log = await queue.store().getLog(invocationId);
    expect(log).toContain('processing hello robots with greeting=hello token=');
    expect(log).not.toContain('s3cr3t-t0ken-value');
    expect(JSON.stringify(record)).not.toContain('s3cr3t-t0ken-value');

    // The store the daemon writes, in its directory.
    const store = await openDataStore({
      storeDir: queue.env.ACTION_WORKER_STORE_DIR ?? '',
      store: { database: null },
    });
    onTestFinished(() => store.close());
    const files = await store.listFiles(datasetId);
    const upper = files.find((file) => file.record.relative_path === 'upper.txt')?.record;
    expect(upper?.metadata).toEqual({ case: 'upper' });
    expect((await store.getDataset(datasetId))?.tags).toContain('processed');

    const shown = await queue.cli(['invocations', 'show', invocationId, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      invocation_id: invocationId,
      last_status: InvocationStatus.Completed,
    });
    const logs = await queue.cli(['invocations', 'logs', invocationId]);
    expect(logs.stdout).toContain('processing hello robots');
    expect(await managedContainers()).toEqual(
      expect.not.arrayContaining([
        expect.objectContaining({ Labels: expect.objectContaining({ [Labels.invocationId]: invocationId }) }),
      ]),
    );
  });

  it('serves health, readiness and metrics', async () => {
    const base = `http://127.0.0.1:${await daemon.port()}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({
      status: 'ready',
      redis: 'ok',
      docker: 'ok',
      fetching: 'ok',
      draining: 'ok',
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/action_worker_invocations_total\{status="Completed",reason=""\} [1-9]/);
    expect(metrics).toMatch(/action_worker_stage_duration_seconds_count\{stage="run"\} [1-9]/);
    expect(metrics).toMatch(/action_worker_queue_to_start_seconds_count\{until="pickup"\} [1-9]/);
    // Exactly the bytes of the one invocation so far: its inputs staged, its outputs stored.
    expect(metrics).toContain(
      `action_worker_transfer_bytes_total{direction="download"} ${GREETING_BYTES + BIG_INPUT_BYTES}\n`,
    );
    expect(metrics).toContain(
      `action_worker_transfer_bytes_total{direction="upload"} ${GREETING_BYTES + NOISE_OUTPUT_BYTES}\n`,
    );
    expect(metrics).toContain('action_worker_nodejs_eventloop_lag_seconds');
    expect(metrics).toMatch(/action_worker_queue_jobs\{state="waiting"\} 0/);
  });

  it('returns the first invocation for a reused idempotency id and never runs it again', async () => {
    const action = await shellAction('once', 'echo ran-once');
    const first = await queue.invoke([action, '--idempotency-id', 'nightly-42']);
    await queue.waitFinished(first);
    const again = await queue.cli(['invoke', action, '--idempotency-id', 'nightly-42', '--json']);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain(`was used before: invocation ${first}`);
    expect(JSON.parse(again.stdout)).toMatchObject({ invocation_id: first });
    // Give a (wrong) second run every chance to happen, then look.
    const later = await queue.invoke([await shellAction('after', 'true')]);
    await queue.waitFinished(later);
    const record = await queue.store().get(first);
    expect(record?.attempt).toBe(1);
    expect(names(record ?? { status: [] }).filter((name) => name === 'Scheduled')).toHaveLength(1);
  });

  it('rejects a job put straight on the queue with an invalid payload, with a reason, and keeps going', async () => {
    const raw = queue.queue();
    const bad = await raw.queue.add('invocation', { nonsense: true }, { jobId: 'iv_notarealjob1' });
    const orphan = await raw.queue.add(
      'invocation',
      { invocation_id: 'iv_norecord0001' },
      { jobId: 'iv_norecord0001' },
    );
    const good = await queue.invoke([await shellAction('good', 'echo fine')]);
    expect((await queue.waitFinished(good)).last_status).toBe(InvocationStatus.Completed);
    for (const [job, reason] of [
      [bad, /rejected: the job must carry \{"invocation_id"/],
      [orphan, /rejected: no invocation record iv_norecord0001/],
    ] as const) {
      const failed = await eventually(async () => {
        const fresh = await raw.queue.getJob(job.id ?? '');
        return fresh && (await fresh.getState()) === 'failed' ? fresh : undefined;
      });
      expect(failed.failedReason).toMatch(reason);
      expect(failed.attemptsMade).toBe(1);
    }
    expect(daemon.lines.some((line) => line.msg === 'queue.job_rejected')).toBe(true);
  });

  it('does not retry an action failure', async () => {
    const result = await queue.cli([
      'invoke',
      await shellAction('fails', 'echo broken >&2; exit 3'),
      '--wait',
    ]);
    expect(result.exitCode).toBe(1);
    const record = await queue.waitFinished(result.stdout.trim());
    expect(record.last_status).toBe(InvocationStatus.Failed);
    expect(record.attempt).toBe(1);
    expect(record.status[record.status.length - 1]?.detail).toBe('action exited with code 3');
  });

  it('retries an infrastructure failure, then gives up as Deadly', async () => {
    // Nothing listens on port 1: every pull fails with a transient, retryable error.
    const result = await queue.cli(['invoke', '--image', '127.0.0.1:1/nothing/here:1', '--wait']);
    expect(result.exitCode, daemon.dump()).toBe(70);
    const record = await queue.waitFinished(result.stdout.trim());
    expect(names(record)).toEqual([
      'Queued',
      'Scheduled',
      'Downloading',
      'Failed',
      'Queued',
      'Scheduled',
      'Downloading',
      'Failed',
      'Deadly',
    ]);
    expect(record.status[4]?.detail).toMatch(/^retrying \(attempt 2 of 2\)/);
    expect(record.status[8]?.detail).toMatch(/^gave up after 2 attempt\(s\)/);
  });

  it('follows the output of a running invocation from another process until it finishes', async () => {
    const action = await shellAction('chatty', 'for i in 1 2 3 4; do echo "line $i"; sleep 0.7; done');
    const invocationId = await queue.invoke([action]);
    await queue.waitStatus(invocationId, InvocationStatus.Processing);
    const followed = await queue.cli(['invocations', 'logs', invocationId, '--follow']);
    expect(followed.exitCode, followed.stderr).toBe(0);
    // (execa drops the last newline.)
    expect(followed.stdout).toBe('line 1\nline 2\nline 3\nline 4');
    // It returned because the invocation finished, not on a timeout.
    expect((await queue.store().get(invocationId))?.is_finished).toBe(true);
  });

  it('cancels a running invocation from another process', async () => {
    const invocationId = await queue.invoke([await shellAction('long', 'echo started; sleep 300')]);
    await queue.waitStatus(invocationId, InvocationStatus.Processing);
    // Its output is followed live from another process while it runs.
    await eventually(async () =>
      (await queue.cli(['invocations', 'logs', invocationId])).stdout.includes('started') ? true : undefined,
    );
    const cancel = await queue.cli(['invocations', 'cancel', invocationId]);
    expect(cancel.stdout).toContain('cancel requested');
    const record = await queue.waitFinished(invocationId, 30_000);
    expect(names(record).slice(-2)).toEqual(['Processing', 'Cancelled']);
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${Labels.invocationId}=${invocationId}`] },
    });
    expect(left).toEqual([]);
  });
});

describe('cancelling a queued invocation', () => {
  const queue = useTestQueue();

  it('takes it out of the queue and marks it Cancelled; no worker ever runs it', async () => {
    // No daemon yet: the invocation waits in the queue().
    const waiting = await queue().invoke([await shellAction('never', 'echo should-not-run')]);
    const cancel = await queue().cli(['invocations', 'cancel', waiting]);
    expect(cancel.stdout).toBe(`${waiting} cancelled`);
    expect(await queue().queue().queue.getJob(waiting)).toBeUndefined();

    const daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
    const next = await queue().invoke([await shellAction('next', 'true')]);
    expect((await queue().waitFinished(next)).last_status).toBe(InvocationStatus.Completed);
    const record = await queue().store().get(waiting);
    expect(record && names(record)).toEqual(['Queued', 'Cancelled']);
    expect(record?.is_finished).toBe(true);
    const again = await queue().cli(['invocations', 'cancel', waiting]);
    expect(again.stdout).toBe(`${waiting} already-finished`);
  });

  it('cancels every active invocation at once, only those created before a time when asked', async () => {
    const daemonless = await TestQueue.create();
    try {
      const action = await shellAction('queued', 'true');
      const older = await daemonless.invoke([action]);
      const cutoff = new Date(Date.now() + 5).toISOString();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const newer = await daemonless.invoke([action]);
      const some = await daemonless.cli([
        'invocations',
        'cancel',
        '--all-active',
        '--created-before',
        cutoff,
      ]);
      expect(some.stdout).toBe(`${older} cancelled\n1 invocation(s)`);
      expect((await daemonless.store().get(newer))?.last_status).toBe(InvocationStatus.Queued);
      const rest = await daemonless.cli(['invocations', 'cancel', '--all-active']);
      expect(rest.stdout).toBe(`${newer} cancelled\n1 invocation(s)`);
      const listed = await daemonless.cli(['invocations', 'list', '--status', 'cancelled', '--json']);
      expect(
        (JSON.parse(listed.stdout) as { invocation_id: string }[]).map((record) => record.invocation_id),
      ).toEqual([newer, older]);
    } finally {
      await daemonless.cleanup();
    }
  });
});
