import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import type { SqlDatabase } from '../../src/adapters/sql/database.js';
import { datasetFromRow, fileFromRow, topicFromRow } from '../../src/adapters/sql/rows.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';

/** The dataset ids of {@link buildFolderStore}, in the order a migration walks them. */
export const FIXTURE_DATASETS = ['ds_a_plain', 'ds_b_versions', 'ds_c_retried', 'ds_d_topics', 'ds_e_empty'];

/**
 * A folder store written through the real LocalDataStore API: datasets with names, descriptions, tags and
 * metadata; files with several versions, descriptions, tags and metadata; an output written by a retried
 * attempt (one version, the later attempt's); topics; an empty dataset; and `extraDatasets` more datasets of
 * `filesPerDataset` small files each (for the crash tests).
 */
export async function buildFolderStore(
  root: string,
  scratch: string,
  options: { extraDatasets?: number; filesPerDataset?: number } = {},
): Promise<LocalDataStore> {
  const store = new LocalDataStore(root);
  const signal = new AbortController().signal;
  let sources = 0;
  const source = async (content: string) => {
    sources += 1;
    const file = path.join(scratch, `source-${sources}`);
    await writeFile(file, content);
    return file;
  };
  const put = async (
    datasetId: string,
    files: Record<string, string>,
    writeKey: { invocationId: string; attempt: number },
  ) =>
    store.putFiles(
      datasetId,
      await Promise.all(
        Object.entries(files).map(async ([relativePath, content]) => ({
          relativePath,
          sourcePath: await source(content),
        })),
      ),
      { writeKey, origination: writeKey.invocationId, signal },
    );

  await store.createDataset({
    orgId: 'og_1',
    datasetId: 'ds_a_plain',
    name: 'plain',
    description: 'a few files',
    tags: ['field', 'robot-2'],
    metadata: { site: 'lab', run: 3, nested: { ok: true, list: [1, 'two', null] } },
  });
  const plain = await put(
    'ds_a_plain',
    {
      'a.txt': 'alpha\n',
      'dir/b.csv': 't,x\n1,2\n',
      'dir/deeper/c.bin': '\u0000\u0001\u00ff',
      'empty.txt': '',
    },
    { invocationId: 'import-1', attempt: 1 },
  );
  await store.updateFile(plain[0]!.file_id, {
    description: 'the first file',
    metadataChangeset: MetadataChangeset.parse({ put_tags: ['x', 'y'], put_fields: { 'camera.fps': 30 } }),
  });
  await store.updateDataset(
    'ds_a_plain',
    MetadataChangeset.parse({ put_tags: ['reviewed'], put_fields: { 'nested.more': 'yes' } }),
  );

  await store.createDataset({ orgId: 'og_1', datasetId: 'ds_b_versions' });
  await put(
    'ds_b_versions',
    { 'log.txt': 'v1\n', 'same.txt': 'same\n' },
    { invocationId: 'import-1', attempt: 1 },
  );
  await put('ds_b_versions', { 'log.txt': 'v2 longer\n' }, { invocationId: 'import-2', attempt: 1 });
  const [log] = await put('ds_b_versions', { 'log.txt': 'v3\n' }, { invocationId: 'import-3', attempt: 1 });
  await store.updateFile(log!.file_id, { description: 'three versions' });

  await store.createDataset({ orgId: 'og_2', datasetId: 'ds_c_retried', name: 'outputs' });
  await put('ds_c_retried', { 'out/result.json': '{"try":1}' }, { invocationId: 'iv_retried', attempt: 1 });
  await put(
    'ds_c_retried',
    { 'out/result.json': '{"try":2}', 'out/extra.txt': 'x' },
    {
      invocationId: 'iv_retried',
      attempt: 2,
    },
  );

  await store.createDataset({ orgId: 'og_1', datasetId: 'ds_d_topics', tags: ['mcap'] });
  const [bag] = await put(
    'ds_d_topics',
    { 'run.mcap': 'mcap bytes' },
    { invocationId: 'import-1', attempt: 1 },
  );
  await store.addTopic(bag!.file_id, {
    topicName: '/camera/image',
    schemaName: 'sensor_msgs/Image',
    messageCount: 1200,
    startTime: 1_700_000_000_000_000_000,
    endTime: 1_700_000_060_000_000_000,
    metadata: { encoding: 'rgb8' },
  });
  await store.addTopic(bag!.file_id, { topicName: '/imu' });

  await store.createDataset({ orgId: 'og_1', datasetId: 'ds_e_empty' });

  for (let d = 0; d < (options.extraDatasets ?? 0); d += 1) {
    const datasetId = `ds_z_${String(d).padStart(3, '0')}`;
    await store.createDataset({ orgId: 'og_1', datasetId, metadata: { index: d } });
    const files: Record<string, string> = {};
    for (let f = 0; f < (options.filesPerDataset ?? 3); f += 1) files[`frame-${f}.txt`] = `${d}/${f}\n`;
    const written = await put(datasetId, files, { invocationId: `import-${d}`, attempt: 1 });
    await store.addTopic(written[0]!.file_id, { topicName: '/t', messageCount: d });
  }
  return store;
}

/** What the folder store holds, as its own API and files say: every record, sha256 and writer. */
export async function folderStoreContents(store: LocalDataStore) {
  const datasets = await store.listDatasets();
  const files = [];
  const topics = [];
  for (const dataset of datasets) {
    for (const file of await store.listFiles(dataset.dataset_id)) {
      const entry = JSON.parse(
        await readFile(
          path.join(store.root, 'datasets', dataset.dataset_id, 'files', `${file.record.file_id}.json`),
          'utf8',
        ),
      ) as { writtenBy: { invocationId: string; attempt: number } };
      files.push({ ...file, writtenBy: entry.writtenBy });
    }
    topics.push(...(await store.listTopics(dataset.dataset_id)));
  }
  return { datasets, files, topics };
}

/** What the SQL store holds, in the same shape and order. */
export async function sqlStoreContents(database: SqlDatabase) {
  const { db } = database;
  const datasets = (await db.selectFrom('datasets').selectAll().orderBy('dataset_id').execute()).map(
    datasetFromRow,
  );
  const files = (
    await db.selectFrom('files').selectAll().orderBy('dataset_id').orderBy('relative_path').execute()
  ).map(fileFromRow);
  const topics = (
    await db.selectFrom('topics').selectAll().orderBy('dataset_id').orderBy('topic_name').execute()
  ).map(topicFromRow);
  const versions = await db.selectFrom('file_versions').selectAll().orderBy('file_id').execute();
  return { datasets, files, topics, versions };
}

/** Every record of the folder store is in the SQL store, once, the same; one version row per file. */
export async function expectSameContents(store: LocalDataStore, database: SqlDatabase): Promise<void> {
  const expected = await folderStoreContents(store);
  const actual = await sqlStoreContents(database);
  expect(actual.datasets).toEqual(expected.datasets);
  expect(actual.files).toEqual(expected.files);
  expect(actual.topics).toEqual(expected.topics);
  expect(actual.versions).toHaveLength(expected.files.length);
  for (const file of expected.files) {
    const version = actual.versions.find((row) => row.file_id === file.record.file_id);
    expect(version).toMatchObject({ version: file.record.version, sha256: file.sha256 });
    expect(Number(version!.size)).toBe(file.record.size);
  }
}
