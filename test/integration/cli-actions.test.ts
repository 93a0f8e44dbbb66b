import { describe, expect, it } from 'vitest';
import { RedisActionStore } from '../../src/adapters/redis/redis-action-store.js';
import { ActionRecord } from '../../src/domain/action-record.js';
import { useCliScaffold } from '../support/cli-scaffold.js';

describe('action-worker actions, through the CLI, on a real redis-server', () => {
  const { run, ok, jsonFile, withRecords, createOrg } = useCliScaffold();
  const actionFile = (content: unknown) => jsonFile(content, 'action.json');

  it('creates from action.json, shows, updates into a new version, lists and deletes', async () => {
    const orgId = await createOrg('cli-actions');
    const file = await actionFile(
      // A raw default 1.0 keeps its Python str() form.
      '{"name": "tag-dataset", "image_uri": "img:1", "description": "d", "parameters": [{"name": "ratio", "default": 1.0}], "metadata": {"team": "a"}, "tags": ["t"], "timeout": 30}',
    );
    const created = ActionRecord.parse(
      JSON.parse(await ok(['actions', 'create', '--from-file', file, '--org', orgId])),
    );
    expect(created).toMatchObject({
      name: 'tag-dataset',
      org_id: orgId,
      uri: 'img:1',
      description: 'd',
      parameters: [{ name: 'ratio', required: false, description: null, default: '1.0' }],
      metadata: { team: 'a' },
      tags: ['t'],
      timeout: 30,
      created_by: 'action-worker-cli',
    });

    // What the API would answer: the same record in the same Redis.
    await withRecords(
      (options) => new RedisActionStore(options),
      async (store) => {
        expect(await store.getAction(orgId, 'tag-dataset')).toEqual(created);
      },
    );

    const again = await run(['actions', 'create', '--from-file', file, '--org', orgId]);
    expect(again.exitCode).toBe(64);
    expect(again.stderr).toContain('already exists');

    const updatedFile = await actionFile({ name: 'tag-dataset', image_uri: 'img:1', tags: ['u'] });
    const updated = ActionRecord.parse(
      JSON.parse(
        await ok([
          'actions',
          'update',
          'tag-dataset',
          '--from-file',
          updatedFile,
          '--image',
          'img:2',
          '--org',
          orgId,
        ]),
      ),
    );
    expect(updated).toMatchObject({
      uri: 'img:2',
      description: null,
      parameters: [],
      metadata: {},
      tags: ['u'],
      timeout: null,
      created: created.created,
    });
    expect(updated.digest).not.toBe(created.digest);

    const shown = ActionRecord.parse(
      JSON.parse(await ok(['actions', 'show', 'tag-dataset', '--org', orgId])),
    );
    expect(shown).toEqual(updated);
    const first = ActionRecord.parse(
      JSON.parse(await ok(['actions', 'show', 'tag-dataset', '--org', orgId, '--digest', created.digest])),
    );
    expect(first).toEqual(created);

    await ok([
      'actions',
      'create',
      '--from-file',
      await actionFile({ name: 'another', image_uri: 'img:3' }),
      '--org',
      orgId,
    ]);
    const listed = ActionRecord.array().parse(JSON.parse(await ok(['actions', 'list', '--org', orgId])));
    expect(listed.map((record) => record.name)).toEqual(['another', 'tag-dataset']);
    expect(listed[1]).toEqual(updated);

    expect(await ok(['actions', 'delete', 'tag-dataset', '--org', orgId])).toContain(
      'deleted action tag-dataset',
    );
    const gone = await run(['actions', 'show', 'tag-dataset', '--org', orgId]);
    expect(gone.exitCode).toBe(64);
    expect(gone.stderr).toContain('not found');
    expect((await run(['actions', 'delete', 'tag-dataset', '--org', orgId])).exitCode).toBe(64);
  });

  it("refuses docker_config, a bad file, a missing org and a name that is not the file's, clearly", async () => {
    const orgId = await createOrg('cli-actions-errors');
    const build = await run([
      'actions',
      'create',
      '--from-file',
      await actionFile({ name: 'built', docker_config: { dockerfile: 'Dockerfile' } }),
      '--org',
      orgId,
    ]);
    expect(build.exitCode).toBe(64);
    expect(build.stderr).toContain('docker_config');
    expect(build.stderr).toContain('--image');

    const invalid = await run([
      'actions',
      'create',
      '--from-file',
      await actionFile({ name: 'bad', image_uri: 'img', compute_requirements: { vCPU: 256, memory: 8192 } }),
      '--org',
      orgId,
    ]);
    expect(invalid.exitCode).toBe(64);
    expect(invalid.stderr).toContain('memory');

    const noOrg = await run([
      'actions',
      'create',
      '--from-file',
      await actionFile({ name: 'orphan', image_uri: 'img' }),
      '--org',
      'og_doesnotexist',
    ]);
    expect(noOrg.exitCode).toBe(64);
    expect(noOrg.stderr).toContain('og_doesnotexist');
    expect((await run(['actions', 'list', '--org', 'og_doesnotexist'])).stdout.trim()).toBe('[]');

    await ok([
      'actions',
      'create',
      '--from-file',
      await actionFile({ name: 'mine', image_uri: 'img' }),
      '--org',
      orgId,
    ]);
    const renamed = await run([
      'actions',
      'update',
      'mine',
      '--from-file',
      await actionFile({ name: 'other', image_uri: 'img' }),
      '--org',
      orgId,
    ]);
    expect(renamed.exitCode).toBe(64);
    expect(renamed.stderr).toContain('names action other');
  });
});
