import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { importFolder } from '../../src/app/dataset-transfer.js';
import { openDataStore } from '../../src/app/local-adapters.js';
import { ActionInputRecord } from '../../src/domain/records.js';
import { makeAction, removeTempDirs, runCli, runInProcess, tempDir } from '../support/harness.js';

// Copies the manifest and lists what the action sees, then writes one output.
const REPORT = [
  'cp "$ROBOTO_ACTION_INPUTS_MANIFEST" "$ROBOTO_OUTPUT_DIR/manifest.json"',
  'cd "$ROBOTO_INPUT_DIR" && find . -type f ! -name action_inputs_manifest.json | sort > "$ROBOTO_OUTPUT_DIR/seen.txt"',
  'echo "$ROBOTO_DATASET_ID" > "$ROBOTO_OUTPUT_DIR/dataset-id.txt"',
].join('; ');

async function folder(name: string, files: Record<string, string>): Promise<string> {
  const dir = await tempDir(name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}

const signal = new AbortController().signal;

describe('inputs from the dataset store', () => {
  afterAll(removeTempDirs);

  it('lays out files from several datasets under input/<dataset id>/ and puts outputs in a new dataset', async () => {
    const store = new LocalDataStore(await tempDir('store'));
    const a = await importFolder(store, await folder('a', { 'logs/x.log': 'a-x', 'notes.txt': 'a-n' }), {
      orgId: 'og_1',
      signal,
    });
    const b = await importFolder(store, await folder('b', { 'logs/x.log': 'b-x' }), {
      orgId: 'og_1',
      signal,
    });
    const actionDir = await makeAction(
      'report',
      { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [REPORT] } },
      [],
    );
    const run = await runInProcess(
      {
        actionDir,
        datasets: [a.dataset.dataset_id, b.dataset.dataset_id],
        files: ['*.log'],
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      { store },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const read = (file: string) => readFile(path.join(run.result.outputDir!, file), 'utf8');
    expect((await read('seen.txt')).trim().split('\n')).toEqual(
      [`./${a.dataset.dataset_id}/logs/x.log`, `./${b.dataset.dataset_id}/logs/x.log`].sort(),
    );
    const manifest = ActionInputRecord.parse(JSON.parse(await read('manifest.json')));
    expect(manifest.files.map(([, local]) => local)).toEqual([
      `/roboto/ws/input/${a.dataset.dataset_id}/logs/x.log`,
      `/roboto/ws/input/${b.dataset.dataset_id}/logs/x.log`,
    ]);
    // The first dataset is the data source; outputs of a multi-dataset run go to a dataset of their own.
    expect((await read('dataset-id.txt')).trim()).toBe(a.dataset.dataset_id);
    const outputs = run.result.outcome.uploadDatasetId!;
    expect([a.dataset.dataset_id, b.dataset.dataset_id]).not.toContain(outputs);
    expect((await store.listFiles(outputs)).map((file) => file.record.relative_path)).toEqual([
      'dataset-id.txt',
      'manifest.json',
      'seen.txt',
    ]);
  });

  it('selects by query, by file id and by topic name, and stages from the cache by hard link', async () => {
    const store = new LocalDataStore(await tempDir('store'));
    const { dataset, files } = await importFolder(
      store,
      await folder('q', { 'big.bag': 'x'.repeat(5000), 'small.bag': 'x', 'drive.mcap': 'mcap' }),
      { orgId: 'og_1', signal },
    );
    const mcap = files.find((file) => file.relative_path === 'drive.mcap')!;
    await store.updateFile(files.find((file) => file.relative_path === 'small.bag')!.file_id, {
      metadataChangeset: {
        put_tags: ['keep'],
        remove_tags: null,
        put_fields: { quality: 'good' },
        remove_fields: null,
        replace_all: false,
      },
    });
    const topic = await store.addTopic(mcap.file_id, { topicName: '/imu', schemaName: 'sensor_msgs/Imu' });
    const actionDir = await makeAction(
      'report',
      { container_parameters: { entry_point: ['/bin/sh', '-c'], command: [REPORT] } },
      [],
    );
    const cacheDir = await tempDir('cache');
    const run = await runInProcess(
      {
        actionDir,
        query: 'path LIKE "%.bag" AND (size > 1000 OR tags CONTAINS "keep" AND metadata.quality = "good")',
        fileIds: [mcap.file_id],
        topics: ['/imu'],
        uploadTo: dataset.dataset_id,
        keepWorkspace: true,
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      { store, settings: { cache: { dir: cacheDir } } },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const manifest = ActionInputRecord.parse(
      JSON.parse(await readFile(path.join(run.result.outputDir!, 'manifest.json'), 'utf8')),
    );
    expect(manifest.files.map(([record]) => record.relative_path).sort()).toEqual([
      'big.bag',
      'drive.mcap',
      'small.bag',
    ]);
    expect(manifest.topics.map((record) => record.topic_id)).toEqual([topic.topic_id]);
    // The workspace's input is a hard link to a verified cache entry, not to the store.
    const staged = await stat(path.join(run.result.outcome.workspaceDir!, 'input', 'big.bag'));
    const stored = await store.getFile(files.find((file) => file.relative_path === 'big.bag')!.file_id);
    const cached = await stat(path.join(cacheDir, stored!.sha256.slice(0, 2), stored!.sha256));
    expect(staged.ino).toBe(cached.ino);
    expect(staged.ino).not.toBe((await stat(await store.contentPath(stored!))).ino);
  });

  it('refuses a selector that matches nothing, an unknown dataset and a malformed query, before any container', async () => {
    const storeDir = await tempDir('store');
    // The store the CLI opens in that directory.
    const store = await openDataStore({ storeDir, store: { database: null } });
    const { dataset } = await importFolder(store, await folder('e', { 'a.txt': 'a' }), {
      orgId: 'og_1',
      signal,
    }).finally(() => store.close());
    const actionDir = await makeAction('nothing', {}, ['ENTRYPOINT ["/bin/true"]']);
    const env = { ACTION_WORKER_STORE_DIR: storeDir };

    const nothing = await runCli(['run', actionDir, '--dataset', dataset.dataset_id, '--files', '*.bag'], {
      env,
    });
    expect(nothing.exitCode).toBe(64);
    expect(nothing.stderr).toContain(
      `Failed (setup failed: file selector 1 (dataset ${dataset.dataset_id}; paths *.bag) matched no file)`,
    );
    expect(nothing.stderr).not.toContain('Processing');

    const unknown = await runCli(['run', actionDir, '--dataset', 'ds_nosuchdataset'], { env });
    expect(unknown.exitCode).toBe(64);
    expect(unknown.stderr).toContain('unknown dataset "ds_nosuchdataset"');
    expect(unknown.stderr).not.toContain('Scheduled');

    // Another org's dataset: an invocation reads its own org's data only (the org is the dataset's when
    // none is given, as in the run above).
    const foreign = await runCli(['run', actionDir, '--dataset', dataset.dataset_id, '--org-id', 'og_2'], {
      env,
    });
    expect(foreign.exitCode).toBe(64);
    expect(foreign.stderr).toContain(
      `dataset "${dataset.dataset_id}" belongs to org og_1, not to the run's org og_2`,
    );
    expect(foreign.stderr).not.toContain('Scheduled');

    const malformed = await runCli(['run', actionDir, '--query', 'size >> 3'], { env });
    expect(malformed.exitCode).toBe(64);
    expect(malformed.stderr).toContain(
      'query: expected a value (a quoted string, a number, true, false or null), found ">" at position 7',
    );
    expect(malformed.stderr).not.toContain('Scheduled');
  });
});

describe('the datasets command', () => {
  afterAll(removeTempDirs);

  it('imports, lists, shows, lists files, exports, and re-imports only what changed', async () => {
    const env = { ACTION_WORKER_STORE_DIR: await tempDir('store') };
    const data = await folder('cli-data', { 'a.txt': 'one', 'sub/b.txt': 'two' });
    const imported = await runCli(['datasets', 'import', data], { env });
    expect(imported.exitCode, imported.all).toBe(0);
    const datasetId = imported.stdout.trim();
    expect(datasetId).toMatch(/^ds_/);
    expect(imported.stderr).toContain(`imported 2 file(s) into new dataset ${datasetId}`);

    const list = JSON.parse((await runCli(['datasets', 'list', '--json'], { env })).stdout) as {
      dataset_id: string;
    }[];
    expect(list.map((dataset) => dataset.dataset_id)).toEqual([datasetId]);
    const show = JSON.parse(
      (await runCli(['datasets', 'show', datasetId, '--json'], { env })).stdout,
    ) as Record<string, unknown>;
    expect(show).toMatchObject({ dataset_id: datasetId, file_count: 2, name: path.basename(data) });

    await writeFile(path.join(data, 'a.txt'), 'one, changed');
    await runCli(['datasets', 'import', data], { env });
    const files = JSON.parse((await runCli(['datasets', 'files', datasetId, '--json'], { env })).stdout) as {
      relative_path: string;
      version: number;
    }[];
    expect(files.map((file) => [file.relative_path, file.version])).toEqual([
      ['a.txt', 2],
      ['sub/b.txt', 1],
    ]);

    const exportDir = path.join(await tempDir('export'), 'x');
    const exported = await runCli(['datasets', 'export', datasetId, exportDir], { env });
    expect(exported.exitCode, exported.all).toBe(0);
    expect(await readFile(path.join(exportDir, 'a.txt'), 'utf8')).toBe('one, changed');
    expect((await readdir(exportDir, { recursive: true })).sort()).toEqual(
      ['.metadata', '.metadata/action-worker.json', 'a.txt', 'sub', 'sub/b.txt'].map((p) =>
        p.split('/').join(path.sep),
      ),
    );
    const missing = await runCli(['datasets', 'show', 'ds_missing'], { env });
    expect(missing.exitCode).toBe(64);
    expect(missing.stderr).toContain('unknown dataset "ds_missing"');
  });
});
