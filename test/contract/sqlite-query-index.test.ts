import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import type { SqlDataStore } from '../../src/adapters/sql/sql-data-store.js';
import { queryFiles } from '../../src/adapters/sql/sql-queries.js';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { writeFile } from 'node:fs/promises';

const opened: SqlDataStore[] = [];
afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await removeTempDirs();
});

describe("SQLite's side tables of file tags and metadata", () => {
  it('follow every insert, update and delete of a file, and the queries read them', async () => {
    const root = await tempDir('sqlite-index');
    const store = await openSqlDataStore(
      { dialect: 'sqlite', file: path.join(root, 'store', 'metadata.sqlite3') },
      path.join(root, 'store'),
    );
    opened.push(store);
    const { database } = store;
    const { dataset_id: datasetId } = await store.createDataset({ orgId: 'og_1' });
    const source = path.join(root, 'a.txt');
    await writeFile(source, 'a');
    const [file] = await store.putFiles(datasetId, [{ relativePath: 'a.txt', sourcePath: source }], {
      writeKey: { invocationId: 'iv_1', attempt: 1 },
      origination: 'test',
      signal: new AbortController().signal,
    });
    const fileId = file?.file_id ?? '';
    const sideRows = async () => ({
      tags: (
        await sql<{
          tag: string;
          org_id: string;
        }>`SELECT tag, org_id FROM file_tag_index WHERE file_id = ${fileId} ORDER BY tag`.execute(database.db)
      ).rows,
      metadata: (
        await sql<{
          key: string;
          value: string;
        }>`SELECT key, value FROM file_metadata_index WHERE file_id = ${fileId} ORDER BY key`.execute(
          database.db,
        )
      ).rows,
    });
    expect(await sideRows()).toEqual({ tags: [], metadata: [] });

    await store.updateFile(fileId, {
      metadataChangeset: {
        put_tags: ['b', 'a'],
        remove_tags: null,
        put_fields: { k: 'v', n: { m: 'w' }, number: 1, list: ['x'] },
        remove_fields: null,
        replace_all: true,
      },
    });
    expect(await sideRows()).toEqual({
      tags: [
        { tag: 'a', org_id: 'og_1' },
        { tag: 'b', org_id: 'og_1' },
      ],
      // String leaves only, keyed by their JSON path.
      metadata: [
        { key: '$.k', value: 'v' },
        { key: '$.list[0]', value: 'x' },
        { key: '$.n.m', value: 'w' },
      ],
    });
    expect((await queryFiles(database, { roboql: 'tags CONTAINS "a" AND metadata.n.m = "w"' })).total).toBe(
      1,
    );

    await store.updateFile(fileId, {
      metadataChangeset: {
        put_tags: ['c'],
        remove_tags: null,
        put_fields: { k: 'z' },
        remove_fields: null,
        replace_all: true,
      },
    });
    expect(await sideRows()).toEqual({
      tags: [{ tag: 'c', org_id: 'og_1' }],
      metadata: [{ key: '$.k', value: 'z' }],
    });
    expect((await queryFiles(database, { roboql: 'tags CONTAINS "a" OR metadata.k = "v"' })).total).toBe(0);
    expect((await queryFiles(database, { roboql: 'tags CONTAINS "c" AND metadata.k = "z"' })).total).toBe(1);

    // The store keeps every version of a file, which refers to it: those go first.
    await database.db.deleteFrom('file_versions').where('file_id', '=', fileId).execute();
    await database.db.deleteFrom('files').where('file_id', '=', fileId).execute();
    expect(await sideRows()).toEqual({ tags: [], metadata: [] });
  });
});
