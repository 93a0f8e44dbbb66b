import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActionRecord } from '../../src/domain/action-record.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { useTestQueue } from '../support/daemon-harness.js';
import { BASE_IMAGE } from '../support/paths.js';
import { tempDir } from '../support/temp-dirs.js';

describe('action-worker invoke NAME[@DIGEST], a registered action, on a real redis-server', () => {
  const queue = useTestQueue();

  async function ok(args: string[]): Promise<string> {
    const result = await queue().cli(args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  }

  async function actionFile(content: unknown): Promise<string> {
    const file = path.join(await tempDir('action-json'), 'action.json');
    await writeFile(file, JSON.stringify(content));
    return file;
  }

  async function register(orgId: string, verb: 'create' | 'update', image: string): Promise<ActionRecord> {
    const file = await actionFile({
      name: 'tagger',
      image_uri: image,
      parameters: [{ name: 'ratio', required: true }, { name: 'token' }],
      timeout: 7,
    });
    const args =
      verb === 'create'
        ? ['actions', 'create', '--from-file', file, '--org', orgId]
        : ['actions', 'update', 'tagger', '--from-file', file, '--org', orgId];
    return ActionRecord.parse(JSON.parse(await ok(args)));
  }

  it('queues the latest version, or the one @digest names, with its provenance and a queued job', async () => {
    const orgId = (await ok(['orgs', 'create', '--name', 'cli-invoke-registered'])).trim();
    const first = await register(orgId, 'create', 'registry.example/tagger:1');
    const second = await register(orgId, 'update', 'registry.example/tagger:2');
    expect(second.digest).not.toBe(first.digest);

    const latestId = (
      await ok([
        'invoke',
        'tagger',
        '--org-id',
        orgId,
        '--param',
        'ratio=0.5',
        '--secret',
        'token=api-token',
        '--idempotency-id',
        'nightly-1',
        '--dry-run',
        '--log-level',
        'DEBUG',
      ])
    ).trim();
    const store = queue().store();
    const latest = await store.get(latestId);
    expect(latest).toMatchObject({
      org_id: orgId,
      last_status: InvocationStatus.Queued,
      is_finished: false,
      request: {
        action: { image: 'registry.example/tagger:2', config: { name: 'tagger', timeout: 7 } },
        parameter_values: { ratio: '0.5', token: 'roboto-secret://api-token' },
        secret_parameters: ['token'],
        idempotency_id: 'nightly-1',
        dry_run: true,
        log_level: 'DEBUG',
        timeout_minutes: 7,
        provenance: {
          action: { name: 'tagger', org_id: orgId, digest: second.digest },
          source: { source_type: 'Manual', source_id: 'action-worker-cli' },
        },
      },
    });
    expect(await queue().queue().isJobGone(latestId)).toBe(false);

    const olderId = (
      await ok([
        'invoke',
        `tagger@${first.digest}`,
        '--org-id',
        orgId,
        '--param',
        'ratio=1',
        '--timeout',
        '90s',
      ])
    ).trim();
    const older = await store.get(olderId);
    expect(older?.request.action.image).toBe('registry.example/tagger:1');
    expect(older?.request.provenance?.action).toEqual({
      name: 'tagger',
      org_id: orgId,
      digest: first.digest,
    });
    expect(older?.request).toMatchObject({ timeout_ms: 90_000, timeout_minutes: 2 });
    expect(await queue().queue().isJobGone(olderId)).toBe(false);
  });

  it('turns --dataset, --files, --query, --file-id and --upload-to into the same selectors as a directory invoke', async () => {
    const orgId = (await ok(['orgs', 'create', '--name', 'cli-invoke-inputs'])).trim();
    await register(orgId, 'create', 'registry.example/tagger:1');
    const selectors = ['--dataset', 'ds_in', '--files', '*.txt', '--upload-to', 'ds_out'];
    const id = (await ok(['invoke', 'tagger', '--org-id', orgId, '--param', 'ratio=1', ...selectors])).trim();
    const dir = await tempDir('same-inputs');
    await writeFile(
      path.join(dir, 'action.json'),
      JSON.stringify({ name: 'tagger', image_uri: 'x:1', parameters: [{ name: 'ratio' }] }),
    );
    const fromDir = (await ok(['invoke', dir, '--org-id', orgId, '--param', 'ratio=1', ...selectors])).trim();
    const byQuery = (
      await ok([
        'invoke',
        'tagger',
        '--org-id',
        orgId,
        '--param',
        'ratio=1',
        '--query',
        'path = "a.txt"',
        '--file-id',
        'fl_1',
      ])
    ).trim();
    const store = queue().store();
    const [named, local, queried] = await Promise.all([
      store.get(id),
      store.get(fromDir),
      store.get(byQuery),
    ]);
    expect(named?.request.input).toEqual(local?.request.input);
    expect(named?.request).toMatchObject({ data_source_id: 'ds_in', upload_destination_id: 'ds_out' });
    expect(named?.request.input?.files).toEqual([
      { query: null, ids: null, names: null, dataset_id: 'ds_in', paths: ['*.txt'] },
    ]);
    expect(queried?.request.input?.files).toEqual([
      { query: 'path = "a.txt"', ids: null, names: null, dataset_id: null, paths: null },
      { query: null, ids: ['fl_1'], names: null, dataset_id: null, paths: null },
    ]);
  });

  it('checks the options against the registered action: a missing required parameter, --image', async () => {
    const orgId = (await ok(['orgs', 'create', '--name', 'cli-invoke-checks'])).trim();
    await register(orgId, 'create', 'registry.example/tagger:1');
    const missing = await queue().cli(['invoke', 'tagger', '--org-id', orgId]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain('ratio');
    const image = await queue().cli(['invoke', 'tagger', '--org-id', orgId, '--image', 'other:1']);
    expect(image.exitCode).toBe(64);
    expect(image.stderr).toContain('--image cannot be given with the registered action "tagger"');
  });

  it('refuses a name that is neither a directory nor registered in the org (another org’s included)', async () => {
    const owner = (await ok(['orgs', 'create', '--name', 'cli-invoke-owner'])).trim();
    const other = (await ok(['orgs', 'create', '--name', 'cli-invoke-other'])).trim();
    await register(owner, 'create', 'registry.example/tagger:1');
    const usage = await queue().cli(['invoke', '--help']);
    expect(usage.exitCode).toBe(0);

    for (const [reference, orgId] of [
      ['no-such-action', owner],
      ['tagger', other],
      ['tagger@0123456789abcdef', owner],
    ] as const) {
      const result = await queue().cli(['invoke', reference, '--org-id', orgId]);
      expect(result.exitCode, result.stderr).toBe(64);
      expect(result.stderr).toContain(
        `"${reference}" is neither an action directory (no such directory) nor an action registered in org ${orgId}`,
      );
    }
  });

  it('still takes an existing directory as ACTION_DIR, as before', async () => {
    const orgId = (await ok(['orgs', 'create', '--name', 'cli-invoke-dir'])).trim();
    await register(orgId, 'create', 'registry.example/tagger:1');
    const dir = await tempDir('tagger');
    await writeFile(path.join(dir, 'action.json'), JSON.stringify({ name: 'tagger', image_uri: 'local:1' }));
    const id = (await ok(['invoke', dir, '--org-id', orgId])).trim();
    const record = await queue().store().get(id);
    expect(record?.request.action.image).toBe('local:1');
    expect(record?.request.provenance).toBeNull();
    expect(await queue().queue().isJobGone(id)).toBe(false);
  });
});

describe('action-worker invoke NAME@DIGEST, run by a real daemon', () => {
  const queue = useTestQueue();

  it('runs the version the digest names, not the latest', async () => {
    const daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
    const orgId = (await queue().cli(['orgs', 'create', '--name', 'cli-invoke-run'])).stdout.trim();
    const versions: ActionRecord[] = [];
    for (const [verb, word] of [
      ['create', 'first'],
      ['update', 'second'],
    ] as const) {
      const file = path.join(await tempDir('action-json'), 'action.json');
      await writeFile(
        file,
        JSON.stringify({
          name: 'say',
          image_uri: BASE_IMAGE,
          container_parameters: { entry_point: ['sh', '-c'], command: [`echo "version ${word}"`] },
        }),
      );
      const args =
        verb === 'create'
          ? ['actions', 'create', '--from-file', file, '--org', orgId]
          : ['actions', 'update', 'say', '--from-file', file, '--org', orgId];
      const result = await queue().cli(args);
      expect(result.exitCode, result.stderr).toBe(0);
      versions.push(ActionRecord.parse(JSON.parse(result.stdout)));
    }
    const first = versions[0];
    if (first === undefined) throw new Error('no first version');
    const result = await queue().cli(['invoke', `say@${first.digest}`, '--org-id', orgId, '--wait']);
    expect(result.exitCode, `${result.stderr}\n${daemon.dump()}`).toBe(0);
    const invocationId = result.stdout.trim();
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status).toBe(InvocationStatus.Completed);
    expect(record.request.provenance?.action.digest).toBe(first.digest);
    const log = await queue().store().getLog(invocationId);
    expect(log).toContain('version first');
    expect(log).not.toContain('version second');
  });
});
