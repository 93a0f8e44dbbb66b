import { describe, expect, it } from 'vitest';
import { RedisTriggerStore } from '../../src/adapters/redis/redis-trigger-store.js';
import { TriggerRecord } from '../../src/domain/trigger-record.js';
import { useCliScaffold } from '../support/cli-scaffold.js';
import { minimalTriggerBody } from '../support/sdk-bodies.js';

describe('action-worker triggers, through the CLI, on a real redis-server', () => {
  const scaffold = useCliScaffold();
  const { run, ok, jsonFile, withRecords } = scaffold;

  const orgWithAction = (name: string) =>
    scaffold.orgWithAction(name, { name: 'tag-dataset', image_uri: 'img:1', parameters: [{ name: 'p' }] });

  const record = (stdout: string) => TriggerRecord.parse(JSON.parse(stdout));

  it('creates from the T1 body, shows, updates, disables, enables, lists and deletes', async () => {
    const orgId = await orgWithAction('cli-triggers');
    // The SDK's minimal create body (spec T1), as a file.
    const file = await jsonFile(minimalTriggerBody('trig', { parameter_values: { p: 1 } }));
    const created = record(await ok(['triggers', 'create', '--from-file', file, '--org', orgId]));
    expect(created).toMatchObject({
      name: 'trig',
      org_id: orgId,
      action: { name: 'tag-dataset', digest: null, owner: orgId },
      causes: ['file_upload', 'dataset_metadata_update'],
      parameter_values: { p: 1 },
      enabled: true,
      created_by: 'action-worker-cli',
    });

    // What the API answers: the same record in the same Redis.
    await withRecords(
      (options) => new RedisTriggerStore(options),
      async (store) => {
        expect(await store.getTrigger(orgId, 'trig')).toEqual(created);
      },
    );

    const again = await run(['triggers', 'create', '--from-file', file, '--org', orgId]);
    expect(again.exitCode).toBe(64);
    expect(again.stderr).toContain('already exists');

    expect(record(await ok(['triggers', 'show', 'trig', '--org', orgId]))).toEqual(created);

    const update = await jsonFile({ timeout: 15, causes: ['file_ingest'] });
    const updated = record(await ok(['triggers', 'update', 'trig', '--from-file', update, '--org', orgId]));
    expect(updated).toMatchObject({ timeout: 15, causes: ['file_ingest'], trigger_id: created.trigger_id });

    expect(record(await ok(['triggers', 'disable', 'trig', '--org', orgId])).enabled).toBe(false);
    expect(record(await ok(['triggers', 'show', 'trig', '--org', orgId])).enabled).toBe(false);
    expect(record(await ok(['triggers', 'enable', 'trig', '--org', orgId]))).toMatchObject({
      enabled: true,
      timeout: 15,
    });

    await ok([
      'triggers',
      'create',
      '--from-file',
      await jsonFile({ name: 'another', action_name: 'tag-dataset', required_inputs: ['*.yaml'] }),
      '--org',
      orgId,
    ]);
    const listed = TriggerRecord.array().parse(JSON.parse(await ok(['triggers', 'list', '--org', orgId])));
    expect(listed.map((each) => each.name)).toEqual(['another', 'trig']);

    expect(await ok(['triggers', 'delete', 'trig', '--org', orgId])).toContain('deleted trigger trig');
    const gone = await run(['triggers', 'show', 'trig', '--org', orgId]);
    expect(gone.exitCode).toBe(64);
    expect(gone.stderr).toContain('not found');
    expect((await run(['triggers', 'delete', 'trig', '--org', orgId])).exitCode).toBe(64);
    expect((await run(['triggers', 'disable', 'trig', '--org', orgId])).exitCode).toBe(64);
  });

  it('refuses an unknown action or parameter, bad JSON, a bad field and a missing org, clearly', async () => {
    const orgId = await orgWithAction('cli-triggers-errors');
    const attempt = async (content: unknown, org = orgId) =>
      run(['triggers', 'create', '--from-file', await jsonFile(content), '--org', org]);
    const base = { name: 'bad', action_name: 'tag-dataset', required_inputs: ['**/*.bag'] };

    const unknownAction = await attempt({ ...base, action_name: 'nope' });
    expect(unknownAction.exitCode).toBe(64);
    expect(unknownAction.stderr).toContain('action nope not found');

    const unknownParameter = await attempt({ ...base, parameter_values: { zz: 1 } });
    expect(unknownParameter.exitCode).toBe(64);
    expect(unknownParameter.stderr).toContain('zz');

    const badField = await attempt({ ...base, required_inputs: [] });
    expect(badField.exitCode).toBe(64);
    expect(badField.stderr).toContain('required_inputs');

    const notJson = await attempt('{"name": ');
    expect(notJson.exitCode).toBe(64);
    expect(notJson.stderr).toContain('not JSON');

    const noOrg = await attempt(base, 'og_doesnotexist');
    expect(noOrg.exitCode).toBe(64);
    expect(noOrg.stderr).toContain('og_doesnotexist');

    expect((await run(['triggers', 'list', '--org', orgId])).stdout.trim()).toBe('[]');
  });
});
