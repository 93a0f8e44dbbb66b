import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { InvocationRecordWire } from '../../src/domain/invocation-wire.js';
import { TriggerEvaluationRecord, TriggerRecord } from '../../src/domain/trigger-record.js';
import type { TestOrg } from '../support/api-test-server.js';
import { type TestQueue, shellAction } from '../support/daemon-harness.js';
import { eventually } from '../support/poll.js';
import { type ServeWithDaemon, serveWithDaemon } from '../support/serve-with-daemon.js';
import { tempDir } from '../support/temp-dirs.js';

/**
 * Issue 13 "Done when", as a user does it: a trigger made with the CLI, a folder uploaded with
 * `datasets import`, the action run by itself (serve evaluates, the daemon runs), and why it ran or not
 * read over HTTP. One private Redis prefix and queue, one store, shared by serve, the daemon and the CLI.
 */
describe('triggers end to end: CLI, datasets import, serve, daemon', () => {
  let setup: ServeWithDaemon;
  let queue: TestQueue;
  let token = '';
  let otherToken = '';
  let orgId = '';
  let folder = '';
  let triggerId = '';

  beforeAll(async () => {
    setup = await serveWithDaemon({
      name: 'trig-e2e',
      orgs: [
        { name: 'trig-e2e', tokenName: 'trig-e2e' },
        { name: 'trig-e2e-other', tokenName: 'other' },
      ],
    });
    ({ queue } = setup);
    const [own, other] = setup.server.orgs as [TestOrg, TestOrg];
    ({ orgId, token } = own);
    otherToken = other.token;
    folder = await tempDir('trig-e2e-folder');
  });

  afterAll(async () => {
    await setup.close();
  });

  async function cli(args: string[]): Promise<string> {
    const result = await queue.cli(args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  }

  async function call(
    urlPath: string,
    init: { body?: unknown; bearer?: string } = {},
  ): Promise<{ status: number; data: Record<string, unknown> }> {
    const answer = await setup.server.request(urlPath, {
      token: init.bearer ?? token,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const json = JSON.parse(answer.text) as { data: Record<string, unknown> };
    return { status: answer.status, data: json.data };
  }

  /** Every evaluation of the trigger, oldest first, following next_token (spec §1.9). */
  async function evaluations(): Promise<TriggerEvaluationRecord[]> {
    const all: TriggerEvaluationRecord[] = [];
    let pageToken: string | null = null;
    do {
      const answer = await call(
        `/v1/triggers/gather-bags/evaluations${pageToken === null ? '' : `?page_token=${encodeURIComponent(pageToken)}`}`,
      );
      expect(answer.status).toBe(200);
      all.push(...TriggerEvaluationRecord.array().parse(answer.data.items));
      pageToken = answer.data.next_token as string | null;
    } while (pageToken !== null);
    return all.sort((a, b) => a.trigger_evaluation_id - b.trigger_evaluation_id);
  }

  /** Waits until there are `count` evaluations and all have ended; returns them, oldest first. */
  const evaluated = (count: number) =>
    eventually(
      async () => {
        const all = await evaluations();
        return all.length >= count && all.every((each) => each.status !== 'pending') ? all : undefined;
      },
      60_000,
      `${count} finished evaluations`,
      200,
    );

  async function invocations(): Promise<InvocationRecordWire[]> {
    const answer = await call('/v1/actions/invocations/query', { body: {} });
    expect(answer.status).toBe(200);
    return InvocationRecordWire.array().parse(answer.data.items);
  }

  async function importFolder(): Promise<string> {
    return (await cli(['datasets', 'import', folder, '--org-id', orgId])).trim();
  }

  it('creates the action and the trigger with the CLI', async () => {
    const action = await shellAction(
      'tag-bags',
      'echo "made by the trigger" > "$ROBOTO_OUTPUT_DIR/result.txt"',
    );
    await cli(['actions', 'create', '--from-file', path.join(action, 'action.json'), '--org', orgId]);
    const file = path.join(await tempDir('trig-e2e-trigger'), 'T.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'gather-bags',
        action_name: 'tag-bags',
        required_inputs: ['**/*.bag', '**/*.yaml'],
        for_each: 'dataset',
      }),
    );
    const trigger = TriggerRecord.parse(
      JSON.parse(await cli(['triggers', 'create', '--from-file', file, '--org', orgId])),
    );
    expect(trigger).toMatchObject({ name: 'gather-bags', org_id: orgId, enabled: true });
    triggerId = trigger.trigger_id;
    // Another org sees no such trigger, nor its evaluations.
    expect((await call('/v1/triggers/gather-bags', { bearer: otherToken })).status).toBe(404);
    expect((await call('/v1/triggers/gather-bags/evaluations', { bearer: otherToken })).status).toBe(404);
  });

  let datasetId = '';

  it('a folder with only a .bag: skipped, no_matching_files, no invocation', async () => {
    await writeFile(path.join(folder, 'drive.bag'), 'bag bytes');
    datasetId = await importFolder();
    expect(datasetId).toMatch(/^ds_/);
    const [first] = await evaluated(1);
    expect(first).toMatchObject({
      trigger_id: triggerId,
      status: 'evaluated',
      outcome: 'skipped',
      outcome_reason: 'no_matching_files',
      cause: 'file_upload',
      data_source: { data_source_type: 'Dataset', data_source_id: datasetId },
    });
    expect(await invocations()).toEqual([]);
  });

  it('a .yaml added: one triggered invocation runs to Completed; its own outputs do not fire it again', async () => {
    await writeFile(path.join(folder, 'config.yaml'), 'a: 1\n');
    expect(await importFolder()).toBe(datasetId);
    const all = await evaluated(2);
    expect(all[1]).toMatchObject({ status: 'evaluated', outcome: 'invoked_action', outcome_reason: null });

    const [invocation, ...more] = await eventually(
      async () => {
        const found = await invocations();
        return found.length > 0 ? found : undefined;
      },
      30_000,
      'the triggered invocation',
      200,
    );
    expect(more).toEqual([]);
    expect(invocation?.provenance.source).toEqual({ source_type: 'Trigger', source_id: triggerId });
    const id = invocation?.invocation_id ?? '';
    const done = await eventually(
      async () => {
        const record = InvocationRecordWire.parse((await call(`/v1/actions/invocations/${id}`)).data);
        return record.last_status === InvocationStatus.Completed ? record : undefined;
      },
      90_000,
      'the triggered invocation to complete',
      250,
    );
    expect(done.data_source).toEqual({ data_source_type: 'Dataset', data_source_id: datasetId });
    // Another org's token: no such invocation, and none in its query.
    expect((await call(`/v1/actions/invocations/${id}`, { bearer: otherToken })).status).toBe(404);
    const foreign = await call('/v1/actions/invocations/query', { body: {}, bearer: otherToken });
    expect(foreign.data.items).toEqual([]);

    // Its output was uploaded into the dataset: an event from that invocation, which the trigger skips.
    const file = await call(`/v1/files/record/path/result.txt/association/${datasetId}`);
    expect(file.status).toBe(200);
    const afterOutputs = await evaluated(3);
    expect(afterOutputs[2]).toMatchObject({ status: 'evaluated', outcome: 'skipped' });
    expect(afterOutputs[2]?.status_detail).toContain('never fires on its own outputs');
    expect(await invocations()).toHaveLength(1);
  });

  it('another changed file: already_run, still one invocation', async () => {
    await writeFile(path.join(folder, 'drive.bag'), 'changed bag bytes');
    expect(await importFolder()).toBe(datasetId);
    const all = await evaluated(4);
    expect(all[3]).toMatchObject({ status: 'evaluated', outcome: 'skipped', outcome_reason: 'already_run' });
    expect(await invocations()).toHaveLength(1);
  });

  it('a disabled trigger records trigger_disabled on the next import', async () => {
    const disabled = TriggerRecord.parse(
      JSON.parse(await cli(['triggers', 'disable', 'gather-bags', '--org', orgId])),
    );
    expect(disabled.enabled).toBe(false);
    await writeFile(path.join(folder, 'more.yaml'), 'b: 2\n');
    expect(await importFolder()).toBe(datasetId);
    const all = await evaluated(5);
    expect(all[4]).toMatchObject({
      status: 'evaluated',
      outcome: 'skipped',
      outcome_reason: 'trigger_disabled',
    });
    expect(await invocations()).toHaveLength(1);
  });
});
