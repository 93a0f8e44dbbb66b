import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';
import type { DataStore } from '../../src/ports/data-store.js';

export interface DataStoreFixture {
  store: DataStore;
  /** A directory for source files. */
  scratch: string;
  /** Another store over the same data, as another process would open it (its own connection, say). */
  open: () => Promise<DataStore>;
}

const signal = new AbortController().signal;
const key = (invocationId: string, attempt = 1) => ({ invocationId, attempt });

/**
 * What every DataStore adapter must do. Run it against each adapter: the embedded local store, and later
 * S3 or the Roboto API.
 */
export function describeDataStoreContract(name: string, fixture: () => Promise<DataStoreFixture>): void {
  describe(`DataStore contract: ${name}`, () => {
    async function source(scratch: string, file: string, content: string): Promise<string> {
      const target = path.join(scratch, file.replaceAll('/', '_'));
      await writeFile(target, content);
      return target;
    }

    it('creates, reads and lists datasets, and refuses a duplicate id', async () => {
      const { store } = await fixture();
      const created = await store.createDataset({
        orgId: 'og_1',
        description: 'drives',
        tags: ['a'],
        metadata: { k: 1 },
      });
      expect(created.dataset_id).toMatch(/^ds_/);
      expect(await store.getDataset(created.dataset_id)).toEqual(created);
      expect((await store.listDatasets()).map((d) => d.dataset_id)).toContain(created.dataset_id);
      await expect(store.createDataset({ orgId: 'og_1', datasetId: created.dataset_id })).rejects.toThrow(
        /already exists/,
      );
      expect(await store.getDataset('ds_nope')).toBeUndefined();
      expect(await store.getDataset('../escape')).toBeUndefined();
    });

    it('stores files as wire records with size and sha256, and reads their bytes back', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const [record] = await store.putFiles(
        datasetId,
        [{ relativePath: 'logs/a.txt', sourcePath: await source(scratch, 'a', 'hello\n') }],
        { writeKey: key('iv_1'), origination: 'test', signal },
      );
      expect(record).toMatchObject({
        association_id: datasetId,
        relative_path: 'logs/a.txt',
        name: 'a.txt',
        size: 6,
        version: 1,
        org_id: 'og_1',
        file_id: expect.stringMatching(/^fl_/),
      });
      const stored = await store.getFile(record!.file_id);
      expect(stored?.sha256).toBe('5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
      const { readFile } = await import('node:fs/promises');
      expect(await readFile(await store.contentPath(stored!), 'utf8')).toBe('hello\n');
      expect((await store.listFiles(datasetId)).map((f) => f.record.file_id)).toEqual([record!.file_id]);
    });

    it('gives an existing path a new version, and a retried write of the same invocation none', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const put = async (content: string, invocationId: string, attempt = 1) =>
        (
          await store.putFiles(
            datasetId,
            [{ relativePath: 'out.txt', sourcePath: await source(scratch, `o-${content}`, content) }],
            {
              writeKey: key(invocationId, attempt),
              origination: 'test',
              signal,
            },
          )
        )[0]!;
      const first = await put('one', 'iv_a');
      const retried = await put('one again', 'iv_a', 2);
      expect(retried.file_id).toBe(first.file_id);
      expect(retried.version).toBe(1);
      const next = await put('two', 'iv_b');
      expect(next.version).toBe(2);
      expect(await store.listFiles(datasetId)).toHaveLength(1);
    });

    it('leaves unchanged content alone when asked to (a folder imported again)', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const file = { relativePath: 'same.txt', sourcePath: await source(scratch, 'same', 'same') };
      await store.putFiles(datasetId, [file], {
        writeKey: key('import-1'),
        origination: 'import',
        signal,
        skipUnchanged: true,
      });
      const [again] = await store.putFiles(datasetId, [file], {
        writeKey: key('import-2'),
        origination: 'import',
        signal,
        skipUnchanged: true,
      });
      expect(again?.version).toBe(1);
    });

    it('reports a write as an upload: its total first, then increments adding up to exactly it', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      // Bigger than a copy chunk of the local store, and not a multiple of one.
      const bigBytes = 9 * 1024 * 1024 + 7;
      const files = [
        { relativePath: 'small.txt', sourcePath: await source(scratch, 'small', 'hello\n') },
        { relativePath: 'big.bin', sourcePath: await source(scratch, 'big', 'x'.repeat(bigBytes)) },
      ];
      const planned: [string, number][] = [];
      const moved: [string, number][] = [];
      await store.putFiles(datasetId, files, {
        writeKey: key('iv_transfers'),
        origination: 'test',
        signal,
        transfers: {
          planned: (direction, totalBytes) => planned.push([direction, totalBytes]),
          moved: (direction, bytes) => moved.push([direction, bytes]),
        },
      });
      expect(planned).toEqual([['upload', bigBytes + 6]]);
      expect(moved.every(([direction]) => direction === 'upload')).toBe(true);
      expect(moved.reduce((sum, [, bytes]) => sum + bytes, 0)).toBe(bigBytes + 6);
    });

    it('reports an empty write as an upload of nothing, and stores nothing', async () => {
      const { store } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const planned: [string, number][] = [];
      const records = await store.putFiles(datasetId, [], {
        writeKey: key('iv_empty'),
        origination: 'test',
        signal,
        transfers: {
          planned: (direction, totalBytes) => planned.push([direction, totalBytes]),
          moved: () => undefined,
        },
      });
      expect(records).toEqual([]);
      expect(planned).toEqual([['upload', 0]]);
      expect(await store.listFiles(datasetId)).toEqual([]);
    });

    it('refuses paths that leave the dataset and unknown datasets', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const sourcePath = await source(scratch, 'x', 'x');
      await expect(
        store.putFiles(datasetId, [{ relativePath: '../x', sourcePath }], {
          writeKey: key('iv'),
          origination: 't',
          signal,
        }),
      ).rejects.toThrow(/unsafe relative path/);
      await expect(
        store.putFiles('ds_missing', [{ relativePath: 'x', sourcePath }], {
          writeKey: key('iv'),
          origination: 't',
          signal,
        }),
      ).rejects.toThrow(/unknown dataset "ds_missing"/);
    });

    it('applies metadata changesets to files and datasets', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1', tags: ['keep'] });
      const [record] = await store.putFiles(
        datasetId,
        [{ relativePath: 'f', sourcePath: await source(scratch, 'f', 'f') }],
        {
          writeKey: key('iv'),
          origination: 't',
          signal,
        },
      );
      const updated = await store.updateFile(record!.file_id, {
        description: 'described',
        metadataChangeset: MetadataChangeset.parse({ put_tags: ['t'], put_fields: { 'a.b': 1 } }),
      });
      expect(updated).toMatchObject({ description: 'described', tags: ['t'], metadata: { a: { b: 1 } } });
      expect((await store.getFile(record!.file_id))?.record).toEqual(updated);
      const dataset = await store.updateDataset(
        datasetId,
        MetadataChangeset.parse({ put_tags: ['new'], remove_tags: ['keep'] }),
      );
      expect(dataset.tags).toEqual(['new']);
      expect((await store.getDataset(datasetId))?.tags).toEqual(['new']);
    });

    it("sets and clears a dataset's name and description with its changeset, and marks a file ingested", async () => {
      const { store, scratch, open } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({
        orgId: 'og_1',
        name: 'before',
        description: 'kept',
      });
      const renamed = await store.updateDataset(datasetId, MetadataChangeset.parse({ put_tags: ['a'] }), {
        name: 'after',
      });
      expect(renamed).toMatchObject({ name: 'after', description: 'kept', tags: ['a'] });
      const cleared = await store.updateDataset(datasetId, MetadataChangeset.parse({}), {
        description: null,
      });
      expect(cleared).toMatchObject({ name: 'after', description: null, tags: ['a'] });
      // Read back through another store: what was written, not what was returned.
      expect(await (await open()).getDataset(datasetId)).toEqual(cleared);

      const [record] = await store.putFiles(
        datasetId,
        [{ relativePath: 'f', sourcePath: await source(scratch, 'f', 'f') }],
        { writeKey: key('iv'), origination: 't', signal },
      );
      expect(record!.ingestion_status).toBe('not_ingested');
      const ingested = await store.updateFile(record!.file_id, { ingestionStatus: 'ingested' });
      expect(ingested).toMatchObject({ ingestion_status: 'ingested', description: null, tags: [] });
      expect((await (await open()).getFile(record!.file_id))?.record).toEqual(ingested);
    });

    it('deletes a file with its topics, and a dataset with its files and topics, leaving the rest', async () => {
      const { store, scratch, open } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const { dataset_id: otherId } = await store.createDataset({ orgId: 'og_1' });
      const write = async (id: string, paths: string[]) =>
        store.putFiles(
          id,
          await Promise.all(
            paths.map(async (p) => ({ relativePath: p, sourcePath: await source(scratch, `${id}-${p}`, p) })),
          ),
          { writeKey: key('iv'), origination: 't', signal },
        );
      const [gone, kept] = await write(datasetId, ['gone.txt', 'kept.txt']);
      const [elsewhere] = await write(otherId, ['x.txt']);
      const goneTopic = await store.addTopic(gone!.file_id, { topicName: '/a' });
      const keptTopic = await store.addTopic(kept!.file_id, { topicName: '/a' });
      const otherTopic = await store.addTopic(elsewhere!.file_id, { topicName: '/a' });

      expect(await store.deleteFile(gone!.file_id)).toBe(true);
      expect(await store.deleteFile(gone!.file_id)).toBe(false);
      expect(await store.deleteFile('fl_nope')).toBe(false);
      const reader = await open();
      expect(await reader.getFile(gone!.file_id)).toBeUndefined();
      expect(await reader.getTopic(goneTopic.topic_id)).toBeUndefined();
      expect((await reader.listFiles(datasetId)).map((f) => f.record.relative_path)).toEqual(['kept.txt']);
      expect((await reader.listTopics(datasetId)).map((t) => t.topic_id)).toEqual([keptTopic.topic_id]);
      expect((await reader.queryFiles({ datasetId })).total).toBe(1);
      // The path can be written again: a new file at version 1.
      const [again] = await write(datasetId, ['gone.txt']);
      expect(again!.version).toBe(1);

      expect(await store.deleteDataset(datasetId)).toBe(true);
      expect(await store.deleteDataset(datasetId)).toBe(false);
      expect(await reader.getDataset(datasetId)).toBeUndefined();
      expect(await reader.getFile(kept!.file_id)).toBeUndefined();
      expect(await reader.getFile(again!.file_id)).toBeUndefined();
      expect(await reader.getTopic(keptTopic.topic_id)).toBeUndefined();
      expect((await reader.queryFiles({ datasetId })).items).toEqual([]);
      expect((await reader.queryTopics({ datasetId })).items).toEqual([]);
      // Another dataset is untouched, and the id can be used again.
      expect((await reader.getFile(elsewhere!.file_id))?.record).toEqual(elsewhere);
      expect(await reader.getTopic(otherTopic.topic_id)).toEqual(otherTopic);
      expect((await store.createDataset({ orgId: 'og_1', datasetId })).dataset_id).toBe(datasetId);
      expect(await reader.listFiles(datasetId)).toEqual([]);
    });

    it('keeps every version when two stores write the same paths of a dataset at once', async () => {
      const { store, scratch, open } = await fixture();
      const other = await open();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const paths = ['a.txt', 'b/c.txt', 'd.txt'];
      const rounds = 6;
      const writer = async (writing: DataStore, name: string) => {
        for (let round = 0; round < rounds; round += 1) {
          const files = await Promise.all(
            paths.map(async (relativePath) => ({
              relativePath,
              sourcePath: await source(scratch, `${name}-${round}-${relativePath}`, `${name} ${round}`),
            })),
          );
          await writing.putFiles(datasetId, files, {
            writeKey: key(`iv_${name}_${round}`),
            origination: name,
            signal,
          });
        }
      };
      await Promise.all([writer(store, 'alpha'), writer(other, 'beta')]);
      const files = await store.listFiles(datasetId);
      expect(files.map((file) => [file.record.relative_path, file.record.version])).toEqual(
        paths.map((relativePath) => [relativePath, 2 * rounds]),
      );
    });

    it('lets exactly one of several racing creators of a dataset id win', async () => {
      const { store, open } = await fixture();
      const stores = [store, await open(), await open()];
      const results = await Promise.allSettled(
        stores.map((creating, i) =>
          creating.createDataset({ orgId: 'og_1', datasetId: 'ds_raced', name: `${i}` }),
        ),
      );
      const won = results.filter((result) => result.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const result of results) {
        if (result.status === 'rejected') expect(String(result.reason)).toMatch(/already exists/);
      }
      expect((await store.getDataset('ds_raced'))?.name).toBe(won[0]?.value.name);
    });

    it('loses no update when two stores change one dataset and one file at once', async () => {
      const { store, scratch, open } = await fixture();
      const other = await open();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const [file] = await store.putFiles(
        datasetId,
        [{ relativePath: 'f', sourcePath: await source(scratch, 'f', 'f') }],
        { writeKey: key('iv'), origination: 't', signal },
      );
      const count = 8;
      const tagger = async (writing: DataStore, name: string) => {
        for (let i = 0; i < count; i += 1) {
          await writing.updateDataset(datasetId, MetadataChangeset.parse({ put_tags: [`${name}-${i}`] }));
          await writing.updateFile(file!.file_id, {
            metadataChangeset: MetadataChangeset.parse({ put_tags: [`${name}-${i}`] }),
          });
        }
      };
      await Promise.all([tagger(store, 'alpha'), tagger(other, 'beta')]);
      const expected = ['alpha', 'beta'].flatMap((name) =>
        Array.from({ length: count }, (_, i) => `${name}-${i}`),
      );
      expect(new Set((await store.getDataset(datasetId))?.tags)).toEqual(new Set(expected));
      expect(new Set((await store.getFile(file!.file_id))?.record.tags)).toEqual(new Set(expected));
    });

    it('refuses bad ids with a clear error and finds nothing under them', async () => {
      const { store } = await fixture();
      await expect(store.createDataset({ orgId: 'og_1', datasetId: '../escape' })).rejects.toThrow(
        /"\.\.\/escape" is not a valid dataset id/,
      );
      await expect(
        store.updateDataset('ds_nope', MetadataChangeset.parse({ put_tags: ['x'] })),
      ).rejects.toThrow(/unknown dataset "ds_nope"/);
      await expect(store.updateFile('fl_nope', { description: 'x' })).rejects.toThrow(
        /no file with id fl_nope/,
      );
      await expect(store.listFiles('ds_nope')).rejects.toThrow(/unknown dataset "ds_nope"/);
      expect(await store.getFile('../escape')).toBeUndefined();
      expect(await store.getTopic('../escape')).toBeUndefined();
    });

    it('registers topics on files and finds them by dataset and id', async () => {
      const { store, scratch } = await fixture();
      const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
      const [record] = await store.putFiles(
        datasetId,
        [{ relativePath: 'drive.mcap', sourcePath: await source(scratch, 'm', 'm') }],
        {
          writeKey: key('iv'),
          origination: 't',
          signal,
        },
      );
      const topic = await store.addTopic(record!.file_id, {
        topicName: '/imu',
        schemaName: 'sensor_msgs/Imu',
        messageCount: 10,
        startTime: 1_700_000_000_000_000_000,
        endTime: 1_700_000_001_000_000_000,
      });
      expect(topic).toMatchObject({
        topic_name: '/imu',
        schema_name: 'sensor_msgs/Imu',
        message_count: 10,
        start_time: 1_700_000_000_000_000_000,
        end_time: 1_700_000_001_000_000_000,
        association: { association_id: record!.file_id, association_type: 'file', association_version: 1 },
      });
      expect(await store.listTopics(datasetId)).toEqual([topic]);
      expect(await store.getTopic(topic.topic_id)).toEqual(topic);
    });
  });
}
