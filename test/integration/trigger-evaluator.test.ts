import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvocationQueue } from '../../src/adapters/bullmq/invocation-queue.js';
import type { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import type { RedisActionStore } from '../../src/adapters/redis/redis-action-store.js';
import type { RedisTriggerEvaluationStore } from '../../src/adapters/redis/redis-trigger-evaluation-store.js';
import type { RedisTriggerStore } from '../../src/adapters/redis/redis-trigger-store.js';
import { invocationControl } from '../../src/app/invocations.js';
import type { TriggerEvaluator } from '../../src/app/trigger-evaluator.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { newAction } from '../../src/domain/action-versions.js';
import { InfrastructureError } from '../../src/domain/errors.js';
import type { InvocationRecord } from '../../src/ports/invocation-store.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import { newTrigger } from '../../src/domain/trigger-versions.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { type EvaluatorBackends, openEvaluatorBackends } from '../support/evaluator-backends.js';
import { TEST_REDIS_URL as REDIS_URL, deleteKeysUnder, testKeyPrefix } from '../support/redis-stores.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const KEY_PREFIX = testKeyPrefix('trigger-eval');
const author = { userId: 'tk_test', now: new Date('2024-01-01T00:00:00Z') };

let settings: WorkerSettings;
let backends: EvaluatorBackends;
let data: DataStore;
let invocations: RedisInvocationStore;
let queue: InvocationQueue;
let actions: RedisActionStore;
let triggers: RedisTriggerStore;
let evaluations: RedisTriggerEvaluationStore;
let evaluator: TriggerEvaluator;
let registry: Registry;
let scratch: string;

const newOrg = (): string => `og_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

beforeAll(async () => {
  settings = WorkerSettings.parse({
    storeDir: await tempDir('trigger-eval-store'),
    redis: { url: REDIS_URL, keyPrefix: KEY_PREFIX },
    defaultTimeoutMinutes: 45,
  });
  scratch = await tempDir('trigger-eval-scratch');
  backends = await openEvaluatorBackends(settings);
  ({ data, invocations, queue, actions, triggers, evaluations, registry, evaluator } = backends);
});

afterAll(async () => {
  await backends.close();
  await deleteKeysUnder(REDIS_URL, KEY_PREFIX);
  await removeTempDirs();
});

/** An org with the action `process` registered. */
async function orgWithAction(): Promise<string> {
  const org = newOrg();
  await actions.createAction(
    newAction(
      { name: 'process', uri: 'registry.example/process:1', parameters: [{ name: 'mode', required: true }] },
      org,
      author,
    ),
  );
  return org;
}

async function addTrigger(org: string, body: Record<string, unknown>) {
  return triggers.createTrigger(
    newTrigger(
      {
        name: 'trig',
        action_name: 'process',
        parameter_values: { mode: 'fast' },
        required_inputs: ['**/*.bag'],
        ...body,
      },
      org,
      author,
    ),
  );
}

let sourceCount = 0;
async function upload(datasetId: string, paths: readonly string[], invocationId = 'iv_upload') {
  const files = await Promise.all(
    paths.map(async (relativePath) => {
      const sourcePath = path.join(scratch, `source-${sourceCount++}`);
      await writeFile(sourcePath, relativePath);
      return { relativePath, sourcePath };
    }),
  );
  return data.putFiles(datasetId, files, {
    writeKey: { invocationId, attempt: 1 },
    origination: 'test',
    signal: new AbortController().signal,
  });
}

let eventCount = 0;
function event(org: string, datasetId: string, fields: Partial<TriggerEvent> = {}): TriggerEvent {
  return {
    event_id: `ev_${eventCount++}_${randomUUID()}`,
    org_id: org,
    dataset_id: datasetId,
    cause: 'file_upload',
    transaction_id: `tx_${eventCount}`,
    file_ids: [],
    source_invocation_id: null,
    occurred: new Date().toISOString(),
    ...fields,
  };
}

async function invocationsOf(org: string): Promise<InvocationRecord[]> {
  return (await invocations.list({ limit: 100_000 })).filter((record) => record.org_id === org);
}

const outcomes = async (org: string, triggerId: string) =>
  (await evaluations.listByTrigger(org, triggerId, { limit: 100 })).items.map((each) => [
    each.status,
    each.outcome,
    each.outcome_reason,
  ]);

describe('TriggerEvaluator on real Redis, BullMQ and the data store', () => {
  it('a dataset trigger waits until both patterns are present, runs once, then already_run', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, { required_inputs: ['**/*.bag', '**/*.yaml'] });
    const dataset = await data.createDataset({ orgId: org });
    const [bag] = await upload(dataset.dataset_id, ['logs/a.bag']);
    await evaluator.handle(event(org, dataset.dataset_id, { file_ids: [bag!.file_id] }));
    expect(await invocationsOf(org)).toHaveLength(0);
    const [yaml] = await upload(dataset.dataset_id, ['conf/c.yaml']);
    await evaluator.handle(event(org, dataset.dataset_id, { file_ids: [yaml!.file_id] }));
    const [invocation, ...more] = await invocationsOf(org);
    expect(more).toHaveLength(0);
    expect(invocation!.request).toMatchObject({
      idempotency_id: `${trigger.trigger_id}:${dataset.dataset_id}`,
      data_source_id: dataset.dataset_id,
      upload_destination_id: dataset.dataset_id,
      input_data: ['**/*.bag', '**/*.yaml'],
      parameter_values: { mode: 'fast' },
      timeout_minutes: 45,
      provenance: { source: { source_type: 'Trigger', source_id: trigger.trigger_id }, trigger_depth: 1 },
    });
    expect(await queue.depth()).toMatchObject({ waiting: expect.any(Number) });
    await upload(dataset.dataset_id, ['logs/b.bag']);
    await evaluator.handle(event(org, dataset.dataset_id));
    expect(await invocationsOf(org)).toHaveLength(1);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([
      ['evaluated', 'skipped', 'already_run'],
      ['evaluated', 'invoked_action', null],
      ['evaluated', 'skipped', 'no_matching_files'],
    ]);
    const metrics = await registry.getSingleMetricAsString('action_worker_trigger_evaluations_total');
    expect(metrics).toMatch(/outcome="invoked_action"/);
  });

  it('a file trigger runs once per matching file of the upload', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, { for_each: 'dataset_file', required_inputs: ['*.bag'] });
    const dataset = await data.createDataset({ orgId: org });
    const files = await upload(dataset.dataset_id, ['a.bag', 'd/b.bag', 'notes.txt']);
    await evaluator.handle(event(org, dataset.dataset_id, { file_ids: files.map((f) => f.file_id) }));
    const made = await invocationsOf(org);
    expect(made.map((each) => each.request.input_data[0]).sort()).toEqual(['/a.bag', '/d/b.bag']);
    expect(made.map((each) => each.request.idempotency_id).sort()).toEqual(
      files
        .filter((f) => f.relative_path.endsWith('.bag'))
        .map((f) => `${trigger.trigger_id}:${f.file_id}:${f.version}`)
        .sort(),
    );
  });

  it('a condition on dataset metadata fires once a metadata update makes it true', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, {
      condition: { field: 'dataset.metadata.ready', comparator: 'EQUALS', value: true },
    });
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    await evaluator.handle(event(org, dataset.dataset_id));
    expect(await invocationsOf(org)).toHaveLength(0);
    await data.updateDataset(dataset.dataset_id, {
      put_tags: [],
      remove_tags: [],
      put_fields: { ready: true },
      remove_fields: [],
      replace_all: false,
    });
    await evaluator.handle(
      event(org, dataset.dataset_id, { cause: 'dataset_metadata_update', transaction_id: null }),
    );
    expect(await invocationsOf(org)).toHaveLength(1);
    const listed = await evaluations.listByTrigger(org, trigger.trigger_id, { limit: 10 });
    expect(listed.items.map((each) => [each.cause, each.outcome_reason, each.data_constraint])).toEqual([
      ['dataset_metadata_update', null, null],
      ['file_upload', 'condition_not_met', { transaction_id: expect.any(String), file_id: null }],
    ]);
  });

  it('a disabled trigger is recorded as skipped and invokes nothing', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, { enabled: false });
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    await evaluator.handle(event(org, dataset.dataset_id));
    expect(await invocationsOf(org)).toHaveLength(0);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['evaluated', 'skipped', 'trigger_disabled']]);
  });

  it("a trigger does not fire on its own invocation's outputs; another trigger does, one level deeper", async () => {
    const org = await orgWithAction();
    const self = await addTrigger(org, { for_each: 'dataset_file', required_inputs: ['*.bag'] });
    const dataset = await data.createDataset({ orgId: org });
    const [first] = await upload(dataset.dataset_id, ['in.bag']);
    await evaluator.handle(event(org, dataset.dataset_id, { file_ids: [first!.file_id] }));
    const [run] = await invocationsOf(org);
    // Its output matches its own pattern: the upload comes from its invocation.
    const [output] = await upload(dataset.dataset_id, ['out.bag'], run!.invocation_id);
    await evaluator.handle(
      event(org, dataset.dataset_id, {
        file_ids: [output!.file_id],
        source_invocation_id: run!.invocation_id,
      }),
    );
    expect(await invocationsOf(org)).toHaveLength(1);
    const [latest] = (await evaluations.listByTrigger(org, self.trigger_id, { limit: 1 })).items;
    expect(latest).toMatchObject({ status: 'evaluated', outcome: 'skipped' });
    expect(latest!.status_detail).toMatch(/own outputs/);
    const other = await triggers.createTrigger(
      newTrigger(
        {
          name: 'other',
          action_name: 'process',
          parameter_values: { mode: 'x' },
          required_inputs: ['*.bag'],
        },
        org,
        author,
      ),
    );
    await evaluator.handle(
      event(org, dataset.dataset_id, {
        file_ids: [output!.file_id],
        source_invocation_id: run!.invocation_id,
      }),
    );
    const chained = (await invocationsOf(org)).find(
      (each) => each.request.provenance?.source.source_id === other.trigger_id,
    );
    expect(chained?.request.provenance?.trigger_depth).toBe(2);
  });

  it('10,000 file ids in one upload event: one evaluation and one invocation for a dataset trigger', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, { required_inputs: ['**/*.bag'] });
    const dataset = await data.createDataset({ orgId: org });
    const files = await upload(
      dataset.dataset_id,
      Array.from({ length: 10_000 }, (_, i) => `d${i % 50}/f${i}.bag`),
    );
    await evaluator.handle(event(org, dataset.dataset_id, { file_ids: files.map((f) => f.file_id) }));
    expect(await invocationsOf(org)).toHaveLength(1);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['evaluated', 'invoked_action', null]]);
  }, 120_000);

  it('the same event handled twice: one evaluation record, one invocation', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, {});
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    const once = event(org, dataset.dataset_id);
    await evaluator.handle(once);
    await evaluator.handle(once);
    await Promise.all([evaluator.handle(once), evaluator.handle(once)]);
    expect(await invocationsOf(org)).toHaveLength(1);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['evaluated', 'invoked_action', null]]);
  });

  it('a delivery cut off after submitting is retried; the retry records invoked_action, one invocation', async () => {
    const org = await orgWithAction();
    const trigger = await addTrigger(org, {});
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    const real = invocationControl(invocations, queue);
    // The connection drops right after the invocation was stored and queued.
    const cutOff = backends.evaluatorWith({
      submit: async (request) => {
        await real.submit(request);
        throw new InfrastructureError('connection lost', 'E_IO');
      },
      cancel: (id) => real.cancel(id),
    });
    const once = event(org, dataset.dataset_id);
    await expect(cutOff.handle(once)).rejects.toBeInstanceOf(InfrastructureError);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['failed', null, null]]);
    await evaluator.handle(once);
    expect(await invocationsOf(org)).toHaveLength(1);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['evaluated', 'invoked_action', null]]);
  });

  it("an event naming another org's dataset evaluates nothing (no record, no invocation)", async () => {
    const owner = await orgWithAction();
    const attacker = await orgWithAction();
    const attackerTrigger = await addTrigger(attacker, {});
    const ownerTrigger = await addTrigger(owner, {});
    const dataset = await data.createDataset({ orgId: owner });
    await upload(dataset.dataset_id, ['x.bag']);
    await evaluator.handle(event(attacker, dataset.dataset_id));
    expect(await invocationsOf(attacker)).toHaveLength(0);
    expect(await invocationsOf(owner)).toHaveLength(0);
    expect(await outcomes(attacker, attackerTrigger.trigger_id)).toEqual([]);
    expect(await outcomes(owner, ownerTrigger.trigger_id)).toEqual([]);
    expect((await evaluations.listByDataset(attacker, dataset.dataset_id, { limit: 10 })).items).toEqual([]);
  });

  it('an Action Hub action taken private after the trigger was made is not invoked (visibility checked again)', async () => {
    const publisher = await orgWithAction();
    await actions.setAccessibility(publisher, 'process', 'action_hub');
    const org = newOrg();
    const trigger = await addTrigger(org, { action_owner_id: publisher });
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    await actions.setAccessibility(publisher, 'process', 'organization');
    await evaluator.handle(event(org, dataset.dataset_id));
    expect(await invocationsOf(org)).toHaveLength(0);
    expect(await outcomes(org, trigger.trigger_id)).toEqual([['failed', null, null]]);
  });

  it('an action that no longer exists fails the evaluation with its message, not the event', async () => {
    const org = newOrg();
    const trigger = await addTrigger(org, {});
    const dataset = await data.createDataset({ orgId: org });
    await upload(dataset.dataset_id, ['x.bag']);
    await evaluator.handle(event(org, dataset.dataset_id));
    const [failed] = (await evaluations.listByTrigger(org, trigger.trigger_id, { limit: 1 })).items;
    expect(failed).toMatchObject({ status: 'failed', outcome: null });
    expect(failed!.status_detail).toMatch(/process/);
  });
});
