import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import type { DataSelector, FileSelector } from '../../src/domain/input-selectors.js';
import type { DataStore, StoreQuery } from '../../src/ports/data-store.js';
import { StoreInputResolver } from '../../src/stages/store-input-resolver.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

const signal = new AbortController().signal;
const silent = pino({ level: 'silent' });

afterAll(removeTempDirs);

const files = (selector: Partial<FileSelector>): FileSelector => ({
  dataset_id: null,
  paths: null,
  query: null,
  ids: null,
  names: null,
  ...selector,
});
const topics = (selector: Partial<DataSelector>): DataSelector => ({
  dataset_id: null,
  query: null,
  ids: null,
  names: null,
  ...selector,
});

/** A store that records the queries it is asked and refuses to list every file (the old full scan). */
function watched(store: DataStore): { store: DataStore; queries: StoreQuery[] } {
  const queries: StoreQuery[] = [];
  const proxy: DataStore = Object.create(store) as DataStore;
  proxy.queryFiles = (query) => {
    queries.push(query);
    return store.queryFiles(query);
  };
  proxy.queryTopics = (query) => {
    queries.push(query);
    return store.queryTopics(query);
  };
  proxy.listDatasets = () => Promise.reject(new Error('the resolver lists every dataset'));
  proxy.listTopics = () => Promise.reject(new Error('the resolver lists every topic'));
  return { store: proxy, queries };
}

describe('StoreInputResolver', () => {
  let base: LocalDataStore;
  let theirs: { dataset_id: string };
  let theirFileId = '';
  let theirTopicId = '';
  beforeAll(async () => {
    const root = await tempDir('resolver');
    base = new LocalDataStore(path.join(root, 'store'));
    for (const name of ['one', 'two']) {
      const { dataset_id: datasetId } = await base.createDataset({ orgId: 'og_1', name });
      const files = [];
      for (const relativePath of ['a.bag', 'b.bag', 'c.log', "it's.bag"]) {
        const source = path.join(root, `${name}-${relativePath}`);
        await writeFile(source, `${name}/${relativePath}`);
        files.push({ relativePath, sourcePath: source });
      }
      const records = await base.putFiles(datasetId, files, {
        writeKey: { invocationId: `iv_${name}`, attempt: 1 },
        origination: 'test',
        signal,
      });
      await base.addTopic(records[0]?.file_id ?? '', { topicName: '/imu' });
      await base.addTopic(records[2]?.file_id ?? '', { topicName: `/${name}` });
    }
    // Another org's dataset, file and topic: never an input of og_1's invocations.
    theirs = await base.createDataset({ orgId: 'og_2', name: 'theirs' });
    const source = path.join(root, 'theirs-secret.bag');
    await writeFile(source, 'secret');
    const [secret] = await base.putFiles(
      theirs.dataset_id,
      [{ relativePath: 'secret.bag', sourcePath: source }],
      {
        writeKey: { invocationId: 'iv_theirs', attempt: 1 },
        origination: 'test',
        signal,
      },
    );
    theirFileId = secret?.file_id ?? '';
    theirTopicId = (await base.addTopic(theirFileId, { topicName: '/theirs' })).topic_id;
  });

  it('resolves a query and names through store queries, page after page, without listing every file', async () => {
    const { store, queries } = watched(base);
    const resolver = new StoreInputResolver(store, silent, { pageSize: 2 });
    const resolved = await resolver.resolve(
      {
        files: [files({ query: 'path LIKE "%.bag" AND size > 0' }), files({ names: ['%.log', "it's.bag"] })],
        topics: [topics({ names: ['/imu'] }), topics({ query: 'name = "/two"' })],
      },
      'og_1',
      signal,
    );
    expect(resolved.files.map((file) => file.record.relative_path).sort()).toEqual(
      ['a.bag', 'a.bag', 'b.bag', 'b.bag', 'c.log', 'c.log', "it's.bag", "it's.bag"].sort(),
    );
    expect(resolved.topics.map((topic) => topic.topic_name).sort()).toEqual(['/imu', '/imu', '/two']);
    // 6 .bag files in pages of 2, 4 named files in pages of 2, 2 /imu topics, 1 /two topic.
    expect(queries.filter((query) => query.roboql?.includes('LIKE'))).toHaveLength(3);
    expect(queries.every((query) => query.limit === 2)).toBe(true);
    expect(queries.filter((query) => query.after)).not.toHaveLength(0);
  });

  it('names an unknown field, a syntax error and a selector that matches nothing', async () => {
    const resolver = new StoreInputResolver(base, silent);
    await expect(
      resolver.resolve({ topics: null, files: [files({ query: 'colour = "red"' })] }, 'og_1', signal),
    ).rejects.toMatchObject({
      code: 'E_INVALID_INPUT',
      message: expect.stringMatching(/no field "colour"/) as unknown,
    });
    await expect(
      resolver.resolve({ topics: null, files: [files({ query: 'size >> 3' })] }, 'og_1', signal),
    ).rejects.toThrow(/expected a value/);
    await expect(
      resolver.resolve({ topics: null, files: [files({ names: ['%.mcap'] })] }, 'og_1', signal),
    ).rejects.toThrow('file selector 1 (names %.mcap) matched no file');
    await expect(
      resolver.resolve({ files: null, topics: [topics({ names: ['/nope'] })] }, 'og_1', signal),
    ).rejects.toThrow('topic selector 1 (names /nope) matched no topic');
  });

  it("resolves only the invocation's org: another org's files and topics match nothing, by any selector", async () => {
    const resolver = new StoreInputResolver(base, silent);
    const attempts: Array<Parameters<StoreInputResolver['resolve']>[0]> = [
      { topics: null, files: [files({ query: 'path LIKE "%secret%"' })] },
      { topics: null, files: [files({ names: ['secret.bag'] })] },
      { topics: null, files: [files({ ids: [theirFileId] })] },
      { topics: null, files: [files({ dataset_id: theirs.dataset_id, paths: ['**/*'] })] },
      { files: null, topics: [topics({ ids: [theirTopicId] })] },
      { files: null, topics: [topics({ names: ['/theirs'] })] },
      { files: null, topics: [topics({ query: 'name = "/theirs"' })] },
    ];
    for (const input of attempts) {
      await expect(resolver.resolve(input, 'og_1', signal), JSON.stringify(input)).rejects.toMatchObject({
        code: 'E_INVALID_INPUT',
      });
    }
    // Their own org resolves them, as before.
    const own = await resolver.resolve(
      { topics: null, files: [files({ ids: [theirFileId] })] },
      'og_2',
      signal,
    );
    expect(own.files.map((file) => file.record.relative_path)).toEqual(['secret.bag']);
  });
});
