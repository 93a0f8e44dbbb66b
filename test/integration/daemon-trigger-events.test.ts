import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TriggerEventQueue, triggerEventJobId } from '../../src/adapters/bullmq/trigger-event-queue.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { TriggerEvent } from '../../src/domain/trigger-event.js';
import { type DaemonProcess, TEST_REDIS_URL, shellAction, useTestQueue } from '../support/daemon-harness.js';

// Writes three outputs.
const WRITE_THREE = [
  'set -e',
  'mkdir -p "$ROBOTO_OUTPUT_DIR/logs"',
  'for n in 1 2 3; do echo "$n" > "$ROBOTO_OUTPUT_DIR/logs/$n.bag"; done',
].join('\n');

// Tags the dataset it stores into (a changeset, no files).
const TAG_DATASET = `echo '{"put_tags":["processed"]}' > "$ROBOTO_DATASET_METADATA_CHANGESET_FILE"`;

describe('the daemon announces stored outputs for trigger evaluation', () => {
  const queue = useTestQueue({ ACTION_WORKER_NETWORK: 'none' });
  let daemon: DaemonProcess;

  beforeAll(async () => {
    daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  it('one file_upload event per stored output set: the attempt as the transaction, the invocation as its source', async () => {
    const events = new TriggerEventQueue({
      url: TEST_REDIS_URL,
      queue: queue().env.ACTION_WORKER_QUEUE ?? '',
      keyPrefix: queue().env.ACTION_WORKER_KEY_PREFIX ?? '',
    });
    onTestFinished(() => events.close());
    const invocationId = await queue().invoke([await shellAction('three-outputs', WRITE_THREE)]);
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const datasetId = /uploaded to a new dataset, (ds_\w+)$/.exec(record.status.at(-1)?.detail ?? '')?.[1];
    // No consumer runs here: the event waits in the queue, emitted before the invocation completed.
    const jobs = await events.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed']);
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.id).toBe(triggerEventJobId(`${invocationId}:1`));
    const event = TriggerEvent.parse(job.data);
    expect(event).toMatchObject({
      event_id: `${invocationId}:1`,
      cause: 'file_upload',
      transaction_id: `${invocationId}:1`,
      source_invocation_id: invocationId,
      dataset_id: datasetId,
    });
    expect(event.file_ids).toHaveLength(3);
    expect(event.org_id.length).toBeGreaterThan(0);
  }, 120_000);

  it("an action's dataset changeset that changes tags or metadata is one dataset_metadata_update", async () => {
    const events = new TriggerEventQueue({
      url: TEST_REDIS_URL,
      queue: queue().env.ACTION_WORKER_QUEUE ?? '',
      keyPrefix: queue().env.ACTION_WORKER_KEY_PREFIX ?? '',
    });
    onTestFinished(() => events.close());
    const first = await queue().invoke([await shellAction('three-outputs-2', WRITE_THREE)]);
    expect((await queue().waitFinished(first)).last_status).toBe(InvocationStatus.Completed);
    const datasetId = (await events.queue.getJob(triggerEventJobId(`${first}:1`)))?.data.dataset_id as string;
    const tagger = await queue().invoke([await shellAction('tagger', TAG_DATASET), '--dataset', datasetId]);
    expect((await queue().waitFinished(tagger)).last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const job = await events.queue.getJob(triggerEventJobId(`${tagger}:1:dataset-metadata`));
    expect(job?.data).toMatchObject({
      cause: 'dataset_metadata_update',
      dataset_id: datasetId,
      source_invocation_id: tagger,
    });
    // No files stored, no file_upload.
    expect(await events.queue.getJob(triggerEventJobId(`${tagger}:1`))).toBeUndefined();
  }, 120_000);
});
